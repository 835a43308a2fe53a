"""The pretrained-encoder U-Net translator (translate-lite)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main
from tomau.errors import TomauError
from tomau.models.liteunet import LiteUNet, LiteUNetConfig
from tomau.training.translate import LiteTranslateConfig, LiteTranslation

from .conftest import colour_image

SMALL = dict(decoder_widths=[16, 16, 8, 8, 8])


def test_full_resolution_output_and_frozen_batchnorm_statistics():
    net = LiteUNet(LiteUNetConfig(**SMALL))
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = net(x)
    assert y.shape == (2, 3, 64, 64) and y.abs().max() <= 1
    net.train()
    assert all(not m.training for m in net.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert net.ups.training
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 48, 48))
    with pytest.raises(TomauError, match="RGB"):
        LiteUNet(LiteUNetConfig(in_channels=1))


def test_encoder_learns_at_its_own_rate_or_not_at_all():
    fam = LiteTranslation(LiteTranslateConfig(generator=LiteUNetConfig(**SMALL), gan_weight=0, lr_g=1e-3, encoder_lr_scale=0.1))
    lrs = sorted(g["lr"] for g in fam.optimizers["G"].param_groups)
    assert lrs == pytest.approx([1e-4, 1e-3])
    assert "D" not in fam.nets  # gan_weight 0: L1 only
    frozen = LiteTranslation(LiteTranslateConfig(generator=LiteUNetConfig(**SMALL), encoder_lr_scale=0))
    assert not any(p.requires_grad for p in frozen.nets["G"].encoder.parameters())
    assert len(frozen.optimizers["G"].param_groups) == 1
    msg = frozen.init_fresh()
    assert "ImageNet" in msg[0]


@pytest.fixture
def pairs(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    for i in range(6):
        a = colour_image(i, 64)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / f"{i}.png")
    return root


def test_translate_lite_trains_resumes_and_translates(pairs, tmp_path):
    run = tmp_path / "runs" / "m"
    common = ["train", "translate-lite", "--data", str(pairs), "--image-size", "32", "--load-size", "64", "--predict-size", "64",
              "--batch-size", "2", "--out", str(tmp_path / "runs"), "--name", "m", "--workers", "0", "-q",
              "--val-data", str(pairs), "--val-images", "3", "--ckpt-every", "2", "--gan-weight", "0.5", "--ndf", "8"]
    assert main(common + ["--steps", "2"]) == 0
    assert main(["train", "translate-lite", "--resume", str(run), "--steps", "4", "-q"]) == 0
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and {"val_l1", "val_psnr"} <= set(rows[-1])
    assert main(["translate", "-m", str(run), str(pairs), "--paired", "-o", str(tmp_path / "out"), "-q"]) == 0
    out = sorted((tmp_path / "out").iterdir())
    assert len(out) == 6 and Image.open(out[0]).size == (64, 64)
    assert main(common + ["--steps", "1", "--encoder", "resnet18", "--name", "bad"]) == 2


def test_bundled_maps_translator(tmp_path):
    from tomau.pipeline import load

    p = load("maps")
    assert p.task == "translate" and p.image_size == 256 and p.config["generator"]["kind"] == "liteunet"
    src = tmp_path / "sat.png"
    Image.fromarray(colour_image(5, 96)).save(src)
    assert main(["translate", "-m", "maps", str(src), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "sat.png"))
    assert out.shape == (96, 96, 3) and out.std() > 0  # the input's size, and not one flat colour
