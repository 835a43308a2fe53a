"""The 70x70 PatchGAN discriminator (pix2pix: Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks").

C64-C128-C256-C512 with 4x4 convs (stride 2, 2, 2, then 1), LeakyReLU(0.2), BatchNorm on all but
the first block, then a 4x4 stride-1 conv to one logit per patch. For a 256x256 input the output is
30x30 and each logit sees a 70x70 patch of the input (tests/test_models.py proves both). The input
is the conditioning image and the (real or generated) output stacked on the channel axis; for
colourisation that is (L, ab), 3 channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .unet import init_weights


@dataclass
class PatchGANConfig:
    in_channels: int = 3
    ndf: int = 64
    n_layers: int = 3  # stride-2 blocks; 3 gives the 70x70 receptive field

    def validate(self) -> None:
        if self.n_layers < 1 or self.ndf < 1 or self.in_channels < 1:
            raise ValueError("n_layers, ndf and in_channels must be positive")


class PatchGANDiscriminator(nn.Module):
    """(N, in_channels, H, W) -> (N, 1, H', W') logits, one per overlapping patch (no sigmoid)."""

    def __init__(self, config: PatchGANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PatchGANConfig()
        cfg.validate()
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.in_channels, cfg.ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = cfg.ndf
        for i in range(1, cfg.n_layers + 1):
            stride = 2 if i < cfg.n_layers else 1  # the last block keeps the resolution
            new_width = cfg.ndf * min(2**i, 8)
            layers += [
                nn.Conv2d(width, new_width, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(new_width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = new_width
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(module: nn.Module) -> int:
    """Receptive field of a chain of convs, by the recursion (Araujo et al. 2019, "Computing Receptive Fields of
    CNNs") K_{l-1} = k + s_l (K_l - 1)."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    field = 1
    for conv in reversed(convs):
        field = conv.kernel_size[0] + conv.stride[0] * (field - 1)
    return field
