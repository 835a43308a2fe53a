"""ResNet-encoder U-Net: torchvision-compatible encoder, official-weights loading path, two-stage CLI."""
import hashlib

import pytest
import torch

from tomau import TomauError, load_model
from tomau.cli import main
from tomau.models.resunet import ResNetEncoder, ResUNetConfig, ResUNetGenerator, load_encoder_weights, resnet_state_dict_like_torchvision

TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672}  # torchvision.models.resnet18/34, fc included


@pytest.mark.parametrize("depth", [18, 34])
def test_encoder_has_torchvision_names_and_sizes(depth):
    state = resnet_state_dict_like_torchvision(depth)
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
    assert params == TORCHVISION_PARAMS[depth]
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer3.0.downsample.1.running_var", "layer4.1.bn2.bias", "fc.weight"):
        assert key in state


def test_official_style_state_dict_loads_and_grey_equals_rgb(tmp_path):
    torch.manual_seed(0)
    state = resnet_state_dict_like_torchvision(18)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    grey_enc = ResNetEncoder(18, in_channels=1)
    loaded = load_encoder_weights(grey_enc, str(path))
    assert "layer4.1.conv2.weight" in loaded and not any(k.startswith("fc.") for k in loaded)
    rgb_enc = ResNetEncoder(18, in_channels=3)
    rgb_enc.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    grey = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        a = grey_enc.eval()(grey)[-1]
        b = rgb_enc.eval()(grey.repeat(1, 3, 1, 1))[-1]
    assert torch.allclose(a, b, atol=1e-4)  # summed conv1 filters == the RGB net on R = G = B
    with pytest.raises(TomauError, match="not a torchvision ResNet state dict"):
        load_encoder_weights(ResNetEncoder(34, 1), str(path))


def test_url_download_is_hash_checked(tmp_path):
    state = resnet_state_dict_like_torchvision(18)
    src = tmp_path / "src.pth"
    torch.save(state, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    good = tmp_path / f"resnet18-{digest[:8]}.pth"
    good.write_bytes(src.read_bytes())
    bad = tmp_path / "resnet18-deadbeef.pth"
    bad.write_bytes(src.read_bytes())
    cache = tmp_path / "cache"
    load_encoder_weights(ResNetEncoder(18, 1), good.as_uri(), cache_dir=cache)
    assert (cache / good.name).exists()
    with pytest.raises(TomauError, match="does not match deadbeef"):
        load_encoder_weights(ResNetEncoder(18, 1), bad.as_uri(), cache_dir=cache)
    assert not (cache / bad.name).exists() and not list(cache.glob("*.part"))


@pytest.mark.parametrize("cfg", [ResUNetConfig(), ResUNetConfig(upsample="transpose", self_attention=False)])
def test_generator_shapes(cfg):
    g = ResUNetGenerator(cfg).eval()
    out = g(torch.randn(2, 1, 64, 96))
    assert out.shape == (2, 2, 64, 96) and out.abs().max() < 1
    with pytest.raises(ValueError, match="multiples of 32"):
        g(torch.randn(1, 1, 48, 40))


def test_default_resunet18_fits_the_size_budget():
    n = sum(p.numel() for p in ResUNetGenerator(ResUNetConfig()).parameters())
    assert n * 2 < 25e6  # fp16 bytes


@pytest.mark.slow
def test_two_stage_training_from_the_cli(tmp_path, colour_folder, capsys):
    common = ["--data", str(colour_folder), "--out", str(tmp_path), "--steps", "2", "--batch-size", "4",
              "--image-size", "32", "--workers", "0", "--ckpt-every", "2", "--ndf", "8", "-q"]
    assert main(["train", "resunet", *common, "--stage", "pretrain", "--name", "s1"]) == 0
    cfg = (tmp_path / "s1" / "config.json").read_text()
    assert '"gan_weight": 0.0' in cfg and '"lr_g": 0.0001' in cfg and '"beta1": 0.9' in cfg
    assert main(["train", "resunet", *common, "--stage", "gan", "--init", str(tmp_path / "s1"), "--name", "s2"]) == 0
    cfg = (tmp_path / "s2" / "config.json").read_text()
    assert '"gan_weight": 1.0' in cfg and '"lr_d": 0.0002' in cfg and '"beta1": 0.5' in cfg
    assert main(["train", "resunet", "--resume", str(tmp_path / "s2"), "--steps", "3", "-q"]) == 0
    model = load_model(str(tmp_path / "s2"))
    assert model.config["generator"]["kind"] == "resunet" and model.config["training"]["steps"] == 3
    assert main(["train", "resunet", *common, "--ngf", "8"]) == 2
    assert "--ngf applies to `tomau train pix2pix/translate`" in capsys.readouterr().err
