"""What the training loop (tomau.training.trainer) asks of a model family, with the colourisers' defaults.

A family also owns its settings: ``options`` (its ``tomau train`` flags, tomau.training.options.Option),
``resolve(given)`` (flags -> its config, the same for the command line and the Python API); a new or resumed
run from flags is tomau.training.trainer.train_from_flags(family, given).

A family owns its networks (``nets``: "G" always, "D" for GANs) and their optimizers, turns a batch of
uint8 images into losses (``training_step``), draws sample grids (``visuals``), scores validation data
(``validate``, with the names of tomau.metrics.METRICS) and writes the model-file config (``export_config``). The
defaults here are those of the colourisers (pix2pix, resunet, cvae, mdn): colour photos, random crops, PSNR / SSIM /
colourfulness.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..data import ColorImageFolder
from ..metrics import COLOUR_METRICS
from .options import Option, set_option


class Family:
    """The contract. Class attributes: ``name`` (the `tomau train` choice), ``summary``, ``config_class`` (a dataclass
    with ``generator`` - the network's config, with ``size_multiple`` and, for one-size networks, ``image_size`` - and
    ``validate()``), ``task`` (the model file's task: colorize, translate, generate), ``generator_kind`` (the network's
    key in tomau.models.GENERATORS), ``metrics`` (what validation scores), ``options``, ``run_options``,
    ``run_defaults``, ``colour_only``. An instance holds
    ``cfg``, ``nets`` ("G", and "D" for GANs) and ``optimizers`` (one per net) and implements ``training_step`` and
    ``visuals``; everything else has a default here. Copy docs/family_template.py to start a family."""

    name = ""
    task = "colorize"  # the model file's task: what tomau.pipeline.load makes of it
    generator_kind = ""  # the network's key in tomau.models.GENERATORS
    summary = ""  # one line for `tomau train --help`
    config_class: type = object
    colour_only = True  # training scans skip greyscale images (they would teach ab = 0)
    metrics: tuple[str, ...] = COLOUR_METRICS  # tomau.metrics.METRICS names validate scores unless --val-metrics names others
    options: tuple[Option, ...] = ()  # the family's own `tomau train` flags
    run_options: tuple[str, ...] | None = None  # the run flags (options.TRAIN_OPTIONS) it reads; None = all
    run_defaults: dict = {}  # run settings (TrainConfig fields) the family starts from instead of TrainConfig's defaults

    @classmethod
    def preset(cls, given: dict):
        """The config the flags start from (a stage's recipe, for instance); by default the config's defaults."""
        return cls.config_class()

    @classmethod
    def resolve(cls, given: dict):
        """The family's config from flag values (argparse dests, e.g. {"ngf": 32}): preset, then each flag given."""
        config = cls.preset(given)
        for opt in cls.options:
            if opt.name in given and opt.path != "":
                set_option(config, opt.name, given[opt.name], opt.path)
        return config

    cfg: object
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def init_from(self, state: dict[str, torch.Tensor], source: str) -> list[str]:
        """--init: G's weights from a model file (which must fit G exactly); returns messages."""
        from ..modelfile import load_state_checked

        load_state_checked(self.nets["G"], state, source)
        return []

    def init_fresh(self) -> list[str]:
        """Initialisation for a new run that neither resumes nor starts from --init; returns messages."""
        return []

    def make_dataset(self, files: list[Path], image_size: int, load_size: int | None) -> torch.utils.data.Dataset:
        """Training images as uint8 tensors (C, S, S): colour photos, resized, randomly cropped and flipped."""
        return ColorImageFolder(files, image_size, load_size, augment=True)

    def validate(self, generator: nn.Module, files: list[Path], size: int, device, metrics=None) -> dict[str, float]:
        """The named metrics (default: the family's ``metrics``) on held-out files, logged at each checkpoint; here a
        colouriser's outputs against the colour truth."""
        from ..evaluate import evaluate_files
        from ..inference import Colorizer

        return evaluate_files(Colorizer(generator, size, device=device), files, size, progress=False, metrics=metrics or self.metrics)["model"]

    def adjust_lr(self, step: int, steps: int) -> None:
        """Set the optimizers' learning rates before step ``step`` of ``steps`` (a schedule); by default they stay fixed."""

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        raise NotImplementedError

    def export_extras(self) -> dict:
        """What the model file records beyond the network (losses, recipe); by default nothing."""
        return {}

    def export_config(self, image_size: int) -> dict:
        """The model file's config: task, family, the network (kind + params) and the size it works at (the Lab
        scaling is tomau.color's, the same for every model). ``image_size`` is the run's; a one-size network's own wins."""
        config = {"task": self.task, "family": self.name,
                  "generator": {"kind": self.generator_kind, "params": asdict(self.cfg.generator)},
                  "image_size": getattr(self.cfg.generator, "image_size", None) or image_size}
        return {**config, **self.export_extras()}
