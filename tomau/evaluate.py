"""Score a colouriser against ground truth: PSNR, SSIM, colourfulness, beside the grey baseline.

Protocol: each colour image is resized to SxS (bicubic, default 256); the model sees only its L;
the grey baseline is the same L with ab = 0. |dCF| is the per-image |CF(output) - CF(truth)|,
averaged over images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import color
from .metrics import colourfulness, psnr, ssim


def load_truth(path: Path, size: int) -> np.ndarray:
    from .images import open_image

    with open_image(path) as im:  # refused from its header when over 100 MP
        return np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.uint8)


def grey_baseline(truth_u8: np.ndarray) -> np.ndarray:
    rgb = torch.from_numpy(np.array(truth_u8)).permute(2, 0, 1).float() / 255
    grey = color.rgb_to_gray(rgb)
    return (grey.permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).byte().numpy()


def _summary(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    cf_pred = np.array([colourfulness(p) for p in preds])
    cf_true = np.array([colourfulness(t) for t in truths])
    return {
        "psnr": float(np.mean([psnr(p, t) for p, t in zip(preds, truths)])),
        "ssim": float(np.mean([ssim(p, t) for p, t in zip(preds, truths)])),
        "cf": float(cf_pred.mean()),
        "dcf": float(np.abs(cf_pred - cf_true).mean()),
    }


def evaluate_files(colorizer, files: list[Path], size: int = 256, batch_size: int = 16, progress: bool = True,
                   frechet=None) -> dict:
    """Returns {"model": {psnr, ssim, cf, dcf}, "grey": {...}, "truth": {"cf"}, "n", "size"}.

    With ``frechet`` (a tomau.metrics.frechet.FeatureNet, or True for the default one) "model" and "grey" also get
    ``fd``: the Frechet distance of their images to the true photos on that network's pooled features."""
    from tqdm import tqdm

    truths, preds = [], []
    bar = tqdm(total=len(files), desc="evaluating", unit="img", disable=not progress or None, leave=False)
    for i in range(0, len(files), batch_size):
        chunk = [load_truth(f, size) for f in files[i : i + batch_size]]
        preds += colorizer.colorize_arrays([c.astype(np.float32) / 255 for c in chunk], batch_size=batch_size)
        truths += chunk
        bar.update(len(chunk))
    bar.close()
    greys = [grey_baseline(t) for t in truths]
    model, grey = _summary(preds, truths), _summary(greys, truths)
    if frechet:
        from .metrics.frechet import FeatureNet, feature_statistics, frechet_distance

        net = frechet if isinstance(frechet, FeatureNet) else FeatureNet()
        # the features of 3 sets take as long as the colouring: a bar of their own, not minutes of silence
        fbar = tqdm(total=3 * len(truths), desc="Frechet features", unit="img", disable=not progress or None, leave=False)

        def features(images: list[np.ndarray]) -> np.ndarray:
            out = []
            for i in range(0, len(images), 32):
                out.append(net(images[i : i + 32]))
                fbar.update(len(images[i : i + 32]))
            return np.concatenate(out)

        true_stats = feature_statistics(features(truths))
        model["fd"] = frechet_distance(*feature_statistics(features(preds)), *true_stats)
        grey["fd"] = frechet_distance(*feature_statistics(features(greys)), *true_stats)
        fbar.close()
    return {
        "model": model,
        "grey": grey,
        "truth": {"cf": float(np.mean([colourfulness(t) for t in truths]))},
        "n": len(files),
        "size": size,
    }
