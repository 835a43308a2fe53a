"""A new model family is its network, its family class and one registry line: a toy one, trained from the CLI."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pytest
import torch
from torch import nn

from tomau import color
from tomau.cli import main


@dataclass
class ToyNetConfig:
    width: int = 4
    size_multiple: int = 1

    def validate(self) -> None:
        if self.width < 1:
            raise ValueError("width must be at least 1")


class ToyNet(nn.Module):
    """L (N, 1, S, S) -> ab (N, 2, S, S): two 1x1 convolutions."""

    def __init__(self, cfg: ToyNetConfig):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, cfg.width, 1), nn.Tanh(), nn.Conv2d(cfg.width, 2, 1), nn.Tanh())

    def forward(self, l):
        return self.body(l)


def toy_family():
    from tomau.training.family import Family
    from tomau.training.options import at_least, option

    @dataclass
    class ToyConfig:
        generator: ToyNetConfig = field(default_factory=ToyNetConfig)
        lr: float = 1e-2

        def validate(self) -> None:
            self.generator.validate()

    class ToyColorization(Family):
        name = "toy"
        summary = "a test family"
        config_class = ToyConfig
        options = (option("toy_width", path="generator.width", type=at_least(1), help="channels"), option("lr", type=float))

        def __init__(self, cfg: ToyConfig):
            cfg.validate()
            self.cfg = cfg
            self.nets = {"G": ToyNet(cfg.generator)}
            self.optimizers = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=cfg.lr)}

        def training_step(self, batch_u8, accelerator):
            l, ab = color.rgb_to_model_input(batch_u8.float() / 255)
            self.optimizers["G"].zero_grad(set_to_none=True)
            loss = (self.nets["G"](l) - ab).abs().mean()
            accelerator.backward(loss)
            self.optimizers["G"].step()
            return {"L1": loss.detach()}

        def visuals(self, batch_u8, generator):
            l, ab = color.rgb_to_model_input(batch_u8.float() / 255)
            with torch.no_grad():
                return [color.model_output_to_rgb(l, generator(l)), batch_u8.float() / 255]

        def export_config(self, image_size: int) -> dict:
            return {"task": "colorize", "family": self.name, "image_size": image_size,
                    "generator": {"kind": "toy", "params": asdict(self.cfg.generator)}}

    return ToyColorization


def test_a_registered_toy_family_trains_resumes_and_loads_from_the_cli(tmp_path, colour_folder, monkeypatch, capsys):
    from tomau.models import GENERATORS
    from tomau.pipeline import load
    from tomau.training.trainer import FAMILIES

    family = toy_family()
    monkeypatch.setitem(FAMILIES, "toy", family)  # the registry line (removed again when the test ends)
    monkeypatch.setitem(GENERATORS, "toy", (ToyNetConfig, ToyNet))  # the network's, for loading the model file
    args = ["train", "toy", "--data", str(colour_folder), "--out", str(tmp_path), "--name", "t", "--steps", "2",
            "--batch-size", "4", "--image-size", "32", "--workers", "0", "--toy-width", "3", "-q"]
    assert main(args) == 0
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert cfg["family"] == "toy" and cfg["model"]["generator"]["width"] == 3 and cfg["steps"] == 2
    assert family.resolve({"toy_width": 3}).generator.width == 3  # the Python API: the same resolution
    assert main(["train", "toy", "--resume", str(tmp_path / "t"), "--steps", "3", "-q"]) == 0
    assert [json.loads(l)["step"] for l in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()][-1] == 3
    pipeline = load(str(tmp_path / "t"))
    assert pipeline.task == "colorize" and pipeline.config["generator"]["kind"] == "toy"
    out = pipeline([np.full((20, 30, 3), 0.5, np.float32)])
    assert out[0].shape == (20, 30, 3) and out[0].dtype == np.uint8
    # its flag is its own: another family refuses it, naming the owner
    assert main(["train", "pix2pix", "--data", str(colour_folder), "--toy-width", "3", "-q"]) == 2
    assert "--toy-width applies to `tomau train toy`, not pix2pix" in capsys.readouterr().err


def test_the_toy_family_is_gone_after_the_test():
    from tomau.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "toy"])


def test_the_template_family_file_is_a_working_scaffold(tmp_path, colour_folder, monkeypatch):
    import importlib.util
    import sys
    from pathlib import Path

    from tomau.models import GENERATORS
    from tomau.pipeline import load
    from tomau.training.trainer import FAMILIES

    path = Path(__file__).resolve().parents[1] / "docs" / "family_template.py"
    spec = importlib.util.spec_from_file_location("family_template", path)
    template = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "family_template", template)  # dataclasses look their module up there
    spec.loader.exec_module(template)
    monkeypatch.setitem(FAMILIES, "template", template.TemplateColorization)
    monkeypatch.setitem(GENERATORS, "template", (template.TemplateNetConfig, template.TemplateNet))
    args = ["train", "template", "--data", str(colour_folder), "--out", str(tmp_path), "--name", "t", "--steps", "2",
            "--batch-size", "4", "--workers", "0", "--template-width", "3", "-q"]
    assert main(args) == 0
    assert json.loads((tmp_path / "t" / "config.json").read_text())["image_size"] == 64  # its run_defaults
    assert main(["train", "template", "--resume", str(tmp_path / "t"), "--steps", "3", "-q"]) == 0
    pipeline = load(str(tmp_path / "t"))
    assert pipeline.config["generator"] == {"kind": "template", "params": {"width": 3, "size_multiple": 1}}
    assert "normalization" not in pipeline.config  # the Lab scaling is tomau.color's alone
    assert pipeline([np.full((20, 30, 3), 0.5, np.float32)])[0].shape == (20, 30, 3)
