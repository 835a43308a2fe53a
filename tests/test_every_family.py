"""Every registered model family trains two steps in the one loop, resumes bit-exactly and loads through
tomau.pipeline.load; every registered generator builds on the meta device. A new family or generator must add
its tiny settings here (the registry tests below fail until it does)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main
from tomau.models import GENERATORS, build_network
from tomau.training.trainer import FAMILIES, read_state

from .conftest import colour_image

COMMON = ["--batch-size", "4", "--workers", "0", "--log-every", "1", "--ckpt-every", "1", "--sample-every", "2", "-q"]
# the smallest settings of each family: (data fixture, flags)
TINY = {
    "pix2pix": ("colour", ["--image-size", "32", "--num-downs", "5", "--ngf", "4", "--ndf", "4"]),
    "resunet": ("colour", ["--image-size", "32", "--ndf", "4", "--stage", "gan"]),
    "effunet": ("colour", ["--image-size", "32", "--bins", "{bins}", "--train-encoder", "all", "--top-only-steps", "1"]),
    "cvae": ("colour", ["--width", "0.0625", "--hidden", "8", "--bins", "{bins}"]),
    "mdn": ("colour", ["--width", "0.0625", "--nmix", "4", "--vae", "{vae}"]),
    "gan": ("flowers", ["--image-size", "16", "--g-width", "64", "--d-width", "32", "--loss", "ralsgan"]),
    "projected-gan": ("flowers", ["--image-size", "32", "--g-width", "64", "--d-width", "8", "--features", "efficientnet_lite0",
                                  "--feature-size", "64", "--ema", "0.9"]),
    "translate": ("pairs", ["--image-size", "32", "--num-downs", "5", "--ngf", "8", "--ndf", "8"]),
    "translate-lite": ("pairs", ["--image-size", "32", "--load-size", "64", "--predict-size", "64", "--gan-weight", "0.5", "--ndf", "8"]),
}
TASKS = {"cvae": "sample", "mdn": "sample", "gan": "generate", "projected-gan": "generate", "translate": "translate", "translate-lite": "translate"}


def test_every_family_has_tiny_settings_here():
    assert set(TINY) == set(FAMILIES)


@pytest.fixture
def pair_folder(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    for i in range(8):
        a = colour_image(i, 32)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / f"{i}.png")
    return root


@pytest.mark.parametrize("name", list(TINY))
def test_family_trains_resumes_bit_exactly_and_loads(name, tmp_path, colour_folder, flower_folder, pair_folder, zhang_bins):
    from tomau.pipeline import load

    kind, flags = TINY[name]
    data = {"colour": colour_folder, "flowers": flower_folder, "pairs": pair_folder}[kind]
    values = {"bins": str(zhang_bins), "vae": str(tmp_path / "vae")}
    if name == "mdn":  # the MDN stage starts from a trained CVAE
        assert main(["train", "cvae", "--data", str(data), "--out", str(tmp_path), "--name", "vae", "--steps", "1",
                     *COMMON, *[f.format(**values) for f in TINY["cvae"][1]]]) == 0
    args = ["train", name, "--data", str(data), "--out", str(tmp_path), *COMMON, *[f.format(**values) for f in flags]]
    assert main([*args, "--name", "straight", "--steps", "2"]) == 0
    assert main([*args, "--name", "split", "--steps", "2", "--max-minutes", "1e-9"]) == 0  # stops after step 1
    assert read_state(tmp_path / "split" / "state.safetensors")["step"] == 1
    assert main(["train", name, "--resume", str(tmp_path / "split"), "--steps", "2", "-q"]) == 0
    a, b = read_state(tmp_path / "straight" / "state.safetensors"), read_state(tmp_path / "split" / "state.safetensors")
    assert a["step"] == b["step"] == 2
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), f"{net}.{k}"
    pipeline = load(str(tmp_path / "straight"))
    assert pipeline.task == TASKS.get(name, "colorize") and pipeline.config["family"] == name


# the small settings a generator kind needs to be valid on its own (its default config otherwise)
GENERATOR_OVERRIDES = {"effunet": {"bins": 0, "mix": 0.0}}


def test_every_generator_builds_on_the_meta_device():
    for kind in GENERATORS:
        with torch.device("meta"):
            net = build_network(GENERATORS, kind, GENERATOR_OVERRIDES.get(kind, {}))
        assert sum(p.numel() for p in net.parameters()) > 0, kind
        assert all(p.is_meta for p in net.parameters()), kind


def test_every_family_declares_the_contract():
    from tomau.pipeline import LOADERS

    for name, family in FAMILIES.items():
        assert family.name == name and family.summary, name
        assert family.task in LOADERS, name
        assert family.generator_kind in GENERATORS, name
        cfg = family.config_class()
        assert hasattr(cfg, "generator") and hasattr(cfg.generator, "size_multiple") and callable(cfg.validate), name
