"""ab quantisation: vectorised lookup agrees with brute force; rebalancing weights favour rare colours."""
import numpy as np
import pytest
import torch

from tomau.colorbins import ABBins
from tomau.errors import TomauError


@pytest.fixture
def bins():
    # a small hull: the grid points inside a disc of radius 60, prior peaked at grey
    g = np.arange(-60, 61, 10)
    pts = np.array([(a, b) for a in g for b in g if a * a + b * b <= 60 * 60])
    prior = np.exp(-(pts**2).sum(1) / 800.0)
    return ABBins(pts, prior / prior.sum())


def test_lookup_matches_brute_force(bins):
    rng = np.random.default_rng(0)
    ab = torch.tensor(rng.uniform(-100, 100, (2, 2, 40, 40)), dtype=torch.float32)
    idx = bins.nearest(ab)
    assert idx.shape == (2, 40, 40)
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    brute = torch.cdist(flat, bins.centres).argmin(1).reshape(2, 40, 40)
    inside = (ab ** 2).sum(1) < 55**2  # cells fully inside the hull: the lookup is exact there
    assert torch.equal(idx[inside], brute[inside])
    got = torch.cdist(flat, bins.centres).gather(1, idx.reshape(-1, 1)).squeeze(1)
    best = torch.cdist(flat, bins.centres).min(1).values
    assert (got - best).max() < 15  # outside the gamut, at most a bin away from the true nearest


def test_rebalancing_weights(bins):
    w = bins.rebalance_weights(lam=0.5)
    assert torch.isclose((bins.prior * w).sum(), torch.tensor(1.0))
    grey = bins.nearest(torch.zeros(2, 1, 1)).item()
    vivid = bins.nearest(torch.tensor([50.0, 0.0]).view(2, 1, 1)).item()
    assert w[vivid] > 2 * w[grey]
    pix = bins.pixel_weights(torch.zeros(1, 2, 4, 4), w)
    assert pix.shape == (1, 1, 4, 4) and torch.allclose(pix, w[grey].expand(1, 1, 4, 4))


def test_bad_bins():
    with pytest.raises(TomauError, match="grid of 10"):
        ABBins(np.array([[1.0, 2.0]]), np.array([1.0]))
