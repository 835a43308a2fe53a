"""Reading users' images safely and writing results atomically.

Every failure becomes a :class:`TomauError` with one sentence naming the file. Handles EXIF
orientation, alpha (kept aside and re-attached), palette, CMYK, 16-bit and float greyscale,
decompression bombs (refused above ``max_pixels`` unless allowed), truncated and zero-byte files.
"""
from __future__ import annotations

import glob
import os
import re
import stat
import tempfile
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import TomauError

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".ogv"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jfif"}
try:  # AVIF where this Pillow reads it (Pillow 11.3+): found in folders as when named
    from PIL import features as _features

    if _features.check("avif"):
        IMAGE_EXTENSIONS.add(".avif")
except Exception:  # noqa: BLE001 - an old Pillow without the features module entry
    pass
HEIF_ENCODER = False  # True where pillow-heif can write HEIC (its wheels bundle libheif with the x265 encoder)
try:  # HEIC / HEIF, what phones save, through pillow-heif (a dependency); the results are HEIC again
    import pillow_heif

    pillow_heif.register_heif_opener()
    IMAGE_EXTENSIONS |= {".heic", ".heif", ".hif"}
    HEIF_ENCODER = bool(pillow_heif.libheif_info().get("HEIF"))
except Exception:  # noqa: BLE001 - pillow-heif missing or unable: HEIC files are refused in one sentence
    pass
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: larger files are refused unless the user allows them
# formats that can store an 8-bit RGB result (and those of them that can store alpha)
_WRITABLE = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp",
             **({"HEIF": ".heic"} if HEIF_ENCODER else {})}
