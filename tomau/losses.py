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
