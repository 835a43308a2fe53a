"""What the training loop (tomau.training.trainer) asks of a model family, with the colourisers' defaults.

A family owns its networks (``nets``: "G" always, "D" for GANs) and their optimizers, turns a batch of
uint8 images into losses (``training_step``), draws sample grids (``visuals``), scores validation data
(``validate``) and writes the model-file config (``export_config``). The defaults here are those of the
colourisers (pix2pix, resunet, cvae, mdn): colour photos, random crops, PSNR / SSIM / colourfulness.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data import ColorImageFolder


class Family:
    name = ""
    config_class: type = object
    colour_only = True  # training scans skip greyscale images (they would teach ab = 0)

    cfg: object
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def init_fresh(self) -> list[str]:
        """Initialisation for a new run that neither resumes nor starts from --init; returns messages."""
        return []

    def make_dataset(self, files: list[Path], image_size: int, load_size: int | None) -> torch.utils.data.Dataset:
        """Training images as uint8 tensors (C, S, S): colour photos, resized, randomly cropped and flipped."""
        return ColorImageFolder(files, image_size, load_size, augment=True)

    def validate(self, generator: nn.Module, files: list[Path], size: int, device) -> dict[str, float]:
        """Scores on held-out files (logged at each checkpoint): colourisation PSNR, SSIM, CF, |dCF|."""
        from ..evaluate import evaluate_files
        from ..inference import Colorizer

        return evaluate_files(Colorizer(generator, size, device=device), files, size, progress=False)["model"]

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        raise NotImplementedError

    def export_config(self, image_size: int) -> dict:
        raise NotImplementedError
