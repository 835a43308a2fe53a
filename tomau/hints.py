"""Colour hints: Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004).

Neighbouring pixels of similar intensity should have similar colours: each pixel's chroma U(r) should equal
the weighted average of its 3x3 neighbours', with weights w_rs ~ exp(-(Y(r) - Y(s))^2 / (2 sigma_r^2))
(sigma_r from the local intensity variance, normalised to sum 1). Hinted pixels keep their colour. This is a
sparse linear system, (I - W) U = 0 on free pixels and U = hint on hinted ones, solved for a and b of Lab on
the full-resolution L.

Speed: a direct sparse factorisation of a megapixel system takes tens of seconds, so the system is solved
coarse to fine: SciPy's direct solver (SuperLU) on a small version of the image, then, at each finer level
of a pyramid, SciPy's BiCGSTAB started from the upsampled coarser solution (few iterations are needed: the
coarse solution already carries the long-range propagation that makes single-level iterative solvers slow).

Hints on top of a model's output: the hints' corrections to the model's ab propagate the same way, held
weakly towards 0 so that they fade with distance: the user's colours override the model where given and
blend into it outward.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse import linalg as spla

from . import color
from .errors import TomauError

OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def affinity_matrix(y: np.ndarray) -> sp.csr_matrix:
    """W (HW x HW): each pixel's normalised weights on its 3x3 neighbours, from intensities ``y`` in [0, 1].
    Built as 8 diagonals (the neighbours of pixel i are i +- 1, i +- w, i +- w +- 1)."""
    h, w = y.shape
    y = y.astype(np.float32)
    pad = np.pad(y, 1, mode="edge")
    inside = np.zeros((8, h, w), bool)
    neigh = np.empty((8, h, w), np.float32)
    for k, (dy, dx) in enumerate(OFFSETS):
        neigh[k] = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        inside[k, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = True
    count = inside.sum(0) + 1
    mean = (np.where(inside, neigh, 0).sum(0) + y) / count
    var = (np.where(inside, (neigh - mean) ** 2, 0).sum(0) + (y - mean) ** 2) / count
    diff2 = (neigh - y) ** 2
    # Levin's code: sigma^2 = 0.6 * variance, at least what gives the most similar neighbour a weight of 0.01
    min_diff = np.where(inside, diff2, np.inf).min(0)
    sigma2 = np.maximum(np.maximum(0.6 * var, min_diff / -np.log(0.01)), 2e-6)
    weights = np.exp(-diff2 / sigma2) * inside
    total = weights.sum(0, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)  # a 1x1 photo has no neighbours
    # row i, column i + offset: the weight of neighbour (dy, dx) sits on diagonal dy * w + dx, first entry at row max(0, -off)
    diags, offsets = [], []
    for k, (dy, dx) in enumerate(OFFSETS):
        off = dy * w + dx
        if abs(off) >= h * w:  # a photo 1 row high (or 1 pixel): that neighbour is never inside
            continue
        flat = weights[k].ravel()[max(0, -off) : h * w - max(0, off)]
        if off in offsets:  # a photo 1 pixel wide: (dy, dx) = (-1, 0) and (0, -1) share a diagonal (one of them is outside)
            diags[offsets.index(off)] = diags[offsets.index(off)] + flat
        else:
            diags.append(flat)
            offsets.append(off)
    if not diags:
        return sp.csr_matrix((h * w, h * w), dtype=np.float64)
    return sp.diags(diags, offsets, shape=(h * w, h * w), format="csr", dtype=np.float64)


def _system(y: np.ndarray, mask: np.ndarray, soft: np.ndarray | None, soft_weight: float) -> sp.csr_matrix:
    """A = I - W on free pixels, identity rows on hinted ones; soft (model) hints add soft_weight * I."""
    n = y.size
    m = mask.ravel().astype(np.float64)
    free = sp.diags(1.0 - m)
    a = free @ (sp.identity(n, format="csr") - affinity_matrix(y)) + sp.diags(m)
    if soft is not None:
        a = a + sp.diags((1.0 - m) * soft_weight)
    return a.tocsr()


def _rhs(mask: np.ndarray, ab: np.ndarray, soft: np.ndarray | None, soft_weight: float) -> np.ndarray:
    b = np.where(mask[..., None], ab, 0.0).reshape(-1, 2)
    if soft is not None:
        b += np.where(mask[..., None], 0.0, soft * soft_weight).reshape(-1, 2)
    return b


def _downsample(y, mask, ab, soft):
    """Half resolution: intensities and soft ab by 2x2 means; a coarse pixel is hinted if any of its four is."""
    h, w = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2

    def mean(a):
        a = a[:h, :w]
        return a.reshape(h // 2, 2, w // 2, 2, *a.shape[2:]).mean((1, 3))

    m = mask[:h, :w].reshape(h // 2, 2, w // 2, 2)
    count = m.sum((1, 3))
    hinted_ab = np.where(mask[..., None], ab, 0)[:h, :w].reshape(h // 2, 2, w // 2, 2, 2).sum((1, 3))
    coarse_ab = hinted_ab / np.maximum(count, 1)[..., None]
    return mean(y), count > 0, coarse_ab, None if soft is None else mean(soft)


def _upsample(u: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour x2 (then cropped/padded to ``shape``): a starting point, refined by the solver."""
    up = u.repeat(2, 0).repeat(2, 1)
    out = np.empty((*shape, u.shape[-1]))
    hh, ww = min(shape[0], up.shape[0]), min(shape[1], up.shape[1])
    out[:hh, :ww] = up[:hh, :ww]
    out[hh:, :ww] = up[hh - 1 : hh, :ww]
    out[:, ww:] = out[:, ww - 1 : ww]
    return out


