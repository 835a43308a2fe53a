"""Ctrl-C and SIGTERM end every command with exit 130 after a clean save; a training run killed at any step - by
SIGTERM (it stops between steps and saves) or by SIGKILL (it keeps its last checkpoint) - resumes to the very
tensors of a run that was never interrupted."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main
from tomau.training.trainer import read_state

STEPS = 7
TRAIN = ["train", "pix2pix", "--steps", str(STEPS), "--batch-size", "4", "--image-size", "32", "--num-downs", "5", "--ngf", "4",
         "--ndf", "4", "--workers", "0", "--log-every", "1", "--ckpt-every", "3", "--sample-every", "100", "-q"]


def _flat(obj, prefix=""):
    """{dotted key: tensor} of every tensor in a checkpoint dict (networks, optimizers, EMA, RNG states)."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else []
    out = {}
    for k, v in items:
        out.update(_flat(v, f"{prefix}.{k}"))
    return out


def _final_tensors(run: Path) -> dict:
    state = read_state(run / "state.safetensors")
    assert state["step"] == STEPS
    return _flat({k: state[k] for k in ("nets", "optimizers", "ema", "rng")})


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The data, and the final tensors of a run that was never interrupted."""
    from .conftest import colour_image

    root = tmp_path_factory.mktemp("signals")
    data = root / "data"
    data.mkdir()
    for i in range(12):
        Image.fromarray(colour_image(i, 40)).save(data / f"{i:02d}.png")
    assert main([*TRAIN, "--data", str(data), "--out", str(root / "runs"), "--name", "straight"]) == 0
    return data, _final_tensors(root / "runs" / "straight")


def _assert_same(expected: dict, run: Path) -> None:
    got = _final_tensors(run)
    assert got.keys() == expected.keys()
    differ = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not differ, f"{len(differ)} of {len(expected)} tensors differ from the uninterrupted run: {differ[:5]}"
    assert not [p.name for p in run.iterdir() if "tmp" in p.name], "a temp file was left"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigterm_at_random_moments_then_resume_is_bit_exact(straight, tmp_path, seed, monkeypatch):
    """SIGTERM arrives inside an optimizer step (between D's update and G's, the worst moment) at two random
    moments; each time the command exits 130 with a checkpoint of whole steps, and --resume finishes the run."""
    data, expected = straight
    # pix2pix updates D, then G, each step: update 2k + 1 is D's of step k + 1. Two different steps (two signals in
    # one step are "stop now", which keeps the last checkpoint of whole steps instead)
    kills = sorted(2 * k + 1 for k in random.Random(seed).sample(range(STEPS - 1), 2))
    count = [0]
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        count[0] += 1
        if count[0] in kills:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    run = tmp_path / "runs" / "r"
    assert main([*TRAIN, "--data", str(data), "--out", str(tmp_path / "runs"), "--name", "r"]) == 130
    codes = []
    for _ in range(4):  # resumed until it finishes (the second kill interrupts a resumed run)
        codes.append(main(["train", "pix2pix", "--resume", str(run), "--steps", str(STEPS), "-q"]))
        if codes[-1] == 0:
            break
    assert codes == [130, 0] or codes == [0], codes  # two kills: one in the first run, one in a resumed run or both first
    _assert_same(expected, run)


_CHILD = """
import os, signal, sys, torch
torch.set_num_threads(2)  # as the suite's own process (conftest): another thread count sums in another order
kill_at, count, real_step = int(sys.argv[1]), [0], torch.optim.Adam.step
def step(self, *args, **kwargs):
    out = real_step(self, *args, **kwargs)
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
torch.optim.Adam.step = step
from tomau.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4])
def test_sigkill_at_a_random_step_then_resume_is_bit_exact(straight, tmp_path, seed):
    """SIGKILL cannot be caught: the run keeps its last checkpoint (every 3 steps here) and resumes from it exactly."""
    data, expected = straight
    kill_at = random.Random(seed).randrange(2 * 3 + 1, 2 * STEPS - 1)  # after the first checkpoint
    run = tmp_path / "runs" / "k"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(kill_at), *TRAIN, "--data", str(data), "--out", str(tmp_path / "runs"),
                           "--name", "k"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", str(STEPS), "-q"]) == 0
    _assert_same(expected, run)


@pytest.mark.slow
def test_sigterm_ends_colorize_with_130_and_no_temp_file(tmp_path, tiny_model_file):
    """A photo being written when SIGTERM comes is finished or removed: never half-written, no temp file left."""
    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(3):
        Image.fromarray((np.arange(64 * 48).reshape(48, 64) % 251).astype(np.uint8)).save(photos / f"{i}.png")
    child = ("import os, signal, sys\n"
             "import tomau.images as images\n"
             "real = images.write_atomic\n"
             "def write(path, fn, *args, **kwargs):\n"
             "    def slow(f):\n"
             "        fn(f)\n"
             "        os.kill(os.getpid(), signal.SIGTERM)  # in the middle of writing the first result\n"
             "    return real(path, slow, *args, **kwargs)\n"
             "images.write_atomic = write\n"
             "from tomau.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", child, "colorize", str(photos), "-o", str(out), "-m", str(tiny_model_file)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == "interrupted"
    assert [p.name for p in out.iterdir()] == []  # the result being written was removed, nothing else was started


@pytest.mark.slow
def test_sigterm_ends_a_film_with_130_and_no_temp_file(tmp_path, tiny_model_file):
    """SIGTERM in the middle of a film: exit 130 and the half-written film (a temp file) removed, not left 10 minutes."""
    from .test_video import grey_clip

    films = tmp_path / "in"
    films.mkdir()
    grey_clip(films / "film.mp4", n=24, audio=False)
    child = ("import os, signal, sys\n"
             "import tomau.inference as inference\n"
             "real = inference.Colorizer.predict_ab\n"
             "def predict(self, *args, **kwargs):\n"
             "    os.kill(os.getpid(), signal.SIGTERM)  # while the first frames are being coloured\n"
             "    return real(self, *args, **kwargs)\n"
             "inference.Colorizer.predict_ab = predict\n"
             "from tomau.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", child, "colorize", str(films), "-o", str(out), "-m", str(tiny_model_file),
                           "--batch-size", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == "interrupted"
    assert [p.name for p in out.iterdir()] == []
