"""Scores of one translated image against its true target (tomau evaluate on a translator), uint8 RGB (H, W, 3).

L1 and RMSE are on [0, 1] pixels; pixel accuracy is the share of pixels whose largest RGB error is at most
PIXEL_TOLERANCE (flat map colours are either right or not). PSNR is tomau.metrics.image.psnr. tomau.metrics.METRICS
averages each over the images.
"""
from __future__ import annotations

import numpy as np

PIXEL_TOLERANCE = 5  # a pixel is right when none of its R, G, B is off by more than this (of 255)


def _error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.abs(pred.astype(np.float64) - truth)


def l1(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(_error(pred, truth).mean() / 255)


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt((_error(pred, truth) ** 2).mean()) / 255)


def pixel_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((_error(pred, truth).max(axis=-1) <= PIXEL_TOLERANCE).mean())


def translation_scores(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """Means over images of L1, RMSE, PSNR (dB) and pixel accuracy: tomau.metrics.TRANSLATION_METRICS."""
    from . import TRANSLATION_METRICS, score

    return score(TRANSLATION_METRICS, preds, truths)
