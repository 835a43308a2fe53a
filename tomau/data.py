"""Training data: any folder of colour images, and a sampler that makes resumed runs exact.

The dataset yields uint8 RGB tensors (3, S, S); the Lab conversion happens on the training device
(tomau.color), where it is cheap. Greyscale, corrupt and unreadable files are skipped at scan time
with a count, never a crash mid-run.
"""
from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from .errors import TomauError
from .images import IMAGE_EXTENSIONS


@dataclass
class ScanReport:
    usable: list[Path] = field(default_factory=list)
    grey: list[Path] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.usable)} usable colour images ({len(self.grey)} greyscale and {len(self.broken)} unreadable skipped)"


def _is_colour_file(path: Path) -> bool:
    """Decode a small draft of the image: raises on corrupt files, False for greyscale ones."""
    with Image.open(path) as im:
        if im.mode in ("L", "LA", "1", "I", "I;16", "F"):
            return False
        im.draft("RGB", (64, 64))  # JPEG decodes at 1/8 scale: fast, and still reads the whole stream
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(im.convert("RGB"), dtype=np.int16)
    return bool(np.abs(arr - arr.mean(axis=2, keepdims=True)).mean() > 1.0)


def scan_folder(root: str | Path, max_images: int | None = None, progress: bool = True, colour_only: bool = True) -> ScanReport:
    """List the usable images below ``root`` (recursive): readable, and in colour when ``colour_only``.

    Training skips greyscale images (they teach ab = 0); evaluation keeps them (``colour_only=False``)."""
    root = Path(root)
    if not root.is_dir():
        raise TomauError(f"{root}: no such folder of training images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if max_images:
        files = files[:max_images]
    report = ScanReport()

    def check(path: Path) -> str:
        try:
            return "usable" if _is_colour_file(path) or not colour_only else "grey"
        except Exception:  # noqa: BLE001 - any failure to decode means "skip this file"
            return "broken"

    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) * 2)) as pool:  # Pillow decodes without the GIL
        verdicts = list(tqdm(pool.map(check, files), total=len(files), desc="scanning images", unit="img",
                             leave=False, disable=not progress or len(files) < 200))
    for path, verdict in zip(files, verdicts):
        getattr(report, verdict).append(path)
    if not report.usable:
        kind = "colour images" if colour_only else "images"
        raise TomauError(f"{root}: no usable {kind} found ({report.summary()}); point --data at a folder of colour photos")
    return report


class ColorImageFolder(Dataset):
    """Colour images resized (shorter side ``load_size``), randomly cropped to ``image_size``, flipped.

    Indexed by ``(index, aug_seed)`` pairs from :class:`ResumableSampler`, so the augmentation of a
    sample depends only on the run's seed, epoch and index (exact resume), or by a plain int
    (centre crop, no flip: evaluation)."""

    def __init__(self, files: list[Path], image_size: int = 256, load_size: int | None = None, augment: bool = True):
        if not files:
            raise TomauError("the dataset is empty")
        self.files = list(files)
        self.image_size = image_size
        self.load_size = load_size or image_size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item) -> torch.Tensor:
        index, seed = item if isinstance(item, tuple) else (item, None)
        rng = random.Random(seed)
        with Image.open(self.files[index]) as im:
            im = im.convert("RGB")
        w, h = im.size
        scale = self.load_size / min(w, h)
        im = im.resize((max(self.image_size, round(w * scale)), max(self.image_size, round(h * scale))), Image.BICUBIC)
        w, h = im.size
        s = self.image_size
        if self.augment and seed is not None:
            x, y = rng.randint(0, w - s), rng.randint(0, h - s)
        else:
            x, y = (w - s) // 2, (h - s) // 2
        im = im.crop((x, y, x + s, y + s))
        if self.augment and seed is not None and rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


class ResumableSampler(Sampler):
    """Shuffled per epoch from (seed, epoch), sharded over processes, able to start mid-epoch.

    Yields ``(index, aug_seed)``. Every process gets ``len(dataset) // (world * batch)`` full batches
    per epoch (the remainder is dropped), so all replicas step together."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, world_size: int = 1, rank: int = 0):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.world_size, self.rank = world_size, rank
        self.batches_per_epoch = n // (world_size * batch_size)
        if self.batches_per_epoch == 0:
            raise TomauError(
                f"only {n} training images for a batch of {batch_size} on {world_size} process(es); "
                "lower --batch-size or add images"
            )
        self.epoch = 0
        self.start_batch = 0

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g)[: self.batches_per_epoch * self.world_size * self.batch_size]
        mine = order[self.rank :: self.world_size].tolist()
        for i in mine[self.start_batch * self.batch_size :]:
            yield i, (self.seed * 1_000_003 + self.epoch) * 10_000_019 + i
