"""Frechet Inception Distance, computed as the reference implementation does (pytorch-fid, itself a port of
the TensorFlow original of Heusel et al. 2017).

Network   Inception v3 with the TF graph's quirks (tomau.models.inception), with torchvision's / pytorch-fid's
          parameter names, so the published file ``pt_inception-2015-12-05-6726825d.pth`` loads unchanged (by path, or by its official
          URL with a sha256-prefix check for users with internet). No weights ship with tomau: **real FID
          needs that file**; without it :func:`fid` stops with a sentence saying so.
Inputs    RGB in [0, 1], resized to 299x299 (bilinear, align_corners=False), scaled to [-1, 1]; features are
          the 2048-d pool3 output (global average pool after Mixed_7c).
Distance  tomau.metrics.frechet.frechet_distance with ``recipe="pytorch-fid"``: d^2 = |mu1 - mu2|^2 +
          Tr(S1 + S2 - 2 sqrtm(S1 S2)) with pytorch-fid's safeguards (an eps offset when the product is singular,
          the real part when rounding leaves tiny imaginary parts).
Statistics (mu, sigma) of a folder are cached as .npz (keyed by the folder's files and the weights), and
a .npz written by ``tomau fid --save-stats`` or pytorch-fid can stand in for a folder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..download import CACHE_DIR, load_state_source
from ..errors import TomauError
from ..models.inception import FIDInceptionV3
from .frechet import feature_statistics, frechet_distance

FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_FILE = FID_WEIGHTS_URL.rsplit("/", 1)[-1]


def load_fid_inception(weights: str | None = None, device="cpu", download: bool = False) -> FIDInceptionV3:
    """The FID network with the published weights: a file path, a URL, or (None) the cached file - which is
    downloaded from the official URL only with ``download`` (nothing in tomau downloads on its own)."""
    if weights is None:
        cached = CACHE_DIR / FID_WEIGHTS_FILE
        if not cached.exists() and not download:
            raise TomauError(f"FID needs the published Inception weights {FID_WEIGHTS_FILE} (92 MB), which tomau does not "
                             f"download by itself: fetch {FID_WEIGHTS_URL} and pass --weights FILE, or pass --download")
        weights = str(cached) if cached.exists() else FID_WEIGHTS_URL
    path, state = load_state_source(weights, "FID Inception weights")
    net = FIDInceptionV3()
    own = net.state_dict()
    for k in own:  # files saved by older PyTorch versions lack BatchNorm's step counter, which inference never uses
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        raise TomauError(f"{path}: not the FID Inception v3 state dict ({FID_WEIGHTS_FILE}): missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]}")
    net.load_state_dict(state)
    net.weights_id = f"{path.name}:{path.stat().st_size}"
    return net.to(device).eval()


# ---- statistics ------------------------------------------------------------------------------------------
def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of Inception features (N, 2048)."""
    return feature_statistics(features, "FID", "thousands")


def image_files(folder: str | Path) -> list[Path]:
    from ..images import IMAGE_EXTENSIONS

    folder = Path(folder)
    if not folder.is_dir():
        raise TomauError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise TomauError(f"{folder}: no images found")
    return files


@torch.inference_mode()
def extract_features(net: nn.Module, files: list[Path], batch_size: int = 50, device="cpu", progress: bool = True) -> np.ndarray:
    """Features of image files, each read as RGB in [0, 1] at its own size (the network resizes to 299)."""
    from ..images import open_image
    from ..progress import progress_bar

    feats = []
    for i in progress_bar(range(0, len(files), batch_size), desc="features", unit="batch", show=progress, leave=False):
        batch = []
        for f in files[i : i + batch_size]:
            try:
                with open_image(f) as im:  # refused from its header when over 100 MP
                    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
            except OSError as err:
                raise TomauError(f"{f}: cannot read the image ({err})") from None
            x = torch.from_numpy(arr).permute(2, 0, 1)[None]
            batch.append(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False))
        feats.append(net(torch.cat(batch).to(device)).float().cpu().numpy())
    return np.concatenate(feats)


def _cache_key(files: list[Path], weights_id: str) -> str:
    h = hashlib.sha256(weights_id.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def folder_statistics(source: str | Path, net: nn.Module, batch_size: int = 50, device="cpu", progress: bool = True,
                      cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of a folder's images, or read from a .npz (keys mu, sigma)."""
    source = Path(source)
    if source.suffix == ".npz":
        from ..files import check_regular, shown

        check_regular(source, "statistics file")
        try:
            with np.load(source, allow_pickle=False) as d:  # a pickled array could run code: refused
                if "mu" not in d or "sigma" not in d:
                    raise TomauError(f"{shown(source)}: not FID statistics (needs arrays mu and sigma)")
                mu, sigma = np.asarray(d["mu"], np.float64), np.asarray(d["sigma"], np.float64)
        except TomauError:
            raise
        except Exception as err:  # noqa: BLE001 - a zip that is not one, pickled objects, a bad array header
            raise TomauError(f"{shown(source)}: not a readable .npz of FID statistics ({type(err).__name__}: {shown(err)})") from None
        if mu.ndim != 1 or sigma.shape != (mu.size, mu.size) or not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise TomauError(f"{shown(source)}: not FID statistics (mu must be a vector and sigma its square covariance, "
                             "finite)")
        return mu, sigma
    files = image_files(source)
    path = CACHE_DIR / "fid_stats" / f"{_cache_key(files, getattr(net, 'weights_id', type(net).__name__))}.npz"
    if cache and path.exists():
        with np.load(path) as d:
            return d["mu"], d["sigma"]
    mu, sigma = statistics(extract_features(net, files, batch_size, device, progress))
    if cache:
        save_statistics(path, mu, sigma)
    return mu, sigma


def save_statistics(path: str | Path, mu: np.ndarray, sigma: np.ndarray) -> None:
    from ..images import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, mu=mu, sigma=sigma))


def fid(a: str | Path, b: str | Path, weights: str | None = None, batch_size: int = 50, device: str = "cpu",
        progress: bool = True, net: nn.Module | None = None) -> float:
    """FID between two folders of images (or .npz statistics). Needs the published Inception weights
    (``weights``: a file or URL; default: the cached file, else the official URL)."""
    both_stats = Path(a).suffix == ".npz" and Path(b).suffix == ".npz"  # statistics need no network
    net = net if net is not None or both_stats else load_fid_inception(weights, device)
    mu1, s1 = folder_statistics(a, net, batch_size, device, progress)
    mu2, s2 = folder_statistics(b, net, batch_size, device, progress)
    return frechet_distance(mu1, s1, mu2, s2, recipe="pytorch-fid")
