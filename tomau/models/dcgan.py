"""DCGAN-style generator and discriminator for unconditional images (Radford et al. 2016, "Unsupervised
Representation Learning with Deep Convolutional GANs").

Generator  z (nz = 128) -> ConvTranspose 4x4 "fully connected" to 1024 x 4 x 4, then stride-2
           ConvTranspose + BatchNorm + ReLU blocks halving the width and doubling the side until
           ``image_size``, then ConvTranspose 3x3 to RGB and tanh. At 128x128 this is exactly the
           reference network (13,275,939 parameters); at 64x64 it stops one block earlier.
Discriminator  stride-2 Conv 4x4 + LeakyReLU(0.2) blocks (BatchNorm on the last three) down to 4 x 4 x 512,
           then Conv 4x4 to one **logit** per image: no sigmoid, the losses (tomau.losses) take
           logits, as RaLSGAN needs. At 128x128 this is the reference network (2,796,800 parameters).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DCGANConfig:
    image_size: int = 64  # 64 or 128 (any power of two >= 16 works)
    nz: int = 128  # size of the latent vector z
    channels: int = 3
    g_width: int = 1024  # generator channels at 4x4; halved at each doubling
    d_width: int = 512  # discriminator channels at 4x4; halved towards the input

    @property
    def size_multiple(self) -> int:  # the network makes exactly image_size; nothing else fits
        return self.image_size

    @property
    def n_up(self) -> int:
        return int(math.log2(self.image_size // 4))

    def validate(self) -> None:
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, not {self.image_size}")
        if self.nz < 1 or self.channels < 1:
            raise ValueError("nz and channels must be positive")
        if self.g_width >> self.n_up < 1 or self.d_width >> (self.n_up - 1) < 1:
            raise ValueError(f"g_width / d_width too small for {self.image_size}x{self.image_size}")


def _init_dcgan(m: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANConfig = DCGANConfig()):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.nz = cfg.nz
        self.image_size = cfg.image_size

        def block(c_in: int, c_out: int, k: int, s: int, p: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, k, s, p, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]

        w = cfg.g_width
        layers = block(cfg.nz, w, 4, 1, 0)  # 1x1 -> 4x4
        for _ in range(cfg.n_up):  # 4 -> image_size
            layers += block(w, w // 2, 4, 2, 1)
            w //= 2
        layers += [nn.ConvTranspose2d(w, cfg.channels, 3, 1, 1), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, nz) -> images (N, channels, S, S) in [-1, 1]."""
        return self.model(z.view(-1, self.nz, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANConfig = DCGANConfig()):
        super().__init__()
        cfg.validate()
        n = cfg.n_up  # stride-2 convolutions: image_size -> 4
        widths = [cfg.d_width >> (n - 1 - i) for i in range(n)]
        layers: list[nn.Module] = []
        c_in = cfg.channels
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(c_in, w, 4, 2, 1, bias=False))
            if i >= n - 3:  # the reference normalises the last three blocks, not the first ones
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = w
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 0, bias=False))  # 4x4 -> 1x1: the logit
        self.model = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, channels, S, S) in [-1, 1] -> logits (N, 1)."""
        return self.model(images).view(-1, 1)
