"""Sliced Wasserstein distance between two image sets (Karras et al. 2018, "Progressive Growing of GANs").

Why this statistic for GANs here: it needs no downloaded network (FID's Inception weights are not
available offline), it is deterministic given a seed, and it compares colour and texture at several
scales: 7x7 RGB patches from every level of a Laplacian pyramid (down to 16x16), each level's patches
normalised per channel, then the Wasserstein-1 distance between the two patch clouds averaged over
random 1-D projections (sorted projections give the 1-D optimal transport exactly). Reported x 1e3,
averaged over levels, as in ProGAN. Not comparable to published FIDs; compare runs with each other and
with the real-vs-real figure of the same data (the floor).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

_K1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
KERNEL = (_K1[:, None] * _K1[None, :])[None, None]  # 5x5 binomial


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel.expand(c, 1, 5, 5), groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x, KERNEL)[..., ::2, ::2]


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = x
    return _blur(up, KERNEL * 4)


def laplacian_pyramid(x: torch.Tensor, min_size: int = 16) -> list[torch.Tensor]:
    """Band-pass levels from full resolution down, then the smallest Gaussian level (side >= min_size)."""
    levels = []
    while x.shape[-1] // 2 >= min_size and x.shape[-2] // 2 >= min_size:
        small = pyr_down(x)
        levels.append(x - pyr_up(small)[..., : x.shape[-2], : x.shape[-1]])
        x = small
    return levels + [x]


def _patches(level: torch.Tensor, n_per_image: int, size: int, g: torch.Generator) -> torch.Tensor:
    n, c, h, w = level.shape
    ys = torch.randint(0, h - size + 1, (n, n_per_image), generator=g)
    xs = torch.randint(0, w - size + 1, (n, n_per_image), generator=g)
    ar = torch.arange(size)
    rows = (ys[..., None] + ar)[..., :, None]  # (n, p, size, 1)
    cols = (xs[..., None] + ar)[..., None, :]  # (n, p, 1, size)
    idx = torch.arange(n)[:, None, None, None]
    patches = level.permute(0, 2, 3, 1)[idx, rows, cols]  # (n, p, size, size, c)
    return patches.reshape(n * n_per_image, -1, c)


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    """Per-channel zero mean, unit std over all patches of a level (ProGAN's finalize_descriptors)."""
    mean = desc.mean(dim=(0, 1), keepdim=True)
    std = desc.std(dim=(0, 1), keepdim=True).clamp_min(1e-8)
    return ((desc - mean) / std).flatten(1)


def _sliced(a: torch.Tensor, b: torch.Tensor, n_dirs: int, repeats: int, g: torch.Generator) -> float:
    total = 0.0
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], n_dirs, generator=g)
        dirs /= dirs.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ dirs, dim=0)
        pb, _ = torch.sort(b @ dirs, dim=0)
        total += float((pa - pb).abs().mean())
    return total / repeats


@torch.no_grad()
def sliced_wasserstein_distance(real_u8: torch.Tensor, fake_u8: torch.Tensor, patches_per_image: int = 128,
                                patch_size: int = 7, n_dirs: int = 128, repeats: int = 4, seed: int = 0,
                                per_level: bool = False) -> float | list[float]:
    """SWD x 1e3 between two batches of uint8 RGB images (N, 3, S, S) of the same size. Sets of different
    sizes are cut to the smaller one. ``per_level`` returns the list (finest level first)."""
    if real_u8.shape[1:] != fake_u8.shape[1:]:
        raise ValueError(f"image sets of different shapes {tuple(real_u8.shape[1:])} and {tuple(fake_u8.shape[1:])}")
    n = min(len(real_u8), len(fake_u8))
    if n < 2:
        raise ValueError("SWD needs at least 2 images per set")
    g = torch.Generator().manual_seed(seed)
    pyr_a = laplacian_pyramid(real_u8[:n].float() / 255)
    pyr_b = laplacian_pyramid(fake_u8[:n].float() / 255)
    scores = []
    for la, lb in zip(pyr_a, pyr_b):
        da = _normalise(_patches(la, patches_per_image, patch_size, g))
        db = _normalise(_patches(lb, patches_per_image, patch_size, g))
        scores.append(1e3 * _sliced(da, db, n_dirs, repeats, g))
    return scores if per_level else sum(scores) / len(scores)


def swd(preds: list, truths: list, shared=None) -> float:
    """The metric "swd": SWD x 1e3 of the outputs (uint8 RGB arrays (S, S, 3), one size) against the real images."""
    def batch(images: list) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()

    return sliced_wasserstein_distance(batch(truths), batch(preds))
