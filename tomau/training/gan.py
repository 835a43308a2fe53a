"""Unconditional image generation (Radford et al. 2016, DCGAN; RaLSGAN of Jolicoeur-Martineau 2018): a DCGAN-style
G and D trained with a loss chosen by name.

Data: any folder of images, padded to a square with black (padding keeps
shapes that stretching distorts), resized, flipped and slightly rotated (tomau.data.SquareImageFolder).
Step: D on a real batch and on G(z) (detached), then G with D frozen. The relativistic loss (RaLSGAN,
the default) also needs D's logits on the real batch for G's step: this code reuses those of D's step (detached: they carry no gradient to G).
Validation (``--val-data``): the sliced Wasserstein distance between generated and held-out images
(tomau.metrics.swd), which needs no downloaded network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data import SquareImageFolder
from ..losses import ADVERSARIAL_LOSSES, adversarial_loss
from ..models import evaluating
from ..models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from .family import Family
from .options import at_least, between, option

SAMPLE_SEED = 1234  # the fixed z of the sample grids


@dataclass
class GANConfig:
    generator: DCGANConfig = field(default_factory=DCGANConfig)  # G and D share size, z and widths
    loss: str = "ralsgan"  # a name in tomau.losses.ADVERSARIAL_LOSSES
    real_label: float = 1.0  # < 1: one-sided label smoothing (Salimans et al. 2016; 0.8 is a common choice)
    lr_g: float = 8e-4  # tuned for batch 64
    lr_d: float = 8e-4
    beta1: float = 0.5
    beta2: float = 0.999
    fit: str = "pad"  # pad | stretch | crop: how images become squares
    max_rotation: float = 5.0  # degrees of the random rotation (applied to 30% of images)

    def validate(self) -> None:
        if self.loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"loss must be one of {sorted(ADVERSARIAL_LOSSES)}")
        if not 0.5 <= self.real_label <= 1.0:
            raise ValueError("real_label (label smoothing) must be in [0.5, 1]")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("learning rates must be positive")
        if self.fit not in SquareImageFolder.FITS:
            raise ValueError(f"fit must be one of {SquareImageFolder.FITS}")
        self.generator.validate()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """G's output in [-1, 1] -> [0, 1]."""
    return (images.float() + 1) / 2


class UnconditionalGAN(Family):
    name = "gan"
    summary = "unconditional image generator (DCGAN, RaLSGAN); --image-size 64 or 128"
    task = "generate"
    generator_kind = "dcgan"  # a key of tomau.models.GENERATORS
    config_class = GANConfig
    colour_only = False  # any image teaches the generator something; greyscale ones included
    metrics = ("swd",)  # needs no downloaded network, unlike FID
    options = (
        option("nz", type=at_least(1, int, 65536), help="size of the latent vector z (default: 128)"),
        option("loss", choices=ADVERSARIAL_LOSSES, help="adversarial loss (default: the family's: gan ralsgan, projected-gan hinge)"),
        option("real_label", type=between(0, 1), help="one-sided label smoothing: target (margin) of real images, e.g. 0.8 (default: 1)"),
        option("fit", choices=SquareImageFolder.FITS, help="how images become squares (default: pad)"),
        option("max_rotation", type=at_least(0, float), help="degrees of random rotation, applied to 30%% of images (default: 5)"),
        option("g_width", type=at_least(1, int, 65536), help="generator channels at 4x4 (default: 1024)"),
        option("d_width", type=at_least(1, int, 65536), help="discriminator channels at 4x4 (default: 512; projected-gan: "
               "each scale's first conv, default 64)"),
        option("lr_g", type=at_least(0, float)),
        option("lr_d", type=at_least(0, float)),
        option("beta1", type=between(0, 1, high_open=True)),
    )

    @classmethod
    def resolve(cls, given: dict):
        """The network makes images of one size: --image-size chooses it (default 64)."""
        config = super().resolve(given)
        config.generator.image_size = given.get("image_size", 64)
        return config

    def __init__(self, cfg: GANConfig):
        cfg.validate()
        self.cfg = cfg
        G, D, d_params = self.build_networks(cfg)
        self.nets: dict[str, nn.Module] = {"G": G, "D": D}
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {"G": torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas),
                           "D": torch.optim.Adam(d_params, lr=cfg.lr_d, betas=betas)}
        self._val_real: tuple[list[Path], torch.Tensor] | None = None  # held-out images for validate()
        self.fixed_z = torch.randn(64, cfg.generator.nz, generator=torch.Generator().manual_seed(SAMPLE_SEED))

    @staticmethod
    def build_networks(cfg: GANConfig) -> tuple[nn.Module, nn.Module, list]:
        """(G, D, the parameters D's optimizer trains): the DCGAN pair of the Zalo AI Challenge Motorbike Generator
        write-up (RaLSGAN), all of D trained."""
        D = DCGANDiscriminator(cfg.generator)
        return DCGANGenerator(cfg.generator), D, list(D.parameters())

    def make_dataset(self, files: list[Path], image_size: int, load_size: int | None) -> torch.utils.data.Dataset:
        return SquareImageFolder(files, image_size, self.cfg.fit, self.cfg.max_rotation, augment=True)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of a real or generated batch (DCGAN: the images themselves)."""
        return images

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.optimizers["G"], self.optimizers["D"]
        real = batch_u8.float() / 127.5 - 1.0
        z = torch.randn(real.shape[0], self.cfg.generator.nz, device=real.device)
        with accelerator.autocast():
            fake = G(z)
        # D step: real batch and detached fakes
        opt_d.zero_grad(set_to_none=True)
        with accelerator.autocast():
            real_logits = D(self.augment(real))
            loss_d, _ = adversarial_loss(self.cfg.loss, real_logits, D(self.augment(fake.detach())), self.cfg.real_label)
        accelerator.backward(loss_d)
        opt_d.step()
        # G step with D frozen (unwrapped, so a distributed wrapper does not wait for D's gradients)
        opt_g.zero_grad(set_to_none=True)
        d_plain = accelerator.unwrap_model(D)
        d_plain.requires_grad_(False)
        with accelerator.autocast():
            _, loss_g = adversarial_loss(self.cfg.loss, real_logits.detach(), d_plain(self.augment(fake)), self.cfg.real_label)
        d_plain.requires_grad_(True)
        accelerator.backward(loss_g)
        opt_g.step()
        return {"D": loss_d.detach(), "G": loss_g.detach(), "D_real": real_logits.detach().float().mean()}

    @torch.no_grad()
    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        """8 rows of 8 images from the same fixed z at every sample step."""
        with evaluating(generator):
            images = to_unit(generator(self.fixed_z.to(next(generator.parameters()).device))).cpu()
        return list(images.view(8, 8, *images.shape[1:]))

    def validate(self, generator: nn.Module, files: list[Path], size: int, device, metrics=None) -> dict[str, float]:
        """The named set metrics (default: SWD x 1e3) of as many generated images as held-out files, against those."""
        from ..generation import generate_batches
        from ..metrics import score

        if self._val_real is None or self._val_real[0] != files:  # decoded once, not at every checkpoint
            real = SquareImageFolder(files, size, self.cfg.fit).stack()
            self._val_real = (files, list(real.permute(0, 2, 3, 1).numpy()))
        fake = torch.cat(list(generate_batches(generator, len(files), seed=0, device=device)))
        return score(metrics or self.metrics, list(fake.permute(0, 2, 3, 1).numpy()), self._val_real[1])

    def export_extras(self) -> dict:
        return {"losses": {"loss": self.cfg.loss, "real_label": self.cfg.real_label}, "data_fit": self.cfg.fit}
