"""A light generator without transposed-convolution checkerboards, after FastGAN.

Liu et al., "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis"
(ICLR 2021): z -> 4x4 by one transposed 4x4 convolution of the 1x1 input (no overlap, so no
checkerboard), then at each doubling nearest x2 upsampling + 3x3 conv + BatchNorm + GLU, and
skip-layer excitation (SLE): a coarse map (4x4, 8x8) gates the channels of the map 8 times its side,
which lets the global layout steer the texture cheaply. RGB out through a 3x3 conv and tanh.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class FastGANConfig:
    image_size: int = 64  # a power of two, 32 to 256
    nz: int = 128
    channels: int = 3
    g_width: int = 512  # channels at 4x4; halved at each doubling, at least 32

    @property
    def size_multiple(self) -> int:  # the network makes exactly image_size
        return self.image_size

    def widths(self) -> dict[int, int]:
        """Channels at each side: {4: g_width, 8: g_width / 2, ...}."""
        n = int(math.log2(self.image_size // 4))
        return {4 * 2**i: max(32, self.g_width >> i) for i in range(n + 1)}

    def validate(self) -> None:
        if not 32 <= self.image_size <= 256 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two from 32 to 256, not {self.image_size}")
        if self.nz < 1 or self.channels < 1 or self.g_width < 32:
            raise ValueError("nz and channels must be positive and g_width at least 32")


class GLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, 2 * c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(2 * c_out), GLU())


class SkipExcitation(nn.Module):
    """SLE: a coarse map -> per-channel gates (sigmoid) that multiply a fine map."""

    def __init__(self, c_coarse: int, c_fine: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_coarse, c_fine, 4), nn.SiLU(),
                                  nn.Conv2d(c_fine, c_fine, 1), nn.Sigmoid())

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return fine * self.gate(coarse)


class FastGANGenerator(nn.Module):
    """(N, nz) -> (N, channels, S, S) in [-1, 1]."""

    def __init__(self, config: FastGANConfig | None = None):
        super().__init__()
        self.config = cfg = config or FastGANConfig()
        cfg.validate()
        self.nz = cfg.nz
        w = cfg.widths()
        self.sides = sorted(w)
        self.init = nn.Sequential(nn.ConvTranspose2d(cfg.nz, 2 * w[4], 4, bias=False), nn.BatchNorm2d(2 * w[4]), GLU())
        self.ups = nn.ModuleDict({str(s): up_block(w[s // 2], w[s]) for s in self.sides[1:]})
        # SLE from 4x4 into the side 8 times larger, and from 8x8 likewise, where the image is that big
        self.sle = nn.ModuleDict({str(s): SkipExcitation(w[s // 8], w[s]) for s in self.sides if s >= 32 and s // 8 in (4, 8)})
        self.to_rgb = nn.Sequential(nn.Conv2d(w[cfg.image_size], cfg.channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.init(z.view(z.shape[0], -1, 1, 1))
        maps = {4: x}
        for s in self.sides[1:]:
            x = self.ups[str(s)](x)
            if str(s) in self.sle:
                x = self.sle[str(s)](maps[s // 8], x)
            maps[s] = x
        return self.to_rgb(x)
