"""Reading what users give: only regular files, read with a size bound, JSON parsed with a depth bound, and text
from files or file names made inert before it reaches a terminal or a log.

Every refusal is a :class:`TomauError` whose one sentence names the file (escaped with :func:`shown`).
"""
from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

from .errors import TomauError

MAX_JSON_BYTES = 16 << 20  # a config, a run's config.json, a notes file: far more than any tomau writes
MAX_JSON_DEPTH = 64  # tomau's own configs nest 4 deep
MAX_LIST_BYTES = 256 << 20  # a --files-from list or manifest: 2 million paths of 128 characters
MAX_LINE_CHARS = 8192  # one path of a list (Linux allows 4096 bytes)

_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
          stat.S_IFSOCK: "a socket"}
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown(text: object, lines: bool = False) -> str:
    """``text`` safe to print: control characters (ANSI and OSC escapes start with one), bidi overrides, zero-width
    and other format characters, and undecodable bytes of a file name (surrogate escapes) written as ``\\xNN`` /
    ``\\uNNNN``, so a file's text or name can neither move the cursor, retitle the terminal, reorder a line nor
    forge one. Everything else (accents, CJK, emoji) stays as it is. With ``lines``, newlines stay (a message of
    several lines, made by tomau, whose file names are escaped anyway)."""
    text = str(text)
    if text.isprintable():  # the usual case, at C speed
        return text
    out = []
    for ch in text:
        if lines and ch == "\n":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if ch in _BIDI or cat in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        elif cat == "Cs":  # a byte that was not UTF-8 in a file name (os.fsdecode's surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def check_regular(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is a regular file (links followed); else one sentence: missing, a folder, a FIFO, a device or a
    socket - which opening could block for ever (a FIFO) or read without end (/dev/zero)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TomauError(f"{shown(path)}: no such file") from None
    except OSError as err:
        raise TomauError(f"{shown(path)}: cannot read the {what} ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise TomauError(f"{shown(path)}: is {kind}, not a regular file; give the {what} as a file")
    return path


def read_bounded(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of regular file ``path``, refused in one sentence when over ``limit`` bytes. The file is opened
    without blocking and checked again once open, so a path swapped for a FIFO meanwhile cannot hang the read."""
    path = check_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise TomauError(f"{shown(path)}: cannot read the {what} ({err.strerror or err}); check its permissions") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TomauError(f"{shown(path)}: is not a regular file; give the {what} as a file")
        os.set_blocking(fd, True)
        try:  # read(n) allocates n bytes before reading: asked for the file's size (+1: it may grow), not the limit
            data = f.read(min(info.st_size, limit) + 1)
        except OSError as err:
            raise TomauError(f"{shown(path)}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > limit:
        raise TomauError(f"{shown(path)}: the {what} is over {_size(limit)}, more than any such file should be; is it the right file?")
    return data


def loads_json(text: str | bytes, source: str | os.PathLike, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_JSON_BYTES):
    """``json.loads`` bounded: at most ``max_bytes`` long and ``max_depth`` deep (a config nested 100,000 deep is
    one sentence, not a RecursionError here or in whatever walks it later). ``ValueError`` for text that is not
    JSON, as json.loads raises; :class:`TomauError` for the bounds."""
    import json

    if len(text) > max_bytes:
        raise TomauError(f"{shown(source)}: {_size(len(text))} of JSON, over the {_size(max_bytes)} a tomau file can hold")
    try:
        data = json.loads(text)
    except RecursionError:
        raise TomauError(f"{shown(source)}: the JSON is nested too deeply (over {max_depth} levels)") from None
    if depth(data) > max_depth:
        raise TomauError(f"{shown(source)}: the JSON is nested too deeply (over {max_depth} levels)")
    return data


def depth(data) -> int:
    """How deep lists and dicts nest in ``data`` (1 for a flat one), counted without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            todo += [(v, level + 1) for v in item if isinstance(v, (list, dict))]
    return deepest


def read_json(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """A JSON file: a regular file, at most ``max_bytes``, nested at most ``max_depth``; ``ValueError`` if not JSON."""
    return loads_json(read_bounded(path, max_bytes, what), path, max_depth, max_bytes)


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n} bytes"
