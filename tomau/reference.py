"""Colours from a reference photo of a similar scene.

Two methods (measured in bench/reference.py; ``stats`` scores higher and is the default):

``welsh`` (no model needed) -- Welsh, Ashikhmin and Mueller, "Transferring Color to Greyscale Images"
(SIGGRAPH 2002). The reference's lightness is remapped to the photo's mean and spread; a jittered grid of
reference pixels (a few thousand) is described by lightness, local mean and local standard deviation over a
5x5 window; every photo pixel takes the ab of the reference sample whose description is nearest (a k-d tree).
Pixel-by-pixel matching is noisy, so the matched ab is then smoothed along the photo's edges with the same
sparse system as colour hints (tomau.hints): each pixel is held weakly to its matched colour and strongly to
its similar-intensity neighbours, so colours stay inside the shapes of the photo.

``stats`` (default; needs a model) -- the model colourises the photo, then the mean and spread of its a and b channels
are moved to the reference's (Reinhard et al., "Color Transfer between Images", 2001, applied to chroma only):
the model decides what is where, the reference sets the palette.
"""
from __future__ import annotations

import numpy as np

from . import color
from .errors import TomauError

METHODS = ("stats", "welsh")


def needs_model(method: str) -> bool:
    """Whether ``method`` works on a model's colouring (stats) or on the grey photo alone (welsh)."""
    return method != "welsh"


def _features(l: np.ndarray, windows: tuple[int, ...]) -> np.ndarray:
    """(H, W, 1 + 2 x len(windows)): lightness, then local mean and standard deviation over each window."""
    from scipy import ndimage

    feats = [l]
    for window in windows:
        mean = ndimage.uniform_filter(l, window, mode="reflect")
        var = ndimage.uniform_filter(l * l, window, mode="reflect") - mean * mean
        feats += [mean, np.sqrt(np.maximum(var, 0))]
    return np.stack(feats, -1)


def _jittered_grid(h: int, w: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """About n pixel positions, one drawn at random in each cell of a regular grid."""
    step = max(1.0, np.sqrt(h * w / max(n, 1)))
    ys, xs = np.arange(0, h, step), np.arange(0, w, step)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    py = np.minimum(gy + rng.random(gy.shape) * step, h - 1).astype(int).ravel()
    px = np.minimum(gx + rng.random(gx.shape) * step, w - 1).astype(int).ravel()
    return py, px


def match_ab(lab: np.ndarray, ref_lab: np.ndarray, samples: int = 4000, windows: tuple[int, ...] = (5, 21), seed: int = 0) -> np.ndarray:
    """Welsh et al.'s per-pixel transfer: (H, W, 2) ab taken from the best-matching reference samples."""
    from scipy.spatial import cKDTree

    l, ref_l = lab[..., 0], ref_lab[..., 0]
    # luminance remapping: the reference's lightness moved to the photo's mean and spread
    ref_l = (ref_l - ref_l.mean()) * (l.std() / max(ref_l.std(), 1e-6)) + l.mean()
    py, px = _jittered_grid(*ref_l.shape, samples, np.random.default_rng(seed))
    ref_feat = _features(ref_l, windows)[py, px]
    feat = _features(l, windows)
    scale = feat.reshape(-1, feat.shape[-1]).std(0) + 1e-3  # each feature counts the same, whatever its units
    tree = cKDTree(ref_feat / scale)
    _, idx = tree.query((feat / scale).reshape(-1, feat.shape[-1]), k=1, workers=-1)
    return ref_lab[py[idx], px[idx], 1:].reshape(*l.shape, 2)


def _check(rgb: np.ndarray, ref_rgb: np.ndarray) -> None:
    if ref_rgb.ndim != 3 or min(ref_rgb.shape[:2]) < 8:
        raise TomauError("the reference photo is too small (it needs at least 8x8 pixels)")
    ref_chroma = np.abs(ref_rgb - ref_rgb.mean(-1, keepdims=True)).max()
    if ref_chroma < 2 / 255:
        raise TomauError("the reference photo has no colour; give a colour photo of a similar scene")


def colorize_from_reference(rgb: np.ndarray, ref_rgb: np.ndarray, method: str = "stats",
                            model_rgb: np.ndarray | None = None, smoothness: float = 0.05,
                            samples: int = 4000, seed: int = 0) -> np.ndarray:
    """Colour a photo (float RGB (H, W, 3) in [0, 1]; only its lightness is used) with a reference's colours.

    ref_rgb: float RGB of the reference, any size. ``stats`` also needs the model's colouring ``model_rgb``
    (uint8 RGB of the photo's size). ``smoothness`` (welsh) is how weakly pixels hold their matched colour:
    smaller, smoother. Returns uint8 RGB with the photo's own L."""
    if method not in METHODS:
        raise TomauError(f"unknown reference method {method!r}; choose one of {', '.join(METHODS)}")
    _check(rgb, ref_rgb)
    lab = color.rgb_to_lab_hwc(rgb)
    ref_lab = color.rgb_to_lab_hwc(ref_rgb)
    if method == "welsh":
        matched = match_ab(lab, ref_lab, samples=samples, seed=seed)
        no_hints = np.zeros(lab.shape[:2], bool)
        from .hints import propagate

        ab = propagate(lab[..., 0] / 100, no_hints, matched, soft=matched, soft_weight=smoothness)
    else:
        if model_rgb is None:
            raise TomauError(f"the {method} method moves a model's colours to the reference's; give a model")
        model_ab = color.rgb_to_lab_hwc(model_rgb.astype(np.float32) / 255)[..., 1:]
        ref_ab = ref_lab[..., 1:].reshape(-1, 2)
        mu, sd = model_ab.reshape(-1, 2).mean(0), model_ab.reshape(-1, 2).std(0)
        # a near-grey model output has almost no spread: cap the gain so its noise is not blown up
        gain = np.minimum(ref_ab.std(0) / np.maximum(sd, 1e-6), 4.0)
        ab = (model_ab - mu) * gain + ref_ab.mean(0)
    return color.lab_to_rgb_u8_hwc(np.concatenate([lab[..., :1], ab], -1))
