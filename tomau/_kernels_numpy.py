"""tomau._kernels' two passes in NumPy, for an installation without the compiled module (no C compiler, or a
source checkout not built): the same arguments, the same maths in float32, results within a level of the
compiled ones (tests/test_fullres.py), 10-30 times slower. tomau.fullres takes this module in its place.

    lab_rows  L of rows and ab interpolated between two widened rows of ab -> rounded sRGB rows
    add_rows  out[j] += weights[j, r0 + i] * L(row i): the banded product of the model input's resize
"""
from __future__ import annotations

import sys

import numpy as np

_L_FLOAT, _L_U8, _L_U16 = 0, 1, 2  # as tomau.fullres names the kinds of rows
_BLOCK_PIXELS = 1 << 16  # pixels of rows computed at a time: bounds the float32 temporaries (~0.25 MB each)
_noted = False


def note_once() -> None:
    """One line on stderr, once per process: the passes run in NumPy, and how to get the compiled ones."""
    global _noted
    if not _noted:
        _noted = True
        print("note: tomau's compiled module is not installed, so its per-pixel passes run in NumPy (the same colours "
              "within a level, 10-30 times slower); with a C compiler, `pip install --force-reinstall --no-deps "
              "--no-binary tomau tomau` (or `pip install -e .` in a checkout) builds it", file=sys.stderr)


def available() -> tuple[str, ...]:
    return ("numpy",)


def current() -> str:
    return "numpy"


def use(name: str) -> str:
    if name != "numpy":
        raise ValueError(f"the loops for {name} are not compiled in or this CPU cannot run them")
    return "numpy"


def _l_rows(l: np.ndarray, kind: int, table: np.ndarray) -> np.ndarray:
    return l.astype(np.float32, copy=False) if kind == _L_FLOAT else table[l]


def lab_rows(l, l_kind, table, wide_a, wide_b, y0, y1, fy, consts, out, n, w, s, out_stride, channels, deep) -> None:
    """See tomau/_kernels.c: ``out`` (n, w, channels) uint8 or uint16 takes the rows (RGB, or RGBX with X at the top)."""
    note_once()
    m, (f_knee, inv_kappa, s_knee, s_slope), poly, top = consts[:9].reshape(3, 3), consts[9:13], consts[13:20], consts[20]
    out = np.asarray(out).reshape(n, w, channels)
    step = max(1, _BLOCK_PIXELS // max(1, w))
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        big_l = _l_rows(np.asarray(l).reshape(n, w)[r0:r1], l_kind, table)
        t = fy[r0:r1, None]
        a = wide_a[y0[r0:r1]] * (1 - t) + wide_a[y1[r0:r1]] * t
        b = wide_b[y0[r0:r1]] * (1 - t) + wide_b[y1[r0:r1]] * t
        f_y = (big_l + np.float32(16)) * np.float32(1 / 116)
        f_x = f_y + a * np.float32(1 / 500)
        f_z = np.maximum(f_y - b * np.float32(1 / 200), np.float32(0))  # tomau.color.lab_to_rgb clamps fz at 0
        xyz = [np.where(f > f_knee, f * f * f, (np.float32(116) * f - np.float32(16)) * inv_kappa) for f in (f_x, f_y, f_z)]
        for c in range(3):
            v = np.clip(m[c, 0] * xyz[0] + m[c, 1] * xyz[1] + m[c, 2] * xyz[2], 0, 1)
            u = np.sqrt(np.sqrt(v))
            curve = np.full_like(u, poly[0])
            for p in poly[1:]:
                curve = curve * u + p
            srgb = np.where(v > s_knee, np.minimum(curve, np.float32(1)), v * s_slope)
            out[r0:r1, :, c] = (srgb * top + np.float32(0.5)).astype(np.int32)
        if channels == 4:
            out[r0:r1, :, 3] = int(top)


def add_rows(out, weights, lo, hi, rows, l_kind, table, r0, n_out, n_in, n, c, scratch) -> None:
    """See tomau/_kernels.c: out (n_out, c) += weights[o, r0 + i] * L of rows (n, c) for the outputs o each row
    reaches (lo[r0 + i] ... hi[r0 + i] - 1), as one dense product over the band the rows reach."""
    note_once()
    if n == 0:
        return
    first, last = int(lo[r0:r0 + n].min()), int(hi[r0:r0 + n].max())
    if last <= first:
        return
    big_l = _l_rows(np.asarray(rows).reshape(n, c), l_kind, table)
    out[first:last] += weights[first:last, r0:r0 + n] @ big_l
