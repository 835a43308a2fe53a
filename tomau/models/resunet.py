"""U-Net with a ResNet encoder (He et al. 2016 encoder in a U-Net, Ronneberger et al. 2015): ResNet18/34 down, a light decoder up.

Encoder  torchvision's ResNet, written here with torchvision's parameter names (conv1, bn1, layer1..4,
         downsample.0/1), so an official ImageNet ``resnet18``/``resnet34`` state dict loads into it
         (see :func:`load_encoder_weights`); fc is not used. Features: stem 64 @ S/2, layer1 64 @ S/4,
         layer2 128 @ S/8, layer3 256 @ S/16, layer4 512 @ S/32.
Decoder  matched to those sizes: at each scale, upsample x2 (pixel shuffle or transposed conv), concat
         the encoder feature of that size, a 1x1 conv to mix then a 3x3 conv (BatchNorm, ReLU); optional
         self-attention (SAGAN) at S/16; the input L rejoins at full size; tanh ab out.
The decoder is kept light (about 1 M parameters) so a ResNet18 model stays under 25 MB in fp16.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..download import load_state_source
from ..errors import TomauError

RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
# torchvision's official ImageNet weights; the 8 hex digits in each name are the start of the file's sha256
ENCODER_WEIGHTS_URLS = {
    18: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    34: "https://download.pytorch.org/models/resnet34-b627a593.pth",
}


UPSAMPLERS = ("pixelshuffle", "transpose")  # the decoder's x2 upsampling: pixel shuffle or a transposed conv


@dataclass
class ResUNetConfig:
    in_channels: int = 1
    out_channels: int = 2
    depth: int = 18  # 18 or 34
    decoder_widths: list[int] = field(default_factory=lambda: [192, 128, 64, 32])  # at S/16, S/8, S/4, S/2
    upsample: str = "pixelshuffle"  # or "transpose"
    self_attention: bool = True  # at S/16

    @property
    def size_multiple(self) -> int:
        return 32

    def validate(self) -> None:
        if self.depth not in RESNET_LAYERS:
            raise ValueError(f"depth must be one of {sorted(RESNET_LAYERS)}")
        if len(self.decoder_widths) != 4 or min(self.decoder_widths) < 1:
            raise ValueError("decoder_widths needs 4 positive widths (S/16, S/8, S/4, S/2)")
        if self.upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLERS)}")


# ---- encoder: torchvision's ResNet, same names ------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNetEncoder(nn.Module):
    """(N, C, S, S) -> [stem S/2, layer1 S/4, layer2 S/8, layer3 S/16, layer4 S/32]."""

    widths = (64, 64, 128, 256, 512)

    def __init__(self, depth: int = 18, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = 64
        for i, (blocks, c_out) in enumerate(zip(RESNET_LAYERS[depth], (64, 128, 256, 512))):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(c_in, c_out, stride)] + [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            c_in = c_out
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        stem = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(stem))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [stem, f1, f2, f3, self.layer4(f3)]


# ---- decoder --------------------------------------------------------------------------------------
def conv_bn_relu(c_in: int, c_out: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Upsample2x(nn.Module):
    """x2 upsampling: pixel shuffle (ICNR-initialised, no checkerboard at start) or a transposed conv."""

    def __init__(self, c_in: int, c_out: int, mode: str):
        super().__init__()
        if mode == "pixelshuffle":
            conv = nn.Conv2d(c_in, c_out * 4, 1)
            # ICNR: the 4 sub-pixel kernels start equal, so the first upsampling is nearest-neighbour-like
            w = torch.empty(c_out, c_in, 1, 1)
            nn.init.kaiming_normal_(w)
            conv.weight.data.copy_(w.repeat_interleave(4, dim=0))
            nn.init.zeros_(conv.bias)
            self.up = nn.Sequential(conv, nn.PixelShuffle(2), nn.ReLU(inplace=True))
        else:
            self.up = nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.up(x)


class SelfAttention(nn.Module):
    """SAGAN self-attention: x + gamma * softmax(q k^T) v, gamma starting at 0 (identity at start)."""

    def __init__(self, c: int):
        super().__init__()
        self.q = nn.Conv1d(c, max(1, c // 8), 1, bias=False)
        self.k = nn.Conv1d(c, max(1, c // 8), 1, bias=False)
        self.v = nn.Conv1d(c, c, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.flatten(2)
        attn = torch.softmax(torch.bmm(self.q(flat).transpose(1, 2), self.k(flat)), dim=-1)
        out = torch.bmm(self.v(flat), attn.transpose(1, 2))
        return x + self.gamma * out.view(n, c, h, w)


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, c_skip: int, c_out: int, upsample: str):
        super().__init__()
        self.up = Upsample2x(c_in, c_out, upsample)
        self.skip_bn = nn.BatchNorm2d(c_skip)
        self.mix = conv_bn_relu(c_out + c_skip, c_out, k=1)
        self.conv = conv_bn_relu(c_out, c_out, k=3)

    def forward(self, x, skip):
        x = self.up(x)
        return self.conv(self.mix(torch.cat([x, self.skip_bn(skip)], dim=1)))


class ResUNetGenerator(nn.Module):
    """(N, in_channels, S, S) in [-1, 1] -> (N, out_channels, S, S) in (-1, 1); S a multiple of 32."""

    def __init__(self, config: ResUNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or ResUNetConfig()
        cfg.validate()
        self.encoder = ResNetEncoder(cfg.depth, cfg.in_channels)
        w16, w8, w4, w2 = cfg.decoder_widths
        enc = ResNetEncoder.widths
        self.up16 = DecoderBlock(enc[4], enc[3], w16, cfg.upsample)
        self.attention = SelfAttention(w16) if cfg.self_attention else nn.Identity()
        self.up8 = DecoderBlock(w16, enc[2], w8, cfg.upsample)
        self.up4 = DecoderBlock(w8, enc[1], w4, cfg.upsample)
        self.up2 = DecoderBlock(w4, enc[0], w2, cfg.upsample)
        self.up1 = Upsample2x(w2, w2, cfg.upsample)
        self.head = nn.Sequential(conv_bn_relu(w2 + cfg.in_channels, w2), nn.Conv2d(w2, cfg.out_channels, 1), nn.Tanh())

    @property
    def size_multiple(self) -> int:
        return self.config.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of 32")
        stem, f1, f2, f3, f4 = self.encoder(x)
        y = self.attention(self.up16(f4, f3))
        y = self.up2(self.up4(self.up8(y, f2), f1), stem)
        return self.head(torch.cat([self.up1(y), x], dim=1))


# ---- official encoder weights -----------------------------------------------------------------------
def load_encoder_weights(encoder: ResNetEncoder, source: str, cache_dir: str | Path | None = None) -> list[str]:
    """Load a torchvision ResNet state dict (file path or URL) into ``encoder``; returns the keys loaded.

    fc.* is ignored. For a 1-channel encoder the RGB filters of conv1 are summed, which is exactly
    what the RGB network computes on a grey image with R = G = B."""
    path, state = load_state_source(source, "encoder weights", cache_dir)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = encoder.state_dict()
    if "conv1.weight" in state and state["conv1.weight"].shape[1] != own["conv1.weight"].shape[1]:
        state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        raise TomauError(f"{path}: not a torchvision ResNet state dict of this depth "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    encoder.load_state_dict(state)
    return sorted(state)


def resnet_state_dict_like_torchvision(depth: int = 18, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's resnet{depth} names and shapes (3-channel conv1, fc) - for tests and tools."""
    enc = ResNetEncoder(depth, in_channels=3)
    state = dict(enc.state_dict())
    fc = nn.Linear(512, num_classes)
    state["fc.weight"], state["fc.bias"] = fc.weight.detach(), fc.bias.detach()
    return state

