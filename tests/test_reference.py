"""Colours from a reference photo of a similar scene (colour statistics, and Welsh et al. 2002 pixel matching)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main
from tomau.color import rgb_to_lab_hwc
from tomau.errors import TomauError
from tomau.inference import colorize
from tomau.reference import colorize_from_reference

RED, BLUE = np.array([0.55, 0.1, 0.1]), np.array([0.45, 0.65, 1.0])  # dark red, light blue


def layout(mask: np.ndarray) -> np.ndarray:
    """float RGB: dark red where mask, light blue elsewhere, with a little texture."""
    img = np.where(mask[..., None], RED, BLUE)
    return np.clip(img + np.random.default_rng(int(mask.sum())).normal(0, 0.01, img.shape), 0, 1).astype(np.float32)


def test_welsh_takes_colours_by_lightness_from_a_differently_arranged_reference():
    h, w = 48, 64
    photo_mask = np.zeros((h, w), bool)
    photo_mask[:, : w // 3] = True  # red on the left third
    ref_mask = np.zeros((40, 40), bool)
    ref_mask[20:, :] = True  # red on the bottom half of a reference of another size
    photo, ref = layout(photo_mask), layout(ref_mask)
    out = colorize_from_reference(photo, ref, "welsh")
    ab = rgb_to_lab_hwc(out.astype(np.float32) / 255)[..., 1:]
    truth = rgb_to_lab_hwc(photo)[..., 1:]
    inner = np.zeros((h, w), bool)
    inner[4:-4, 4 : w // 3 - 4] = True
    inner[4:-4, w // 3 + 4 : -4] = True  # away from the boundary, which smoothing may blur
    assert np.abs(ab - truth)[inner].mean() < 5  # red where dark, blue where light
    assert np.allclose(rgb_to_lab_hwc(out.astype(np.float32) / 255)[..., 0], rgb_to_lab_hwc(photo)[..., 0], atol=1.5)  # L kept


def test_stats_moves_the_models_palette_to_the_references():
    rng = np.random.default_rng(0)
    photo = rng.random((32, 32, 3)).astype(np.float32)
    model_rgb = (np.clip(photo * [1.0, 0.8, 0.6], 0, 1) * 255).astype(np.uint8)  # a warm colouring
    ref = layout(rng.random((30, 30)) > 0.5)
    out = colorize_from_reference(photo, ref, "stats", model_rgb)
    ab, ref_ab = rgb_to_lab_hwc(out.astype(np.float32) / 255)[..., 1:], rgb_to_lab_hwc(ref)[..., 1:]
    assert np.allclose(ab.reshape(-1, 2).mean(0), ref_ab.reshape(-1, 2).mean(0), atol=3)
    assert np.allclose(ab.reshape(-1, 2).std(0), ref_ab.reshape(-1, 2).std(0), rtol=0.25)


def test_reference_errors_are_one_sentence():
    photo = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    grey = np.full((16, 16, 3), 0.5, np.float32)
    with pytest.raises(TomauError, match="no colour"):
        colorize_from_reference(photo, grey, "welsh")
    with pytest.raises(TomauError, match="give a model"):
        colorize_from_reference(photo, layout(np.eye(16, dtype=bool)), "stats")
    with pytest.raises(TomauError, match="unknown reference method"):
        colorize_from_reference(photo, layout(np.eye(16, dtype=bool)), "magic")


def test_reference_from_the_cli_and_the_api(tmp_path, tiny_model_file, capsys):
    mask = np.zeros((48, 48), bool)
    mask[:, :20] = True
    photo = Image.fromarray((layout(mask).mean(-1, keepdims=True).repeat(3, -1) * 255).astype(np.uint8))
    photo.save(tmp_path / "old.png")
    Image.fromarray((layout(mask.T) * 255).astype(np.uint8)).save(tmp_path / "ref.png")
    for method in ("stats", "welsh"):
        out = tmp_path / method
        assert main(["colorize", str(tmp_path / "old.png"), "--reference", str(tmp_path / "ref.png"),
                     "--reference-method", method, "-m", str(tiny_model_file), "-o", str(out)]) == 0
        result = np.asarray(Image.open(out / "old.png")).astype(int)
        assert np.abs(result - result.mean(-1, keepdims=True)).max() > 20  # coloured
    api = colorize(photo, str(tiny_model_file), reference=Image.open(tmp_path / "ref.png"), reference_method="welsh")
    assert api.size == photo.size and np.ptp(np.asarray(api).astype(int), axis=-1).max() > 20
    assert main(["colorize", str(tmp_path / "old.png"), "--reference", str(tmp_path / "ref.png"), "--samples", "2",
                 "-m", str(tiny_model_file), "-o", str(tmp_path / "x")]) == 2
    assert "either --samples or --reference" in capsys.readouterr().err
