"""Metrics by name: one signature for every score, evaluation / its table / validation take lists of names, a new
metric is one function and one entry, and the numbers are those the hand-written scores gave before."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tomau import metrics
from tomau.errors import TomauError
from tomau.evaluate import evaluate_files
from tomau.metrics import METRICS, Metric, Shared, format_table, markdown_table, per_image, score
from tomau.metrics.frechet import FeatureNet, frechet_distance
from tomau.metrics.image import colourfulness, psnr, ssim
from tomau.metrics.swd import sliced_wasserstein_distance
from tomau.metrics.translation import translation_scores

from .conftest import colour_image


class Shift:
    """A stand-in colouriser: channels swapped and squeezed, the same every time (no network)."""

    def colorize_arrays(self, images, batch_size=8):
        return [np.clip(a[..., ::-1] * 230 + 10, 0, 255).astype(np.uint8) for a in images]


class Pool(torch.nn.Module):
    """A stand-in feature network for FD-lite0: per-channel mean and std."""

    def pooled(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


@pytest.fixture
def six_files(tmp_path):
    files = []
    for i in range(6):
        Image.fromarray(colour_image(i, 48)).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    return files


def test_evaluation_gives_the_numbers_of_the_hand_written_scores(six_files):
    # the figures tomau 0.1's evaluate._summary and its Frechet block gave on these inputs (kept to 1e-9)
    res = evaluate_files(Shift(), six_files, 32, progress=False, metrics=["psnr", "ssim", "cf", "dcf", "fd"],
                         features=FeatureNet(net=Pool(), size=16))
    before = {"model": {"psnr": 8.789881293410227, "ssim": 0.34683399101138274, "cf": 143.8417464412224,
                        "dcf": 16.760644652438913, "fd": 0.8091290548933072},
              "grey": {"psnr": 9.2408499167943, "ssim": 0.3975110225899161, "cf": 0.08128258878262067,
                       "dcf": 160.5211085048787, "fd": 0.7589662304348488},
              "truth": {"cf": 160.60239109366134}}
    for row, values in before.items():
        if row != "grey":
            assert res[row] == pytest.approx(values, rel=1e-9, abs=1e-12)
    # the grey baseline's R, G and B differ by a level here and there (float32 rounding in color.lab_to_rgb), and which
    # pixels flip is not the same on every machine: these figures came from an earlier one; a 2026-12-04 machine with
    # the same torch 2.13 flips a few others (CF 0.0801 against 0.0813, cause not traced: not ATEN_CPU_CAPABILITY or
    # MKL's instruction set). So its CF (~0.08, all from those flips) within 0.01, the rest within 1e-5
    assert res["grey"]["cf"] == pytest.approx(before["grey"].pop("cf"), abs=0.01)
    assert {k: v for k, v in res["grey"].items() if k != "cf"} == pytest.approx(before["grey"], rel=1e-5)
    assert (res["n"], res["size"]) == (6, 32)


def test_translation_swd_and_frechet_give_the_numbers_of_before():
    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    truths = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    assert translation_scores(preds, truths) == pytest.approx(
        {"l1": 0.342286220043573, "rmse": 0.4197397503149493, "psnr": 7.542533112597695, "pixel_acc": 0.0}, rel=1e-12)
    a = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    assert sliced_wasserstein_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(82.3901491239667, rel=1e-9)
    # the metric "swd" on lists of (S, S, 3) arrays: real images are the truths
    assert score(["swd"], list(b.transpose(0, 2, 3, 1)), list(a.transpose(0, 2, 3, 1)))["swd"] == pytest.approx(82.3901491239667, rel=1e-9)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.3
    stats = [(f.mean(0), np.cov(f, rowvar=False)) for f in (x, y)]
    assert frechet_distance(*stats[0], *stats[1]) == pytest.approx(1.2340027984090884, rel=1e-12)
    assert frechet_distance(*stats[0], *stats[1], recipe="pytorch-fid") == pytest.approx(1.2340027984090973, rel=1e-12)


def test_per_image_metrics_are_means_of_the_image_functions():
    rng = np.random.default_rng(1)
    preds = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(4)]
    truths = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(4)]
    got = score(["psnr", "ssim", "cf", "dcf"], preds, truths)
    assert got["psnr"] == pytest.approx(np.mean([psnr(p, t) for p, t in zip(preds, truths)]))
    assert got["ssim"] == pytest.approx(np.mean([ssim(p, t) for p, t in zip(preds, truths)]))
    assert got["cf"] == pytest.approx(np.mean([colourfulness(p) for p in preds]))
    assert got["dcf"] == pytest.approx(np.mean([abs(colourfulness(p) - colourfulness(t)) for p, t in zip(preds, truths)]))
    with pytest.raises(TomauError, match="unknown metric 'bogus'; choose from psnr, ssim"):
        score(["psnr", "bogus"], preds, truths)


def test_the_truths_statistics_are_computed_once_per_evaluation(six_files):
    calls = []

    class Counting(FeatureNet):
        def __call__(self, images, batch_size=32):
            calls.append(len(images))
            return super().__call__(images, batch_size)

    evaluate_files(Shift(), six_files, 32, progress=False, metrics=["fd"], features=Counting(net=Pool(), size=16))
    assert calls == [6, 6, 6]  # the model's outputs, the truths, the grey baseline: not the truths twice
    with pytest.raises(TomauError, match="at least 2 images"):
        score(["fd"], [np.zeros((8, 8, 3), np.uint8)], [np.zeros((8, 8, 3), np.uint8)], Shared(FeatureNet(net=Pool(), size=8)))


def test_a_new_metric_is_one_function_and_one_name(six_files, monkeypatch):
    def mean_red(pred, truth):  # the function ...
        return float(pred[..., 0].mean())

    monkeypatch.setitem(METRICS, "red", Metric(per_image(mean_red), "red", ".1f", "closer to the truth's", of_preds_alone=True))  # ... and the name
    res = evaluate_files(Shift(), six_files, 32, progress=False, metrics=["psnr", "red"])
    assert set(res["model"]) == {"psnr", "red"} and set(res["truth"]) == {"red"}
    truths = [np.asarray(Image.open(f).convert("RGB").resize((32, 32), Image.BICUBIC)) for f in six_files]
    assert res["truth"]["red"] == pytest.approx(np.mean([t[..., 0].mean() for t in truths]))
    table = format_table([("model", res["model"]), ("grey", res["grey"])], ["psnr", "red"], res["truth"]).splitlines()
    assert table[0].split() == ["PSNR", "dB", "red"]
    assert table[1].split() == ["model", f"{res['model']['psnr']:.2f}", f"{res['model']['red']:.1f}"]
    assert table[3].split() == ["ground", "truth", f"{res['truth']['red']:.1f}"]  # PSNR has no truth row: left blank
    md = markdown_table([("model", res["model"])], ["red", "psnr"]).splitlines()
    assert md[0] == "| model | red | PSNR dB |" and md[2] == f"| model | {res['model']['red']:.1f} | {res['model']['psnr']:.2f} |"


def test_format_table_keeps_the_columns_every_row_has():
    rows = [("a", {"l1": 0.01234, "psnr": 30.0}), ("b", {"l1": 0.5, "psnr": 10.0, "pixel_acc": 0.5})]
    lines = format_table(rows, ["l1", "psnr", "pixel_acc"], label_width=4).splitlines()
    assert lines == ["          L1  PSNR dB", "a     0.0123    30.00", "b     0.5000    10.00"]


def test_the_names_reach_the_command_line(tmp_path, tiny_model_file, capsys):
    from tomau.cli import main

    for i in range(3):
        Image.fromarray(colour_image(i, 40)).save(tmp_path / f"{i}.png")
    out = tmp_path / "s.json"
    assert main(["evaluate", "-m", str(tiny_model_file), "--data", str(tmp_path), "--size", "32", "--metrics", "ssim", "cf",
                 "--json", str(out), "-q"]) == 0
    res = json.loads(out.read_text())
    assert set(res["model"]) == {"ssim", "cf"} and set(res["grey"]) == {"ssim", "cf"}
    assert res["run"]["torch"] == torch.__version__ and res["run"]["cpu"] and res["run"]["date"]  # where the figures come from
    printed = capsys.readouterr().out
    assert "SSIM" in printed and "PSNR" not in printed and "ground truth" in printed
    with pytest.raises(SystemExit):
        main(["evaluate", "--data", str(tmp_path), "--metrics", "bogus"])
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_validation_scores_the_names_given(tmp_path, colour_folder):
    from tomau.cli import main

    run = ["train", "pix2pix", "--data", str(colour_folder), "--out", str(tmp_path), "--name", "r", "--steps", "2",
           "--batch-size", "4", "--image-size", "32", "--workers", "0", "--ngf", "4", "--num-downs", "5", "--ckpt-every", "2",
           "--val-data", str(colour_folder), "--val-images", "4", "-q"]
    assert main([*run, "--val-metrics", "psnr", "cf"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if any(k.startswith("val_") for k in r)]
    assert val and set(val[-1]) == {"step", "val_psnr", "val_cf"}
    assert json.loads((tmp_path / "r" / "config.json").read_text())["val_metrics"] == ["psnr", "cf"]


def test_every_registered_metric_takes_the_one_signature():
    rng = np.random.default_rng(3)
    preds = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    truths = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    shared = Shared(FeatureNet(net=Pool(), size=16))
    for name, m in metrics.METRICS.items():
        value = m.score(preds, truths, shared)
        assert isinstance(value, float) and np.isfinite(value), name
        assert format(value, m.fmt) and m.label and m.better
