"""A template model family: copy this file to tomau/training/my_family.py, rename, and fill in the marked parts.

To make it a `tomau train` choice, add one line to tomau/training/registry.py (``FAMILIES``); if its network is new,
add it to tomau/models/ and one line to ``tomau.models.GENERATORS`` (so a model file can rebuild it), and one line
to tests/test_every_family.py's ``TINY`` (its smallest settings: the shared test then trains it two steps,
resumes it bit-exactly and loads it through tomau.pipeline.load).

This file is tested as it is (tests/test_families.py registers it under the name "template" and trains it), so it
stays a working starting point: an L -> ab colouriser of 1x1 convolutions, trained with L1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from tomau import color
from tomau.models import evaluating
from tomau.training.family import Family
from tomau.training.options import at_least, option


# ---- 1. the network's config and the network (in a real family: a file in tomau/models/) -------------------------
@dataclass
class TemplateNetConfig:
    width: int = 8  # every field is stored in the model file, so the network can be rebuilt from it
    size_multiple: int = 1  # input sides must be multiples of this (a U-Net of depth 8: 256)

    def validate(self) -> None:  # raise ValueError with one sentence; the trainer turns it into a TomauError
        if self.width < 1:
            raise ValueError("width must be at least 1")


class TemplateNet(nn.Module):
    """Normalised L (N, 1, S, S) -> normalised ab (N, 2, S, S): what every colouriser maps."""

    def __init__(self, cfg: TemplateNetConfig):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, cfg.width, 1), nn.ReLU(), nn.Conv2d(cfg.width, 2, 1), nn.Tanh())

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.body(l_norm)


# ---- 2. the family's config: the network's under ``generator``, then the training settings -----------------------
@dataclass
class TemplateConfig:
    generator: TemplateNetConfig = field(default_factory=TemplateNetConfig)
    lr: float = 1e-3

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError("lr must be positive")
        self.generator.validate()


# ---- 3. the family ------------------------------------------------------------------------------------------------
class TemplateColorization(Family):
    name = "template"  # the `tomau train` choice
    summary = "a template family: 1x1 convolutions, L1"  # one line for `tomau train --help`
    task = "colorize"  # colorize, translate or generate: what tomau.pipeline.load makes of the model file
    generator_kind = "template"  # its key in tomau.models.GENERATORS
    config_class = TemplateConfig
    # its own flags: the destination name, where it lands in the config, argparse keywords
    options = (option("template_width", path="generator.width", type=at_least(1), help="channels"),
               option("lr", type=at_least(0, float)))
    run_defaults = {"image_size": 64}  # run settings it starts from instead of TrainConfig's

    def __init__(self, cfg: TemplateConfig):
        cfg.validate()
        self.cfg = cfg
        self.nets = {"G": TemplateNet(cfg.generator)}  # "G" is what the model file holds; add "D" for a GAN
        self.optimizers = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=cfg.lr)}  # one per net

    # the default make_dataset gives uint8 RGB crops (N, 3, S, S); override it for other data (pairs, cached features)

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the losses to log (detached). Use accelerator.autocast / .backward."""
        l_norm, ab = color.rgb_to_model_input(batch_u8.float() / 255)
        opt = self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        with accelerator.autocast():
            loss = (self.nets["G"](l_norm).float() - ab).abs().mean()
        accelerator.backward(loss)
        opt.step()
        return {"L1": loss.detach()}

    @torch.no_grad()
    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        """Rows of the sample grid, each (N, 3, S, S) in [0, 1]: here grey input | output | truth."""
        l_norm, ab = color.rgb_to_model_input(batch_u8.float() / 255)
        with evaluating(generator):
            out = generator(l_norm).float()
        return [color.model_output_to_rgb(l_norm, torch.zeros_like(ab)), color.model_output_to_rgb(l_norm, out), batch_u8.float() / 255]

    # validate (the names in `metrics`, by default psnr ssim cf dcf, at each checkpoint with --val-data; --val-metrics
    # names others) and export_config (task, family, network, size) come from Family; add model-file entries with
    # export_extras(), a new score as a function and a name in tomau.metrics.METRICS.
