"""Full-resolution colourisation at the cost of the pixels: L, the model's input and the recombination in strips.

A photo arrives as its decoded pixels (uint8 or uint16 grey or RGB, or float RGB in [0, 1]) and is never turned
into a full-size float image. In strips of rows:

- **L** of the full-resolution photo comes from tables made once by :mod:`tomau.color` (a grey value's L; for
  colour, each channel's linear value and L as a function of luminance Y), so it equals ``color.rgb_to_lab``'s L;
- **the model's input** is the antialiased bilinear resize of that L to S x S (as ``F.interpolate`` with
  ``antialias=True``, whose weights it uses), done separably: each strip adds its share to S rows, whose columns
  are then resized;
- **the recombination** widens ab (S x S) to each strip's rows with bilinear interpolation (half-pixel centres,
  as ``F.interpolate(align_corners=False)``), joins it with the strip's L, converts Lab to linear RGB with OpenCV
  (the same sRGB matrix and D65 white as :mod:`tomau.color`; b is clamped where ``color.lab_to_rgb`` clamps fz at
  0) and applies tomau.color's sRGB curve as a table, so the two agree within 0.3 levels over the whole Lab cube
  (tests/test_fullres.py).

Memory beyond the photo's pixels is that of one strip (``STRIP_PIXELS``), whatever the photo's size; the rows come
out in order, so a writer can encode them as they are made (tomau.images.Strips).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np
import torch

from . import color

STRIP_PIXELS = 1 << 17  # pixels per strip: bounds memory (~4 MB of temporaries), stays in L2 (1 << 18: 1 MP 7.9 -> 5.7 ms)
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
    """Normalised L (1, 1, size, size) of a photo: its full-resolution L resized as ``F.interpolate(bilinear,
    antialias=True)`` does, separably, with the filter's weights (:class:`_Resize`): each strip of L adds its rows'
    share to the (size, W) image of the resized rows, whose columns are then resized the same way. Rows first, so
    the second pass sees ``size`` rows, not H (64 MP: 40 ms; Pillow's triangle filter took 110). ``pixels`` may
    also be a full-resolution L tensor (1, 1, H, W)."""
    is_l = isinstance(pixels, torch.Tensor)
    h, w = pixels.shape[-2:] if is_l else pixels.shape[:2]
    down = _Resize(h, size)
    rows = max(down.step, strip_rows(w) // down.step * down.step)  # whole steps a strip
    l_buf = None if is_l else np.empty((min(rows, h), w), np.float32)  # used again by every strip
    tall = np.zeros((size, w), np.float32)
    for r0 in range(0, h, rows):
        n = min(rows, h - r0)
        l_strip = pixels[0, 0, r0 : r0 + n].float().numpy() if is_l else l_of(pixels[r0 : r0 + n], out=l_buf[:n])
        down.add(tall, l_strip, r0)
    small_t = np.zeros((size, size), np.float32)
    _Resize(w, size).add(small_t, np.ascontiguousarray(tall.T), 0)  # the columns: the same pass on the transpose
    return color.normalize_l(torch.from_numpy(np.ascontiguousarray(small_t.T))[None, None])


class _Resize:
    """A bilinear resize from n_in to n_out samples along the first axis, with PyTorch's ``antialias=True``
    (Pillow's triangle filter when shrinking, the plain linear one when enlarging; aten's _compute_weights_aa,
    in float64), applied as a banded product: ``step`` input rows at a time (about one output's worth), each
    adding to the few outputs it reaches. Not BLAS: on a busy machine OpenBLAS' threads made the products 100x
    slower, and the band is two taps per input value where a dense product is n_out."""

    def __init__(self, n_in: int, n_out: int):
        self.weights, first, last = _aa_weights(n_in, n_out)
        self.step = max(1, int(n_in / n_out + 1))
        starts = np.arange(0, n_in, self.step)
        self.spans = list(zip(np.searchsorted(last, starts), np.searchsorted(first, np.minimum(starts + self.step, n_in))))

    def add(self, out: np.ndarray, rows: np.ndarray, r0: int) -> None:
        """out (n_out, C) += the resize's share of input rows r0 ... r0 + len(rows) (r0 a multiple of ``step``)."""
        for c0 in range(0, len(rows), self.step):
            j0, j1 = self.spans[(r0 + c0) // self.step]  # the outputs these rows reach
            c1 = min(c0 + self.step, len(rows))
            out[j0:j1] += np.einsum("ji,iw->jw", self.weights[j0:j1, r0 + c0 : r0 + c1], rows[c0:c1])


@lru_cache(maxsize=4)
def _aa_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (n_out, n_in) float32, first and last input index of each output) of :class:`_Resize`."""
    scale = n_in / n_out
    support = scale if scale >= 1 else 1.0
    inv = 1 / scale if scale >= 1 else 1.0
    weights = np.zeros((n_out, n_in), np.float32)
    first, last = np.empty(n_out, np.intp), np.empty(n_out, np.intp)
    for i in range(n_out):
        centre = scale * (i + 0.5)
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        taps = np.clip(1 - np.abs((np.arange(lo, hi) - centre + 0.5) * inv), 0, None)
        weights[i, lo:hi] = taps / taps.sum() if taps.sum() else taps
        first[i], last[i] = lo, hi - 1
    return weights, first, last


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
    lab, index = np.empty((n0, w, 3), np.float32), np.empty((n0, w, 3), np.uint16)
    l_buf, out = np.empty((n0, w), np.float32), np.empty((n0, w, 3), dtype)
    deep = dtype == np.uint16
    gamma = _srgb_table(deep)
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
        _lab_to_srgb(lab[:n], index[:n], gamma, deep, out[:n])
        yield r0, out[:n]


def _lab_to_srgb(lab: np.ndarray, index: np.ndarray, gamma: np.ndarray, deep: bool, out: np.ndarray) -> None:
    """sRGB ``out`` (n, W, 3) of Lab rows (n, W, 3), which are overwritten: OpenCV's Lab -> linear RGB (clipped to
    [0, 1]), then the sRGB curve as a table made by tomau.color (:func:`_srgb_table`) on linear values quantised to
    16 bits - about twice as fast as OpenCV's own curve (a spline), and as near to tomau.color's."""
    import cv2

    cv2.cvtColor(lab, cv2.COLOR_Lab2LRGB, dst=lab)
    if deep:
        cv2.sqrt(lab, dst=lab)
    cv2.addWeighted(lab, 65535, lab, 0, 0, dst=index, dtype=cv2.CV_16U)  # rounded to the nearest step
    try:
        cv2.LUT(index, gamma, dst=out)  # OpenCV 5 takes 16-bit indices (0.8 ms a megapixel)
    except cv2.error:  # OpenCV 4 only 8-bit ones: NumPy's take gives the same values (4 ms a megapixel)
        np.take(gamma, index, out=out)


@lru_cache(maxsize=2)
def _srgb_table(deep: bool) -> np.ndarray:
    """The rounded sRGB value (uint8, or uint16 if ``deep``) of each linear value k / 65535 by tomau.color's curve.
    8-bit results index it with the linear value itself (a step of 1/65535 moves sRGB by at most 0.05 level); 16-bit
    ones with its square root, (k / 65535)^2, so that the shadows, where the curve is steepest, keep their 16 bits
    (a step then moves the result by at most 1.5 of its 65,535 levels)."""
    k = torch.arange(_GRID, dtype=torch.float64) / (_GRID - 1)
    top = 65535 if deep else 255
    srgb = color._linear_to_srgb(k * k if deep else k).clamp(0, 1)
    return np.ascontiguousarray((srgb * top + 0.5).floor().numpy().astype(np.uint16 if deep else np.uint8))


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
