"""One place per routine: Lab maths in tomau.color, one crop-and-flip for every training set, one reader for the
command line and the Python API, and the model file's Lab scaling is tomau.color's."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from tomau import color
from tomau.data import ColorImageFolder, PairedImageFolder, crop_and_flip, shorter_side_to
from tomau.errors import TomauError
from tomau.images import load_image
from tomau.inference import colorize, load_model
from tomau.modelfile import load_model_file, save_model_file
from tomau.models.efficientnet_lite import grey_l_to_rgb

from .conftest import colour_image

ROOT = Path(__file__).resolve().parents[1]


def test_lightness_to_grey_is_lab_to_rgb_of_a_grey():
    l = torch.linspace(0, 100, 201).view(1, 1, 1, -1)
    grey = color.lab_to_rgb(torch.cat([l, torch.zeros_like(l), torch.zeros_like(l)], 1))
    # within 1e-4: the rounded sRGB matrix does not map D65 white to exactly (1, 1, 1)
    assert torch.allclose(color.lightness_to_grey(l).expand_as(grey), grey, atol=1e-4)
    # the encoder's grey input is that grey, scaled to [-1, 1]
    assert torch.allclose(grey_l_to_rgb(color.normalize_l(l)), grey * 2 - 1, atol=2e-4)


def test_the_image_helpers_are_the_tensor_functions_on_one_image():
    rgb = colour_image(4, 24).astype(np.float32) / 255
    lab = color.rgb_to_lab_hwc(rgb)
    assert lab.shape == (24, 24, 3) and lab.dtype == np.float64
    # the same maths in NumPy (the onnxruntime path imports no PyTorch): equal within float32 rounding
    assert np.allclose(lab, color.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).numpy(), atol=1e-4)
    assert np.abs(color.lab_to_rgb_u8_hwc(lab).astype(int) - colour_image(4, 24)).max() <= 1


def test_the_colour_maths_give_the_same_in_numpy_and_pytorch():
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 3, 16, 16), dtype=np.float32)
    lab = np.stack([rng.random((16, 16)) * 100, rng.random((16, 16)) * 220 - 110, rng.random((16, 16)) * 220 - 110]).astype(np.float32)
    pairs = [(color.rgb_to_lab(rgb), color.rgb_to_lab(torch.from_numpy(rgb)), 1e-4),
             (color.lab_to_rgb(lab), color.lab_to_rgb(torch.from_numpy(lab)), 1e-5),
             (color.lightness_to_grey(lab[0]), color.lightness_to_grey(torch.from_numpy(lab[0])), 1e-5),
             (color._srgb_to_linear(rgb), color._srgb_to_linear(torch.from_numpy(rgb)), 1e-6)]
    for ours, theirs, tol in pairs:
        assert isinstance(ours, np.ndarray) and ours.dtype == np.float32 and isinstance(theirs, torch.Tensor)
        assert np.abs(ours - theirs.numpy()).max() <= tol


def test_no_module_but_color_writes_the_lab_formulas():
    # the CIE constants of sRGB <-> Lab: only tomau/color.py spells them (tomau/fullres.py reads color's tables)
    markers = ("24389", "0.0031308", "0.04045", "0.412453", "6 / 29", "6.0 / 29.0")
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "tomau").rglob("*.py")
             if p.name not in ("color.py", "fullres.py") and any(m in p.read_text() for m in markers)]
    assert found == []


def test_crop_and_flip_takes_one_box_for_all_images_and_the_centre_without_a_generator():
    a = Image.fromarray(colour_image(1, 40))
    b = Image.fromarray(colour_image(2, 40))
    ca, cb = crop_and_flip([a, b], 16, None)
    assert np.array_equal(np.asarray(ca), colour_image(1, 40)[12:28, 12:28])
    assert np.array_equal(np.asarray(cb), colour_image(2, 40)[12:28, 12:28])
    for seed in range(8):  # the same box (and the same flip) on both halves of a pair
        ra, rb = crop_and_flip([a, b], 16, random.Random(seed))
        found = [(x, y, f) for x in range(25) for y in range(25) for f in (False, True)
                 if np.array_equal((np.asarray(ra)[:, ::-1] if f else np.asarray(ra)), colour_image(1, 40)[y : y + 16, x : x + 16])]
        assert found and any(np.array_equal((np.asarray(rb)[:, ::-1] if f else np.asarray(rb)), colour_image(2, 40)[y : y + 16, x : x + 16])
                             for x, y, f in found)
    assert shorter_side_to(Image.new("RGB", (60, 30)), 20, 16).size == (40, 20)
    assert shorter_side_to(Image.new("RGB", (60, 30)), 10, 16).size == (20, 16)  # never below the crop


def test_the_datasets_share_it(tmp_path):
    Image.fromarray(colour_image(3, 48)).save(tmp_path / "c.png")
    Image.fromarray(np.concatenate([colour_image(5, 32), colour_image(6, 32)], 1)).save(tmp_path / "p.png")
    centre = ColorImageFolder([tmp_path / "c.png"], 32, 40)[0]
    expected = crop_and_flip([shorter_side_to(Image.open(tmp_path / "c.png").convert("RGB"), 40, 32)], 32, None)[0]
    assert np.array_equal(centre.permute(1, 2, 0).numpy(), np.asarray(expected))
    pair = PairedImageFolder([tmp_path / "p.png"], 24, 32)[(0, 7)]
    a, b = crop_and_flip([Image.fromarray(colour_image(5, 32)), Image.fromarray(colour_image(6, 32))], 24, random.Random(7))
    assert np.array_equal(pair[:3].permute(1, 2, 0).numpy(), np.asarray(a))
    assert np.array_equal(pair[3:].permute(1, 2, 0).numpy(), np.asarray(b))


@pytest.fixture
def tiny(tiny_model_file):
    return load_model(str(tiny_model_file), backend="torch")


def test_the_api_reads_a_file_as_the_command_line_does(tmp_path, tiny):
    import cv2

    deep = (colour_image(7, 40).astype(np.uint16) * 257 + np.arange(40, dtype=np.uint16)[:, None, None]).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])  # a 48-bit colour PNG; Pillow alone reads it as 8 bits
    loaded = load_image(tmp_path / "deep.png")
    assert loaded.bits == 16
    from_path = colorize(tmp_path / "deep.png", tiny)
    assert np.array_equal(np.asarray(from_path), tiny.colorize_arrays([loaded.pixels])[0])  # the command line's pixels
    # an EXIF-rotated JPEG with an ICC profile: turned upright, and the profile and EXIF kept on the result
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    exif[0x010F] = "tomau test camera"  # Make: what the result must keep
    Image.fromarray(colour_image(8, 48)[:, :30]).save(tmp_path / "turned.jpg", icc_profile=icc, exif=exif.tobytes())
    for given in (tmp_path / "turned.jpg", str(tmp_path / "turned.jpg"), Image.open(tmp_path / "turned.jpg")):
        out = colorize(given, tiny)
        assert out.size == (48, 30) and out.info["icc_profile"] == icc
        kept = Image.Exif()
        kept.load(out.info["exif"])
        assert kept.get(0x010F) == "tomau test camera" and kept.get(0x0112) == 1  # the pixels are upright now
    with pytest.raises(TomauError, match="no such file"):
        colorize(tmp_path / "missing.png", tiny)


def test_old_model_files_keep_loading_and_a_foreign_lab_scaling_is_refused(tmp_path, tiny_model_file):
    config, state = load_model_file(str(tiny_model_file))
    assert config["normalization"] == {"l_cent": 50.0, "ab_norm": 110.0}  # as files of tomau 0.1 were written
    load_model(str(tiny_model_file), backend="torch")
    config["normalization"] = {"l_cent": 50.0, "ab_norm": 128.0}
    save_model_file(tmp_path / "edited.safetensors", state, config)
    with pytest.raises(TomauError, match="Lab scaling .* ab_norm 110 only"):
        load_model(str(tmp_path / "edited.safetensors"), backend="torch")
