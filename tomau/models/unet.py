"""The pix2pix U-Net generator (Isola et al. 2017).

Encoder  C64-C128-C256-C512-C512-C512-C512-C512 (for ngf=64, num_downs=8): 4x4 convs, stride 2,
         LeakyReLU(0.2), BatchNorm on every block but the first and the innermost.
Decoder  mirror image with ReLU, 4x4 transposed convs, BatchNorm, 50% dropout on the first
         ``n_dropout`` blocks (dropout is pix2pix's only noise source), skip connections that
         concatenate the encoder feature of the same size, tanh on the output.

``num_downs`` sets the depth: a 2**num_downs input reaches a 1x1 bottleneck (8 for 256x256).
Width (``ngf``) and depth are config so that a CPU-sized variant exists; ``unet_256`` with ngf=64
is pix2pix's unet_256 (54 M parameters).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class UNetConfig:
    in_channels: int = 1
    out_channels: int = 2
    ngf: int = 64  # filters of the first encoder block; deeper blocks double it up to 8 * ngf
    num_downs: int = 8  # stride-2 blocks; input sides must be a multiple of 2**num_downs
    n_dropout: int = 3  # decoder blocks, counted from the bottleneck, that use dropout
    dropout: float = 0.5

    @property
    def size_multiple(self) -> int:
        return 2**self.num_downs

    def validate(self) -> None:
        if self.num_downs < 2:
            raise ValueError("num_downs must be at least 2")
        if not 0 <= self.n_dropout <= self.num_downs - 1:
            raise ValueError(f"n_dropout must be between 0 and {self.num_downs - 1}")
        if self.ngf < 1 or self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("ngf, in_channels and out_channels must be positive")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix / DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """(N, in_channels, S, S) in [-1, 1] -> (N, out_channels, S, S) in (-1, 1), S a multiple of 2**num_downs."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        cfg.validate()
        widths = [cfg.ngf * min(2**i, 8) for i in range(cfg.num_downs)]

        downs = []
        for i, width in enumerate(widths):
            first, innermost = i == 0, i == cfg.num_downs - 1
            c_in = cfg.in_channels if first else widths[i - 1]
            norm = not (first or innermost)
            # not in-place: the block's input is also a skip connection
            layers = [] if first else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, width, 4, stride=2, padding=1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(width))
            downs.append(nn.Sequential(*layers))
        self.downs = nn.ModuleList(downs)

        ups = []  # ups[0] sits at the bottleneck, ups[-1] produces the output
        for k, i in enumerate(reversed(range(cfg.num_downs))):
            outermost = i == 0
            c_in = widths[i] if k == 0 else 2 * widths[i]  # skip concatenation doubles the input
            c_out = cfg.out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(inplace=True), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(c_out))
                if k < cfg.n_dropout:
                    layers.append(nn.Dropout(cfg.dropout))
            ups.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList(ups)
        init_weights(self)

    @property
    def size_multiple(self) -> int:
        return self.config.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.size_multiple or x.shape[-2] % self.size_multiple:
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of {self.size_multiple}")
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](skips[-1])
        for up, skip in zip(self.ups[1:], reversed(skips[:-1])):
            x = up(torch.cat([x, skip], dim=1))
        return x
