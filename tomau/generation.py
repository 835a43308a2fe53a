"""Sample images from an unconditional generator (tomau train gan).

Image ``i`` of seed ``s`` comes from its own z (a generator seeded with (s, i)), so it is the same
picture whatever ``n`` and batch size are: ``--n 100`` gives the first 100 of ``--n 10000``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from .errors import TomauError
from .images import make_output_dir, write_atomic
from .modelfile import load_network
from .models import evaluating
from .pipeline_base import Pipeline


def latent(seed: int, index: int, nz: int) -> torch.Tensor:
    return torch.randn(nz, generator=torch.Generator().manual_seed(seed * 1_000_003 + index))


@torch.inference_mode()
def generate_batches(generator: torch.nn.Module, n: int, seed: int = 0, device="cpu", batch_size: int = 256,
                     start: int = 0) -> Iterator[torch.Tensor]:
    """Images ``start`` .. ``start + n - 1`` as uint8 (B, 3, S, S) batches. The generator runs in eval mode."""
    with evaluating(generator):
        for i in range(start, start + n, batch_size):
            z = torch.stack([latent(seed, j, generator.nz) for j in range(i, min(i + batch_size, start + n))])
            x = generator(z.to(device)).float()
            yield ((x + 1) * 127.5).round().clamp(0, 255).byte().cpu()


def load_generator(model: str, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    net, config = load_network(model, "generate", "an image generator (tomau train gan)", device)
    return net.to(device).eval(), config


class Generator(Pipeline):
    """The generate pipeline: ``p(n, seed=0) -> [uint8 RGB (S, S, 3)]``, images 0 .. n-1 of that seed."""

    task = "generate"

    def __init__(self, net: torch.nn.Module, config: dict | None = None, device="cpu", name: str = ""):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.config, self.name = config or {}, name

    @classmethod
    def load(cls, model: str, device: str = "cpu") -> "Generator":
        net, config = load_generator(model, device)
        return cls(net, config, device, str(model))

    def __call__(self, n: int, seed: int = 0, batch_size: int = 256, start: int = 0) -> list[np.ndarray]:
        return [a.permute(1, 2, 0).numpy() for b in generate_batches(self.net, n, seed, self.device, batch_size, start) for a in b]


def generate(model: str | torch.nn.Module, n: int, seed: int = 0, device: str = "cpu", batch_size: int = 256) -> list[Image.Image]:
    """n PIL images from a model name/file/run folder or a generator network."""
    net = load_generator(model, device)[0] if isinstance(model, (str, Path)) else model
    return [Image.fromarray(a.permute(1, 2, 0).numpy()) for b in generate_batches(net, n, seed, device, batch_size) for a in b]


def write_generated(model: str, n: int, outdir: str | Path, seed: int = 0, device: str = "cpu", batch_size: int = 256,
                    progress: bool = True, overwrite: bool = False) -> list[Path]:
    """Write images 00000.png ... (n - 1).png to ``outdir`` (atomically, one file at a time). Files already there
    under those names are refused before any work in one sentence, unless ``overwrite``; one that appears while it
    works (another run's) is never replaced: that image takes the next free name."""
    from .progress import progress_bar

    if n < 1:
        raise TomauError("--n must be at least 1")
    outdir = make_output_dir(outdir)
    width = max(5, len(str(n - 1)))
    if not overwrite:
        there = [outdir / f"{k:0{width}d}.png" for k in range(n) if os.path.lexists(outdir / f"{k:0{width}d}.png")]
        if there:
            raise TomauError(f"{there[0]}{f' and {len(there) - 1} more' if len(there) > 1 else ''} already exist"
                             f"{'s' if len(there) == 1 else ''} and would be replaced; pass --overwrite to replace, or choose another -o folder")
    net, _ = load_generator(model, device)
    paths: list[Path] = []
    with progress_bar(total=n, unit="img", desc="generating", show=progress) as bar:
        for batch in generate_batches(net, n, seed, device, batch_size):
            for arr in batch.permute(0, 2, 3, 1).numpy():
                path = outdir / f"{len(paths):0{width}d}.png"
                try:
                    path = write_atomic(path, lambda f, a=arr: Image.fromarray(np.ascontiguousarray(a)).save(f, format="PNG"), overwrite)
                except OSError as err:
                    raise TomauError(f"{path}: cannot write ({err.strerror or err})") from None
                paths.append(path)
            bar.update(len(batch))
    return paths
