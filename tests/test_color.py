"""Lab maths against scikit-image (the reference), to a stated tolerance."""
import numpy as np
import pytest
import torch
from skimage import color as skcolor

from tomau import color

LAB_TOL = 1e-3  # Lab units; float32 torch vs float64 scikit-image
RGB_TOL = 1e-4  # sRGB in [0, 1]


def _chw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()


def test_rgb_to_lab_matches_skimage():
    rng = np.random.default_rng(0)
    rgb = rng.random((32, 48, 3))
    rgb[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.5, 0.5, 0.5], [0.01, 0.02, 0.03]]
    ours = color.rgb_to_lab(_chw(rgb)).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, skcolor.rgb2lab(rgb), atol=LAB_TOL)


def test_lab_to_rgb_matches_skimage_in_and_out_of_gamut():
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(0, 100, (32, 32)), rng.uniform(-110, 110, (32, 32)), rng.uniform(-110, 110, (32, 32))], -1)
    with pytest.warns(UserWarning):  # scikit-image warns about the out-of-gamut values it clips
        ref = skcolor.lab2rgb(lab)
    ours = color.lab_to_rgb(_chw(lab)).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, ref, atol=RGB_TOL)


def test_round_trip_and_batch_shapes():
    rgb = torch.rand(2, 3, 16, 16)
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    assert back.shape == rgb.shape
    assert torch.allclose(back, rgb, atol=1e-4)


def test_seed_normalisation_and_inverse():
    rgb = torch.rand(1, 3, 8, 8)
    l_norm, ab_norm = color.rgb_to_model_input(rgb)
    assert l_norm.shape == (1, 1, 8, 8) and ab_norm.shape == (1, 2, 8, 8)
    assert l_norm.min() >= -1 and l_norm.max() <= 1 and ab_norm.abs().max() <= 1
    lab = color.rgb_to_lab(rgb)
    assert torch.allclose(l_norm, lab[:, :1] / 50 - 1) and torch.allclose(ab_norm, lab[:, 1:] / 110)
    assert torch.allclose(color.model_output_to_rgb(l_norm, ab_norm), rgb, atol=1e-4)


def test_full_srgb_gamut_fits_the_normalisation():
    # the sRGB gamut's extremes in Lab (D65): a in [-86.18, 98.23], b in [-107.86, 94.48]
    v = torch.linspace(0, 1, 18)
    rgb = torch.stack(torch.meshgrid(v, v, v, indexing="ij")).reshape(3, 1, -1)
    lab = color.rgb_to_lab(rgb)
    assert lab[1].min() == pytest.approx(-86.18, abs=0.05) and lab[1].max() == pytest.approx(98.23, abs=0.05)
    assert lab[2].min() == pytest.approx(-107.86, abs=0.05) and lab[2].max() == pytest.approx(94.48, abs=0.05)


def test_grey_has_zero_ab():
    grey = torch.full((3, 4, 4), 0.37)
    assert color.rgb_to_lab(grey)[1:].abs().max() < 5e-3  # the D65 matrix rows sum to the white point to 4 digits
    assert torch.allclose(color.rgb_to_gray(torch.rand(3, 4, 4)).std(dim=0), torch.zeros(4, 4), atol=1e-4)
