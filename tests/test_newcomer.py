"""What a newcomer meets: help that shows what applies, output in words, no bars in log files, no noise that looks
like an error, scores that mean something, pictures big enough to see."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tomau" / "samples"


def test_train_family_help_shows_that_family_s_flags_only(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "gan", "--help"])
    assert done.value.code == 0
    gan = capsys.readouterr().out
    assert "--nz" in gan and "--loss" in gan and "--data" in gan
    assert not any(flag in gan for flag in ("--ngf", "--bins", "--vae", "--direction", "--cls-weight"))
    with pytest.raises(SystemExit):
        main(["train", "pix2pix", "--help"])
    pix2pix = capsys.readouterr().out
    assert "--ngf" in pix2pix and "--gan-weight" in pix2pix and "--nz" not in pix2pix
    assert len(pix2pix.splitlines()) < 120  # every family's flags were 246 lines


def test_train_help_lists_the_families(capsys):
    from tomau.training.registry import FAMILIES

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name, family in FAMILIES.items():
        assert re.search(rf"^  {re.escape(name)}\s+{re.escape(family.summary[:30])}", out, re.M), name
    assert "--ngf" not in out and "tomau train FAMILY --help" in out


def test_no_module_draws_a_bar_of_its_own():
    """Every progress bar goes through tomau.progress, which draws only on a terminal."""
    direct = [str(p.relative_to(ROOT)) for p in (ROOT / "tomau").rglob("*.py")
              if p.name != "progress.py" and re.search(r"\btqdm\(", p.read_text())]
    assert direct == []


def test_a_bar_is_drawn_on_a_terminal_only(capsys):
    from tomau.progress import progress_bar

    with progress_bar(range(3), show=True, desc="x") as bar:  # stderr is pytest's capture: not a terminal
        assert bar.disable
        list(bar)
    with progress_bar(range(3), show=False) as bar:
        assert bar.disable
    assert capsys.readouterr().err == ""


def test_training_writes_no_bar_into_a_log(tmp_path, flower_folder, capsys):
    """`tomau train ... 2> log` once filled the log with the bar's redraws; without -q it now holds messages only."""
    args = ["train", "gan", "--data", str(flower_folder), "--image-size", "16", "--g-width", "64", "--d-width", "32",
            "--batch-size", "8", "--out", str(tmp_path), "--name", "g", "--workers", "0", "--steps", "2"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "step/s" not in err and "s/step" not in err and "\r" not in err and "train gan:" not in err
    assert "run folder:" in err


def test_ray_core_lines_are_dropped_and_the_rest_passes(capfd):
    """Ray's C++ core writes log lines such as `[... E ...] core_worker.cc:2465: ...` straight to file descriptor 2:
    without -v they are dropped there, and everything else (tomau's messages, a child's output) passes on."""
    from tomau.archive import RayCoreLinesDropped

    dropper = RayCoreLinesDropped()
    try:
        subprocess.run(["sh", "-c", "printf 'keep 1\\n[2026-12-08 00:02:03,139 E 18430 18430] core_worker.cc:2465: Actor "
                                    "with class name: x\\nkeep 2\\n' >&2"], check=True)
        os.write(2, b"bar 50%|#####  | [00:03<00:03][2026-12-08 00:02:38,099 I 1 1] logging.cc:303: Set ray log level\n")
    finally:
        dropper.stop()
    err = capfd.readouterr().err
    assert "keep 1\nkeep 2\n" in err and "bar 50%|#####  | [00:03<00:03]" in err
    assert "core_worker" not in err and "logging.cc" not in err


def test_colorize_has_a_verbose_flag_for_ray():
    from tomau.cli import build_parser

    assert build_parser("colorize").parse_args(["colorize", "a.jpg", "-o", "o", "-v"]).verbose


def test_evaluate_leaves_the_frechet_distance_out_of_few_photos(tmp_path, colour_folder, tiny_model_file, monkeypatch, capsys):
    import tomau.evaluate as evaluation

    asked = []

    def fake(model, files, size, progress, metrics):  # the metrics asked for; the scoring itself is tested elsewhere
        asked.append(list(metrics))
        row = {m: 1.0 for m in metrics}
        return {"n": len(files), "model": row, "grey": row, "truth": {}}

    monkeypatch.setattr(evaluation, "evaluate_files", fake)
    base = ["evaluate", "-m", str(tiny_model_file), "--data", str(colour_folder)]
    assert main(base) == 0
    assert "fd" not in asked[-1] and "note: fd (the Frechet distance) is left out: on 24 photos" in capsys.readouterr().err
    assert main([*base, "--frechet"]) == 0 and asked[-1][-1] == "fd"
    assert main([*base, "--metrics", "psnr", "fd"]) == 0 and asked[-1] == ["psnr", "fd"]
    assert "left out" not in capsys.readouterr().err
    assert main([*base, "-q"]) == 0 and capsys.readouterr().err == ""
    from tomau.cli import evaluate as cli_evaluate

    monkeypatch.setattr(cli_evaluate, "FRECHET_MIN_IMAGES", 20)
    assert main(base) == 0 and asked[-1][-1] == "fd"  # enough photos: scored by default


def test_sample_grid_tiles_are_at_least_128_px(tmp_path):
    from tomau.training.outputs import MIN_TILE, save_grid

    rows = [torch.rand(8, 3, 32, 32) for _ in range(3)]
    save_grid(rows, tmp_path / "g.png")
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert MIN_TILE == 128 and grid.shape == (3 * 130 + 2, 8 * 130 + 2, 3)
    tile = grid[2:130, 2:130]
    assert (tile[::4, ::4] == tile[3::4, 3::4]).all()  # each pixel a 4x4 block, not blurred
    want = (rows[0][0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(tile[::4, ::4], want)
    save_grid([torch.rand(2, 3, 256, 256)], tmp_path / "big.png")
    assert Image.open(tmp_path / "big.png").size == (2 * 258 + 2, 258 + 2)  # already big: as it is


@pytest.mark.slow
def test_one_film_is_one_film(tmp_path, tiny_model_file, capsys):
    from tomau.video import make_test_film

    film = make_test_film(tmp_path / "reel.mp4", n=6, fps=10)
    assert main(["colorize", str(film), "-o", str(tmp_path / "out"), "-m", str(tiny_model_file)]) == 0
    err = capsys.readouterr().err
    assert "1 film colourised, 0 failed" in err and "1 films" not in err


def test_the_bundled_samples_are_grey_and_the_demo_says_nothing_about_them(tmp_path, tiny_model_file, capsys):
    samples = sorted(SAMPLES.glob("*.jpg"))
    assert samples
    for path in samples:
        rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
        assert np.ptp(rgb, axis=-1).max() <= 2, path  # grey: any colour in a result is the model's
    from tomau.backends import cached_export

    cached_export(tiny_model_file)  # its graph made, as after a first use (which says so in a note)
    assert main(["colorize", str(SAMPLES), "-o", str(tmp_path / "demo"), "-m", str(tiny_model_file)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"{len(samples)} colourised, 0 failed; results in {tmp_path / 'demo'}"]


@pytest.mark.slow
def test_the_test_film_recipe_needs_only_the_package(tmp_path):
    """The README's recipe for a test film imports tomau, not the test suite, and runs outside the checkout."""
    import sys

    recipe = next(line for line in (ROOT / "README.md").read_text().splitlines() if "make_test_film" in line)
    code = re.search(r'python -c "([^"]+)"', recipe).group(1)
    assert "tests" not in code
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the package; the code itself names no test module
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    from tomau.video import probe

    info = probe(next(tmp_path.glob("*.mp4")))
    assert info.frames == 100 and abs(info.duration - 4) < 0.2 and info.has_audio


def test_swd_says_how_it_fits_and_fits_as_the_model_was_trained(tmp_path, flower_folder, capsys):
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(fakes / f"{i:05d}.png")
    assert main(["swd", str(flower_folder), str(fakes), "-m", "flowers_gan"]) == 0
    line = capsys.readouterr().out
    assert "padded with black to a square of 64x64, as flowers_gan was trained" in line
    assert main(["swd", str(flower_folder), str(fakes), "--size", "16", "--fit", "stretch", "--max-images", "6"]) == 0
    assert "6 images per set, stretched to a square of 16x16, --fit stretch" in capsys.readouterr().out
