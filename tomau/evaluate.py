"""Score a colouriser against ground truth with metrics named in tomau.metrics.METRICS, beside the grey baseline.

Protocol: each colour image is resized to SxS (bicubic, default 256); the model sees only its L;
the grey baseline is the same L with ab = 0. Per-image scores (PSNR, SSIM, CF, |dCF| = |CF(output) - CF(truth)|)
are averaged over images; set scores (FD-lite0, "fd") compare the outputs with the true photos as sets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import color
from .metrics import COLOUR_METRICS, METRICS, Shared, check_names, score


def load_truth(path: Path, size: int) -> np.ndarray:
    from .images import open_image

    with open_image(path) as im:  # refused from its header when over 100 MP
        return np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.uint8)


def grey_baseline(truth_u8: np.ndarray) -> np.ndarray:
    rgb = torch.from_numpy(np.array(truth_u8)).permute(2, 0, 1).float() / 255
    grey = color.rgb_to_gray(rgb)
    return (grey.permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).byte().numpy()


def evaluate_files(colorizer, files: list[Path], size: int = 256, batch_size: int = 16, progress: bool = True,
                   metrics=COLOUR_METRICS, features=None) -> dict:
    """Returns {"model": {name: score}, "grey": {...}, "truth": {...}, "n", "size"} for the ``metrics`` named
    (tomau.metrics.METRICS; default psnr, ssim, cf, dcf). "truth" holds the metrics of images alone (cf) of the truths.

    ``features`` (a tomau.metrics.frechet.FeatureNet) is the network of "fd" (FD-lite0: the Frechet distance of the
    outputs to the true photos on its pooled features); by default the pretrained EfficientNet-Lite0."""
    from .progress import progress_bar

    metrics = check_names(metrics)
    truths, preds = [], []
    bar = progress_bar(total=len(files), desc="evaluating", unit="img", show=progress, leave=False)
    for i in range(0, len(files), batch_size):
        chunk = [load_truth(f, size) for f in files[i : i + batch_size]]
        preds += colorizer.colorize_arrays([c.astype(np.float32) / 255 for c in chunk], batch_size=batch_size)
        truths += chunk
        bar.update(len(chunk))
    bar.close()
    greys = [grey_baseline(t) for t in truths]
    shared = Shared(features, progress)  # the truths' Frechet statistics are computed once for both rows
    return {
        "model": score(metrics, preds, truths, shared),
        "grey": score(metrics, greys, truths, shared),
        "truth": score([n for n in metrics if METRICS[n].of_preds_alone], truths, truths, shared),
        "n": len(files),
        "size": size,
    }
