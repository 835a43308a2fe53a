"""Full-resolution colourisation at the cost of the pixels: L, the model's input and the recombination in strips.

A photo arrives as its decoded pixels (uint8 or uint16 grey or RGB, or float RGB in [0, 1]) and is never turned
into a full-size float image. In strips of rows:

- **L** of the full-resolution photo comes from tables made once by :mod:`tomau.color` (a grey value's L; for
  colour, each channel's linear value and L as a function of luminance Y), so it equals ``color.rgb_to_lab``'s L;
- **the model's input** is the antialiased bilinear resize of that L to S x S (as ``F.interpolate`` with
  ``antialias=True``), done separably: each strip is narrowed to S columns, the tall (H, S) result to S rows;
- **the recombination** widens ab (S x S) to each strip's rows with bilinear interpolation (half-pixel centres,
  as ``F.interpolate(align_corners=False)``), joins it with the strip's L and converts Lab to sRGB with OpenCV
  (the same sRGB matrix and D65 white as :mod:`tomau.color`; b is clamped where ``color.lab_to_rgb`` clamps
  fz at 0, so the two agree within 0.3 levels over the whole Lab cube - tests/test_fullres.py).

Memory beyond the photo's pixels is that of one strip (``STRIP_PIXELS``), whatever the photo's size; the rows come
out in order, so a writer can encode them as they are made (tomau.images.Strips).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from . import color

STRIP_PIXELS = 1 << 18  # pixels per strip: bounds memory on huge scans (~9 MB of temporaries), stays in cache
TRIM_PIXELS = 4_000_000  # photos above this hand back freed heap before their rows are made (2-6 ms; 15 MB of peak)
_GRID = 65536  # grey values the tables are made for: every 16-bit value, every 8-bit value at index v * 257


def return_freed_heap() -> None:
    """Hand the heap that glibc keeps after frees back to the system (malloc_trim; nothing elsewhere). Python,
    PyTorch and onnxruntime free many small buffers that a photo's big ones (mmap) never reuse: called once an
    onnxruntime session is built (tomau.backends) and before a big scan's rows are made (15-30 MB off the peak each)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(linear value, L) of the greys k / 65535 from tomau.color, L of the luminances Y = k / 65535 (within
    0.015 L of the exact value), and the luminance weights of linear R, G, B.

    A grey (v, v, v) has luminance Y = linear(v) (the rows of the sRGB -> XYZ matrix sum to 1 in Y), so the same
    tables give each channel's linear value and L as a function of Y."""
    grey = torch.arange(_GRID, dtype=torch.float64).div(_GRID - 1).float()
    lin = color._srgb_to_linear(grey).numpy().astype(np.float32)
    lab = color.rgb_to_lab(grey.view(1, 1, -1).expand(3, 1, -1).contiguous())
    l_of_grey = lab[0, 0].numpy().astype(np.float32)
    weights = np.asarray(color._RGB_TO_XYZ[1], dtype=np.float32)
    l_of_y = np.interp(np.arange(_GRID) / (_GRID - 1), lin, l_of_grey).astype(np.float32)  # L of Y = k / 65535
    return lin, l_of_grey, l_of_y, weights


def _index16(pixels: np.ndarray) -> np.ndarray:
    """Indices into the 65536-entry tables: uint16 as is, uint8 times 257, float [0, 1] rounded to 1/65535."""
    if pixels.dtype == np.uint16:
        return pixels
    if pixels.dtype == np.uint8:
        return pixels.astype(np.uint16) * np.uint16(257)
    return (np.clip(pixels, 0, 1) * (_GRID - 1) + 0.5).astype(np.uint16)


