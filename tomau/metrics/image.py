"""Image-quality metrics for colourisation, on uint8 RGB arrays (H, W, 3).

PSNR   peak signal-to-noise ratio over the three RGB channels, data range 255, in dB.
SSIM   structural similarity (Wang et al. 2004, Gaussian window sigma 1.5), scikit-image's
       implementation, computed per channel and averaged.
CF     colourfulness of Hasler & Suesstrunk (2003): rg = R - G, yb = (R + G) / 2 - B,
       CF = sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2) on 0..255 values.
       Grey images score 0; real photos of imagenette val score about 38.
|dCF|  |CF(output) - CF(truth)| of one image.
false colour  the share (%) of pixels coloured (CIELAB chroma sqrt(a^2 + b^2) >= 20) where the truth is nearly grey
       (chroma <= 8): colour invented where there is none, e.g. red blotches on a dark coat or a grey wall.
"""
from __future__ import annotations

import numpy as np


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(pred, truth, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def colourfulness(rgb: np.ndarray) -> float:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def cf(pred: np.ndarray, truth: np.ndarray) -> float:
    """The output's colourfulness (the truth is not looked at)."""
    return colourfulness(pred)


FALSE_COLOUR_CHROMA, TRUE_GREY_CHROMA = 20.0, 8.0


def chroma(rgb: np.ndarray) -> np.ndarray:
    """CIELAB chroma sqrt(a^2 + b^2) (D65, OpenCV's float conversion) of a uint8 RGB image, per pixel."""
    import cv2

    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return np.hypot(lab[..., 1], lab[..., 2])


def nearly_grey(truth: np.ndarray) -> np.ndarray:
    """Where the truth has chroma <= 8: the pixels on which colour counts as false (a mask, per pixel)."""
    return chroma(truth) <= TRUE_GREY_CHROMA


def false_colour_on(pred: np.ndarray, grey: np.ndarray) -> float:
    """The percentage of pixels with chroma >= 20 in the output among all pixels, counted where ``grey``
    (:func:`nearly_grey` of the truth, computed once when one truth is scored against many outputs)."""
    return float(100.0 * np.mean((chroma(pred) >= FALSE_COLOUR_CHROMA) & grey))


def false_colour(pred: np.ndarray, truth: np.ndarray) -> float:
    """The percentage of pixels with chroma >= 20 in the output and <= 8 in the truth."""
    return false_colour_on(pred, nearly_grey(truth))


def dcf(pred: np.ndarray, truth: np.ndarray) -> float:
    """|CF(output) - CF(truth)|: too grey and too garish both count."""
    return abs(colourfulness(pred) - colourfulness(truth))
