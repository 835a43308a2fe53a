"""Quantised ab space (Zhang et al., "Colorful Image Colorization", 2016): 313 in-gamut bins on a grid of 10.

Used for class-rebalancing weights (rare, saturated colours weigh more than the common greyish ones)
by the colourisation losses and by the diverse CVAE. Files: ``pts_in_hull.npy`` (313 x 2 bin centres, Lab
units) and ``prior_probs.npy`` (313 empirical ImageNet frequencies), e.g. from ../shared/data/zhang/.

Nearest-bin lookup is vectorised through a lookup table over the whole grid: an ab value is rounded to
its grid cell (the nearest grid point, since the grid is square); a cell that holds a bin maps to it, and
an out-of-gamut cell maps to the bin nearest to the cell's centre.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import TomauError

GRID = 10.0  # bin spacing in ab units
HALF_EXTENT = 120  # the table covers ab in [-120, 120]


class ABBins:
    def __init__(self, centres: np.ndarray, prior: np.ndarray):
        centres, prior = np.asarray(centres, np.float64), np.asarray(prior, np.float64)
        if centres.ndim != 2 or centres.shape[1] != 2 or prior.shape != (len(centres),):
            raise TomauError(f"ab bins need centres (Q, 2) and a prior (Q,), got {centres.shape} and {prior.shape}")
        if np.any(np.abs(centres / GRID - np.round(centres / GRID)) > 1e-6):
            raise TomauError(f"ab bin centres must lie on a grid of {GRID:g}")
        self.centres = torch.tensor(centres, dtype=torch.float32)
        self.prior = torch.tensor(prior / prior.sum(), dtype=torch.float32)
        n = 2 * HALF_EXTENT // int(GRID) + 1
        grid = (np.arange(n) * GRID - HALF_EXTENT)
        cells = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)  # (n*n, 2): (a, b)
        nearest = np.argmin(((cells[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        self.table = torch.tensor(nearest.reshape(n, n), dtype=torch.long)
        self.n = n

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ABBins":
        from .files import check_regular

        folder = Path(folder)
        try:
            names = [check_regular(folder / name, "bins file") for name in ("pts_in_hull.npy", "prior_probs.npy")]  # not a FIFO
            return cls(*(np.load(name, allow_pickle=False) for name in names))
        except (OSError, TomauError, ValueError) as err:
            raise TomauError(f"{folder}: needs pts_in_hull.npy and prior_probs.npy ({err})") from None

    def __len__(self) -> int:
        return len(self.centres)

    def nearest(self, ab: torch.Tensor) -> torch.Tensor:
        """ab in Lab units, (..., 2, H, W) -> bin index (..., H, W), long."""
        idx = torch.round((ab + HALF_EXTENT) / GRID).long().clamp_(0, self.n - 1)
        table = self.table.to(ab.device)
        return table[idx.select(-3, 0), idx.select(-3, 1)]

    def rebalance_weights(self, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
        """Zhang et al.'s weights: w ~ ((1 - lam) * p_smooth + lam / Q)^-1, scaled so E_p[w] = 1.

        p_smooth is the prior blurred by a Gaussian of ``sigma`` ab units over the bin centres."""
        d2 = torch.cdist(self.centres, self.centres) ** 2
        kernel = torch.exp(-d2 / (2 * sigma**2))
        smooth = kernel @ self.prior / kernel.sum(1)
        smooth = smooth / smooth.sum()
        w = 1.0 / ((1 - lam) * smooth + lam / len(self))
        return w / (self.prior * w).sum()

    def pixel_weights(self, ab: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Per-pixel weight of the bin each ab value falls in: (..., 2, H, W) -> (..., 1, H, W)."""
        return weights.to(ab.device)[self.nearest(ab)].unsqueeze(-3)
