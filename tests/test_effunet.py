"""The pretrained EfficientNet-Lite encoder, the effunet colouriser, its training in the one loop (cached or fine-tuned), FD-lite0."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from tomau.errors import TomauError
from tomau.models.efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    EfficientNetLiteConfig,
    SameConv2d,
    grey_l_to_rgb,
    pretrained,
    pretrained_state_dict,
)
from tomau.models.effunet import EffUNetColorizer, EffUNetConfig


@pytest.mark.parametrize("name", list(VARIANTS))
def test_wheel_weights_load_strictly_with_official_names(name):
    state = pretrained_state_dict(name)
    net = EfficientNetLite(EfficientNetLiteConfig(name))
    assert set(net.state_dict()) == set(state)  # every official name, nothing more
    net.load_state_dict(state, strict=True)
    if name == "efficientnet_lite0":
        assert sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) == 4_652_008


def test_feature_shapes_at_each_stride():
    net = pretrained("efficientnet_lite0")
    with torch.no_grad():
        feats = net.features(torch.zeros(2, 3, 128, 96))
        logits = net(torch.zeros(1, 3, 224, 224))
    assert [tuple(f.shape[1:]) for f in feats] == [(16, 64, 48), (24, 32, 24), (40, 16, 12), (112, 8, 6), (320, 4, 3)]
    assert net.feature_channels == [16, 24, 40, 112, 320]
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_same_padding_is_tensorflows():
    """Stride 2 on an even side: TF pads 0 before and 1 after (k 3), 1 before and 2 after (k 5)."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 8, 8)
    for k, (before, after) in ((3, (0, 1)), (5, (1, 2))):
        conv = SameConv2d(2, 3, k, 2, bias=False)
        ref = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, stride=2)
        assert torch.allclose(conv(x), ref, atol=1e-6)
        assert conv(x).shape[-2:] == (4, 4)


def test_grey_l_is_shown_as_the_grey_photo():
    from tomau import color

    rgb = torch.rand(1, 3, 4, 4)
    grey = color.rgb_to_gray(rgb)  # lab_to_rgb(L, 0, 0)
    l_norm = color.rgb_to_lab(rgb)[:, :1] / 50 - 1
    assert torch.allclose(grey_l_to_rgb(l_norm), grey * 2 - 1, atol=2e-3)


def _bins_config(zhang_bins) -> EffUNetConfig:
    centres = np.load(zhang_bins / "pts_in_hull.npy").astype(float).tolist()
    return EffUNetConfig(decoder_widths=[8, 8, 8], bins=len(centres), bin_centres=centres)


def test_colorizer_shapes_and_decoding(zhang_bins):
    torch.manual_seed(0)
    cfg = _bins_config(zhang_bins)
    net = EffUNetColorizer(cfg).eval()
    l = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        out = net(l)
        reg, logits = net.heads(net.encode(l), l)
    assert out.shape == (2, 2, 64, 96) and reg.shape == (2, 2, 16, 24) and logits.shape == (2, cfg.bins, 16, 24)
    assert torch.equal(net.combine(reg, logits, mix=0.0), reg)
    # a very low temperature's annealed mean is the centre of the most likely bin
    top = torch.randint(0, cfg.bins, (2, 16, 24))
    logits = torch.randn_like(logits) * 0.1 + F.one_hot(top, cfg.bins).permute(0, 3, 1, 2)
    sharp = net.combine(reg, logits, mix=1.0, temperature=0.01)
    centres = torch.tensor(cfg.bin_centres) / 110
    assert torch.allclose(sharp, centres[logits.argmax(1)].permute(0, 3, 1, 2), atol=1e-4)
    with pytest.raises(ValueError):
        net(torch.zeros(1, 1, 40, 64))


@pytest.mark.parametrize("bad", [dict(decoder_widths=[8, 8]), dict(decoder_widths=[8, 8, 10**6]), dict(bins=5),
                                 dict(encoder="resnet50"), dict(bins=0, mix=0.5), dict(temperature=0)])
def test_bad_configs_are_refused_in_one_sentence(bad):
    with pytest.raises(TomauError):
        EffUNetConfig(**bad).validate()


def _effunet_cfg(data, out, zhang_bins, steps=6, **family):
    from tomau.training.config import fresh_train_config
    from tomau.training.effunet import EffUNetFamily

    given = {"data": str(data), "out": str(out), "name": "e", "bins": str(zhang_bins), "image_size": 32, "batch_size": 4,
             "steps": steps, "workers": 0, "log_every": 2, "ckpt_every": 2, "sample_every": 2, "warmup": 2, "ema": 0.9, **family}
    cfg = fresh_train_config(EffUNetFamily, given)
    cfg.model.generator.decoder_widths = [8, 8, 8]
    return cfg