def propagate(y: np.ndarray, mask: np.ndarray, ab: np.ndarray, soft: np.ndarray | None = None, soft_weight: float = 0.02,
              direct_pixels: int = 40_000, tol: float = 1e-4, max_iter: int = 20) -> np.ndarray:
    """Solve for the ab field (H, W, 2).

    y: intensities (H, W) in [0, 1]; mask: hinted pixels (H, W) bool; ab: their colours (H, W, 2) (read where mask);
    soft: optional ab everywhere that free pixels are held to with the small weight ``soft_weight``."""
    y = np.asarray(y, np.float64)
    if y.ndim != 2 or mask.shape != y.shape or ab.shape[:2] != y.shape:
        raise TomauError("hints must be the same size as the photo")
    if not mask.any() and soft is None:
        raise TomauError("no colour hints given: scribble some colours (or pass a model's output to build on)")
    if y.size <= direct_pixels or min(y.shape) < 8:
        a = _system(y, mask, soft, soft_weight)
        return spla.splu(a.tocsc()).solve(_rhs(mask, ab, soft, soft_weight)).reshape(*y.shape, 2)
    coarse = propagate(*_downsample(y, mask, ab, soft), soft_weight, direct_pixels, tol, max_iter)
    guess = _upsample(coarse, y.shape)
    a = _system(y, mask, soft, soft_weight)
    b = _rhs(mask, ab, soft, soft_weight)
    out = np.empty_like(b)
    for c in range(2):
        out[:, c], _ = spla.bicgstab(a, b[:, c], x0=guess[..., c].ravel(), rtol=tol, maxiter=max_iter)
    return out.reshape(*y.shape, 2)


# ---- photos and scribble images -------------------------------------------------------------------------
def read_scribbles(rgb: np.ndarray, alpha: np.ndarray | None, min_chroma: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(mask, ab) of a scribble image: with an alpha channel, every visible pixel is a hint; without one
    (Levin's convention: colour marks drawn on the grey photo), every pixel with chroma above ``min_chroma``."""
    lab = color.rgb_to_lab_hwc(rgb)
    ab = lab[..., 1:]
    mask = alpha > 127 if alpha is not None else np.hypot(ab[..., 0], ab[..., 1]) > min_chroma
    return mask, ab


def colorize_with_hints(rgb: np.ndarray, mask: np.ndarray, hint_ab: np.ndarray, model_rgb: np.ndarray | None = None,
                        reach: float = 0.4) -> np.ndarray:
    """Colour a photo (float RGB (H, W, 3) in [0, 1]; only its lightness is used) from hints, alone or on top of a
    model's output (uint8 RGB of the same size); returns uint8 RGB: the photo's own L with the propagated ab.

    On a model, what propagates is each hint's correction to the model's colour; it is held towards 0 with a
    weak weight, so a correction fades over about ``reach`` x the longer side (0.4: a scribble recolours its
    object, not the whole photo), and where hints are dense the corrections meet and interpolate."""
    lab = color.rgb_to_lab_hwc(rgb)
    y = lab[..., 0] / 100
    if model_rgb is None:
        ab = propagate(y, mask, hint_ab)
    else:
        model_ab = color.rgb_to_lab_hwc(model_rgb.astype(np.float32) / 255)[..., 1:]
        anchor = (1.0 / (reach * max(y.shape))) ** 2
        ab = model_ab + propagate(y, mask, np.where(mask[..., None], hint_ab - model_ab, 0), np.zeros_like(model_ab), anchor)
    return color.lab_to_rgb_u8_hwc(np.concatenate([lab[..., :1], ab], -1))