def l_of(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Lab L (H, W) float32 in [0, 100] of grey (H, W) or RGB (H, W, 3) pixels: uint8, uint16 or float in [0, 1].
    ``out`` (H, W) float32, C-contiguous, takes the result where given (a strip buffer used again: no page faults)."""
    import cv2

    lin, l_of_grey, l_of_y, weights = _tables()
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 2:
        if pixels.dtype == np.uint8:
            return cv2.LUT(pixels, _grey8_l(), dst=out)
        if pixels.dtype.kind == "f":
            return _into(_exact_l(pixels), out)
        return np.take(l_of_grey, _index16(pixels), out=out)
    if pixels.dtype.kind == "f":  # float RGB (the API's): tomau.color's exact L, not looked up at 1/65535 steps
        return _into(_exact_l(pixels), out)
    if pixels.dtype == np.uint8:
        linear = cv2.LUT(np.ascontiguousarray(pixels), np.ascontiguousarray(lin[::257]))
    else:
        linear = np.take(lin, _index16(pixels))
    y = cv2.transform(linear, weights[None]) if linear.shape[2] == 3 else linear @ weights  # Y (H, W)
    y = y[..., 0] if y.ndim == 3 else y
    return np.take(l_of_y, _index16(y), out=out)


def _exact_l(pixels: np.ndarray) -> np.ndarray:
    """L of float grey (H, W) or RGB (H, W, 3) pixels in [0, 1] (clipped), by tomau.color.rgb_to_lab itself."""
    t = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).clamp(0, 1)
    rgb = t.permute(2, 0, 1) if t.ndim == 3 else t.expand(3, *t.shape)
    return color.rgb_to_lab(rgb)[0].numpy()


@lru_cache(maxsize=1)
def _grey8_l() -> np.ndarray:
    return np.ascontiguousarray(_tables()[1][::257])  # L of the 256 8-bit greys


def _into(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return values
    out[...] = values
    return out


def strip_rows(width: int) -> int:
    return max(1, STRIP_PIXELS // max(1, width))


def full_res_l(pixels: np.ndarray) -> torch.Tensor:
    """Lab L (1, 1, H, W) of a photo's pixels, in strips (no full-size float RGB or Lab temporaries)."""
    h, w = pixels.shape[:2]
    out = torch.empty(1, 1, h, w)
    rows = strip_rows(w)
    for r0 in range(0, h, rows):
        out[0, 0, r0 : r0 + rows] = torch.from_numpy(l_of(pixels[r0 : r0 + rows]))
    return out


def model_input(pixels: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Normalised L (1, 1, size, size) of a photo: its full-resolution L resized with an antialiased bilinear
    filter, separably (each strip to ``size`` columns, then the tall result to ``size`` rows). ``pixels`` may also
    be a full-resolution L tensor (1, 1, H, W)."""
    is_l = isinstance(pixels, torch.Tensor)
    h, w = pixels.shape[-2:] if is_l else pixels.shape[:2]
    rows = strip_rows(w)
    l_buf = None if is_l else np.empty((min(rows, h), w), np.float32)  # used again by every strip
    tall = np.empty((h, size), np.float32)  # made once: small arrays kept between the strips' would fragment the heap
    for r0 in range(0, h, rows):
        n = min(rows, h - r0)
        l_strip = pixels[0, 0, r0 : r0 + n].float().numpy() if is_l else l_of(pixels[r0 : r0 + n], out=l_buf[:n])
        tall[r0 : r0 + n] = _resize_l(l_strip, n, size)
    return color.normalize_l(torch.from_numpy(_resize_l(tall, size, size))[None, None])


def _resize_l(l: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """L (h, w) resized to (rows, cols) as F.interpolate(bilinear, antialias=True) does. Shrinking is Pillow's
    triangle filter on float pixels (what PyTorch's antialias follows; within 3e-5 L of it, 8x faster here);
    enlarging (photos smaller than the model's input) stays PyTorch's, which differs from Pillow's at the borders."""
    from PIL import Image

    h, w = l.shape
    if h == rows and w == cols:
        return np.ascontiguousarray(l, dtype=np.float32)
    if h >= rows and w >= cols:
        return np.array(Image.fromarray(np.ascontiguousarray(l, dtype=np.float32), "F").resize((cols, rows), Image.BILINEAR))
    t = torch.from_numpy(np.ascontiguousarray(l, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(rows, cols), mode="bilinear", antialias=True, align_corners=False)[0, 0].numpy()


def rgb_strips(pixels: np.ndarray | torch.Tensor, ab_norm: torch.Tensor, dtype=np.uint8) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, RGB rows (n, W, 3) of ``dtype``) of the photo coloured with ``ab_norm`` (2, s, s), top to bottom.

    ``pixels``: the photo's pixels (grey or RGB, uint8 / uint16 / float) or its full-resolution L (1, 1, H, W).
    uint8 results are rounded to the nearest level; uint16 ones keep 16 bits of lightness. The rows yielded are
    one buffer, written again by the next strip: copy them to keep them (every strip's buffers are made once, as
    fresh ones cost more in page faults than the colour maths)."""
    import cv2

    cv2.setNumThreads(max(1, torch.get_num_threads()))
    is_l = isinstance(pixels, torch.Tensor)
    h, w = pixels.shape[-2:] if is_l else pixels.shape[:2]
    ab = color.denormalize_ab(ab_norm.detach().float().cpu()).permute(1, 2, 0).numpy()  # (s, s, 2) in Lab units
    small = np.ascontiguousarray(np.concatenate([np.zeros_like(ab[..., :1]), ab], axis=2))  # channel 0 takes L below
    y0, y1, fy = _linear_taps(h, small.shape[0])
    rows = strip_rows(w)
    n0 = min(rows, h)
    if h * w > TRIM_PIXELS:  # what the model's input and forward freed goes back before a big scan's buffers come
        return_freed_heap()
    lab, rgb = np.empty((n0, w, 3), np.float32), np.empty((n0, w, 3), np.float32)
    l_buf, out = np.empty((n0, w), np.float32), np.empty((n0, w, 3), dtype)
    for r0 in range(0, h, rows):
        n = min(rows, h - r0)
        # bilinear is separable: the strip's rows of ab at the model's width, then widened to the photo's
        band = small[y0[r0 : r0 + n]] * (1 - fy[r0 : r0 + n]) + small[y1[r0 : r0 + n]] * fy[r0 : r0 + n]
        if band.shape[1] != w:
            cv2.resize(band, (w, n), dst=lab[:n], interpolation=cv2.INTER_LINEAR)
        else:
            lab[:n] = band
        l_strip = pixels[0, 0, r0 : r0 + n].numpy() if is_l else l_of(pixels[r0 : r0 + n], out=l_buf[:n])
        lab[:n, :, 0] = l_strip
        # color.lab_to_rgb clamps fz = (L + 16) / 116 - b / 200 at 0 (as scikit-image): the same bound on b, where
        # some b of the strip can pass it (strong yellows in dark parts; most strips have none)
        if band[..., 2].max() > (float(l_strip.min()) + 16) * 200 / 116:
            np.minimum(lab[:n, :, 2], l_strip * np.float32(200 / 116) + np.float32(3200 / 116), out=lab[:n, :, 2])
        cv2.cvtColor(lab[:n], cv2.COLOR_Lab2RGB, dst=rgb[:n])  # clipped to [0, 1]
        if dtype == np.uint16:
            np.multiply(rgb[:n], np.float32(65535), out=rgb[:n])
            np.add(rgb[:n], np.float32(0.5), out=rgb[:n])
            np.copyto(out[:n], rgb[:n], casting="unsafe")  # truncates: rounded by the 0.5 above
        else:
            cv2.convertScaleAbs(rgb[:n], dst=out[:n], alpha=255)
        yield r0, out[:n]


def _linear_taps(size: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (y0, y1) and weight of y1 (size, 1, 1) of a bilinear resize from ``small`` to ``size`` rows, with
    half-pixel centres and clamped edges (as cv2.resize's INTER_LINEAR and F.interpolate(align_corners=False))."""
    y = (np.arange(size) + 0.5) * (small / size) - 0.5
    y0 = np.clip(np.floor(y), 0, small - 1).astype(np.intp)
    fy = np.clip(y - y0, 0, 1).astype(np.float32)
    return y0, np.minimum(y0 + 1, small - 1), fy[:, None, None]


def recombine(pixels: np.ndarray | torch.Tensor, ab_norm: torch.Tensor, dtype=np.uint8) -> np.ndarray:
    """The whole RGB image (H, W, 3) of :func:`rgb_strips`."""
    h, w = pixels.shape[-2:] if isinstance(pixels, torch.Tensor) else pixels.shape[:2]
    out = np.empty((h, w, 3), dtype=dtype)
    for r0, strip in rgb_strips(pixels, ab_norm, dtype):
        out[r0 : r0 + len(strip)] = strip
    return out
