"""A discriminator on frozen pretrained features, after Projected GANs.

Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021): the image (resized to ``feature_size``)
goes through a frozen ImageNet EfficientNet-Lite (their feature network is Lite1); its maps at strides
4, 8, 16, 32 are mixed by **fixed random** layers - cross-channel mixing (a 1x1 conv per scale) and
cross-scale mixing (top-down: each scale adds a 3x3 conv of the upsampled coarser one) - so that D
cannot focus on a few features, and a small trained discriminator per scale (stride-2 4x4 convs with
spectral norm, BatchNorm and LeakyReLU down to 4x4, then a 3x3 conv) gives a map of logits.
The output is every scale's logits, flattened and concatenated: (N, K) for the losses of tomau.losses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .efficientnet_lite import VARIANTS, backbone, load_backbone_weights


@dataclass
class ProjectedDConfig:
    features: str = "efficientnet_lite1"  # the frozen feature network (Sauer et al.'s choice)
    feature_size: int = 128  # images are resized to this side before the feature network (a multiple of 32)
    mix_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512])  # after mixing, strides 4..32
    d_width: int = 64  # channels of the first conv of each scale's discriminator; doubled per halving, max 512

    def validate(self) -> None:
        if self.features not in VARIANTS:
            raise ValueError(f"unknown feature network {self.features!r}; known: {', '.join(VARIANTS)}")
        if self.feature_size < 64 or self.feature_size % 32:
            raise ValueError("feature_size must be a multiple of 32, at least 64")
        if len(self.mix_channels) != 4 or min(self.mix_channels) < 1 or self.d_width < 1:
            raise ValueError("mix_channels needs 4 positive widths (strides 4, 8, 16, 32) and d_width must be positive")


def scale_discriminator(c_in: int, side: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    c = c_in
    while side > 4:
        c_out = min(512, width)
        layers += [spectral_norm(nn.Conv2d(c, c_out, 4, 2, 1, bias=False)), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
        c, width, side = c_out, width * 2, side // 2
    layers.append(spectral_norm(nn.Conv2d(c, 1, 3, padding=1)))
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """(N, 3, S, S) images in [-1, 1] -> (N, K) logits over all scales and positions."""

    def __init__(self, config: ProjectedDConfig | None = None):
        super().__init__()
        self.config = cfg = config or ProjectedDConfig()
        cfg.validate()
        self.features = backbone(cfg.features)  # the classifier is not used
        chans = self.features.feature_channels[1:]  # strides 4, 8, 16, 32
        mix = cfg.mix_channels
        self.ccm = nn.ModuleList([nn.Conv2d(c, m, 1) for c, m in zip(chans, mix)])
        self.csm = nn.ModuleList([nn.Conv2d(mix[i + 1], mix[i], 3, padding=1) for i in range(3)])
        sides = [cfg.feature_size // s for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList([scale_discriminator(m, side, cfg.d_width) for m, side in zip(mix, sides)])
        for frozen in (self.features, self.ccm, self.csm):  # the projection stays fixed: only the heads learn
            for p in frozen.parameters():
                p.requires_grad = False

    def load_pretrained_features(self) -> None:
        load_backbone_weights(self.features)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())

    def requires_grad_(self, requires_grad: bool = True) -> "ProjectedDiscriminator":
        """Freeze or unfreeze the trained heads only: the projection is always frozen."""
        self.heads.requires_grad_(requires_grad)
        return self

    def train(self, mode: bool = True) -> "ProjectedDiscriminator":
        super().train(mode)
        self.features.eval()  # ImageNet BatchNorm statistics, always
        return self

    def project(self, x: torch.Tensor) -> list[torch.Tensor]:
        s = self.config.feature_size
        if x.shape[-1] != s or x.shape[-2] != s:
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        mixed = [ccm(f) for ccm, f in zip(self.ccm, self.features.features(x)[1:])]
        out = [mixed[3]]
        for i in (2, 1, 0):  # top-down cross-scale mixing
            up = F.interpolate(out[0], size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            out.insert(0, mixed[i] + self.csm[i](up))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(f).flatten(1) for head, f in zip(self.heads, self.project(x))], dim=1)
