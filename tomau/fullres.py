"""Full-resolution colourisation at the cost of the pixels: L, the model's input and the recombination in strips.

A photo arrives as its decoded pixels (uint8 or uint16 grey or RGB, or float RGB in [0, 1]) and is never turned
into a full-size float image. In strips of rows:

- **L** of the full-resolution photo comes from tables made once by :mod:`tomau.color` (a grey value's L; for
  colour, each channel's linear value and L as a function of luminance Y), so it equals ``color.rgb_to_lab``'s L;
  8- and 16-bit grey rows go to the compiled passes as they are, which look each pixel's L up;
- **the model's input** is the antialiased bilinear resize of that L to S x S (as ``F.interpolate`` with
  ``antialias=True``, whose weights it uses), done separably: each strip adds its share to S rows
  (``tomau._kernels.add_rows``), whose columns are then resized;
- **the recombination** (``tomau._kernels.lab_rows``, one pass per strip) widens ab (S x S) to the strip's rows
  with bilinear interpolation (half-pixel centres, as ``F.interpolate(align_corners=False)``), joins it with the
  strip's L and runs tomau.color's Lab -> sRGB maths in float32 (the same matrix and D65 white; fz clamped at 0
  as ``color.lab_to_rgb`` does; the sRGB curve as a polynomial within 0.003 of a level), so the two agree within
  0.3 levels over the whole Lab cube (tests/test_fullres.py).

The two passes are C (tomau/_kernels.c, built with the package): NumPy and OpenCV took 2.5x as long, because each
of their operations is one more pass over the strip's memory. Where the compiled module cannot be built (no C
compiler) or imported, the same passes run in NumPy (tomau._kernels_numpy: the same maths, within a level; a note
once per process says how to get the compiled ones). Nothing here imports PyTorch: a tensor given in is used as
one, and the NumPy entry points (:func:`model_input_array`, :func:`recombine` with a NumPy ab) serve the
onnxruntime path, which never loads it. Memory beyond the photo's pixels is that of one strip
(``STRIP_PIXELS``), whatever the photo's size; the rows come out in order, so a writer can encode them as they are
made (tomau.images.Strips), or are written straight into the caller's whole image.
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Iterator

import numpy as np

from . import color

if TYPE_CHECKING:
    import torch

if os.environ.get("TOMAU_NO_KERNELS"):  # the NumPy passes on purpose (tests, comparisons)
    from . import _kernels_numpy as _kernels
else:
    try:
        from . import _kernels  # tomau/_kernels.c, built with the package where a C compiler is found
    except ImportError:  # no compiler at install time, or a source checkout used without building it
        from . import _kernels_numpy as _kernels

STRIP_PIXELS = 1 << 17  # pixels per strip: bounds memory (~4 MB of temporaries), stays in L2 (1 << 18: 1 MP 7.9 -> 5.7 ms)
TRIM_PIXELS = 4_000_000  # photos above this hand back freed heap before their rows are made (2-6 ms; 15 MB of peak)
_L_FLOAT, _L_U8, _L_U16 = 0, 1, 2  # the kinds of rows tomau._kernels takes: L, or 8- / 16-bit grey and their L's table
_NO_TABLE = np.zeros(0, np.float32)
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
    grey = (np.arange(_GRID, dtype=np.float64) / (_GRID - 1)).astype(np.float32)
    lin = color._srgb_to_linear(grey).astype(np.float32)
    lab = color.rgb_to_lab(np.ascontiguousarray(np.broadcast_to(grey.reshape(1, 1, -1), (3, 1, _GRID))))
    l_of_grey = lab[0, 0].astype(np.float32)
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
    t = np.clip(np.asarray(pixels, dtype=np.float32), 0, 1)
    rgb = np.moveaxis(t, 2, 0) if t.ndim == 3 else np.broadcast_to(t, (3, *t.shape))
    return color.rgb_to_lab(np.ascontiguousarray(rgb))[0]


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
    """Lab L (1, 1, H, W) tensor of a photo's pixels, in strips (no full-size float RGB or Lab temporaries)."""
    import torch

    h, w = pixels.shape[:2]
    out = torch.empty(1, 1, h, w)
    rows = strip_rows(w)
    for r0 in range(0, h, rows):
        out[0, 0, r0 : r0 + rows] = torch.from_numpy(l_of(pixels[r0 : r0 + rows]))
    return out


