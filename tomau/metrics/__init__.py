"""Every score tomau reports, one module per kind, and a registry by name.

image.py        PSNR, SSIM, colourfulness (CF) of one uint8 RGB image against its truth (colourisers)
translation.py  L1, RMSE, PSNR and pixel accuracy of translated images against their targets
frechet.py      FD-lite0: Frechet distance on pretrained EfficientNet-Lite0 features (no download)
fid.py          FID: the Frechet distance on Inception v3 pool3 features (tomau.models.inception; needs its weights)
swd.py          sliced Wasserstein distance of Laplacian-pyramid patches (ProGAN's; no network)
"""
from __future__ import annotations

from importlib import import_module

from .image import colourfulness, psnr, ssim

# name -> (module:function, what it compares, lower or higher is better)
METRICS = {
    "psnr": ("image:psnr", "an image and its truth, uint8 RGB", "higher"),
    "ssim": ("image:ssim", "an image and its truth, uint8 RGB", "higher"),
    "colourfulness": ("image:colourfulness", "one uint8 RGB image", "closer to the truth's"),
    "translation": ("translation:translation_scores", "lists of uint8 RGB images and their targets", "lower L1"),
    "fd-lite0": ("frechet:image_set_distance", "two lists of uint8 RGB images", "lower"),
    "fid": ("fid:fid", "two folders (or .npz statistics)", "lower"),
    "swd": ("swd:sliced_wasserstein_distance", "two uint8 image batches (N, 3, S, S)", "lower"),
}


def metric(name: str):
    """The function of a metric by name (its module is imported on first use)."""
    from ..errors import TomauError

    if name not in METRICS:
        raise TomauError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    module, func = METRICS[name][0].split(":")
    return getattr(import_module(f"{__name__}.{module}"), func)


__all__ = ["METRICS", "colourfulness", "metric", "psnr", "ssim"]
