"""Colour hints: Levin, Lischinski and Weiss, "Colorization using Optimization" (2004)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main
from tomau.errors import TomauError
from tomau.hints import affinity_matrix, colorize_with_hints, propagate


def two_regions(h=40, w=60):
    y = np.full((h, w), 0.2)
    y[:, w // 2 :] = 0.8
    y += np.random.default_rng(0).normal(0, 0.005, y.shape)
    mask = np.zeros((h, w), bool)
    ab = np.zeros((h, w, 2))
    mask[h // 2, 5], ab[h // 2, 5] = True, (40, 30)
    mask[h // 2, w - 5], ab[h // 2, w - 5] = True, (-30, -40)
    return y, mask, ab


def test_affinity_rows_are_normalised_and_local():
    y = np.random.default_rng(1).random((7, 9))
    w = affinity_matrix(y)
    assert np.allclose(np.asarray(w.sum(1)).ravel(), 1.0)
    assert w.diagonal().max() == 0 and w.nnz <= 8 * y.size
    r, c = w.nonzero()
    assert (np.abs(r // 9 - c // 9) <= 1).all() and (np.abs(r % 9 - c % 9) <= 1).all()  # 3x3 neighbours only


def test_colours_spread_within_regions_of_similar_intensity():
    y, mask, ab = two_regions()
    u = propagate(y, mask, ab)
    assert np.allclose(u[mask], ab[mask])  # hints kept exactly
    left, right = u[:, :25].reshape(-1, 2).mean(0), u[:, 35:].reshape(-1, 2).mean(0)
    assert left[0] > 30 and left[1] > 20 and right[0] < -20 and right[1] < -30


def test_coarse_to_fine_agrees_with_the_direct_solve():
    """On a smooth photo-like image with 1% of pixels hinted from the truth. (It is an approximation: with one
    hint per region, leakage across weak edges differs between levels and the capped iterations keep some of it.)"""
    from tomau.color import rgb_to_lab_hwc

    from .conftest import colour_image

    lab = rgb_to_lab_hwc(colour_image(3, 128).astype(np.float32) / 255)
    y, ab = lab[..., 0] / 100, lab[..., 1:]
    mask = np.zeros(y.shape, bool)
    idx = np.random.default_rng(0).integers(0, 128, (160, 2))
    mask[idx[:, 0], idx[:, 1]] = True
    direct = propagate(y, mask, ab, direct_pixels=10**6)
    multilevel = propagate(y, mask, ab, direct_pixels=2000)
    assert np.abs(direct - multilevel).mean() < 1.0
    assert np.abs(multilevel - ab).mean() < 0.1 * np.abs(ab).mean()  # far closer to the truth than grey


def test_hints_override_a_model_and_blend_outward():
    y, mask, ab = two_regions()
    rgb = np.repeat(y[..., None], 3, 2).astype(np.float32)
    model = np.zeros((*y.shape, 3), np.uint8)
    model[...] = (40, 90, 200)  # the "model" paints everything blue
    out = colorize_with_hints(rgb, mask, ab, model).astype(int)
    h = y.shape[0] // 2
    assert out[h, 5, 0] > out[h, 5, 2]  # red-ish where the red hint is
    assert out[2, 28, 2] > out[2, 28, 0]  # far from the hints the model's blue stays
    with pytest.raises(TomauError, match="no colour hints"):
        propagate(y, np.zeros_like(mask), ab)


def test_cli(tmp_path, capsys):
    y, mask, ab = two_regions()
    grey = (np.repeat(y[..., None], 3, 2) * 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "photo.png")
    marks = grey.copy()
    marks[18:22, 3:7] = (220, 40, 40)  # a red scribble on the dark half, drawn on the grey photo
    marks[18:22, 53:57] = (40, 40, 220)
    Image.fromarray(marks).save(tmp_path / "marks.png")
    assert main(["hint", str(tmp_path / "photo.png"), "--scribbles", str(tmp_path / "marks.png"), "--method", "levin",
                 "-o", str(tmp_path / "out")]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png")).astype(int)
    assert out[5:35, 2:25, 0].mean() > out[5:35, 2:25, 2].mean() + 10  # the left half turned red
    assert out[5:35, 38:58, 2].mean() > out[5:35, 38:58, 0].mean() + 10  # the right half blue
    assert "hinted pixels" in capsys.readouterr().err
    Image.fromarray(marks[:20]).save(tmp_path / "small.png")
    assert main(["hint", str(tmp_path / "photo.png"), "--scribbles", str(tmp_path / "small.png"), "-o", str(tmp_path / "o2")]) == 2
    assert "does not match" in capsys.readouterr().err
    assert main(["hint", str(tmp_path / "photo.png"), "--scribbles", str(tmp_path / "photo.png"), "-o", str(tmp_path / "o3")]) == 2
    assert "no colour hints" in capsys.readouterr().err
