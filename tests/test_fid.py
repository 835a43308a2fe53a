"""FID (Heusel et al. 2017, computed as pytorch-fid does). The published Inception weights are not available offline,
so the network is checked by its layout and a state dict made here, and the one Frechet distance (both recipes) by
closed-form answers."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

import tomau.metrics.fid as fidmod
from tomau.cli import main
from tomau.errors import TomauError
from tomau.metrics.fid import fid, load_fid_inception
from tomau.metrics.frechet import RECIPES, frechet_distance
from tomau.models.inception import FIDInceptionV3

from .conftest import colour_image


@pytest.mark.parametrize("recipe", RECIPES)
def test_equal_covariances_give_the_squared_distance_of_means(recipe):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert frechet_distance(mu1, sigma, mu2, sigma, recipe) == pytest.approx(((mu1 - mu2) ** 2).sum(), abs=1e-6)


@pytest.mark.parametrize("recipe", RECIPES)
def test_closed_forms(recipe):
    # diagonal covariances: sum (sqrt a - sqrt b)^2 beside the means' term
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), recipe) == pytest.approx(expected, abs=1e-8)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]]), recipe) == pytest.approx(4 + 1)
    # a rotation of the same Gaussian: S2 = R S1 R^T; Tr sqrtm(S1 S2) has no simple form, but d(S, S) = 0
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 5))
    s = m @ m.T
    assert frechet_distance(np.zeros(5), s, np.zeros(5), s, recipe) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TomauError, match="different sizes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3), recipe)


def test_the_two_recipes_agree_and_fid_uses_pytorch_fids(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) * 1.3 + 0.2
    stats = [(f.mean(0), np.cov(f, rowvar=False)) for f in (x, y)]
    eigh, exact = (frechet_distance(*stats[0], *stats[1], recipe) for recipe in RECIPES)
    assert eigh == pytest.approx(exact, rel=1e-9)
    with pytest.raises(ValueError, match="unknown recipe"):
        frechet_distance(*stats[0], *stats[1], "sqrtm")
    recipes = []

    def spy(*args, **kwargs):
        recipes.append(kwargs.get("recipe"))
        return frechet_distance(*args, **kwargs)

    monkeypatch.setattr(fidmod, "frechet_distance", spy)
    for name, (mu, sigma) in zip("ab", stats):
        np.savez(tmp_path / f"{name}.npz", mu=mu, sigma=sigma)
    assert fid(tmp_path / "a.npz", tmp_path / "b.npz", net=object()) == exact  # published FIDs: pytorch-fid's computation
    assert recipes == ["pytorch-fid"]


def test_network_layout_matches_the_published_file():
    net = FIDInceptionV3().eval()
    state = net.state_dict()
    # torchvision / pytorch-fid names and the 1008-class fc of the TF graph
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert sum(p.numel() for p in net.parameters()) == 23_850_960  # torchvision inception_v3 without aux, 1008 classes
    with torch.no_grad():
        assert net(torch.rand(2, 3, 64, 48)).shape == (2, 2048)


@pytest.fixture
def weights_file(tmp_path):
    """A state dict with the published file's keys, as an older PyTorch saved it (no num_batches_tracked)."""
    torch.manual_seed(0)
    state = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "inception.pth"
    torch.save(state, path)
    return path


def test_weights_load_by_path_and_by_hash_checked_url(weights_file, tmp_path, monkeypatch):
    net = load_fid_inception(str(weights_file))
    ref = torch.load(weights_file)
    assert torch.equal(net.state_dict()["Mixed_5b.branch1x1.conv.weight"], ref["Mixed_5b.branch1x1.conv.weight"])
    monkeypatch.setattr("tomau.download.CACHE_DIR", tmp_path / "cache")
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    good = tmp_path / f"pt_inception-2015-12-05-{digest[:8]}.pth"
    good.write_bytes(weights_file.read_bytes())
    load_fid_inception(good.as_uri())
    bad = tmp_path / "pt_inception-2015-12-05-00000000.pth"
    bad.write_bytes(weights_file.read_bytes())
    with pytest.raises(TomauError, match="does not match"):
        load_fid_inception(bad.as_uri())
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    with pytest.raises(TomauError, match="not the FID Inception"):
        load_fid_inception(str(wrong))


def _folder(path, seeds, size=32):
    path.mkdir()
    for i in seeds:
        Image.fromarray(colour_image(i, size)).save(path / f"{i}.png")
    return path


class MeanColour(torch.nn.Module):
    """A stand-in for Inception (as pytorch-fid's tests mock it): an image's features are its mean R, G, B."""

    weights_id = "mean-colour"

    def forward(self, images):
        return images.mean((2, 3))


def _shifted_folder(path, seeds, red=0):
    """Images with red halved (so + red stays below 255): folders that differ by a known colour shift."""
    path.mkdir()
    for i in seeds:
        img = colour_image(i, 32)
        img[..., 0] = img[..., 0] // 2 + red
        Image.fromarray(img).save(path / f"{i}.png")
    return path


def test_fid_end_to_end_with_cached_statistics(tmp_path, monkeypatch):
    """Known answers: a folder against itself is 0; the same images with red raised by 40 have the same covariance
    and means 40/255 apart in R (resizing is linear), so FID = (40/255)^2."""
    monkeypatch.setattr(fidmod, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(fidmod, "load_fid_inception", lambda weights=None, device="cpu", **kw: MeanColour())
    a = _shifted_folder(tmp_path / "a", range(6))
    b = _shifted_folder(tmp_path / "b", range(6), red=40)
    net = MeanColour()
    assert fid(a, a, net=net, progress=False) == pytest.approx(0.0, abs=1e-9)
    assert fid(a, b, net=net, progress=False) == pytest.approx((40 / 255) ** 2, rel=1e-4)
    cached = list((tmp_path / "cache" / "fid_stats").glob("*.npz"))
    assert len(cached) == 2  # one per folder, read back below instead of running the network again
    stats = tmp_path / "a.npz"
    assert main(["fid", str(a), "--save-stats", str(stats), "-q"]) == 0
    mu, sigma = fidmod.folder_statistics(stats, net)  # a .npz stands in for its folder
    mu_a, sigma_a = fidmod.folder_statistics(a, net)
    assert mu.shape == (3,) and sigma.shape == (3, 3)
    assert np.allclose(mu, mu_a) and np.allclose(sigma, sigma_a)
    assert main(["fid", str(stats), str(b), "-q"]) == 0


def test_missing_weights_are_one_clear_sentence(tmp_path, capsys):
    assert main(["fid", str(tmp_path), str(tmp_path), "--weights", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err
    assert "no such FID Inception weights file" in err and err.count("\n") == 1


def test_nothing_downloads_on_its_own(tmp_path, capsys, monkeypatch):
    """Without --weights and no cached file, `tomau fid` names the file and its URL and touches no network."""
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("tomau tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(fidmod, "CACHE_DIR", tmp_path / "empty_cache")
    assert main(["fid", str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert fidmod.FID_WEIGHTS_URL in err and "--weights" in err and "--download" in err and err.count("\n") == 1
