"""Adversarial losses by name. Each takes raw discriminator logits (no sigmoid in the networks)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _vanilla(logits: torch.Tensor, target: float) -> torch.Tensor:
    # BCE on logits is the numerically safe form of -log(sigmoid(x))
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _lsgan(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(logits, torch.full_like(logits, target))


GAN_LOSSES = {"vanilla": _vanilla, "lsgan": _lsgan}


class GANLoss(nn.Module):
    """pix2pix's GAN objective: ``loss(D(x, y), target_is_real)``; ``real_label`` < 1 gives label smoothing."""

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {mode!r}; choose one of {sorted(GAN_LOSSES)}")
        self.mode, self.real_label, self.fake_label = mode, real_label, fake_label

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = self.real_label if target_is_real else self.fake_label
        return GAN_LOSSES[self.mode](logits.float(), target)


# ---- unconditional GANs (seed 004): D's loss and G's loss from the logits of a real and a fake batch -------
# ``real_label`` < 1 is one-sided label smoothing (the seed uses 0.8): the target, or for the relativistic
# loss the margin, of real images; fake targets stay 0.
def _standard(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The original GAN (BCE): D: -log D(x_r) - log(1 - D(x_f)); G: -log D(x_f) (non-saturating)."""
    d = _vanilla(real, real_label) + _vanilla(fake, 0.0)
    g = _vanilla(fake, 1.0)
    return d, g


def _least_squares(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LSGAN: D: (C(x_r) - 1)^2 + C(x_f)^2; G: (C(x_f) - 1)^2, halved as in Mao et al."""
    d = 0.5 * (_lsgan(real, real_label) + _lsgan(fake, 0.0))
    g = 0.5 * _lsgan(fake, 1.0)
    return d, g


def _ralsgan(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Relativistic average LSGAN, the seed's formulas (averages over the batch):
    D: (C(x_r) - mean C(x_f) - y)^2 + (C(x_f) - mean C(x_r) + y)^2
    G: (C(x_r) - mean C(x_f) + y)^2 + (C(x_f) - mean C(x_r) - y)^2,  both halved, y = 1 (0.8 smoothed)."""
    y = real_label
    r_rel, f_rel = real - fake.mean(), fake - real.mean()
    d = 0.5 * (((r_rel - y) ** 2).mean() + ((f_rel + y) ** 2).mean())
    g = 0.5 * (((r_rel + y) ** 2).mean() + ((f_rel - y) ** 2).mean())
    return d, g


def _hinge(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hinge loss (SAGAN, BigGAN): D: relu(1 - C(x_r)) + relu(1 + C(x_f)); G: -C(x_f)."""
    d = F.relu(real_label - real).mean() + F.relu(1.0 + fake).mean()
    g = -fake.mean()
    return d, g


ADVERSARIAL_LOSSES = {"standard": _standard, "lsgan": _least_squares, "ralsgan": _ralsgan, "hinge": _hinge}
# which of D's outputs each G loss needs: the relativistic one also needs D on the real batch
NEEDS_REAL_FOR_G = {"ralsgan"}


def adversarial_loss(name: str, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                     real_label: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(D loss, G loss) of an unconditional GAN loss by name, from D's logits on a real and a fake batch.

    For D's step pass fake logits of detached images; for G's step pass fresh fake logits (and, for the
    relativistic loss, the real logits: G's loss depends on them)."""
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL_LOSSES[name](real_logits.float(), fake_logits.float(), real_label)
