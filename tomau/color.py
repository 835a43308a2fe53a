"""CIE Lab colour math in one place: sRGB <-> Lab (D65) in torch, and the models' normalisation (below).

Conventions:
    L in [0, 100]      ->  l_norm  = L / 50 - 1     in [-1, 1]
    a, b in ~[-110, 110] -> ab_norm = ab / 110      in ~[-1, 1]

All functions take and return float tensors shaped (..., 3 or 1 or 2, H, W) with the channel
axis at dim -3, so they work on a single image (C, H, W) and on a batch (N, C, H, W) alike; the two
``*_hwc`` functions at the end do the same for one NumPy image (H, W, 3).
The maths follows scikit-image's ``rgb2lab``/``lab2rgb`` (sRGB companding, D65 white, 2-degree
observer); tests/test_color.py checks the two agree to 1e-3 in Lab units.
"""
from __future__ import annotations

import numpy as np
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


def _matmul_channels(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix to the channel axis (dim -3)."""
    return torch.einsum("ij,...jhw->...ihw", m.to(x), x)


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(0) ** 2.4, rgb / 12.92)


def _linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    # clamp_min before the power: negative linear values (out of gamut) would give NaN
    return torch.where(lin > _SRGB_KNEE, 1.055 * lin.clamp_min(_SRGB_KNEE) ** (1 / 2.4) - 0.055, _SRGB_SLOPE * lin)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (..., 3, H, W) -> Lab with L in [0, 100], shape (..., 3, H, W)."""
    xyz = _matmul_channels(_srgb_to_linear(rgb), torch.tensor(_RGB_TO_XYZ))
    white = torch.tensor(_WHITE_D65, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > _EPS, t.clamp_min(_EPS) ** (1 / 3), (_KAPPA * t + 16) / 116)
    fx, fy, fz = f.unbind(-3)
    lab = torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)
    return lab


def _f_inverse(f: torch.Tensor) -> torch.Tensor:
    """CIE's f^-1: from f(X / Xn) back to X / Xn."""
    return torch.where(f > _F_KNEE, f**3, (116 * f - 16) / _KAPPA)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab (L in [0, 100]), shape (..., 3, H, W) -> sRGB clipped to [0, 1]."""
    l, a, b = lab.unbind(-3)
    fy = (l + 16) / 116
    fx = fy + a / 500
    fz = (fy - b / 200).clamp_min(0)  # as scikit-image: z < 0 is clipped, not reflected
    t = _f_inverse(torch.stack([fx, fy, fz], dim=-3))
    white = torch.tensor(_WHITE_D65, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    xyz = t * white
    lin = _matmul_channels(xyz, torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).float())
    return _linear_to_srgb(lin).clamp(0, 1)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """The L channel as a grey sRGB image: lab_to_rgb(L, 0, 0), shape (..., 3, H, W)."""
    lab = rgb_to_lab(rgb)
    return lab_to_rgb(torch.cat([lab[..., :1, :, :], torch.zeros_like(lab[..., 1:, :, :])], dim=-3))


def lightness_to_grey(l: torch.Tensor) -> torch.Tensor:
    """Lab L in [0, 100] (any shape) -> the sRGB value in [0, 1] of the grey of that lightness (Y = f^-1(L), then
    sRGB companding): what lab_to_rgb gives each channel for a = b = 0, without the 3x3 matrices."""
    return _linear_to_srgb(_f_inverse((l + 16) / 116)).clamp(0, 1)


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
    lab = torch.cat([denormalize_l(l_norm), denormalize_ab(ab_norm)], dim=-3)
    return lab_to_rgb(lab)


def rgb_to_lab_hwc(rgb: np.ndarray) -> np.ndarray:
    """One float RGB image (H, W, 3) in [0, 1] -> its Lab (H, W, 3), float64 (computed in float32)."""
    chw = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)
    return rgb_to_lab(chw).permute(1, 2, 0).double().numpy()


def lab_to_rgb_u8_hwc(lab: np.ndarray) -> np.ndarray:
    """One Lab image (H, W, 3) -> uint8 sRGB (H, W, 3), rounded."""
    rgb = lab_to_rgb(torch.from_numpy(lab.astype(np.float32)).permute(2, 0, 1))
    return (rgb.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().numpy()