def _is_tensor(x) -> bool:
    """A PyTorch tensor (then PyTorch is loaded already: this never imports it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_array(ab) -> np.ndarray:
    """float32 NumPy array of a tensor (any device) or an array."""
    return ab.detach().float().cpu().numpy() if _is_tensor(ab) else np.asarray(ab, dtype=np.float32)


def _kind(pixels: np.ndarray | torch.Tensor) -> int:
    """The kind of rows tomau._kernels takes for these pixels: 8- or 16-bit grey as they are (the kernels look each
    pixel's L up), or L (_L_FLOAT: an L tensor, or any other pixels' L by :func:`l_of`)."""
    if _is_tensor(pixels) or not (pixels.ndim == 2 or pixels.shape[2] == 1):
        return _L_FLOAT
    return {np.dtype(np.uint8): _L_U8, np.dtype(np.uint16): _L_U16}.get(pixels.dtype, _L_FLOAT)


def _rows_of(pixels: np.ndarray | torch.Tensor, r0: int, n: int, buf: np.ndarray | None) -> tuple[np.ndarray, int, np.ndarray]:
    """(rows, kind, table) for tomau._kernels of rows r0 ... r0 + n of a photo's pixels or of its L tensor (1, 1, H,
    W): 8- and 16-bit grey rows as they are, with the table of their L; other rows as their L (:func:`l_of`, into
    ``buf``), with no table."""
    if _is_tensor(pixels):
        return np.ascontiguousarray(pixels[0, 0, r0 : r0 + n].numpy(), dtype=np.float32), _L_FLOAT, _NO_TABLE
    rows, kind = pixels[r0 : r0 + n], _kind(pixels)
    if kind == _L_FLOAT:
        return l_of(rows, out=None if buf is None else buf[:n]), _L_FLOAT, _NO_TABLE
    rows = np.ascontiguousarray(rows.reshape(rows.shape[:2]))
    return rows, kind, _grey8_l() if kind == _L_U8 else _tables()[1]


def _needs_l_buffer(pixels: np.ndarray | torch.Tensor) -> bool:
    """Whether the kernels take these pixels' rows by way of a buffer of their L (:func:`l_of`), which bounds how
    many rows one call takes; grey rows and an L tensor go as they are."""
    return _kind(pixels) == _L_FLOAT and not _is_tensor(pixels)


def model_input(pixels: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """:func:`model_input_array` as a tensor."""
    import torch

    return torch.from_numpy(model_input_array(pixels, size))


def model_input_array(pixels: np.ndarray | torch.Tensor, size: int) -> np.ndarray:
    """Normalised L (1, 1, size, size) float32 of a photo: its full-resolution L resized as ``F.interpolate(bilinear,
    antialias=True)`` does, separably, with the filter's weights (:class:`_Resize`): each strip of L adds its rows'
    share to the (size, W) image of the resized rows, whose columns are then resized the same way. Rows first, so
    the second pass sees ``size`` rows, not H. ``pixels`` may also be a full-resolution L tensor (1, 1, H, W)."""
    is_l = _is_tensor(pixels)
    h, w = pixels.shape[-2:] if is_l else pixels.shape[:2]
    down = _Resize(h, size)
    buffered = _needs_l_buffer(pixels)
    rows = strip_rows(w) if buffered else h  # grey rows or an L tensor go in one call
    l_buf = np.empty((min(rows, h), w), np.float32) if buffered else None  # used again by every strip
    tall = np.zeros((size, w), np.float32)
    for r0 in range(0, h, rows):
        l_rows, kind, table = _rows_of(pixels, r0, min(rows, h - r0), l_buf)
        down.add(tall, l_rows, r0, kind, table)
    small_t = np.zeros((size, size), np.float32)
    _Resize(w, size).add(small_t, np.ascontiguousarray(tall.T))  # the columns: the same pass on the transpose
    return color.normalize_l(np.ascontiguousarray(small_t.T)[None, None])


class _Resize:
    """A bilinear resize from n_in to n_out samples along the first axis, with PyTorch's ``antialias=True``
    (Pillow's triangle filter when shrinking, the plain linear one when enlarging; aten's _compute_weights_aa,
    in float64), applied as a banded product (tomau._kernels.add_rows): each input row adds its share to the few
    outputs it reaches (two taps per input value, where a dense product is n_out)."""

    def __init__(self, n_in: int, n_out: int):
        self.n_in, self.n_out = n_in, n_out
        self.weights, self.lo, self.hi = _aa_weights(n_in, n_out)

    def add(self, out: np.ndarray, rows: np.ndarray, r0: int = 0, kind: int = _L_FLOAT, table: np.ndarray = _NO_TABLE) -> None:
        """out (n_out, C) float32 += the resize's share of input rows r0 ... r0 + len(rows): float32 rows, or 8-
        / 16-bit grey rows (``kind``) whose values ``table`` maps to L."""
        c = rows.shape[1]
        _kernels.add_rows(out, self.weights, self.lo, self.hi, rows, kind, table, r0, self.n_out, self.n_in,
                          rows.shape[0], c, np.empty(c if kind else 0, np.float32))


@lru_cache(maxsize=4)
def _aa_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (n_out, n_in) float32, and for each input the first and one past the last output it reaches,
    int64) of :class:`_Resize`."""
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
    inputs = np.arange(n_in)  # output j reads inputs first[j] ... last[j], both non-decreasing in j
    return (weights, np.searchsorted(last, inputs, "left").astype(np.int64),
            np.searchsorted(first, inputs, "right").astype(np.int64))


