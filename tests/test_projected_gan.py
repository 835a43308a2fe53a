"""The FastGAN-style generator, the projected discriminator, DiffAugment, the projected-gan family."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tomau.cli import main
from tomau.generation import load_generator
from tomau.models.fastgan import FastGANConfig, FastGANGenerator
from tomau.models.projected import ProjectedDConfig, ProjectedDiscriminator
from tomau.training.diffaugment import color, cutout, diff_augment, translation


def test_fastgan_shapes_and_no_transposed_upsampling():
    for size in (32, 64, 128):
        g = FastGANGenerator(FastGANConfig(image_size=size, nz=16, g_width=64))
        x = g(torch.randn(3, 16))
        assert x.shape == (3, 3, size, size) and x.abs().max() <= 1
        transposed = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
        assert len(transposed) == 1 and transposed[0].stride == (1, 1)  # only the 1x1 -> 4x4 input layer
    assert set(FastGANGenerator(FastGANConfig(image_size=64, g_width=64)).sle) == {"32", "64"}
    with pytest.raises(ValueError, match="power of two"):
        FastGANConfig(image_size=48).validate()


def test_projected_discriminator_trains_only_its_heads():
    d = ProjectedDiscriminator(ProjectedDConfig(features="efficientnet_lite0", feature_size=64, mix_channels=[8, 8, 16, 16], d_width=8))
    frozen = [p for m in (d.features, d.ccm, d.csm) for p in m.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    d.requires_grad_(False)
    d.requires_grad_(True)  # toggling for G's step touches the heads only
    assert not any(p.requires_grad for p in frozen) and all(p.requires_grad for p in d.trainable_parameters())
    d.train()
    assert not d.features.training and d.heads.training  # ImageNet BatchNorm statistics stay
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    logits = d(x)  # resized to the feature size: sides 16, 8, 4, 2 -> heads down to 4x4 (or less) logit maps
    assert logits.shape == (2, 16 + 16 + 16 + 4)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G's gradient passes through the frozen features
    assert all(p.grad is None for p in frozen)


def test_pretrained_feature_network_loads_from_the_wheel():
    d = ProjectedDiscriminator(ProjectedDConfig(feature_size=64))
    before = d.features._conv_stem.weight.clone()
    d.load_pretrained_features()
    assert not torch.equal(before, d.features._conv_stem.weight)


def test_diffaugment_known_effects():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(4, 3, 16, 16)
    y = color(x, g)
    assert torch.allclose(y, y[:, :1].expand_as(y))  # grey in, grey out: brightness only moves a grey image
    ones = torch.ones(64, 3, 16, 16)
    cut = cutout(ones, 0.5, g)
    zero_share = (cut == 0).float().mean(dim=(1, 2, 3))
    assert zero_share.max() <= 0.25 + 1e-6 and zero_share.min() > 0  # an 8x8 square at most, partly off the border
    shifted = translation(ones, 0.125, g)
    assert shifted.shape == ones.shape and (shifted < 1).any() and shifted.min() >= 0
    z = torch.rand(2, 3, 16, 16, requires_grad=True)
    diff_augment(z, "color,translation,cutout", g).sum().backward()
    assert z.grad.abs().sum() > 0  # differentiable: G learns through it
    assert torch.equal(diff_augment(z, ""), z)
    with pytest.raises(ValueError, match="unknown augmentation"):
        diff_augment(z, "rotate")


def test_projected_gan_trains_resumes_and_generates(flower_folder, tmp_path, capsys):
    common = ["train", "projected-gan", "--data", str(flower_folder), "--image-size", "32", "--g-width", "64", "--d-width", "8",
              "--features", "efficientnet_lite0", "--feature-size", "64", "--batch-size", "4", "--out", str(tmp_path / "runs"),
              "--name", "p", "--workers", "0", "-q", "--val-data", str(flower_folder), "--val-images", "8",
              "--ckpt-every", "2", "--sample-every", "2", "--ema", "0.9"]
    assert main(common + ["--steps", "2", "--loss", "ralsgan"]) == 0
    run = tmp_path / "runs" / "p"
    assert main(["train", "projected-gan", "--resume", str(run), "--steps", "4", "-q"]) == 0
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and "val_swd" in rows[-1]
    cfg = json.loads((run / "config.json").read_text())["model"]
    assert cfg["loss"] == "ralsgan" and cfg["augment"] == "color,translation,cutout"
    net, config = load_generator(str(run))
    assert config["generator"]["kind"] == "fastgan" and config["image_size"] == 32
    assert main(["generate", "-m", str(run), "-n", "3", "-o", str(tmp_path / "fakes"), "-q"]) == 0
    assert len(list((tmp_path / "fakes").iterdir())) == 3
    assert main(common + ["--steps", "2", "--augment", "color,zoom", "--name", "bad"]) == 2
    assert "unknown augmentation 'zoom'" in capsys.readouterr().err


def test_bundled_flowers_gan_is_the_projected_one_and_the_dcgan_stays():
    from tomau.generation import generate

    net, config = load_generator("flowers_gan")
    assert config["family"] == "projected-gan" and config["generator"]["kind"] == "fastgan"
    old, old_config = load_generator("flowers_dcgan")
    assert old_config["generator"]["kind"] == "dcgan" and old_config["image_size"] == config["image_size"] == 64
    for g in (net, old):
        img = generate(g, 2)[1]
        assert img.size == (64, 64) and np.asarray(img).std() > 5
