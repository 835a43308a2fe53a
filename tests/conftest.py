"""Shared fixtures: tiny images made on the fly (the suite never needs ../shared) and a tiny model file."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.modelfile import save_model_file
from tomau.models.unet import UNetConfig, UNetGenerator

torch.set_num_threads(2)


def colour_image(seed: int, size: int = 64) -> np.ndarray:
    """A smooth, colourful uint8 RGB image (H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    f = rng.uniform(1, 6, 3)
    img = np.stack([np.sin(f[0] * x + seed) * 0.5 + 0.5, np.cos(f[1] * y) * 0.5 + 0.5, (x + y) / 2 * rng.uniform(0.3, 1)], -1)
    return (img * 255).astype(np.uint8)


@pytest.fixture
def colour_folder(tmp_path):
    """A folder of 24 colourful 64x64 PNGs in two sub-folders."""
    root = tmp_path / "photos"
    for i in range(24):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(colour_image(i)).save(sub / f"img{i:02d}.png")
    return root


@pytest.fixture
def flower_folder(tmp_path):
    """24 colourful 40x30 PNGs (not square: the GANs pad them)."""
    root = tmp_path / "flowers"
    root.mkdir()
    for i in range(24):
        Image.fromarray(colour_image(i, 40)[:, :30]).save(root / f"f{i:02d}.png")
    return root


def header_only_png(path, width: int, height: int):
    """A PNG whose header says width x height (8-bit grey) with one tiny IDAT: a decompression bomb as a reader
    sees it before decoding (about 100 bytes on disk); decoding it would fail, so a reader that refuses it with
    the megapixel sentence has refused it from the header."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))
    return path


TINY_UNET = UNetConfig(ngf=4, num_downs=5)  # 32x32 model resolution, a few thousand parameters


@pytest.fixture
def tiny_model_file(tmp_path):
    torch.manual_seed(0)
    net = UNetGenerator(TINY_UNET)
    path = tmp_path / "tiny.safetensors"
    config = {"task": "colorize", "family": "pix2pix", "generator": {"kind": "unet", "params": vars(TINY_UNET).copy()},
              "image_size": 32, "normalization": {"l_cent": 50.0, "ab_norm": 110.0}}
    save_model_file(path, net.state_dict(), config)
    return path


@pytest.fixture
def zhang_bins(tmp_path):
    """A folder like ../shared/data/zhang: bin centres on the grid of 10 within |ab| <= 110, prior peaked at grey."""
    g = np.arange(-110, 111, 10)
    pts = np.array([(a, b) for a in g for b in g if a * a + b * b <= 110 * 110])
    prior = np.exp(-(pts**2).sum(1) / 800.0)
    folder = tmp_path / "zhang"
    folder.mkdir()
    np.save(folder / "pts_in_hull.npy", pts)
    np.save(folder / "prior_probs.npy", prior / prior.sum())
    return folder


@pytest.fixture
def tinted_model(tmp_path, tiny_model_file):
    """The tiny model with its last bias raised: it colours everything orange, so colour in the output is visible."""
    from tomau.modelfile import load_model_file

    config, state = load_model_file(str(tiny_model_file))
    state["ups.4.1.bias"] = state["ups.4.1.bias"] + 0.3
    path = tmp_path / "tinted.safetensors"
    save_model_file(path, state, config)
    return path
