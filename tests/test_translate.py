"""Paired image-to-image translation (pix2pix on A|B pair files)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main
from tomau.data import PairedImageFolder
from tomau.errors import TomauError
from tomau.translation import Translator, evaluate_pairs, translate

from .conftest import colour_image


@pytest.fixture
def pairs(tmp_path):
    """A|B files where B is A's colour negative, 64x32."""
    root = tmp_path / "pairs"
    root.mkdir()
    for i in range(10):
        a = colour_image(i, 32)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / f"{i}.jpg", quality=95)
    return root


def test_pairs_split_crop_and_flip_together(pairs):
    ds = PairedImageFolder(sorted(pairs.iterdir()), 24, load_size=28)
    for seed in range(6):
        x = ds[(0, seed)].int()
        assert x.shape == (6, 24, 24)
        assert (x[:3] + x[3:] - 255).abs().float().mean() < 12  # still negatives of each other: same crop, same flip
    swapped = PairedImageFolder(sorted(pairs.iterdir()), 32, direction="BtoA")[0]
    plain = PairedImageFolder(sorted(pairs.iterdir()), 32)[0]
    assert (swapped[:3] == plain[3:]).all()
    with pytest.raises(TomauError, match="not a side-by-side pair"):
        PairedImageFolder.split(Image.new("RGB", (10, 20)), "tall.png")


def test_train_resume_translate_evaluate(pairs, tmp_path, capsys):
    run = tmp_path / "runs" / "t"
    common = ["train", "translate", "--data", str(pairs), "--image-size", "32", "--num-downs", "5", "--ngf", "8", "--ndf", "8",
              "--batch-size", "2", "--out", str(tmp_path / "runs"), "--name", "t", "--workers", "0", "-q",
              "--val-data", str(pairs), "--val-images", "4", "--ckpt-every", "2"]
    assert main(common + ["--steps", "2"]) == 0
    assert main(["train", "translate", "--resume", str(run), "--steps", "4", "-q"]) == 0
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and {"val_l1", "val_psnr"} <= set(rows[-1])
    assert {"G_GAN", "G_L1", "D_real"} <= set(rows[-2])

    out = tmp_path / "out"
    assert main(["translate", str(run), str(pairs), "--paired", "-o", str(out)]) == 0  # tomau 0.1's form still works
    assert main(["translate", "-m", str(run), str(pairs), "--paired", "-o", str(tmp_path / "out2"), "-q"]) == 0
    assert len(list((tmp_path / "out2").iterdir())) == len(list(out.iterdir()))
    results = sorted(out.iterdir())
    assert len(results) == 10 and Image.open(results[0]).size == (32, 32)  # the input half's size
    img = translate(Image.fromarray(colour_image(3, 50)), str(run))  # any size: resized in and out
    assert img.size == (50, 50)

    assert main(["evaluate", "--model", str(run), "--data", str(pairs), "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "identity" in text and "best constant colour" in text
    scores = json.loads((tmp_path / "s.json").read_text())
    # identity is the worst possible answer for a negative; the constant colour is mid-grey's neighbour
    assert scores["identity"]["psnr"] < scores["constant"]["psnr"]
    assert {"l1", "rmse", "psnr", "pixel_acc"} <= set(scores["model"]) and "pixel acc" in text
    assert main(["colorize", str(results[0]), "-o", str(tmp_path / "c"), "--model", str(run)]) == 2  # not a colouriser


def test_evaluate_pairs_perfect_model(pairs):
    class Negative:
        direction, image_size = "AtoB", 32

        def translate_arrays(self, images, batch_size=8):
            return [255 - a for a in images]

        split_pair = Translator.split_pair

    res = evaluate_pairs(Negative(), sorted(pairs.iterdir()))
    assert res["model"]["l1"] < 0.02 and res["model"]["psnr"] > 28  # JPEG noise only
    assert res["n"] == 10
    assert res["model"]["pixel_acc"] > 0.9 and res["model"]["rmse"] >= res["model"]["l1"]  # RMSE >= mean |error| always


def test_pixel_accuracy_and_rmse_known_values():
    from tomau.metrics.translation import translation_scores as _scores

    truth = np.zeros((2, 2, 3), np.uint8)
    pred = truth.copy()
    pred[0, 0] = (5, 0, 0)  # within the tolerance: right
    pred[0, 1] = (0, 6, 0)  # one channel off by 6: wrong
    s = _scores([pred], [truth])
    assert s["pixel_acc"] == pytest.approx(0.75)
    assert s["l1"] == pytest.approx(11 / 12 / 255)
    assert s["rmse"] == pytest.approx(np.sqrt(61 / 12) / 255)


def test_translate_refuses_rebalance(pairs, tmp_path, zhang_bins, capsys):
    assert main(["train", "translate", "--data", str(pairs), "--rebalance", str(zhang_bins), "--out", str(tmp_path)]) == 2
    assert "rebalance" in capsys.readouterr().err
