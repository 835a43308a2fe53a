"""Metrics and GAN losses on known answers."""
import math

import numpy as np
import pytest
import torch

from tomau.losses import GANLoss
from tomau.metrics import colourfulness, psnr, ssim


def test_psnr_known_value():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)  # MSE = 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")


def test_ssim_identity_and_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    noisy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, noisy) < 0.9


def test_colourfulness_known_values():
    assert colourfulness(np.full((4, 4, 3), 128, np.uint8)) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200  # rg = 200, yb = 100, no spread: CF = 0.3 * hypot(200, 100)
    assert colourfulness(red) == pytest.approx(0.3 * math.hypot(200, 100))
    half = np.zeros((2, 2, 3), np.uint8)
    half[0, :, 0] = 100  # rg in {100, 0}: std 50, mean 50; yb in {50, 0}: std 25, mean 25
    assert colourfulness(half) == pytest.approx(math.hypot(50, 25) + 0.3 * math.hypot(50, 25))


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_gan_losses(mode):
    loss = GANLoss(mode)
    zeros = torch.zeros(2, 1, 3, 3)
    if mode == "vanilla":
        assert loss(zeros, True).item() == pytest.approx(math.log(2))
        assert loss(torch.full_like(zeros, 20.0), True).item() < 1e-6
    else:
        assert loss(zeros, True).item() == pytest.approx(1.0)
        assert loss(zeros, False).item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANLoss("nope")
