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
from .images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, open_image


@dataclass
class ScanReport:
    usable: list[Path] = field(default_factory=list)
    grey: list[Path] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)
    colour_only: bool = True
    too_big: list[Path] = field(default_factory=list)  # over 100 MP by their header: refused before decoding (bombs)

    def summary(self) -> str:
        big = f", {len(self.too_big)} over {DEFAULT_MAX_PIXELS // 1_000_000} MP" if self.too_big else ""
        if not self.colour_only:
            return f"{len(self.usable)} usable images ({len(self.broken)} unreadable{big} skipped)"
        return (f"{len(self.usable)} usable colour images ({len(self.grey)} greyscale and {len(self.broken)} unreadable{big} "
                "skipped)")


def _is_colour_file(path: Path) -> bool:
    """Decode a small draft of the image: raises on corrupt files (TomauError on one over 100 MP, before decoding),
    False for greyscale ones."""
    with open_image(path) as im:
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
    report = ScanReport(colour_only=colour_only)

    def check(path: Path) -> str:
        try:
            return "usable" if _is_colour_file(path) or not colour_only else "grey"
        except TomauError:  # over the pixel limit by its header: never decoded
            return "too_big"
        except Exception:  # noqa: BLE001 - any failure to decode means "skip this file"
            return "broken"

    from concurrent.futures import ThreadPoolExecutor

    from .progress import progress_bar

    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) * 2)) as pool:  # Pillow decodes without the GIL
        verdicts = list(progress_bar(pool.map(check, files), total=len(files), desc="scanning images", unit="img",
                                     leave=False, show=progress and len(files) >= 200))
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
        index, rng, augment = _item(item)
        with open_image(self.files[index]) as im:
            im = im.convert("RGB")
        im = shorter_side_to(im, self.load_size, self.image_size)
        return _to_tensor(crop_and_flip([im], self.image_size, rng if augment and self.augment else None)[0])


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


def _item(item) -> tuple[int, random.Random, bool]:
    """(index, rng, augment?) from a sampler item ``(index, aug_seed)`` or a plain index (no augmentation)."""
    index, seed = item if isinstance(item, tuple) else (item, None)
    return index, random.Random(seed), seed is not None


def shorter_side_to(im: Image.Image, side: float, at_least: int) -> Image.Image:
    """``im`` resized (bicubic, aspect kept) so that its shorter side is ``side``, neither side below ``at_least``."""
    w, h = im.size
    scale = side / min(w, h)
    return im.resize((max(at_least, round(w * scale)), max(at_least, round(h * scale))), Image.BICUBIC)


def crop_and_flip(images: list[Image.Image], size: int, rng: random.Random | None, flip: bool = True) -> list[Image.Image]:
    """The same ``size`` square of each image (of one size): at random with ``rng``, then all flipped left-right with
    p = 0.5 when ``flip``; without ``rng`` the centre square, unflipped (evaluation). Draws x, y, then the flip."""
    w, h = images[0].size
    x, y = (rng.randint(0, w - size), rng.randint(0, h - size)) if rng is not None else ((w - size) // 2, (h - size) // 2)
    images = [im.crop((x, y, x + size, y + size)) for im in images]
    if rng is not None and flip and rng.random() < 0.5:
        images = [im.transpose(Image.FLIP_LEFT_RIGHT) for im in images]
    return images


def _to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


class SquareImageFolder(Dataset):
    """Images for unconditional GANs (DCGAN-style): padded to a square with black (not stretched), resized to
    ``image_size``; when augmenting, flipped (p = 0.5) and rotated by up to ``max_rotation`` degrees (p = 0.3).
    ``fit="stretch"`` resizes without padding, ``fit="crop"`` takes the centre square."""

    FITS = ("pad", "stretch", "crop")

    def __init__(self, files: list[Path], image_size: int = 64, fit: str = "pad", max_rotation: float = 5.0, augment: bool = True):
        if not files:
            raise TomauError("the dataset is empty")
        if fit not in self.FITS:
            raise TomauError(f"unknown fit {fit!r}; choose one of {', '.join(self.FITS)}")
        self.files, self.image_size, self.fit = list(files), image_size, fit
        self.max_rotation, self.augment = max_rotation, augment

    def __len__(self) -> int:
        return len(self.files)

    def square(self, im: Image.Image) -> Image.Image:
        s = self.image_size
        if self.fit == "stretch":
            return im.resize((s, s), Image.BICUBIC)
        w, h = im.size
        if self.fit == "crop":
            c = min(w, h)
            return im.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c)).resize((s, s), Image.BICUBIC)
        scale = s / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = Image.new("RGB", (s, s))
        canvas.paste(im.resize((nw, nh), Image.BICUBIC), ((s - nw) // 2, (s - nh) // 2))
        return canvas

    def stack(self, indices=None) -> torch.Tensor:
        """The images (all, or ``indices``) without augmentation, as one uint8 tensor (N, 3, S, S)."""
        return torch.stack([self[i] for i in (range(len(self)) if indices is None else indices)])

    def __getitem__(self, item) -> torch.Tensor:
        index, rng, augment = _item(item)
        with open_image(self.files[index]) as im:
            im = self.square(im.convert("RGB"))
        if self.augment and augment:
            if rng.random() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            if self.max_rotation > 0 and rng.random() < 0.3:
                im = im.rotate(rng.uniform(-self.max_rotation, self.max_rotation), Image.BILINEAR)
        return _to_tensor(im)


class PairedImageFolder(Dataset):
    """pix2pix-format pairs: A and B side by side in one file. Yields uint8 (6, S, S): the input's 3 channels,
    then the target's (``direction="AtoB"``: A is the input). Both halves are resized to ``load_size``
    squares and, when augmenting, share one random crop to ``image_size`` and one flip (pix2pix's jitter)."""

    DIRECTIONS = ("AtoB", "BtoA")

    def __init__(self, files: list[Path], image_size: int = 256, load_size: int | None = None, direction: str = "AtoB",
                 augment: bool = True, flip: bool = True):
        if not files:
            raise TomauError("the dataset is empty")
        if direction not in self.DIRECTIONS:
            raise TomauError(f"unknown direction {direction!r}; choose AtoB or BtoA")
        self.files, self.image_size = list(files), image_size
        self.load_size = max(load_size or image_size, image_size)
        self.direction, self.augment, self.flip = direction, augment, flip

    def __len__(self) -> int:
        return len(self.files)

    @staticmethod
    def split(im: Image.Image, path: Path | str = "") -> tuple[Image.Image, Image.Image]:
        w, h = im.size
        if w < 2 or w < h:
            raise TomauError(f"{path}: {w}x{h} is not a side-by-side pair (expected width about twice the height)")
        return im.crop((0, 0, w // 2, h)), im.crop((w // 2, 0, w // 2 * 2, h))

    def __getitem__(self, item) -> torch.Tensor:
        index, rng, augment = _item(item)
        with open_image(self.files[index]) as im:
            a, b = self.split(im.convert("RGB"), self.files[index])
        if self.direction == "BtoA":
            a, b = b, a
        ls = self.load_size
        a, b = crop_and_flip([a.resize((ls, ls), Image.BICUBIC), b.resize((ls, ls), Image.BICUBIC)], self.image_size,
                             rng if self.augment and augment else None, self.flip)
        return torch.cat([_to_tensor(a), _to_tensor(b)])
