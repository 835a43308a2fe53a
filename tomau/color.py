"""CIE Lab colour math in one place: sRGB <-> Lab (D65) in torch or NumPy, and the models' normalisation (below).

Conventions:
    L in [0, 100]      ->  l_norm  = L / 50 - 1     in [-1, 1]
    a, b in ~[-110, 110] -> ab_norm = ab / 110      in ~[-1, 1]

All functions take and return float tensors shaped (..., 3 or 1 or 2, H, W) with the channel
axis at dim -3, so they work on a single image (C, H, W) and on a batch (N, C, H, W) alike; the two
``*_hwc`` functions at the end do the same for one NumPy image (H, W, 3). Given NumPy arrays, the same maths
runs in NumPy (the same dtype; the onnxruntime path never imports PyTorch), given tensors in PyTorch.
The maths follows scikit-image's ``rgb2lab``/``lab2rgb`` (sRGB companding, D65 white, 2-degree
observer); tests/test_color.py checks the two agree to 1e-3 in Lab units.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

L_CENT = 50.0  # L / L_CENT - 1 maps [0, 100] to [-1, 1]
AB_NORM = 110.0  # ab / AB_NORM maps the sRGB gamut (|ab| <= 108) into [-1, 1]

# sRGB (linear) -> XYZ, D65; rows are X, Y, Z.
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPS = 216.0 / 24389.0  # CIE epsilon: below it f(t) is linear
_KAPPA = 24389.0 / 27.0
_F_KNEE = 6 / 29  # f^-1: above it t = f^3, below (116 f - 16) / kappa
_SRGB_KNEE, _SRGB_SLOPE = 0.0031308, 12.92  # linear -> sRGB: 12.92 lin below the knee, 1.055 lin^(1/2.4) - 0.055 above


def _matmul_channels(x, m):
    """Apply a 3x3 matrix (nested tuples, or a float64 array) to the channel axis (dim -3)."""
    if isinstance(x, np.ndarray):
        return np.einsum("ij,...jhw->...ihw", np.asarray(m, dtype=x.dtype), x)
    import torch

    return torch.einsum("ij,...jhw->...ihw", torch.as_tensor(np.asarray(m)).to(x), x)


def _where(cond, a, b):
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    import torch

    return torch.where(cond, a, b)


def _at_least(x, low: float):
    return np.maximum(x, x.dtype.type(low)) if isinstance(x, np.ndarray) else x.clamp_min(low)


def _clip01(x):
    return np.clip(x, 0, 1) if isinstance(x, np.ndarray) else x.clamp(0, 1)


def _stack(xs, axis: int):
    if isinstance(xs[0], np.ndarray):
        return np.stack(xs, axis=axis)
    import torch

    return torch.stack(xs, dim=axis)


def _split3(x):
    """The three planes of the channel axis (dim -3)."""
    return (x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]) if isinstance(x, np.ndarray) else x.unbind(-3)


def _white(like):
    white = np.asarray(_WHITE_D65).reshape(3, 1, 1)
    if isinstance(like, np.ndarray):
        return white.astype(like.dtype)
    import torch

    return torch.as_tensor(white, dtype=like.dtype, device=like.device)


def _srgb_to_linear(rgb):
    return _where(rgb > 0.04045, _at_least((rgb + 0.055) / 1.055, 0) ** 2.4, rgb / 12.92)


def _linear_to_srgb(lin):
    # clamp_min before the power: negative linear values (out of gamut) would give NaN
    return _where(lin > _SRGB_KNEE, 1.055 * _at_least(lin, _SRGB_KNEE) ** (1 / 2.4) - 0.055, _SRGB_SLOPE * lin)


def rgb_to_lab(rgb: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """sRGB in [0, 1], shape (..., 3, H, W) -> Lab with L in [0, 100], shape (..., 3, H, W)."""
    xyz = _matmul_channels(_srgb_to_linear(rgb), _RGB_TO_XYZ)
    t = xyz / _white(rgb)
    f = _where(t > _EPS, _at_least(t, _EPS) ** (1 / 3), (_KAPPA * t + 16) / 116)
    fx, fy, fz = _split3(f)
    return _stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -3)


def _f_inverse(f):
    """CIE's f^-1: from f(X / Xn) back to X / Xn."""
    return _where(f > _F_KNEE, f**3, (116 * f - 16) / _KAPPA)


def lab_to_rgb(lab: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Lab (L in [0, 100]), shape (..., 3, H, W) -> sRGB clipped to [0, 1]."""
    l, a, b = _split3(lab)
    fy = (l + 16) / 116
    fx = fy + a / 500
    fz = _at_least(fy - b / 200, 0)  # as scikit-image: z < 0 is clipped, not reflected
    xyz = _f_inverse(_stack([fx, fy, fz], -3)) * _white(lab)
    lin = _matmul_channels(xyz, np.linalg.inv(np.asarray(_RGB_TO_XYZ, dtype=np.float64)).astype(np.float32))
    return _clip01(_linear_to_srgb(lin))


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """The L channel as a grey sRGB image: lab_to_rgb(L, 0, 0), shape (..., 3, H, W)."""
    import torch

    lab = rgb_to_lab(rgb)
    return lab_to_rgb(torch.cat([lab[..., :1, :, :], torch.zeros_like(lab[..., 1:, :, :])], dim=-3))


def lightness_to_grey(l):
    """Lab L in [0, 100] (any shape) -> the sRGB value in [0, 1] of the grey of that lightness (Y = f^-1(L), then
    sRGB companding): what lab_to_rgb gives each channel for a = b = 0, without the 3x3 matrices."""
    return _clip01(_linear_to_srgb(_f_inverse((l + 16) / 116)))


def normalize_l(l: torch.Tensor) -> torch.Tensor:
    return l / L_CENT - 1.0


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    return (l_norm + 1.0) * L_CENT


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    return ab / AB_NORM


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    return ab_norm * AB_NORM


def rgb_to_model_input(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB [0, 1] (..., 3, H, W) -> (l_norm (..., 1, H, W), ab_norm (..., 2, H, W)), both ~[-1, 1]."""
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1, :, :]), normalize_ab(lab[..., 1:, :, :])


def model_output_to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_model_input`: normalised L and ab -> sRGB [0, 1]."""
    import torch

    lab = torch.cat([denormalize_l(l_norm), denormalize_ab(ab_norm)], dim=-3)
    return lab_to_rgb(lab)


def rgb_to_lab_hwc(rgb: np.ndarray) -> np.ndarray:
    """One float RGB image (H, W, 3) in [0, 1] -> its Lab (H, W, 3), float64 (computed in float32)."""
    chw = np.ascontiguousarray(np.moveaxis(np.asarray(rgb, np.float32), 2, 0))
    return np.moveaxis(rgb_to_lab(chw), 0, 2).astype(np.float64)


def lab_to_rgb_u8_hwc(lab: np.ndarray) -> np.ndarray:
    """One Lab image (H, W, 3) -> uint8 sRGB (H, W, 3), rounded."""
    rgb = lab_to_rgb(np.ascontiguousarray(np.moveaxis(lab.astype(np.float32), 2, 0)))
    return (np.moveaxis(rgb, 0, 2) * 255 + 0.5).astype(np.uint8)
