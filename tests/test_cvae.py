"""Diverse colourisation: CVAE + MDN networks, the losses of Deshpande et al. 2017 (Learning Diverse Image Colorization),
two-stage training, sampling from the CLI and API."""
import numpy as np
import pytest
import torch
from PIL import Image

from tomau import colorize, load_model
from tomau.cli import main
from tomau.models.cvae import CVAEConfig, DiverseColorizer, mdn_loss, vae_loss


def tiny(use_mdn=True):
    return DiverseColorizer(CVAEConfig(width=0.0625, hidden=8, nmix=4, use_mdn=use_mdn))


def test_seed_architecture_at_full_width():
    g = DiverseColorizer(CVAEConfig())
    assert [b[0].out_channels for b in g.vae.enc] == [128, 256, 512, 1024]
    assert [b[0].kernel_size[0] for b in g.vae.cond] == [5, 5, 5, 3]
    assert g.vae.enc_fc.in_features == 4 * 4 * 1024 and g.vae.enc_fc.out_features == 128
    assert g.vae.dec[0][0].in_channels == 1024 + 64 and g.vae.dec_out.out_channels == 2
    assert g.mdn.fc.out_features == (64 + 1) * 8


def test_sampling_is_ordered_by_mixture_weight_and_deterministic():
    g = tiny().eval()
    l = torch.randn(3, 1, 64, 64)
    samples = g.sample(l, 4)
    assert samples.shape == (3, 4, 2, 64, 64) and samples.abs().max() < 1
    mu, pi, feats = g.mixture(l)
    top = pi.argmax(1)
    expected = g.vae.decode(mu[torch.arange(3), top], feats)
    assert torch.allclose(samples[:, 0], expected, atol=1e-5)
    assert torch.allclose(g(l), samples[:, 0])
    assert torch.equal(g.sample(l, 4), samples)
    with pytest.raises(ValueError, match="at most 4 samples"):
        g.sample(l, 5)


def test_prior_sampling_without_mdn_is_seeded():
    g = tiny(use_mdn=False).eval()
    l = torch.randn(1, 1, 64, 64)
    a = g.sample(l, 3, torch.Generator().manual_seed(1))
    b = g.sample(l, 3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a[:, 1], a[:, 2])


def test_losses_known_values():
    mu, logvar = torch.zeros(2, 8), torch.zeros(2, 8)
    gt = torch.zeros(2, 2, 64, 64)
    pred = torch.full_like(gt, 0.5)
    w = torch.full((2, 1, 64, 64), 2.0)
    total, kl, recon = vae_loss(mu, logvar, pred, gt, w)
    assert kl.item() == 0  # N(0, I) posterior: no KL
    assert recon.item() == pytest.approx(np.sqrt(2 * 64 * 64 * 0.25 * 2))
    assert total.item() == pytest.approx(recon.item())
    gmm_mu = torch.stack([torch.zeros(8), torch.full((8,), 5.0)])[None].repeat(2, 1, 1)  # (2, 2, 8)
    pi = torch.tensor([[0.25, 0.75], [0.25, 0.75]])
    # z = mu exactly (logvar -> -inf): nearest mean is component 0 at distance 0
    loss = mdn_loss(gmm_mu, pi, torch.zeros(2, 8), torch.full((2, 8), -60.0))
    assert loss.item() == pytest.approx(-np.log(0.25), abs=1e-4)


def test_two_stage_training_and_sampling(tmp_path, colour_folder, zhang_bins, capsys):
    common = ["--data", str(colour_folder), "--out", str(tmp_path), "--steps", "2", "--batch-size", "4", "--workers", "0",
              "--ckpt-every", "2", "--width", "0.0625", "-q"]
    assert main(["train", "cvae", *common, "--hidden", "8", "--bins", str(zhang_bins), "--name", "v"]) == 0
    assert main(["train", "mdn", *common, "--nmix", "4", "--name", "m"]) == 2
    assert "pass --vae RUN" in capsys.readouterr().err
    assert main(["train", "mdn", *common, "--nmix", "4", "--vae", str(tmp_path / "v"), "--name", "m2"]) == 0
    with Image.open(tmp_path / "m2" / "samples" / "step_0000002.png") as grid:
        assert grid.size[1] == 6 * 130 + 2  # rows: grey, truth, 4 colourings; 64 px shown 2x as 128
    vae_w = load_model(str(tmp_path / "v")).net.vae.state_dict()
    mdn_model = load_model(str(tmp_path / "m2"))
    assert all(torch.allclose(v.float(), mdn_model.net.vae.state_dict()[k].float(), atol=1e-3) for k, v in vae_w.items())

    photo = tmp_path / "in" / "grey.jpg"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 70), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    assert main(["colorize", str(photo), "-o", str(out), "-m", str(tmp_path / "m2"), "--samples", "3", "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["grey_00.jpg", "grey_01.jpg", "grey_02.jpg"]
    assert Image.open(out / "grey_01.jpg").size == (70, 90)  # full resolution
    assert main(["colorize", str(photo), "-o", str(tmp_path / "out9"), "-m", str(tmp_path / "m2"), "--samples", "9", "-q"]) == 2
    assert "at most 4 samples" in capsys.readouterr().err

    outs = colorize(Image.open(photo), str(tmp_path / "v"), samples=3, seed=5)
    again = colorize(Image.open(photo), str(tmp_path / "v"), samples=3, seed=5)
    assert isinstance(outs, list) and len(outs) == 3
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(outs, again))


def test_samples_need_a_diverse_model(tmp_path, tiny_model_file, capsys):
    photo = tmp_path / "g.png"
    Image.new("L", (40, 40), 100).save(photo)
    assert main(["colorize", str(photo), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file), "--samples", "2"]) == 2
    assert "--samples needs a diverse model" in capsys.readouterr().err