@pytest.mark.parametrize("mode", ["none", "all", "gan"])
def test_effunet_trains_in_the_one_loop_and_resumes_bit_exactly(tmp_path, colour_folder, zhang_bins, mode):
    """Frozen encoder (cached features), the fine-tuned one (every stage, after one step of the top stages) and the
    adversarial stage (top stages + a PatchGAN, whose weights and optimizer resume too)."""
    from tomau.inference import load_model
    from tomau.training.trainer import read_state, train

    extra = {"none": {"train_encoder": "none", "cache": str(tmp_path / "cache")},
             "all": {"train_encoder": "all", "top_only_steps": 1},
             "gan": {"train_encoder": "top", "gan_weight": 0.01}}[mode]
    straight = train(_effunet_cfg(colour_folder, tmp_path / "a", zhang_bins, **extra), quiet=True)
    cfg = _effunet_cfg(colour_folder, tmp_path / "b", zhang_bins, **extra)
    cfg.max_minutes = 1e-9  # stops after its first step, with a checkpoint
    first = train(cfg, quiet=True)
    assert read_state(first / "state.safetensors")["step"] == 1
    cfg.max_minutes = 0
    train(cfg, resume_dir=str(first), quiet=True)
    a, b = read_state(straight / "state.safetensors"), read_state(first / "state.safetensors")
    assert b["step"] == 6
    assert set(a["nets"]) == ({"G", "D"} if mode == "gan" else {"G"})
    for name in a["nets"]:
        for k, v in a["nets"][name].items():
            assert torch.equal(v, b["nets"][name][k]), (name, k)
    for k, v in a["ema"].items():
        assert torch.equal(v, b["ema"][k]), k
    before = EffUNetColorizer(_effunet_cfg(colour_folder, tmp_path / "c", zhang_bins).model.generator)
    from tomau.models.efficientnet_lite import load_backbone_weights

    load_backbone_weights(before.encoder)
    moved = [k for k, v in before.encoder.state_dict().items() if not torch.equal(v, a["nets"]["G"]["encoder." + k])]
    if mode == "none":
        assert moved == []  # frozen: the ImageNet encoder as it was
    elif mode == "gan":
        assert any(k.startswith("_blocks.15.") for k in moved) and not any(k.startswith("_blocks.0.") for k in moved)
        rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
        assert all(r["G_GAN"] > 0 and r["D_real"] > 0 and r["D_fake"] > 0 for r in rows if "loss" in r)
    else:
        assert any(k.startswith("_blocks.0.") for k in moved) and any(k.startswith("_blocks.15.") for k in moved)
        assert not any("running_" in k for k in moved)  # BatchNorm statistics stay ImageNet's
    model = load_model(str(straight))
    assert model.image_size == 32 and model.config["family"] == "effunet"
    out = model.colorize_arrays([np.random.default_rng(0).random((50, 70, 3)).astype(np.float32)])[0]
    assert out.shape == (50, 70, 3) and out.dtype == np.uint8
    assert (straight / "loss.png").exists() and list((straight / "samples").glob("step_*.png"))


def test_the_feature_cache_holds_each_view(tmp_path, colour_folder):
    from tomau import color
    from tomau.training.feature_cache import build_cache, open_cache

    files = sorted(colour_folder.rglob("*.png"))[:6]
    cache = build_cache(files, tmp_path / "cache", size=32, views=2, batch_size=4, progress=False)
    meta, arrays = open_cache(cache)
    assert arrays["f4"].shape == (12, 24, 8, 8) and arrays["f32"].shape == (12, 320, 1, 1) and arrays["lab"].shape == (12, 3, 8, 8)
    # view 0 is the centred crop: its stored Lab is the photo's, pooled by 4
    rgb = torch.from_numpy(np.asarray(Image.open(files[0]).convert("RGB").resize((32, 32), Image.BICUBIC), np.float32) / 255)
    lab = F.avg_pool2d(color.rgb_to_lab(rgb.permute(2, 0, 1)[None]), 4)[0]
    assert np.allclose(arrays["lab"][0], lab.numpy(), atol=0.1)


def test_random_resized_crops_are_deterministic_per_item(colour_folder):
    from tomau.training.effunet import RandomResizedCrops

    ds = RandomResizedCrops(sorted(colour_folder.rglob("*.png")), 32, scale=0.3)
    assert ds[(3, 11)].shape == (3, 32, 32) and ds[(3, 11)].dtype == torch.uint8
    assert torch.equal(ds[(3, 11)], ds[(3, 11)]) and not torch.equal(ds[(3, 11)], ds[(3, 12)])
    assert torch.equal(ds[3], ds[3])  # a plain index: the centre square, no augmentation


