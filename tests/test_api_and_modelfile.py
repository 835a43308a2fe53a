"""The Python API with the bundled model, and model files: round trip, mismatch, blend."""
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from tomau import TomauError, colorize, load_model
from tomau.metrics import colourfulness
from tomau.modelfile import SAMPLES_DIR, interpolate_models, load_model_file, load_state_checked, save_model_file
from tomau.models.unet import UNetConfig, UNetGenerator


def test_bundled_default_colorizes_a_bundled_photo():
    model = load_model()  # offline: the weights ship inside the package
    photo = Image.open(SAMPLES_DIR / "1860_girls.jpg")
    grey = photo.convert("L")
    out = colorize(grey, model)
    assert isinstance(out, Image.Image) and out.size == grey.size and out.mode == "RGB"
    assert colourfulness(np.asarray(out)) > 8  # visibly coloured, not grey
    assert model.config["family"] == "effunet"  # the default; the old default is bundled as pix2pix
    assert load_model("default").config == model.config
    assert load_model("pix2pix").config["generator"]["params"]["ngf"] == 28


def test_colorize_keeps_alpha_and_accepts_a_name(tiny_model_file):
    rgba = Image.new("RGBA", (40, 24), (90, 90, 90, 128))
    out = colorize(rgba, str(tiny_model_file))
    assert out.mode == "RGBA" and out.size == (40, 24) and out.getpixel((0, 0))[3] == 128


def test_model_file_round_trip_fp16(tmp_path, tiny_model_file):
    config, state = load_model_file(tiny_model_file)
    assert config["task"] == "colorize" and config["format"] == 1
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    net = UNetGenerator(UNetConfig(**config["generator"]["params"]))
    load_state_checked(net, state, "tiny")


def test_mismatched_weights_give_one_clear_error(tmp_path, tiny_model_file):
    config, state = load_model_file(tiny_model_file)
    config["generator"]["params"]["ngf"] = 8  # the config now describes another network
    bad = tmp_path / "bad.safetensors"
    save_model_file(bad, state, config)
    with pytest.raises(TomauError, match="do not match the network in its config"):
        load_model(str(bad))
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, plain)
    with pytest.raises(TomauError, match="without a tomau config"):
        load_model(str(plain))


def test_blend_is_linear_in_the_weights(tmp_path, tiny_model_file):
    config, state = load_model_file(tiny_model_file)
    other = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    b = tmp_path / "b.safetensors"
    save_model_file(b, other, config)
    _, mixed = interpolate_models(tiny_model_file, b, 0.25)
    k = next(k for k, v in state.items() if v.is_floating_point())
    assert torch.allclose(mixed[k], state[k] + 0.25, atol=1e-3)
    with pytest.raises(TomauError, match="between 0 and 1"):
        interpolate_models(tiny_model_file, b, 1.5)
    older = dict(config, generator={**config["generator"], "params": {k: v for k, v in list(config["generator"]["params"].items())[:-1]}})
    save_model_file(b, other, older)  # a file from before a config key was added: the same network
    assert torch.allclose(interpolate_models(tiny_model_file, b, 0.25)[1][k], state[k] + 0.25, atol=1e-3)
    save_model_file(b, {**other, k: torch.zeros(3)}, config)
    with pytest.raises(TomauError, match="different architectures"):
        interpolate_models(tiny_model_file, b, 0.25)


def test_bundled_faces_model_gives_different_colourings():
    photo = Image.open(SAMPLES_DIR / "1860_girls.jpg").convert("L")
    outs = colorize(photo, "faces", samples=8)
    assert len(outs) == 8 and all(o.size == photo.size for o in outs)
    arrays = [np.asarray(o, dtype=float) for o in outs]
    assert min(np.abs(a - b).mean() for i, a in enumerate(arrays) for b in arrays[i + 1 :]) > 0.1
