"""Training smoke tests on tiny generated images: outputs, exact resume, stage 1, bad data, NaN."""
import json

import pytest
import torch
from PIL import Image

from tomau import TomauError, load_model
from tomau.cli import main
from tomau.training.pix2pix import Pix2PixColorization, Pix2PixConfig
from tomau.training.trainer import TrainConfig, Trainer, read_state, train

from .conftest import colour_image


def tiny_cfg(data, out, **kw) -> TrainConfig:
    model = Pix2PixConfig()
    model.generator.ngf, model.generator.num_downs = 4, 5
    model.discriminator.ndf = 4
    for k in ("gan_weight",):
        if k in kw:
            setattr(model, k, kw.pop(k))
    base = dict(data=str(data), out=str(out), steps=4, batch_size=4, image_size=32, workers=0, log_every=1,
                sample_every=2, ckpt_every=2, model=model)
    base.update(kw)
    return TrainConfig(**base)


def test_cli_train_writes_a_complete_run_folder(tmp_path, colour_folder, capsys):
    code = main(["train", "pix2pix", "--data", str(colour_folder), "--out", str(tmp_path / "runs"), "--steps", "3",
                 "--batch-size", "4", "--image-size", "32", "--num-downs", "5", "--ngf", "4", "--ndf", "4",
                 "--workers", "0", "--ckpt-every", "2", "--sample-every", "2", "--log-every", "1",
                 "--val-data", str(colour_folder), "--val-images", "4", "-q"])
    assert code == 0
    run = tmp_path / "runs" / "00000-pix2pix"
    for name in ("config.json", "state.safetensors", "model.safetensors", "metrics.jsonl", "loss.png"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000003.png"]
    with Image.open(run / "samples" / "step_0000003.png") as grid:
        assert grid.size == (8 * 130 + 2, 3 * 130 + 2)  # 8 images, 32 px shown 4x as 128; rows grey | output | truth
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"G_GAN", "G_L1", "D_real", "D_fake"} <= set(rows[0])
    assert any("val_psnr" in r for r in rows)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["l1_weight"] == 100 and cfg["model"]["lr_g"] == 2e-4 and cfg["model"]["beta1"] == 0.5
    model = load_model(str(run))  # a run folder is a model
    assert model.image_size == 32


def _g_params(run_dir):
    return read_state(run_dir / "state.safetensors")["nets"]


def test_resume_is_exact(tmp_path, colour_folder):
    straight = train(tiny_cfg(colour_folder, tmp_path / "a", steps=4, ckpt_every=4), quiet=True)
    first = train(tiny_cfg(colour_folder, tmp_path / "b", steps=2, ckpt_every=2), quiet=True)
    cfg = TrainConfig.from_dict(json.loads((first / "config.json").read_text()))
    cfg.steps = 4
    resumed = train(cfg, resume_dir=str(first), quiet=True)
    a, b = _g_params(straight), _g_params(resumed)
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"


def test_l1_only_pretraining_has_no_discriminator(tmp_path, colour_folder):
    run = train(tiny_cfg(colour_folder, tmp_path, gan_weight=0.0), quiet=True)
    ckpt = read_state(run / "state.safetensors")
    assert set(ckpt["nets"]) == {"G"}
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert "G_GAN" not in rows[0] and "G_L1" in rows[0]
    # stage 2 starts from it
    stage2 = train(tiny_cfg(colour_folder, tmp_path, name="s2", init=str(run), steps=2), quiet=True)
    assert (stage2 / "model.safetensors").exists()