def test_a_cache_of_other_files_is_refused(tmp_path, colour_folder):
    from tomau.training.feature_cache import build_cache

    files = sorted(colour_folder.rglob("*.png"))
    build_cache(files[:2], tmp_path / "c", size=32, views=1, progress=False)
    with pytest.raises(TomauError, match="other settings or files"):
        build_cache(files[2:4], tmp_path / "c", size=32, views=1, progress=False)


@pytest.mark.slow
def test_cli_trains_and_resumes(tmp_path, colour_folder, zhang_bins):
    from tomau.cli import main
    from tomau.training.trainer import read_state

    args = ["train", "effunet", "--data", str(colour_folder), "--bins", str(zhang_bins), "--out", str(tmp_path / "runs"),
            "--name", "e", "--image-size", "32", "--views", "1", "--steps", "2", "--batch-size", "4", "--log-every", "1",
            "--ckpt-every", "2", "--workers", "0", "-q"]
    assert main(args) == 0
    assert main(["train", "effunet", "--resume", str(tmp_path / "runs" / "e"), "--steps", "3", "-q"]) == 0
    assert read_state(tmp_path / "runs" / "e" / "state.safetensors")["step"] == 3
    assert main(["train", "effunet", "--data", str(colour_folder), "-q", "--out", str(tmp_path / "r2")]) == 2  # no --bins
    assert main(["train", "pix2pix", "--data", str(colour_folder), "--cls-weight", "1", "-q"]) == 2  # not its flag
    fine = ["train", "effunet", "--data", str(colour_folder), "--bins", str(zhang_bins), "--out", str(tmp_path / "runs"),
            "--name", "f", "--image-size", "32", "--steps", "1", "--batch-size", "4", "--workers", "0", "--train-encoder", "top",
            "--init", str(tmp_path / "runs" / "e"), "-q"]
    assert main(fine) == 0  # fine-tunes from the frozen run's model


def test_frechet_distance_known_answers():
    from tomau.metrics.frechet import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    s = a @ a.T + np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(float(((mu1 - mu2) ** 2).sum()), abs=1e-8)
    d1, d2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    assert frechet_distance(mu1, np.diag(d1), mu1, np.diag(d2)) == pytest.approx(float(((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()), abs=1e-8)
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)
    # fewer samples than features (singular covariances) stays real and >= 0
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(10, 40)) + 0.5
    d = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert np.isfinite(d) and d > 0


def test_frechet_on_features_ranks_colour_closer_than_grey(colour_folder):
    from tomau.evaluate import evaluate_files
    from tomau.metrics.frechet import FeatureNet

    class Oracle:  # returns the truth for its input's colours: FD 0 for the model, > 0 for grey
        def colorize_arrays(self, images, batch_size=8):
            return [(a * 255 + 0.5).astype(np.uint8) for a in images]

    files = sorted(colour_folder.rglob("*.png"))[:12]
    res = evaluate_files(Oracle(), files, 64, progress=False, metrics=["fd"], features=FeatureNet(size=64))
    assert res["model"]["fd"] == pytest.approx(0, abs=1e-3)
    assert res["grey"]["fd"] > 1


@pytest.mark.slow
def test_the_vividness_dial(tmp_path, colour_folder, zhang_bins, tiny_model_file):
    from tomau.cli import main
    from tomau.inference import load_model

    assert main(["train", "effunet", "--data", str(colour_folder), "--bins", str(zhang_bins), "--out", str(tmp_path),
                 "--name", "e", "--image-size", "32", "--views", "1", "--steps", "3", "--batch-size", "4", "--workers", "0", "-q"]) == 0
    photo = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    faithful = load_model(str(tmp_path / "e"), mix=0.0).colorize_arrays([photo])[0]
    vivid = load_model(str(tmp_path / "e"), mix=1.0, temperature=0.05).colorize_arrays([photo])[0]
    assert np.abs(faithful.astype(int) - vivid).mean() > 0.5
    with pytest.raises(TomauError, match="no classification head"):
        load_model(str(tiny_model_file), mix=0.5)
    out = tmp_path / "out"
    Image.fromarray((photo * 255).astype(np.uint8)).convert("L").save(tmp_path / "g.png")
    assert main(["colorize", str(tmp_path / "g.png"), "-m", str(tmp_path / "e"), "--mix", "1", "--temperature", "0.2", "-o", str(out)]) == 0
    assert (out / "g.png").exists()


