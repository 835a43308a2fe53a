"""The base class of every task's pipeline (tomau.inference.Colorizer, tomau.translation.Translator,
tomau.generation.Generator). It sits below tomau.pipeline, the loader that imports those subclasses."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class Pipeline:
    """What every task's pipeline shares: its network ``net`` on ``device``, the model file's config, a name."""

    task = ""
    net: torch.nn.Module
    device: torch.device
    config: dict
    name: str = ""

    def to(self, device: str | torch.device) -> "Pipeline":
        import torch

        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    def __call__(self, inputs, **options):
        raise NotImplementedError
