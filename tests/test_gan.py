"""The DCGAN networks of the Zalo AI Challenge Motorbike Generator write-up (RaLSGAN), the four losses, padded data,
training, generation, SWD."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main
from tomau.data import SquareImageFolder
from tomau.generation import generate, generate_batches, load_generator
from tomau.losses import adversarial_loss
from tomau.metrics.swd import laplacian_pyramid, sliced_wasserstein_distance
from tomau.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator

from .conftest import colour_image


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_networks_match_the_seed_at_128():
    cfg = DCGANConfig(image_size=128)
    g, d = DCGANGenerator(cfg), DCGANDiscriminator(cfg)
    assert n_params(g) == 13_275_939 and n_params(d) == 2_796_800  # the write-up's printed model summaries
    x = g(torch.randn(3, 128))
    assert x.shape == (3, 3, 128, 128) and x.abs().max() <= 1
    assert d(x).shape == (3, 1)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules())  # logits, for RaLSGAN


def test_64_stops_one_block_earlier():
    cfg = DCGANConfig(image_size=64)
    assert DCGANGenerator(cfg)(torch.randn(2, 128)).shape == (2, 3, 64, 64)
    assert DCGANDiscriminator(cfg)(torch.zeros(2, 3, 64, 64)).shape == (2, 1)
    with pytest.raises(ValueError, match="power of two"):
        DCGANConfig(image_size=96).validate()


def test_losses_known_values():
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-1.0], [1.0]])
    # RaLSGAN (Jolicoeur-Martineau 2018) with the write-up's formulas: mean C(r) = 1, mean C(f) = 0
    d, g = adversarial_loss("ralsgan", real, fake)
    r_rel, f_rel = real - 0.0, fake - 1.0
    assert d.item() == pytest.approx(0.5 * (((r_rel - 1) ** 2).mean() + ((f_rel + 1) ** 2).mean()).item())
    assert g.item() == pytest.approx(0.5 * (((r_rel + 1) ** 2).mean() + ((f_rel - 1) ** 2).mean()).item())
    # label smoothing changes the relativistic margin
    d8, _ = adversarial_loss("ralsgan", real, fake, real_label=0.8)
    assert d8.item() == pytest.approx(0.5 * (((r_rel - 0.8) ** 2).mean() + ((f_rel + 0.8) ** 2).mean()).item())
    d, g = adversarial_loss("hinge", real, fake)
    assert d.item() == pytest.approx((0.0 + 1.0) / 2 + (0.0 + 2.0) / 2) and g.item() == pytest.approx(0.0)
    d, g = adversarial_loss("lsgan", real, fake)
    assert d.item() == pytest.approx(0.5 * ((1 + 1) / 2 + (1 + 1) / 2)) and g.item() == pytest.approx(0.5 * (4 + 0) / 2)
    d, g = adversarial_loss("standard", torch.zeros(4, 1), torch.zeros(4, 1))
    assert d.item() == pytest.approx(2 * np.log(2)) and g.item() == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        adversarial_loss("wgan", real, fake)


def test_padding_keeps_the_aspect_ratio(tmp_path):
    wide = np.full((20, 60, 3), 200, np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    x = SquareImageFolder([tmp_path / "wide.png"], 30, fit="pad")[0]
    assert x.shape == (3, 30, 30)
    assert x[:, :4].max() == 0 and x[:, -4:].max() == 0  # black bands above and below
    assert x[:, 12:18].min() >= 190  # the picture, unstretched, in the middle
    stretched = SquareImageFolder([tmp_path / "wide.png"], 30, fit="stretch")[0]
    assert stretched.min() >= 190
    flips = {SquareImageFolder([tmp_path / "wide.png"], 30)[(0, s)].float().sum().item() for s in range(20)}
    assert len(flips) >= 2  # random rotation changes some samples


def test_train_resume_generate_cli(flower_folder, tmp_path, capsys):
    common = ["train", "gan", "--data", str(flower_folder), "--image-size", "16", "--g-width", "64", "--d-width", "32",
              "--batch-size", "8", "--out", str(tmp_path / "runs"), "--name", "g", "--workers", "0", "-q",
              "--val-data", str(flower_folder), "--val-images", "8", "--ckpt-every", "2", "--sample-every", "2"]
    assert main(common + ["--steps", "2", "--loss", "ralsgan", "--real-label", "0.8"]) == 0
    run = tmp_path / "runs" / "g"
    assert main(["train", "gan", "--resume", str(run), "--steps", "4", "-q"]) == 0
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and "val_swd" in rows[-1]
    assert all(np.isfinite(r.get("D", 0)) for r in rows)
    grid = Image.open(run / "samples" / "step_0000004.png")
    assert grid.size == (8 * 130 + 2, 8 * 130 + 2)  # 8 x 8 images from the fixed z, each 16 px shown 8x as 128
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["loss"] == "ralsgan" and cfg["model"]["real_label"] == 0.8

    out = tmp_path / "fakes"
    assert main(["generate", "--model", str(run), "--n", "12", "-o", str(out), "--batch-size", "5", "-q"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files[:2]] == ["00000.png", "00001.png"] and len(files) == 12
    assert Image.open(files[0]).size == (16, 16)
    # image i is the same whatever n and batch size are
    net, config = load_generator(str(run))
    assert config["task"] == "generate"
    again = generate(net, 3, seed=0, batch_size=2)
    assert np.array_equal(np.asarray(again[2]), np.asarray(Image.open(files[2])))
    assert main(["swd", str(flower_folder), str(out), "--size", "16"]) == 0
    assert "SWD" in capsys.readouterr().out


def test_gan_flags_are_checked(flower_folder, tmp_path, capsys):
    assert main(["train", "gan", "--data", str(flower_folder), "--ngf", "8", "--out", str(tmp_path)]) == 2
    assert "--ngf applies to" in capsys.readouterr().err
    assert main(["train", "gan", "--data", str(flower_folder), "--image-size", "48", "--out", str(tmp_path)]) == 2
    assert "power of two" in capsys.readouterr().err
    assert main(["generate", "--model", str(tmp_path / "nothing"), "--n", "2", "-o", str(tmp_path / "o")]) == 2


def test_swd_orders_distributions():
    rng = np.random.default_rng(0)
    imgs = [colour_image(i, 32) for i in range(40)]
    a = torch.from_numpy(np.stack(imgs[:20])).permute(0, 3, 1, 2)
    b = torch.from_numpy(np.stack(imgs[20:])).permute(0, 3, 1, 2)
    noise = torch.from_numpy(rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)).permute(0, 3, 1, 2)
    same = sliced_wasserstein_distance(a, a)
    similar = sliced_wasserstein_distance(a, b)
    different = sliced_wasserstein_distance(a, noise)
    # patches are sampled, so even a set against itself has a small floor
    assert same < different / 3 and similar < different / 2
    assert sliced_wasserstein_distance(a, b, seed=3) == sliced_wasserstein_distance(a, b, seed=3)
    assert len(laplacian_pyramid(torch.zeros(1, 3, 64, 64))) == 3  # 64, 32 band-pass + 16 low-pass
    # the pyramid is invertible: upsampled residuals add back to the image
    x = torch.rand(1, 3, 32, 32)
    from tomau.metrics.swd import pyr_up

    lap = laplacian_pyramid(x)
    rec = lap[-1]
    for band in reversed(lap[:-1]):
        rec = band + pyr_up(rec)
    assert torch.allclose(rec, x, atol=1e-5)


def test_generate_batches_are_uint8_in_range_and_deterministic():
    torch.manual_seed(0)
    net = DCGANGenerator(DCGANConfig(image_size=16, g_width=32))
    batches = list(generate_batches(net, 5, batch_size=2))
    assert [tuple(b.shape) for b in batches] == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    assert all(b.dtype == torch.uint8 for b in batches)
    images = torch.cat(batches)
    # G's tanh output in [-1, 1] maps onto 0..255: (x + 1) * 127.5, rounded
    net.eval()
    with torch.no_grad():
        from tomau.generation import latent

        x = net(torch.stack([latent(0, i, net.nz) for i in range(5)]))
    assert torch.equal(images, ((x + 1) * 127.5).round().clamp(0, 255).byte())
    assert images.float().std() > 1 and not torch.equal(images[0], images[1])  # pictures, each its own
    # image i of a seed is the same whatever the batch size and start; another seed gives others
    assert torch.equal(torch.cat(list(generate_batches(net, 5, batch_size=5))), images)
    assert torch.equal(next(generate_batches(net, 2, start=3)), images[3:5])
    assert not torch.equal(next(generate_batches(net, 1, seed=1)), images[:1])


def test_bundled_flowers_gan_generates(tmp_path):
    net, config = load_generator("flowers_gan")
    assert config["task"] == "generate" and config["image_size"] == 64
    imgs = generate(net, 3)
    assert imgs[0].size == (64, 64) and np.asarray(imgs[0]).std() > 5  # pictures, not a flat colour
