"""Every score tomau reports, one module per kind, and the registry of the scores of images by name.

image.py        PSNR, SSIM, colourfulness (CF), false colour of one uint8 RGB image against its truth (colourisers)
translation.py  L1, RMSE and pixel accuracy of one translated image against its target
frechet.py      the Frechet distance of two Gaussians (pytorch-fid's exact recipe as an option), and FD-lite0 on
                pretrained EfficientNet-Lite0 features (no download)
fid.py          FID: the Frechet distance on Inception v3 pool3 features (tomau.models.inception; needs its weights)
swd.py          sliced Wasserstein distance of Laplacian-pyramid patches (ProGAN's; no network)

Every metric in ``METRICS`` has one signature, ``score(preds, truths, shared) -> float``: ``preds`` and ``truths``
are lists of uint8 RGB arrays (H, W, 3) - ``truths[i]`` is the truth of ``preds[i]`` for the paired scores, the real
images for the set scores (FD-lite0, SWD) - and ``shared`` is a :class:`Shared` (a feature network and statistics
reused between the calls of one evaluation). Adding a metric is that function and one entry in ``METRICS``:
``tomau evaluate --metrics``, its table, the benchmarks and the families' validation take lists of these names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .image import cf, colourfulness, dcf, false_colour, psnr, ssim
from .translation import l1, pixel_accuracy, rmse


class Shared:
    """What the metrics of one evaluation share: FD-lite0's feature network (a tomau.metrics.frechet.FeatureNet,
    built on first use) and the feature statistics of each image list already seen, so the truths are encoded once
    however many outputs are scored against them (a list is recognised by identity: do not change it in between)."""

    def __init__(self, features=None, progress: bool = False):
        self._features, self.progress = features, progress
        self._statistics: dict[int, tuple[list, tuple[np.ndarray, np.ndarray]]] = {}

    @property
    def features(self):
        if self._features is None:
            from .frechet import FeatureNet

            self._features = FeatureNet()
        return self._features

    def feature_statistics(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of the feature network's features of ``images``."""
        if id(images) not in self._statistics:
            from ..progress import progress_bar
            from .frechet import feature_statistics

            out = []
            # a set's features take about as long as colouring it: a bar, not minutes of silence
            with progress_bar(total=len(images), desc="Frechet features", unit="img", show=self.progress, leave=False) as bar:
                for i in range(0, len(images), 32):
                    out.append(self.features(images[i : i + 32]))
                    bar.update(len(images[i : i + 32]))
            self._statistics[id(images)] = (images, feature_statistics(np.concatenate(out)))  # the list kept: its id stays its own
        return self._statistics[id(images)][1]


def per_image(score: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[list, list, Shared], float]:
    """A metric from a score of one image against its truth: the mean over the pairs."""

    def mean_score(preds: list[np.ndarray], truths: list[np.ndarray], shared: Shared) -> float:
        return float(np.mean([score(p, t) for p, t in zip(preds, truths)]))

    mean_score.__name__ = mean_score.__qualname__ = f"mean_{score.__name__}"
    mean_score.__doc__ = f"The mean over image pairs of {score.__module__}.{score.__name__}."
    return mean_score


# the two metrics of PyTorch networks and tensors are imported when called: the names stay readable without PyTorch
# (tomau --help and the argument parsers list them)
def _fd_lite0(preds, truths, shared):
    from .frechet import fd_lite0

    return fd_lite0(preds, truths, shared)


def _swd(preds, truths, shared):
    from .swd import swd

    return swd(preds, truths, shared)


@dataclass(frozen=True)
class Metric:
    score: Callable[[list, list, Shared], float]
    label: str  # the table's column heading
    fmt: str  # how tables print it (a format spec)
    better: str  # "higher", "lower", or what to compare it with
    of_preds_alone: bool = False  # it looks at the outputs only, so the truths' own row shows it too (colourfulness)


METRICS: dict[str, Metric] = {
    "psnr": Metric(per_image(psnr), "PSNR dB", ".2f", "higher"),
    "ssim": Metric(per_image(ssim), "SSIM", ".3f", "higher"),
    "cf": Metric(per_image(cf), "CF", ".1f", "closer to the truth's", of_preds_alone=True),
    "dcf": Metric(per_image(dcf), "|dCF|", ".1f", "lower"),
    "false_colour": Metric(per_image(false_colour), "false col %", ".2f", "lower"),
    "fd": Metric(_fd_lite0, "FD-lite0", ".2f", "lower"),
    "l1": Metric(per_image(l1), "L1", ".4f", "lower"),
    "rmse": Metric(per_image(rmse), "RMSE", ".4f", "lower"),
    "pixel_acc": Metric(per_image(pixel_accuracy), "pixel acc", ".3f", "higher"),
    "swd": Metric(_swd, "SWD x1e3", ".2f", "lower"),
}
COLOUR_METRICS = ("psnr", "ssim", "cf", "dcf")  # a colouriser's scores against colour truth; "fd" too where time allows
TRANSLATION_METRICS = ("l1", "rmse", "psnr", "pixel_acc")  # a translator's against its targets


def check_names(names) -> list[str]:
    """The names as a list, each one of METRICS (a TomauError in one sentence otherwise)."""
    from ..errors import TomauError

    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise TomauError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    return names


def score(names, preds: list[np.ndarray], truths: list[np.ndarray], shared: Shared | None = None) -> dict[str, float]:
    """{name: value} of the named metrics of ``preds`` against ``truths`` (lists of uint8 RGB arrays)."""
    shared = shared if shared is not None else Shared()
    return {n: METRICS[n].score(preds, truths, shared) for n in check_names(names)}


def format_table(rows: list[tuple[str, dict]], names, truth: dict | None = None, label_width: int = 24) -> str:
    """A plain-text table: one line per (label, {name: value}) row, a column per metric name (its heading and format
    from METRICS); ``truth`` adds a "ground truth" row of the metrics that look at images alone."""
    names = [n for n in check_names(names) if all(n in r for _, r in rows)]
    widths = {n: max(8, len(METRICS[n].label) + 2) for n in names}
    lines = [f"{'':<{label_width}}" + "".join(f"{METRICS[n].label:>{widths[n]}}" for n in names)]
    for label, r in rows:
        lines.append(f"{label:<{label_width}}" + "".join(f"{r[n]:>{widths[n]}{METRICS[n].fmt}}" for n in names))
    if truth:
        cells = [f"{truth[n]:>{widths[n]}{METRICS[n].fmt}}" if n in truth else " " * widths[n] for n in names]
        lines.append((f"{'ground truth':<{label_width}}" + "".join(cells)).rstrip())
    return "\n".join(lines)


def markdown_table(rows: list[tuple[str, dict]], names, first: str = "model", extra: tuple[tuple[str, str], ...] = ()) -> str:
    """The same as a Markdown table (the benchmarks' form); ``extra``: (heading, key) columns printed as given."""
    names = check_names(names)
    head = [first] + [METRICS[n].label.replace("|", "\\|") for n in names] + [h for h, _ in extra]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for label, r in rows:
        cells = [format(r[n], METRICS[n].fmt) if n in r else "" for n in names] + [str(r.get(k, "")) for _, k in extra]
        lines.append("| " + " | ".join([label] + cells) + " |")
    return "\n".join(lines)


__all__ = ["COLOUR_METRICS", "METRICS", "Metric", "Shared", "TRANSLATION_METRICS", "check_names", "colourfulness", "format_table",
           "markdown_table", "per_image", "psnr", "score", "ssim"]