_FALLBACK = {"HEIF": ".jpg"}  # where no HEIC encoder is installed, a phone photo's result is a JPEG (EXIF kept)
_ALPHA_OK = {"PNG", "TIFF", "WEBP", "HEIF"}
_FORMAT_BY_SUFFIX = {".jpg": "JPEG", ".jpeg": "JPEG", ".jfif": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
                     ".webp": "WEBP", ".bmp": "BMP", ".gif": "GIF", ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF"}

_UMASK = os.umask(0)
os.umask(_UMASK)

# Pillow's own bomb check (a warning over 89 MP, an error over 179) stays as it is for the whole process: importing
# tomau changes no global setting. Every reader of tomau opens files through open_image, which checks the size from
# the header against max_pixels before anything is decoded, and lifts Pillow's check only for that one open.
_PILLOW_LIMIT_LOCK = threading.Lock()


@contextmanager
def open_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[Image.Image]:
    """``Image.open(path)`` (lazy: the header only), refused in one sentence (TomauError) when the header's size is
    over ``max_pixels`` (None = no limit) - before any pixel is decoded."""
    path = Path(path)
    from .files import check_regular

    check_regular(path, "image")  # a FIFO would block Image.open for ever, a device never end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if max_pixels is None or max_pixels > 2 * (Image.MAX_IMAGE_PIXELS or 0):
                with _PILLOW_LIMIT_LOCK:  # only this open goes past Pillow's own limit; restored at once
                    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                    try:
                        im = Image.open(path)
                    finally:
                        Image.MAX_IMAGE_PIXELS = saved
            else:
                im = Image.open(path)
        except Image.DecompressionBombError as err:  # over 2x Pillow's limit, so over ours too
            import re

            found = re.search(r"\((\d+) pixels\)", str(err))
            mp = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
            raise TomauError(f"{path}: the image has {mp}, over the {max_pixels / 1e6:.0f} MP limit that guards against "
                             "decompression bombs; pass --max-pixels 0 (no limit) if you trust the file") from None
    with im:
        check_size(path, im.size, max_pixels)
        yield im


@dataclass
class LoadedImage:
    """An image ready for colourisation.

    pixels: the decoded pixels, orientation already applied: uint8 or uint16, grey (H, W) or RGB (H, W, 3), or
            float32 RGB in [0, 1] for modes that have no such form (float greyscale); what tomau.fullres reads
    rgb:   float32 array (H, W, 3) in [0, 1], made from ``pixels`` when first asked for (a 64-MP scan's is 768 MB)
    alpha: uint8 array (H, W) or None
    is_colour: True when the input already had colour (it is colourised from its L anyway)
    format: the Pillow format name of the source (e.g. "JPEG")
    """

    path: Path
    pixels: np.ndarray
    alpha: np.ndarray | None
    is_colour: bool
    format: str | None
    frames: int = 1  # pages of a multi-page TIFF, frames of an animated GIF/WebP: only the first is colourised
    bits: int = 8  # 16 for 16-bit PNG/TIFF scans: the result is written with 16 bits per channel too
    info: dict | None = None  # what the result keeps: icc_profile, dpi, exif (orientation already applied)
    _rgb: np.ndarray | None = field(default=None, repr=False)

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = as_float_rgb(self.pixels)
        return self._rgb


def as_float_rgb(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float pixels, grey (H, W) or RGB (H, W, 3) -> float32 RGB (H, W, 3) in [0, 1]."""
    rgb = pixels.astype(np.float32)  # a new array: scaled in place, no second full-size copy
    if pixels.dtype in (np.uint8, np.uint16):
        rgb /= 255.0 if pixels.dtype == np.uint8 else 65535.0
    return np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb


def pil_to_float_rgb(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode -> (float RGB in [0, 1], alpha or None)."""
    pixels, alpha = pil_to_pixels(im)
    return as_float_rgb(pixels), alpha


def pil_to_pixels(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode -> (its pixels as :class:`LoadedImage` holds them, alpha or None): 8-bit grey and RGB stay
    uint8, 16-bit grey is uint16, float greyscale becomes float32 in [0, 1]; nothing is made full-size float."""
    alpha = None
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(im.getchannel("A"), dtype=np.uint8)
        im = im.convert("RGB") if im.mode != "LA" else im.convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if im.mode.startswith("I;16") or arr.max() > 255:
            return np.clip(arr, 0, 65535).astype(np.uint16), alpha
        return np.clip(arr, 0, 255).astype(np.uint8), alpha
    if im.mode == "F":
        grey = np.asarray(im, dtype=np.float32)
        return np.clip(grey / (1.0 if grey.max() <= 1.0 else grey.max()), 0, 1), alpha
    if im.mode not in ("L", "RGB"):  # 1, CMYK, YCbCr, LAB, HSV ...
        im = im.convert("RGB")
    # in bands of rows: np.asarray(im) would hold Pillow's whole-image bytes twice over on the way (+128 MB at 64 MP)
    w, h = im.size
    out = np.empty((h, w) if im.mode == "L" else (h, w, 3), dtype=np.uint8)
    rows = max(1, (1 << 22) // max(1, w * (1 if im.mode == "L" else 3)))
    for r0 in range(0, h, rows):
        out[r0 : r0 + rows] = np.asarray(im.crop((0, r0, w, min(h, r0 + rows))))
    return out, alpha


def looks_colour(rgb: np.ndarray, tol: float = 2.0 / 255) -> bool:
    """True when the channels differ noticeably: a colour photo rather than grey or a near-grey scan.

    Sepia scans count as colour only if their tint is stronger than ``tol`` on average. ``rgb`` may be any
    :class:`LoadedImage` pixels (grey ones are not colour)."""
    if rgb.ndim == 2:
        return False
    small = as_float_rgb(rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)])
    spread = small.max(axis=2) - small.min(axis=2)
    return float(spread.mean()) > tol


def check_size(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise TomauError(
            f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, over the {max_pixels / 1e6:.0f} MP limit "
            "that guards against decompression bombs; pass --max-pixels 0 (no limit) if you trust the file"
        )


def load_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Open any image Pillow reads. Raises TomauError with one sentence on any problem."""
    from .files import check_regular

    path = check_regular(path, "image")
    if path.stat().st_size == 0:
        raise TomauError(f"{path}: the file is empty (0 bytes)")
    try:
        with open_image(path, max_pixels) as im:
            fmt = im.format
            frames = int(getattr(im, "n_frames", 1) or 1)
            stored_16 = _stored_16_bits(im)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grey = _load_grey_in_place(im)
                orientation = im.getexif().get(0x0112, 1)
                ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of a big scan
            info = _kept_info(im)
            if grey is not None and im.im is not grey[1]:  # turned: the pixels are in a new image now
                grey = None
    except TomauError:
        raise
    except UnidentifiedImageError:
        raise TomauError(f"{path}: not an image Pillow can read (unknown or unsupported format)") from None
    except PermissionError as err:
        raise TomauError(f"{path}: cannot read the file ({err.strerror or err}); check its permissions") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise TomauError(f"{path}: the image is corrupt or truncated ({err})") from None
    mode = im.mode
    pixels, alpha = (grey[0], None) if grey is not None else pil_to_pixels(im)
    del im, grey  # the decoded image: its pixels are ``pixels`` now
    bits = _bits(mode, pixels, fmt)
    if stored_16 and mode in ("RGB", "RGBA"):
        deep = _read_16bit_colour(path)  # Pillow reads 48/64-bit PNG and TIFF as 8 bits per channel
        if deep is not None and orientation not in (1, None):  # OpenCV's unchanged read does not turn it: as Pillow did
            deep = tuple(None if a is None else _exif_turn(a, orientation) for a in deep)
        if deep is not None and deep[0].shape[:2] == pixels.shape[:2]:
            pixels, alpha, bits = deep[0], (deep[1] if deep[1] is not None else alpha), 16
    return LoadedImage(path=path, pixels=pixels, alpha=alpha, is_colour=looks_colour(pixels), format=fmt,
                       frames=frames, bits=bits, info=info)


def _load_grey_in_place(im: Image.Image) -> tuple[np.ndarray, object] | None:
    """``im.load()``; an 8- or 16-bit grey image (what scans mostly are) is decoded straight into memory that a
    NumPy array owns, returned with the Pillow image core on it: Pillow's own memory would have to be copied out
    (three copies in bands, 80 ms of a 64-MP scan's 250). None, with ``im`` loaded as usual, for other modes or
    where Pillow decodes elsewhere (the array is only the pixels while ``im.im`` is still that core)."""
    # a TIFF whose own IFD turns it is decoded at its stored size and turned by Pillow as it loads (im.size is the
    # turned one already): decoded as it is
    turned = im.format == "TIFF" and im.tag_v2.get(0x0112, 1) != 1
    if turned:  # Pillow (12.3) memory-maps an uncompressed grey one at its turned size, reading the rows askew: decoded
        im.filename = ""  # (no file name: no memory map)
    if im.mode not in ("L", "I;16") or getattr(im, "_im", True) is not None or not getattr(im, "tile", None) or turned:
        im.load()
        return None
    pixels = np.empty((im.height, im.width), np.uint8 if im.mode == "L" else np.dtype("<u2"))
    core = Image.frombuffer(im.mode, im.size, pixels, "raw", im.mode, 0, 1).im  # the array's memory, not a copy
    im.im = core  # ImageFile.load decodes into the image memory it finds
    im.load()
    return (pixels, core) if im.im is core else None


def from_pil(im: Image.Image, path: str | os.PathLike = "<image>") -> LoadedImage:
    """A PIL image (one given to the Python API) as :func:`load_image` makes one from its file: EXIF orientation
    applied, ICC profile / DPI / EXIF in ``info``, 16-bit grey kept at 16 bits. (A 16-bit colour PNG or TIFF opened
    by Pillow is 8 bits already: pass its path to read all 16.) ``im`` itself is not changed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upright = ImageOps.exif_transpose(im)  # a copy, turned as its EXIF orientation says
    pixels, alpha = pil_to_pixels(upright)
    return LoadedImage(path=Path(path), pixels=pixels, alpha=alpha, is_colour=looks_colour(pixels), format=im.format,
                       frames=int(getattr(im, "n_frames", 1) or 1), bits=_bits(upright.mode, pixels, im.format), info=_kept_info(upright))


# TIFF tags that describe how a file's pixels are stored, not the photo: a TIFF's own IFD is what Pillow's getexif()
# gives, and carried into a result as its EXIF they would describe the input's layout (its width, bits, strips,
# compression) over the result's own - a TIFF that no reader opens. Resolution and the ICC profile are carried as
# ``dpi`` and ``icc_profile``; XMP, IPTC and Photoshop blocks hold their own copies of such fields, so none is kept.
_STRUCTURAL_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 269, 273, 277, 278, 279, 280, 281, 282, 283, 284, 285,
    286, 287, 290, 291, 292, 293, 296, 297, 317, 318, 319, 320, 321, 322, 323, 324, 325, 330, 332, 333, 334, 336,
    337, 338, 339, 340, 341, 342, 343, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532, 700,
    32995, 32996, 32997, 32998, 33723, 34377, 34675, 37439, 50838, 50839,
})


def _kept_info(im: Image.Image) -> dict:
    """What a result keeps of its source: ICC profile, DPI, EXIF (with the orientation reset: the pixels are upright).

    The EXIF keeps what describes the photo (camera, dates, text, GPS, the Exif sub-IFD), never a TIFF's structural
    tags (``_STRUCTURAL_TAGS``), whatever the source format."""
    info = {k: im.info[k] for k in ("icc_profile", "dpi") if im.info.get(k)}
    try:
        source = im.getexif()
        exif = Image.Exif()
        for tag, value in source.items():
            if tag in _STRUCTURAL_TAGS:
                continue
            exif[tag] = source.get_ifd(tag) if tag in (0x8769, 0x8825) else value  # the Exif and GPS sub-IFDs
        if len(exif):
            exif[0x0112] = 1  # the rotation is applied to the pixels now
            info["exif"] = exif.tobytes()
    except Exception:  # noqa: BLE001 - EXIF that Pillow cannot read or write again: the result goes without it
        info.pop("exif", None)
    return info


def _bits(mode: str, pixels: np.ndarray, fmt: str | None) -> int:
    return 16 if mode.startswith("I;16") or (mode == "I" and pixels.size and fmt in ("PNG", "TIFF")) else 8


def _exif_turn(a: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels (H, W, ...) turned upright as EXIF orientation 2-8 asks (what ImageOps.exif_transpose does)."""
    turned = {2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
              5: lambda x: x.swapaxes(0, 1), 6: lambda x: np.rot90(x, -1), 7: lambda x: x.swapaxes(0, 1)[::-1, ::-1],
              8: lambda x: np.rot90(x, 1)}.get(orientation, lambda x: x)(a)
    return np.ascontiguousarray(turned)


def _stored_16_bits(im: Image.Image) -> bool:
    """True where the header of a PNG or TIFF (not yet decoded) says 16 bits per sample, which Pillow reads as 8 in
    colour: only those are read again with OpenCV (whose errors on other files would reach the terminal)."""
    try:
        if im.format == "TIFF":
            bits = im.tag_v2.get(258, (8,))
            return max(bits if isinstance(bits, tuple) else (bits,)) == 16
        if im.format == "PNG":
            return any(";16" in str(t[3][0] if isinstance(t[3], tuple) else t[3]) for t in im.tile)
    except Exception:  # noqa: BLE001 - an odd header: read as Pillow reads it
        return False
    return False


def _read_16bit_colour(path: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(uint16 RGB, 8-bit alpha or None) of a 16-bit-per-channel colour PNG/TIFF via OpenCV, else None."""
    try:
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except Exception:  # noqa: BLE001 - OpenCV missing or unable: Pillow's 8 bits stand
        return None
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        return None
    alpha = (arr[..., 3] // 257).astype(np.uint8) if arr.shape[2] == 4 else None
    return np.ascontiguousarray(arr[..., 2::-1]), alpha


def _walk_files(root: Path, extensions: set[str], errors: list[str] | None = None) -> list[Path]:
    """Files below ``root`` with one of ``extensions``, following symlinked folders (each real folder once, so
    a link loop ends), sorted; paths keep the names they were reached by. A folder that cannot be read is one
    sentence in ``errors``."""
    seen: set[str] = set()
    found: list[Path] = []

    def unreadable(err: OSError) -> None:
        if errors is not None:
            errors.append(f"{err.filename}: cannot read the folder ({err.strerror or err}); the files in it are not colourised")

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unreadable):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found += [Path(folder) / f for f in files if Path(f).suffix.lower() in extensions and (Path(folder) / f).is_file()]
    return sorted(found)


def collect_inputs(items: list[str], notes: list[str] | None = None) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders (recursive) and globs.

    Returns ([(file, relative output name)], [error sentences for missing paths]). Files inside a
    folder keep their path relative to that folder, so equal names in sub-folders do not collide.
    """
    found: list[tuple[Path, Path]] = []
    errors: list[str] = []
    notes = [] if notes is None else notes  # "same file named twice" notes, for the caller to show
    for item in items:
        p = Path(item)
        if p.is_dir():
            files = _walk_files(p, IMAGE_EXTENSIONS | VIDEO_EXTENSIONS, errors)
            if not files:
                errors.append(f"{p}: the folder holds no image or video files ({', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))})")
            found += [(f, f.relative_to(p)) for f in files]
        elif p.exists():
            found.append((p, Path(p.name)))
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                errors.append(f"{item}: the pattern matches no files")
            found += [(m, Path(m.name)) for m in matches]
        else:
            errors.append(f"{p}: no such file or folder")
    # the same file named twice (a folder and a glob, or two links to one file) is done once, with a word
    seen: dict[Path, Path] = {}
    unique = []
    for f, rel in found:
        key = f.resolve()
        if key not in seen:
            seen[key] = f
            unique.append((f, rel))
        elif f != seen[key] and (f.is_symlink() or seen[key].is_symlink() or f.absolute() != seen[key].absolute()):
            notes.append(f"note: {f} is the same file as {seen[key]}; it is colourised once")
    return unique, errors


def output_path(outdir: Path, rel: Path, source_format: str | None, has_alpha: bool, protected: set[Path]) -> Path:
    """Where the result of ``rel`` goes: same name, same format when it can hold the result, else PNG.

    ``protected`` holds resolved input paths: an output never lands on one (suffix ``_color``)."""
    ext = _WRITABLE.get(source_format or "") or _FALLBACK.get(source_format or "", ".png")
    if has_alpha and source_format not in _ALPHA_OK:
        ext = ".png"
    # the input's own suffix only when it names the result's real format (a PNG named a.jpg gives a.png)
    keep_suffix = (rel.suffix.lower() in IMAGE_EXTENSIONS and _WRITABLE.get(source_format or "") == ext
                   and _FORMAT_BY_SUFFIX.get(rel.suffix.lower()) == source_format)
    target = outdir / (rel if keep_suffix else rel.with_suffix(ext))
    if target.resolve() in protected or _fitting(target) != target:  # the input's own name, or one cut to fit
        target = _fitting(target).with_name(f"{_fitting(target).stem}_color{target.suffix}")
    return target


MAX_NAME_BYTES = 236  # a result's name at most before _color, _2, _00 ... are added (a file system allows 255)


def _fitting(path: Path) -> Path:
    """``path`` with its stem cut (on a character boundary) so the name fits MAX_NAME_BYTES: an input named near
    the 255-byte limit, whose result gains ``_color`` or ``_2``."""
    if len(os.fsencode(path.name)) <= MAX_NAME_BYTES:
        return path
    stem, room = path.stem, MAX_NAME_BYTES - len(os.fsencode(path.suffix))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return path.with_name(stem + path.suffix)


def expected_output(outdir: Path, rel: Path, protected: set[Path]) -> Path:
    """The result's path as :func:`output_path` names it for a file of this suffix (without alpha)."""
    return output_path(outdir, rel, _FORMAT_BY_SUFFIX.get(rel.suffix.lower()), False, protected)


def without_own_outputs(pairs: list[tuple[Path, Path]], outdir: Path) -> tuple[list[tuple[Path, Path]], int]:
    """Drop inputs that are results of an earlier run into ``outdir``: files below ``outdir`` when it lies inside
    an input folder, and ``NAME_color.EXT`` beside an input ``NAME.*`` (what -o = the input folder writes)."""
    out_real = outdir.resolve()
    stems = {(f.resolve().parent, f.stem) for f, _ in pairs}
    kept, dropped = [], 0
    for f, rel in pairs:
        real = f.resolve()
        root = Path(*f.absolute().parts[: len(f.absolute().parts) - len(rel.parts)]).resolve()
        in_out_below_root = out_real != root and root in out_real.parents and out_real in real.parents
        is_result = (f.stem.endswith("_color") and real.parent == out_real  # what -o = the input folder wrote
                     and (real.parent, f.stem[: -len("_color")]) in stems)
        if in_out_below_root or is_result:
            dropped += 1
            continue
        kept.append((f, rel))
    return kept, dropped


def make_output_dir(path: str | Path) -> Path:
    """Create an output folder (parents too) and check that files can be written in it - before any work -
    or say in one sentence why not. Stale temp files of an interrupted earlier run are removed."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise TomauError(f"{path}: exists and is not a folder; give -o a folder")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TomauError(f"{path}: cannot create the output folder ({err.strerror or err})") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".tomau-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise TomauError(f"{path}: cannot write to the output folder ({err.strerror or err})") from None
    remove_stale_temps(path, min_age_s=600, recursive=False)  # the folder itself: below it may be anyone's
    return path


def remove_stale_temps(folder: Path, min_age_s: float = 0, recursive: bool = True) -> int:
    """Delete temp files of tomau's own naming (``.NAME.tomau-tmp-XXXXXXXX.tmp``, from :func:`atomic_path`; a
    film's ends in its format's suffix) that a killed run left behind, if older than ``min_age_s`` (so a run still
    writing keeps its own); returns the count. No other file can match: a user's ``.notes.20240101.tmp`` stays."""
    import time

    now, removed = time.time(), 0
    for p in (folder.rglob(f".*{TEMP_MARK}*") if recursive else folder.glob(f".*{TEMP_MARK}*")):
        try:
            if _TEMP_NAME.match(p.name) and p.is_file() and not p.is_symlink() and now - p.stat().st_mtime >= min_age_s:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def unique_targets(pairs: list[tuple[Path, Path]], outdir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Give every input its own output name before any work: inputs whose results would share a name
    (``d1/a.jpg`` and ``d2/a.jpg``; ``a.gif`` and ``a.png``, both written as PNG) get ``_2``, ``_3`` ...
    Returns the renamed (file, relative name) pairs and one note per renamed input."""
    taken: dict[str, Path] = {}  # output name (lower case, as a case-insensitive disk sees it) -> input
    out, notes = [], []
    for f, rel in pairs:
        fmt = _FORMAT_BY_SUFFIX.get(rel.suffix.lower(), "")
        ext = rel.suffix.lower() if fmt in _WRITABLE else _FALLBACK.get(fmt, ".png")  # as output_path names it

        def key(r: Path) -> str:
            return (r.parent / r.stem).as_posix().lower() + ext

        new, n = rel, 1
        while key(new) in taken:
            n += 1
            new = rel.with_name(f"{rel.stem}_{n}{rel.suffix}")
        if new != rel:
            notes.append(f"note: {f} would be written under the same name as {taken[key(rel)]}; "
                         f"its result is named {outdir / new.with_suffix(ext)}")
        taken[key(new)] = f
        out.append((f, new))
    return out, notes


@dataclass
class Strips:
    """An RGB image (H, W, 3) of ``dtype`` whose rows are made on demand, top to bottom: ``make()`` yields
    (first row, rows (n, W, 3)). :func:`save_image` encodes them as they come (with libvips), so a big scan's result
    is never whole in memory; ``np.asarray(strips)`` makes the whole array."""

    size: tuple[int, int]  # (H, W)
    dtype: type
    make: Callable[[], Iterator[tuple[int, np.ndarray]]]
    fill: Callable[[np.ndarray], object] | None = None  # writes the whole image into an (H, W, 3 or 4) array

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, 3)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return iter(self.make())

    def whole(self, channels: int = 3) -> np.ndarray:
        """The whole image (H, W, channels): RGB, or RGBX with X at the top value (Pillow maps such an array as
        an image without copying it); made by ``fill`` where given, else from the rows."""
        out = np.empty((*self.size, channels), dtype=self.dtype)
        if self.fill is not None:
            self.fill(out)
            return out
        if channels == 4:
            out[..., 3] = np.iinfo(self.dtype).max
        for r0, rows in self:
            out[r0 : r0 + len(rows), :, :3] = rows
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.whole()
        return out if dtype is None else out.astype(dtype)


STREAM_PIXELS = 4_000_000  # results above this are encoded as their rows are made; smaller ones whole (faster)
_STREAMED = {".jpg": "jpegsave", ".jpeg": "jpegsave", ".jfif": "jpegsave", ".png": "pngsave", ".tif": "tiffsave",
             ".tiff": "tiffsave"}


def _vips():
    """pyvips, or None where it (or its libvips) is not installed: results are then encoded whole, by Pillow."""
    try:
        import pyvips

        pyvips.cache_set_max(0)  # nothing of a finished photo stays cached
    except Exception:  # noqa: BLE001 - no pyvips, or no libvips for it to load
        return None
    _return_freed_strips()
    return pyvips


@lru_cache(maxsize=1)
def _return_freed_strips() -> None:
    """The rows are made in libvips' worker threads, and glibc keeps each thread's freed strip buffers in that
    thread's arena (its mmap threshold grows past their size): a fixed 1 MB threshold hands them back (64 MP: -100 MB)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _png_stream(strips: Strips, eight_bit: bool) -> Iterator[bytes | memoryview]:
    """The rows of ``strips`` as an uncompressed PNG byte stream (filter 0, stored deflate blocks): the one
    streaming raw format every libvips build reads, in order, with constant memory. Each row is a stored block of
    its own, yielded as a view of the strip (no copy: zlib's level 0 copies at ~0.5 GB/s, 0.4 s at 64 MP); its
    pieces are used before the next strip is asked for, as Strips' rows are only valid until then.

    The stream goes to libvips only, read with ``fail_on="truncated"``, where a checksum that does not match is no
    error: the IDAT CRCs and the zlib Adler-32 are left 0 (computing them took 0.12 s of 1.6 at 64 MP)."""
    import struct
    import zlib

    def chunk(tag: bytes, data) -> list:
        return [struct.pack(">I", len(data)) + tag, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))]

    h, w = strips.size
    deep = strips.dtype == np.uint16 and not eight_bit
    yield b"\x89PNG\r\n\x1a\n"
    yield from chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16 if deep else 8, 2, 0, 0, 0))
    header = b"\x78\x01"  # zlib header (deflate, 32K window), then stored blocks only
    for _, rows in strips:
        if rows.dtype == np.uint16:
            rows = rows.astype(">u2") if deep else (rows // 257).astype(np.uint8)
        flat = np.ascontiguousarray(rows).reshape(len(rows), -1).view(np.uint8)
        pieces = [header] if header else []
        header = b""
        for row in flat:
            data, lead = memoryview(row), b"\x00"  # the row's filter byte (none), then its bytes
            while True:  # stored blocks hold at most 65535 bytes: rows wider than that take several
                part, data = data[: 65535 - len(lead)], data[65535 - len(lead) :]
                k = len(lead) + len(part)
                pieces += [struct.pack("<BHH", 0, k, k ^ 0xFFFF) + lead, part]
                lead = b""
                if not len(data):
                    break
        yield struct.pack(">I", sum(len(p) for p in pieces)) + b"IDAT"
        yield from pieces
        yield b"\0\0\0\0"  # CRC not computed (above)
    yield from chunk(b"IDAT", header + b"\x01\x00\x00\xff\xff" + b"\0\0\0\0")  # the last, empty block; Adler-32 0
    yield from chunk(b"IEND", b"")


def _save_streamed(pyvips, path: Path, strips: Strips, quality: int, info: dict | None, replace: bool = True) -> Path:
    """Encode ``strips`` into JPEG / PNG / TIFF with libvips as the rows are made (constant memory)."""
    saver = _STREAMED[path.suffix.lower()]
    stream, pending, failed = _png_stream(strips, saver == "jpegsave"), [memoryview(b"")], []

    def on_read(size: int):
        try:
            while not len(pending[0]):
                pending[0] = memoryview(next(stream)).cast("B")
        except StopIteration:
            return b""
        except BaseException as err:  # noqa: BLE001 - raised again below, after libvips has stopped
            failed.append(err)
            return b""
        out, pending[0] = pending[0][:size], pending[0][size:]
        return out

    source = pyvips.SourceCustom()
    source.on_read(on_read)
    info = info or {}
    try:
        image = pyvips.Image.new_from_source(source, "", access="sequential", fail_on="truncated")
        if info.get("dpi"):
            image = image.copy(xres=float(info["dpi"][0]) / 25.4, yres=float(info["dpi"][1]) / 25.4)
        else:
            image = image.copy()
        for key, field_name in (("icc_profile", "icc-profile-data"), ("exif", "exif-data")):
            if info.get(key):
                image.set_type(pyvips.GValue.blob_type, field_name, bytes(info[key]))
        options = {"jpegsave": {"Q": quality, "subsample_mode": "on"}, "pngsave": {"compression": 6},
                   "tiffsave": {"compression": "none"}}[saver]
        keep = pyvips.enums.ForeignKeep  # no EXIF block of libvips' own making where the photo had none
        options["keep"] = keep.ICC | keep.OTHER | (keep.EXIF if info.get("exif") else 0)
        landed: list[Path] = []
        with atomic_path(path, replace=replace, landed=landed) as tmp:
            getattr(image, saver)(str(tmp), **options)
            if failed:  # the rows stopped coming: the temp file is removed, the reason raised
                raise failed[0]
            if not info.get("dpi"):
                _drop_resolution(tmp, saver)
        return landed[0]
    except pyvips.Error as err:
        if failed:
            raise failed[0] from None
        raise TomauError(f"{path}: libvips could not write the result ({str(err).strip().splitlines()[-1]})") from None


def _drop_resolution(path: Path, saver: str) -> None:
    """libvips always writes a resolution (1 pixel/mm when none is known); a result of a photo without one says
    none: JFIF density and PNG pHYs 1:1 with no unit (an aspect ratio; TIFF keeps libvips' tag)."""
    with open(path, "r+b") as f:
        head = f.read(64)
        if saver == "jpegsave" and head[6:11] == b"JFIF\0":
            f.seek(13)
            f.write(b"\x00\x00\x01\x00\x01")  # units 0, density 1 x 1 (an aspect ratio, not a size)
        elif saver == "pngsave":
            at = head.find(b"pHYs", 8)
            if at >= 4 and at + 17 <= len(head):  # unit 0: the 1 x 1 is an aspect ratio, not a size
                import struct
                import zlib

                data = struct.pack(">IIB", 1, 1, 0)
                f.seek(at + 4)
                f.write(data + struct.pack(">I", zlib.crc32(b"pHYs" + data)))


def save_image(path: Path, rgb_u8: np.ndarray | Strips, alpha: np.ndarray | None = None, quality: int = 95,
               info: dict | None = None, replace: bool = True) -> Path:
    """Write an (H, W, 3) uint8 image (plus alpha) atomically: temp file in the same folder, then rename.

    A uint16 image goes to PNG/TIFF with 16 bits per channel (other formats get 8). ``info`` (from
    :class:`LoadedImage`) carries the input's ICC profile, DPI and EXIF into formats that hold them. A
    :class:`Strips` result above ``STREAM_PIXELS`` without alpha is encoded as its rows are made where libvips is
    installed (JPEG, PNG, TIFF); else it is made whole and written as an array is. With ``replace`` False a file
    already at ``path`` is never replaced (the result takes the next free name, see :func:`atomic_path`). Returns
    the name the result was given."""
    ext = path.suffix.lower()
    if isinstance(rgb_u8, Strips):
        # libvips writes no EXIF into TIFF: a TIFF result with EXIF is made whole and written by Pillow
        streamable = (alpha is None and ext in _STREAMED and rgb_u8.size[0] * rgb_u8.size[1] > STREAM_PIXELS
                      and not (ext in (".tif", ".tiff") and (info or {}).get("exif")))
        pyvips = _vips() if streamable else None
        if pyvips is not None:
            return _save_streamed(pyvips, path, rgb_u8, quality, info, replace)
        if rgb_u8.dtype == np.uint8 and alpha is None and _format_of(ext) == "JPEG":
            # made as RGBX, which Pillow maps without a copy and its JPEG encoder takes as it is (1 MP: 0.8 ms less)
            whole = rgb_u8.whole(4)
            h, w = rgb_u8.size
            return _save_pillow(path, Image.frombuffer("RGBX", (w, h), whole, "raw", "RGBX", 0, 1), "JPEG", quality, info, replace)
        rgb_u8 = np.asarray(rgb_u8)
    if rgb_u8.dtype == np.uint16:
        if ext in (".png", ".tif", ".tiff"):
            import cv2

            channels = [rgb_u8[..., ::-1]] + ([alpha.astype(np.uint16)[..., None] * 257] if alpha is not None else [])
            ok, data = cv2.imencode(ext, np.ascontiguousarray(np.concatenate(channels, axis=2)))
            if not ok:
                raise TomauError(f"{path}: OpenCV could not encode the 16-bit result")
            return write_atomic(path, lambda f: f.write(data.tobytes()), replace)
        rgb_u8 = (rgb_u8 // 257).astype(np.uint8)
    im = Image.fromarray(rgb_u8, "RGB")
    if alpha is not None:
        im.putalpha(Image.fromarray(alpha, "L"))
    return _save_pillow(path, im, _format_of(ext), quality, info, replace)


def _format_of(ext: str) -> str:
    """Pillow's format for a result's extension (HEIF only where pillow-heif can encode; PNG for the rest)."""
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".jfif": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
            ".webp": "WEBP", ".bmp": "BMP", **({".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF"} if HEIF_ENCODER else {})
            }.get(ext, "PNG")


def _save_pillow(path: Path, im: Image.Image, fmt: str, quality: int, info: dict | None, replace: bool = True) -> Path:
    """Write ``im`` atomically as ``fmt`` with the input's metadata (``info``) where the format holds it."""
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP", "HEIF") else {}
    for key, value in (info or {}).items():
        if fmt in ("JPEG", "PNG", "TIFF", "WEBP", "HEIF") and not (key == "dpi" and fmt in ("WEBP", "HEIF")):
            kwargs[key] = value
    return write_atomic(path, lambda f: im.save(f, format=fmt, **kwargs), replace)


TEMP_MARK = ".tomau-tmp-"  # in every temp file's name (``.NAME.tomau-tmp-XXXXXXXX.tmp``): no other program's file has it
_TEMP_NAME = re.compile(r"^\..*\.tomau-tmp-[a-z0-9_]{8}(\.[A-Za-z0-9]{1,6})?$")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", replace: bool = True,
                landed: list[Path] | None = None) -> Iterator[Path]:
    """A temp file name beside ``path`` to write to; moved to ``path`` (with the usual permissions) when the block
    ends normally, removed when it raises (Ctrl-C and SIGTERM too), so ``path`` is never left half-written.

    With ``replace`` False a file already at ``path`` - another run's result that appeared while this one worked -
    is never replaced: the name is taken atomically (a hard link, or O_EXCL where links are not supported) and the
    next free ``NAME_2.EXT``, ``NAME_3.EXT`` ... is used if it is gone. The name used is appended to ``landed``."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # not there (or a dangling link): made
    if mode is not None and not stat.S_ISREG(mode):  # never renamed over a folder, a device (/dev/zero), a FIFO
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, a FIFO or a socket)"
        raise TomauError(f"{path}: is {kind}; give the name of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the name's start only: a 250-character name would make a temp name over the 255 bytes a name may have
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}{TEMP_MARK}", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise TomauError(f"{path.parent}: cannot write there ({err.strerror or err})") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give results the usual permissions
        final = path
        try:
            if replace:
                os.replace(tmp, path)
            else:
                final = _land_without_replacing(Path(tmp), path)
        except OSError as err:  # a folder made under that name meanwhile, a read-only mount ...
            raise TomauError(f"{path}: cannot put the file there ({err.strerror or err})") from None
        if landed is not None:
            landed.append(final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _land_without_replacing(tmp: Path, path: Path) -> Path:
    """Give the finished temp file ``tmp`` the first free name of ``path``, ``NAME_2.EXT`` ...; returns it."""
    import errno

    for n in range(1, 10_000):
        target = path if n == 1 else path.with_name(f"{path.stem}_{n}{path.suffix}")
        try:
            os.link(tmp, target)  # fails if the name is taken: nothing is ever replaced
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
                raise
            try:  # a file system without hard links: reserve the name, then move the finished file onto it
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK))
            except FileExistsError:
                continue
            os.replace(tmp, target)
            return target
        tmp.unlink()
        return target
    raise TomauError(f"{path}: 10,000 files of this name are there already; choose another output folder")


def write_atomic(path: Path, write, replace: bool = True) -> Path:
    """Call ``write(file_object)`` on a temp file beside ``path`` and move it into place (see :func:`atomic_path`:
    with ``replace`` False an existing file is never replaced); returns the name it was given. A failed write (a
    full disk) is one sentence, and ``path`` is as it was."""
    landed: list[Path] = []
    with atomic_path(path, replace=replace, landed=landed) as tmp:
        try:
            with open(tmp, "wb") as f:
                write(f)
        except OSError as err:
            raise TomauError(f"{path}: cannot write the file ({err.strerror or err})") from None
    return landed[0]
