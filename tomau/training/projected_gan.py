"""An unconditional GAN that trains in hours on a CPU: FastGAN-style G, projected D, DiffAugment.

G  tomau.models.fastgan (upsample + conv, GLU, skip-layer excitation; no checkerboards).
D  tomau.models.projected: frozen ImageNet EfficientNet-Lite1 features, fixed random channel and scale
   mixing, a small trained discriminator per scale (Sauer et al., "Projected GANs Converge Faster").
   Its feature network comes from the installed wheel whenever the family is built (also for --init runs).
Both D's inputs, real and generated, go through the same DiffAugment policy (Zhao et al., 2020).
Losses by name, as the DCGAN family's (tomau.losses.ADVERSARIAL_LOSSES); hinge by default, as Sauer et al.
Use ``--ema 0.999`` for the averaged G (FastGAN and Projected GAN both sample from one).
Sampling, SWD validation and the model file are the DCGAN family's (tomau.training.gan, tomau.generation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..models.efficientnet_lite import VARIANTS
from ..models.fastgan import FastGANConfig, FastGANGenerator
from ..models.projected import ProjectedDConfig, ProjectedDiscriminator
from .diffaugment import POLICIES, diff_augment
from .gan import GANConfig, UnconditionalGAN
from .options import at_least, option


@dataclass
class ProjectedGANConfig(GANConfig):
    generator: FastGANConfig = field(default_factory=FastGANConfig)
    discriminator: ProjectedDConfig = field(default_factory=ProjectedDConfig)
    pretrained: bool = True  # the feature network's ImageNet weights (False: random features, for tests)
    loss: str = "hinge"
    lr_g: float = 2e-4  # Sauer et al.'s Adam settings
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    max_rotation: float = 0.0  # DiffAugment does the augmenting
    augment: str = "color,translation,cutout"  # DiffAugment policy, "" = none

    def validate(self) -> None:
        unknown = set(filter(None, self.augment.split(","))) - set(POLICIES)
        if unknown:
            raise ValueError(f"unknown augmentation {sorted(unknown)[0]!r}; known: {', '.join(POLICIES)}")
        self.discriminator.validate()
        super().validate()


class ProjectedGAN(UnconditionalGAN):
    name = "projected-gan"
    generator_kind = "fastgan"
    config_class = ProjectedGANConfig
    summary = "FastGAN-style G, D on frozen EfficientNet-Lite1 features, DiffAugment"
    options = (
        *UnconditionalGAN.options,
        option("augment", help="DiffAugment policy, comma-separated from color, translation, cutout; '' = none (default: all three)"),
        option("features", choices=VARIANTS, help="D's frozen feature network (default: efficientnet_lite1)"),
        option("feature_size", type=at_least(64), help="images are resized to this before the feature network (default: 128)"),
    )

    @staticmethod
    def build_networks(cfg: ProjectedGANConfig) -> tuple[nn.Module, nn.Module, list]:
        """FastGAN-style G and the projected D, of which only the per-scale heads train."""
        D = ProjectedDiscriminator(cfg.discriminator)
        if cfg.pretrained:
            D.load_pretrained_features()
        return FastGANGenerator(cfg.generator), D, D.trainable_parameters()

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, self.cfg.augment)
