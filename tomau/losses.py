"""Adversarial losses by name, one registry for every GAN in tomau. Each takes raw discriminator logits (no sigmoid
in the networks).

An ``AdversarialLoss`` gives D's and G's losses from D's logits on a real and a fake batch (``pair``, the
unconditional GANs: tomau.training.gan, projected_gan), and, where the loss is a per-batch target loss (BCE,
least squares), the loss of one batch against a target value (``target``, pix2pix's GANLoss: tomau.training.pix2pix,
translate). ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016): the target, or for the
relativistic loss the margin, of real images; fake targets stay 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    # BCE on logits is the numerically safe form of -log(sigmoid(x))
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _squares(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(logits, torch.full_like(logits, target))


def _standard(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The original GAN (Goodfellow et al. 2014, BCE): D: -log D(x_r) - log(1 - D(x_f)); G: -log D(x_f) (non-saturating)."""
    return _bce(real, real_label) + _bce(fake, 0.0), _bce(fake, 1.0)


def _least_squares(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LSGAN (Mao et al. 2017): D: (C(x_r) - 1)^2 + C(x_f)^2; G: (C(x_f) - 1)^2, halved as in the paper."""
    return 0.5 * (_squares(real, real_label) + _squares(fake, 0.0)), 0.5 * _squares(fake, 1.0)


def _ralsgan(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Relativistic average LSGAN (Jolicoeur-Martineau 2018), averages over the batch:
    D: (C(x_r) - mean C(x_f) - y)^2 + (C(x_f) - mean C(x_r) + y)^2
    G: (C(x_r) - mean C(x_f) + y)^2 + (C(x_f) - mean C(x_r) - y)^2,  both halved, y = 1 (0.8 smoothed)."""
    y = real_label
    r_rel, f_rel = real - fake.mean(), fake - real.mean()
    d = 0.5 * (((r_rel - y) ** 2).mean() + ((f_rel + y) ** 2).mean())
    g = 0.5 * (((r_rel + y) ** 2).mean() + ((f_rel - y) ** 2).mean())
    return d, g


def _hinge(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): D: relu(1 - C(x_r)) + relu(1 + C(x_f)); G: -C(x_f)."""
    return F.relu(real_label - real).mean() + F.relu(1.0 + fake).mean(), -fake.mean()


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    pair: Callable  # (real logits, fake logits, real_label) -> (D loss, G loss)
    target: Callable | None = None  # (logits, target value) -> loss of one batch; None: the loss compares batches


ADVERSARIAL_LOSSES = {loss.name: loss for loss in (
    AdversarialLoss("standard", _standard, _bce),
    AdversarialLoss("vanilla", _standard, _bce),  # pix2pix's name of the same BCE loss
    AdversarialLoss("lsgan", _least_squares, _squares),
    AdversarialLoss("ralsgan", _ralsgan),
    AdversarialLoss("hinge", _hinge),
)}
TARGET_LOSSES = {name: loss for name, loss in ADVERSARIAL_LOSSES.items() if loss.target is not None}  # pix2pix's gan_mode


def _check(name: str, registry: dict) -> AdversarialLoss:
    if name not in registry:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(registry)}")
    return registry[name]


def adversarial_loss(name: str, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                     real_label: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(D loss, G loss) of a loss by name, from D's logits on a real and a fake batch.

    For D's step pass fake logits of detached images; for G's step pass fresh fake logits (and, for the
    relativistic loss, the real logits: G's loss depends on them)."""
    return _check(name, ADVERSARIAL_LOSSES).pair(real_logits.float(), fake_logits.float(), real_label)


class GANLoss(nn.Module):
    """pix2pix's GAN objective (Isola et al. 2017): ``loss(D(x, y), target_is_real)``, a per-batch loss of
    ADVERSARIAL_LOSSES (vanilla = BCE, lsgan); ``real_label`` < 1 gives label smoothing."""

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        self.loss = _check(mode, TARGET_LOSSES)
        self.mode, self.real_label, self.fake_label = mode, real_label, fake_label

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        return self.loss.target(logits.float(), self.real_label if target_is_real else self.fake_label)
