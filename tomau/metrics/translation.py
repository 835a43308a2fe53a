"""Scores of image-to-image translation against the true targets (tomau evaluate on a translator)."""
from __future__ import annotations

import numpy as np

from .image import psnr

PIXEL_TOLERANCE = 5  # a pixel is right when none of its R, G, B is off by more than this (of 255)


def translation_scores(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """Means over images of: L1 and RMSE on [0, 1] pixels, PSNR (dB), and pixel accuracy, the share of
    pixels whose largest RGB error is at most PIXEL_TOLERANCE (flat map colours are either right or not)."""
    errs = [np.abs(p.astype(np.float64) - t) for p, t in zip(preds, truths)]
    return {"l1": float(np.mean([e.mean() / 255 for e in errs])),
            "rmse": float(np.mean([np.sqrt((e ** 2).mean()) / 255 for e in errs])),
            "psnr": float(np.mean([psnr(p, t) for p, t in zip(preds, truths)])),
            "pixel_acc": float(np.mean([(e.max(axis=-1) <= PIXEL_TOLERANCE).mean() for e in errs]))}