def test_empty_or_grey_dataset_stops_with_a_clear_message(tmp_path):
    folder = tmp_path / "greys"
    folder.mkdir()
    Image.fromarray(colour_image(0)).convert("L").save(folder / "g.png")
    (folder / "bad.jpg").write_bytes(b"junk")
    with pytest.raises(TomauError, match=r"no usable colour images found \(0 usable colour images \(1 greyscale and 1 unreadable"):
        train(tiny_cfg(folder, tmp_path / "runs"), quiet=True)
    with pytest.raises(TomauError, match="no such folder"):
        train(tiny_cfg(tmp_path / "nowhere", tmp_path / "runs"), quiet=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, colour_folder, monkeypatch):
    real_step = Pix2PixColorization.training_step
    calls = {"n": 0}

    def poisoned(self, batch, accelerator):
        calls["n"] += 1
        losses = real_step(self, batch, accelerator)
        if calls["n"] >= 3:
            losses["G_L1"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(Pix2PixColorization, "training_step", poisoned)
    cfg = tiny_cfg(colour_folder, tmp_path, steps=6, ckpt_every=2)
    with pytest.raises(TomauError, match="G_L1 loss became NaN/inf near step 3.*last good checkpoint"):
        train(cfg, quiet=True)
    ckpt = read_state(tmp_path / "00000-pix2pix" / "state.safetensors")
    assert ckpt["step"] == 2


def test_invalid_settings_are_refused_up_front(tmp_path, colour_folder, capsys):
    assert main(["train", "pix2pix", "--data", str(colour_folder), "--out", str(tmp_path), "--image-size", "100", "-q"]) == 2
    assert "must be a multiple of 256 for this pix2pix generator" in capsys.readouterr().err
    assert main(["train", "pix2pix", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_batch_larger_than_dataset(tmp_path, colour_folder):
    with pytest.raises(TomauError, match="lower --batch-size"):
        Trainer(tiny_cfg(colour_folder, tmp_path, batch_size=64), tmp_path / "r", quiet=True)


def test_ema_generator_is_exported_and_resumes_exactly(tmp_path, colour_folder):
    from tomau.modelfile import load_model_file

    straight = train(tiny_cfg(colour_folder, tmp_path / "a", steps=4, ckpt_every=4, ema=0.5), quiet=True)
    first = train(tiny_cfg(colour_folder, tmp_path / "b", steps=2, ckpt_every=2, ema=0.5), quiet=True)
    cfg = TrainConfig.from_dict(json.loads((first / "config.json").read_text()))
    cfg.steps = 4
    resumed = train(cfg, resume_dir=str(first), quiet=True)
    a = read_state(straight / "state.safetensors")
    b = read_state(resumed / "state.safetensors")
    for k, v in a["ema"].items():
        assert torch.equal(v, b["ema"][k]), f"EMA {k} differs after resume"
    _, exported = load_model_file(straight)
    key = "downs.0.0.weight"
    assert torch.allclose(exported[key], a["ema"]["module." + key].float(), atol=1e-3)  # fp16 file
    assert not torch.allclose(a["ema"]["module." + key], a["nets"]["G"][key])  # the EMA differs from the raw G


def test_class_rebalanced_l1(tmp_path, colour_folder, zhang_bins):
    plain = train(tiny_cfg(colour_folder, tmp_path, name="plain", steps=1, gan_weight=0.0), quiet=True)
    cfg = tiny_cfg(colour_folder, tmp_path, name="rebal", steps=1, gan_weight=0.0)
    cfg.model.rebalance = str(zhang_bins)
    rebal = train(cfg, quiet=True)
    l1 = [json.loads((r / "metrics.jsonl").read_text().splitlines()[0])["G_L1"] for r in (plain, rebal)]
    assert l1[0] != l1[1]  # same data and init: only the per-pixel weights differ
    assert json.loads((rebal / "config.json").read_text())["model"]["rebalance"] == str(zhang_bins)


def test_class_rebalanced_l1_has_the_weighted_value(zhang_bins):
    """With G predicting ab = 0, L1 per pixel is |ab| of the truth: plain, its mean; rebalanced, each pixel's |ab|
    times the Zhang et al. weight of its ab bin (constant images: one weight per image)."""
    from contextlib import nullcontext

    from tomau import color
    from tomau.colorbins import ABBins
    from tomau.models.unet import UNetConfig
    from tomau.training.pix2pix import Pix2PixConfig

    class ZeroG(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, l):
            return torch.zeros(l.shape[0], 2, *l.shape[2:]) * self.p

    class Acc:
        autocast = staticmethod(nullcontext)
        backward = staticmethod(lambda loss: loss.backward())
        unwrap_model = staticmethod(lambda m: m)

    rgb = torch.tensor([[128, 128, 128], [200, 30, 30], [40, 90, 200]], dtype=torch.uint8)
    batch = rgb[:, :, None, None].expand(3, 3, 8, 8).contiguous()
    ab = color.rgb_to_model_input(batch.float() / 255)[1][:, :, 0, 0]  # (3, 2) normalised ab of each image
    bins = ABBins.from_folder(str(zhang_bins))
    w = bins.rebalance_weights(0.5)[bins.nearest(color.denormalize_ab(ab)[:, :, None, None])[:, 0, 0]]
    assert w[0] < w[1] and w[0] < w[2]  # grey is the common colour (the prior peaks there): it weighs least
    losses = {}
    for rebalance in ("", str(zhang_bins)):
        fam = Pix2PixColorization(Pix2PixConfig(generator=UNetConfig(ngf=4, num_downs=5), gan_weight=0.0, rebalance=rebalance))
        fam.nets["G"] = ZeroG()
        losses[bool(rebalance)] = fam.training_step(batch, Acc())["G_L1"].item()
    assert losses[False] == pytest.approx(ab.abs().mean().item(), rel=1e-5)
    assert losses[True] == pytest.approx((ab.abs().mean(1) * w).mean().item(), rel=1e-5)
    assert losses[True] != pytest.approx(losses[False], rel=1e-2)


def test_interrupt_saves_a_checkpoint(tmp_path, colour_folder, monkeypatch):
    real_step = Pix2PixColorization.training_step
    calls = {"n": 0}

    def interrupted(self, batch, accelerator):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_step(self, batch, accelerator)

    monkeypatch.setattr(Pix2PixColorization, "training_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cfg(colour_folder, tmp_path, steps=10, ckpt_every=100), quiet=True)
    assert read_state(tmp_path / "00000-pix2pix" / "state.safetensors")["step"] == 3


def test_evaluate_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--data", str(tmp_path / "empty")]) == 2
    assert "no usable images found" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_stops_with_a_checkpoint(tmp_path, colour_folder):
    """`kill` (SIGTERM) of a background run - started the way shells start them, SIGINT ignored - keeps its work."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "runs" / "bg"
    cmd = [sys.executable, "-m", "tomau", "train", "pix2pix", "--data", str(colour_folder), "--out", str(tmp_path / "runs"),
           "--name", "bg", "--steps", "100000", "--batch-size", "4", "--image-size", "32", "--num-downs", "5", "--ngf", "4",
           "--ndf", "4", "--workers", "0", "--log-every", "1", "--ckpt-every", "100000", "--sample-every", "100000", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN), env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "checkpoint saved at step" in out + err
    assert read_state(run / "state.safetensors")["step"] >= 1


def test_predict_size_trains_on_crops_and_predicts_larger(tmp_path, colour_folder):
    cfg = tiny_cfg(colour_folder, tmp_path, steps=1, image_size=32, load_size=64, predict_size=64, val_data=str(colour_folder),
                   val_images=2)
    run = train(cfg, quiet=True)
    model = load_model(str(run))
    assert model.image_size == 64  # colourises whole 64x64 images although it saw 32x32 crops
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert "val_psnr" in rows[-1]
    with pytest.raises(TomauError, match="--predict-size 48 does not fit"):
        train(tiny_cfg(colour_folder, tmp_path, predict_size=48, name="bad"), quiet=True)


def test_a_killed_data_worker_keeps_the_finished_steps(tmp_path, colour_folder, monkeypatch):
    """A signal to the whole process group may kill a DataLoader worker first: the run saves and says how to resume."""
    calls = {"n": 0}
    original = Pix2PixColorization.training_step

    def step(self, batch, acc):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("DataLoader worker (pid 1234) is killed by signal: Terminated. ")
        return original(self, batch, acc)

    monkeypatch.setattr(Pix2PixColorization, "training_step", step)
    with pytest.raises(TomauError, match="checkpoint saved at step 2; continue with --resume"):
        train(tiny_cfg(colour_folder, tmp_path, steps=6, ckpt_every=100), quiet=True)
    assert read_state(tmp_path / "00000-pix2pix" / "state.safetensors")["step"] == 2


def test_a_damaged_run_folder_says_what_is_damaged(tmp_path, colour_folder, capsys):
    """A damaged run folder resumes or says why: a kill's half line in metrics.jsonl, a truncated config.json, a state of the wrong structure."""
    from tomau.training.trainer import write_state

    run = train(tiny_cfg(colour_folder, tmp_path / "r", steps=2, ckpt_every=2), quiet=True)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "G_L')  # killed mid-write
    config = (run / "config.json").read_text()
    (run / "config.json").write_text(config[: len(config) // 2])  # truncated
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "4", "-q"]) == 0
    err = capsys.readouterr().err
    assert "config.json is damaged" in err and "stored in the checkpoint" in err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # every line readable again
    assert max(r["step"] for r in rows) == 4

    (run / "config.json").write_text("{")
    (run / "state.safetensors").unlink()
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "6", "-q"]) == 2
    err = capsys.readouterr().err
    assert "config.json is damaged" in err and "--init" in err and "Traceback" not in err

    other = train(tiny_cfg(colour_folder, tmp_path / "s", steps=2, ckpt_every=2), quiet=True)
    state = read_state(other / "state.safetensors")
    state["optimizers"]["G"] = {"state": {}, "param_groups": []}  # a structure this run's optimizer cannot take
    write_state(other / "state.safetensors", state)
    assert main(["train", "pix2pix", "--resume", str(other), "--steps", "4", "-q"]) == 2
    err = capsys.readouterr().err
    assert "optimizer state does not fit" in err and "Traceback" not in err


def test_an_unwritable_out_is_one_sentence(tmp_path, colour_folder, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["train", "pix2pix", "--data", str(colour_folder), "--out", str(blocker / "runs"), "--steps", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert "choose another --out" in err and "Traceback" not in err