def rgb_strips(pixels: np.ndarray | torch.Tensor, ab_norm: np.ndarray | torch.Tensor, dtype=np.uint8,
               out: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, RGB rows (n, W, 3) of ``dtype``) of the photo coloured with ``ab_norm`` (2, s, s), top to bottom.

    ``pixels``: the photo's pixels (grey or RGB, uint8 / uint16 / float) or its full-resolution L (1, 1, H, W).
    uint8 results are rounded to the nearest level; uint16 ones keep 16 bits of lightness. The rows yielded are
    one buffer, written again by the next strip: copy them to keep them (every strip's buffers are made once, as
    fresh ones cost more in page faults than the colour maths). With ``out`` (H, W, 3 or 4) of ``dtype``, the
    rows are written straight into it instead (RGBX where it has 4 channels, X at the top value) and are views of it.

    Per strip, one pass (tomau._kernels.lab_rows): each pixel's L (looked up for 8- and 16-bit grey), its ab
    interpolated between two rows of a and b widened once to the photo's width at the model's rows (bilinear is
    separable), then tomau.color's Lab -> sRGB maths in float32 (:func:`_lab_maths`)."""
    import cv2

    is_l = _is_tensor(pixels)
    h, w = pixels.shape[-2:] if is_l else pixels.shape[:2]
    ab = np.ascontiguousarray(color.denormalize_ab(_as_array(ab_norm)))  # (2, s, s) in Lab units
    s = ab.shape[1]
    wide_a, wide_b = (cv2.resize(p, (w, s), interpolation=cv2.INTER_LINEAR) if ab.shape[2] != w else p for p in ab)
    y0, y1, fy = _linear_taps(h, s)
    rows = strip_rows(w)
    n0 = min(rows, h)
    if h * w > TRIM_PIXELS:  # what the model's input and forward freed goes back before a big scan's buffers come
        return_freed_heap()
    if out is not None and (out.shape[:2] != (h, w) or out.shape[2] not in (3, 4) or out.dtype != dtype
                            or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous ({h}, {w}, 3 or 4) array of {np.dtype(dtype).name}")
    deep, consts = dtype == np.uint16, _lab_maths(dtype == np.uint16)

    def span(start: int, stop: int, step: int, dst_of, buf: np.ndarray | None) -> None:  # rows start ... stop
        for r0 in range(start, stop, step):
            n = min(step, stop - r0)
            l_rows, kind, table = _rows_of(pixels, r0, n, buf)
            dst = dst_of(r0, n)
            _kernels.lab_rows(l_rows, kind, table, wide_a, wide_b, y0[r0 : r0 + n], y1[r0 : r0 + n], fy[r0 : r0 + n],
                              consts, dst, n, w, s, w * dst.shape[2], dst.shape[2], int(deep))

    buffered = _needs_l_buffer(pixels)
    if out is not None:  # the whole image, in runs of rows shared by threads; in strips where their L needs a buffer
        threads = _workers(h * w)
        def into_out(r0: int, n: int) -> np.ndarray:
            return out[r0 : r0 + n]

        runs = [(a, b, rows if buffered else b - a, into_out) for a, b in _parts(h, RUNS * threads)]
        _share(span, runs, threads, (lambda: np.empty((min(rows, h), w), np.float32)) if buffered else None)
        for r0 in range(0, h, rows):
            yield r0, out[r0 : r0 + rows]
        return
    # a strip at a time, for a writer that encodes each as it comes, in this thread: handing each strip to threads
    # made a 16-MP scan slower (179 -> 197 ms), as libvips encodes at the same time
    strip_buf, l_buf = np.empty((n0, w, 3), dtype), np.empty((n0, w), np.float32) if buffered else None
    for r0 in range(0, h, rows):
        n = min(rows, h - r0)
        span(r0, r0 + n, rows, lambda q, m: strip_buf[q - r0 : q - r0 + m], l_buf)
        yield r0, strip_buf[:n]


PARALLEL_PIXELS = 1 << 16  # a whole image's recombination runs in several threads (cpu_threads()) once each gets this many
RUNS = 4  # runs of rows per thread that the threads share (see _share)


_threads = 0  # set_cpu_threads: --threads


def set_cpu_threads(n: int) -> None:
    """The CPU threads tomau's passes and onnxruntime use (tomau's --threads), and PyTorch's: set now where it is
    loaded, else through OMP_NUM_THREADS, which it reads when it is imported (for --backend torch, sampling, GPUs)."""
    global _threads
    _threads = n
    if n and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    elif n:
        os.environ["OMP_NUM_THREADS"] = str(n)


def cpu_threads() -> int:
    """--threads where given, else PyTorch's number where it is loaded, else the physical cores PyTorch would take
    (its default: one per core, not per hyper-thread)."""
    if _threads:
        return _threads
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    return _physical_cores()


@lru_cache(maxsize=1)
def _physical_cores() -> int:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:  # Linux: count distinct (package, core) pairs among the usable CPUs
        cores = set()
        for cpu in (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()):
            base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
            with open(base + "physical_package_id") as a, open(base + "core_id") as b:
                cores.add((a.read().strip(), b.read().strip()))
        return max(1, min(len(cores) or usable, usable))
    except OSError:
        return max(1, usable)


def _workers(pixels: int) -> int:
    """Threads for a whole image's recombination: cpu_threads() (tomau's --threads), fewer where each would get
    less than PARALLEL_PIXELS (starting them would cost more than they save). Measured in one process, in turns:
    at 1 MP two threads took the recombination 2.3 -> 1.6 ms; the model's input in two took longer (0.46 -> 0.70
    ms: each thread's rows add to their own copy of the resized rows, summed after), and at 16 and 64 MP no
    faster end to end, so it stays in one."""
    return max(1, min(cpu_threads(), pixels // PARALLEL_PIXELS, 8))


def _parts(n: int, k: int) -> list[tuple[int, int]]:
    """``n`` rows as ``k`` runs of nearly equal length (fewer where n < k)."""
    k = max(1, min(k, n))
    edges = [n * i // k for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:])]


def _share(fn, runs: list[tuple], threads: int, make_buffer=None) -> None:
    """``fn(*run, buffer)`` for each of ``runs``, by this thread and ``threads - 1`` of the pool's (the kernels
    release the GIL), each taking the next run when done with one and its own ``make_buffer()`` (or None). A
    thread that starts late, as on a busy machine, finds fewer runs left or none, so sharing never costs more than
    a run over doing them all here: beside a training run, a 1-MP recombination handed half and half to two
    threads took 3.6 ms against 2.3 in one. Errors are raised here."""
    queue = iter(runs)  # a list iterator's next() holds the GIL: each run is taken once

    def drain() -> None:
        buffer = make_buffer() if make_buffer else None
        for run in queue:
            fn(*run, buffer)

    futures = [_pool(threads - 1).submit(drain) for _ in range(threads - 1)] if len(runs) > 1 else []
    try:
        drain()
    finally:
        for f in futures:
            if not f.cancel():  # started: it is doing a run now
                f.result()


@lru_cache(maxsize=2)
def _pool(n: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="tomau-fullres")


@lru_cache(maxsize=2)
def _lab_maths(deep: bool) -> np.ndarray:
    """tomau.color's constants for tomau._kernels.lab_rows, in the order of its ``Consts`` (float32): the linear
    RGB of f^-1(fx, fy, fz) (3 x 3: the inverse of sRGB -> XYZ with D65's white folded in), f's knee and 1 / kappa,
    the sRGB curve's knee and slope, the curve above its knee as a polynomial in lin^(1/4) (:func:`_srgb_curve`),
    and the top value (255, or 65,535 if ``deep``)."""
    m = np.linalg.inv(np.asarray(color._RGB_TO_XYZ, np.float64)) * np.asarray(color._WHITE_D65)  # X = white * f^-1
    knees = [color._F_KNEE, 1 / color._KAPPA, color._SRGB_KNEE, color._SRGB_SLOPE]
    return np.concatenate([m.ravel(), knees, _srgb_curve(), [65535 if deep else 255]]).astype(np.float32)


@lru_cache(maxsize=1)
def _srgb_curve() -> np.ndarray:
    """tomau.color's sRGB curve above its knee, 1.055 lin^(1/2.4) - 0.055, as a degree-6 polynomial in u = lin^(1/4)
    (highest power first; two square roots and six multiply-adds, which the compiler vectorises where a table
    lookup or a power cannot be): a Chebyshev fit to color._linear_to_srgb, within 0.002 of a level of 255 and
    1 of 65,535 (tests/test_fullres.py)."""
    lin = np.linspace(color._SRGB_KNEE, 1, 1025)  # few points: 100,001 cost 10 MB of peak memory for the same fit
    srgb = color._linear_to_srgb(lin)
    fit = np.polynomial.chebyshev.Chebyshev.fit(lin**0.25, srgb, 6).convert(kind=np.polynomial.Polynomial)
    return fit.coef[::-1].astype(np.float64)


def _linear_taps(size: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (y0, y1, int64) and weight of y1 (float32) of a bilinear resize from ``small`` to ``size`` rows, with
    half-pixel centres and clamped edges (as cv2.resize's INTER_LINEAR and F.interpolate(align_corners=False))."""
    y = (np.arange(size) + 0.5) * (small / size) - 0.5
    y0 = np.clip(np.floor(y), 0, small - 1).astype(np.int64)
    fy = np.clip(y - y0, 0, 1).astype(np.float32)
    return y0, np.minimum(y0 + 1, small - 1), fy


def recombine(pixels: np.ndarray | torch.Tensor, ab_norm: np.ndarray | torch.Tensor, dtype=np.uint8,
              out: np.ndarray | None = None) -> np.ndarray:
    """The whole RGB image (H, W, 3) of :func:`rgb_strips`, or written into ``out`` (H, W, 3 or 4: RGBX)."""
    h, w = pixels.shape[-2:] if _is_tensor(pixels) else pixels.shape[:2]
    out = np.empty((h, w, 3), dtype=dtype) if out is None else out
    for _ in rgb_strips(pixels, ab_norm, dtype, out=out):
        pass
    return out
