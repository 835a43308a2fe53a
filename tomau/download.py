"""Published weights by path or URL: a download is cached once and checked against the sha256 prefix that
the file name carries (torchvision's and pytorch-fid's convention, e.g. ``resnet18-f37072fd.pth``).

Nothing in tomau downloads on its own: these run only when a user passes a URL (or asks for a network,
such as FID's Inception, whose weights are not bundled)."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import torch

from .errors import TomauError

CACHE_DIR = Path(os.environ.get("TOMAU_CACHE", Path.home() / ".cache" / "tomau"))


def fetch(url: str, what: str, cache_dir: str | Path | None = None) -> Path:
    """Fetch ``url`` into the cache once (atomically), checking the sha256 prefix in its name."""
    cache_dir = Path(cache_dir or CACHE_DIR)
    name = url.rsplit("/", 1)[-1]
    target = cache_dir / name
    expected = name.rsplit("-", 1)[-1].split(".")[0] if "-" in name else ""
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 - user-given URL
            digest = hashlib.sha256()
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if expected and not digest.hexdigest().startswith(expected):
            raise TomauError(f"{url}: the download's sha256 {digest.hexdigest()[:8]}... does not match {expected}; not used")
        os.replace(tmp, target)
    except OSError as err:
        raise TomauError(f"{url}: cannot download the {what} ({err}); download the file yourself and pass its path") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_state_source(source: str, what: str, cache_dir: str | Path | None = None) -> tuple[Path, dict[str, torch.Tensor]]:
    """(path, state dict) from a local file or an http(s)/file URL."""
    if source.startswith(("http://", "https://", "file://")):
        path = fetch(source, what, cache_dir)
    else:
        path = Path(source)
        if not path.is_file():
            raise TomauError(f"{source}: no such {what} file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise TomauError(f"{path}: not a readable PyTorch state dict ({err})") from None
    if not isinstance(state, dict):
        raise TomauError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return path, state
