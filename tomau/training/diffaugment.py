"""Differentiable augmentation for GANs on a few thousand images.

Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training" (NeurIPS 2020): the same
random colour, translation and cutout transforms are applied to the real and the generated images
before D sees them, in D's step and in G's; being differentiable, they pass G's gradient through, and
D cannot overfit the few real images. Images are (N, C, H, W) in [-1, 1]; each image draws its own.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

POLICIES = ("color", "translation", "cutout")


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Brightness +-0.5, saturation x0..2, contrast x0.5..1.5 (the paper's ranges, on [-1, 1] images)."""
    x = x + (_rand(x, generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift by up to ``ratio`` of the side in each direction, zeros where the image left."""
    n = x.shape[0]
    shift = (torch.rand(n, 2, device=x.device, generator=generator) * 2 - 1) * ratio * 2  # in grid units ([-1, 1] = side)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one square of ``ratio`` of the side at a random place (it may cross the border)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + 1 - ch % 2, (n, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + 1 - cw % 2, (n, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((ys - cy).abs() < ch / 2) & ((xs - cx).abs() < cw / 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated transforms of ``policy`` in order ("" = none)."""
    for name in filter(None, policy.split(",")):
        if name not in POLICIES:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(POLICIES)}")
        x = {"color": color, "translation": translation, "cutout": cutout}[name](x, generator=generator)
    return x