def test_bundled_effunet_colours_a_sample_photo_offline():
    from tomau import colorize, load_model
    from tomau.metrics import colourfulness
    from tomau.modelfile import SAMPLES_DIR

    model = load_model("effunet")
    assert model.config["family"] == "effunet" and model.image_size == 128
    grey = Image.open(SAMPLES_DIR / "1860_girls.jpg").convert("L")
    out = colorize(grey, model)
    assert out.size == grey.size and colourfulness(np.asarray(out)) > 8
    params = model.config["generator"]["params"]
    chosen = json.loads((Path(__file__).parents[1] / "bench" / "results" / "default_selection.json").read_text())["chosen"]
    assert (params["mix"], params["temperature"]) == (chosen["mix"], chosen["temperature"])  # what the default rule chose
    assert params["mix"] == model.config["training"]["decoding_selection"]["mix"]


def test_the_perceptual_loss_trains_and_is_zero_for_the_photo_itself(tmp_path, colour_folder, zhang_bins):
    from tomau import color
    from tomau.training.effunet import EffUNetFamily, EffUNetTrainConfig, RandomResizedCrops
    from tomau.training.trainer import train

    cfg = _effunet_cfg(colour_folder, tmp_path / "p", zhang_bins, train_encoder="top", perceptual_weight=0.03, steps=2)
    run = train(cfg, quiet=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(r["perceptual"] > 0 for r in rows if "loss" in r)
    family = EffUNetFamily(cfg.model)
    batch = torch.stack([RandomResizedCrops(sorted(colour_folder.rglob("*.png"))[:2], 64, 1.0)[i] for i in range(2)])
    l_norm = family._targets(batch)[0]
    lab = color.rgb_to_lab(batch.float() / 255)
    # the photo's own ab (at full size, as the loss widens it) scores ~0; grey scores more
    own = family.perceptual(color.normalize_ab(lab[:, 1:]), l_norm, batch.float() / 255)
    grey = family.perceptual(torch.zeros_like(lab[:, 1:]), l_norm, batch.float() / 255)
    assert own.item() < 0.05 * grey.item()
    with pytest.raises(ValueError, match="train-encoder"):
        EffUNetTrainConfig(train_encoder="none", perceptual_weight=0.1).validate()
    with pytest.raises(ValueError, match="train-encoder"):
        EffUNetTrainConfig(train_encoder="none", gan_weight=0.01).validate()


def test_ab_at_half_grows_from_a_quarter_model_and_trains(tmp_path, colour_folder, zhang_bins):
    """--ab-stride 2 from a 1/4 model (--init): the new refinement starts at zero (the 1/4 model's colours, widened
    before the tanh instead of after), trains the regression ab at 1/2 (with the adversarial loss too), and loads."""
    from tomau.inference import load_model
    from tomau.modelfile import load_model_file
    from tomau.training.effunet import EffUNetFamily, EffUNetTrainConfig
    from tomau.training.trainer import read_state, train

    quarter = train(_effunet_cfg(colour_folder, tmp_path / "q", zhang_bins, train_encoder="top", steps=2), quiet=True)
    cfg = _effunet_cfg(colour_folder, tmp_path / "h", zhang_bins, train_encoder="all", steps=2, ab_stride=2,
                       init=str(quarter / "model.safetensors"), gan_weight=0.01)
    assert cfg.model.generator.ab_stride == 2
    family = EffUNetFamily(cfg.model)
    assert "refinement" in family.init_from(load_model_file(quarter / "model.safetensors")[1], "q")[0]
    l = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        reg, logits = family.nets["G"].eval()(l, heads=True)
        pre = torch.atanh(load_model(str(quarter)).net(l, heads=True)[0].double())  # the 1/4 model before its tanh
        old = torch.tanh(F.interpolate(pre, size=(32, 32), mode="bilinear", align_corners=False))
    assert reg.shape[-1] == 32 and logits.shape[-1] == 16  # regression at 1/2, classes at 1/4
    assert (reg - old).abs().max() < 1e-4
    run = train(cfg, quiet=True)
    assert read_state(run / "state.safetensors")["nets"]["G"]["decoder.refine.weight"].abs().sum() > 0  # it learns
    model = load_model(str(run))
    assert model.config["generator"]["params"]["ab_stride"] == 2
    assert model.colorize_arrays([np.random.default_rng(0).random((40, 72, 3)).astype(np.float32)])[0].shape == (40, 72, 3)
    with pytest.raises(ValueError, match="train-encoder"):
        EffUNetTrainConfig(train_encoder="none", generator=EffUNetConfig(ab_stride=2, bins=0, mix=0)).validate()
