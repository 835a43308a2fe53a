"""Every `tomau ...` line the README shows runs and succeeds: its code blocks are read, each line is run in a folder
of tiny generated inputs under the names the README uses (old.jpg, scans/, photos/ ...), training with tiny
settings added; a line that cannot run in the suite is listed in NOT_RUN with its reason."""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = {"tomau serve": "serves until stopped; tests/test_serve.py starts the real server and drives its page"}
OUTPUTS = ("coloured", "colour", "out")  # each line starts with these empty: the README's lines are independent examples
TRAIN_FAST = ["--steps", "2", "--batch-size", "4", "--image-size", "32", "--workers", "0", "--ngf", "4", "--num-downs", "5"]


def readme_commands() -> list[str]:
    """The `tomau ...` lines of the README's code blocks, in order (comments dropped)."""
    lines, fence = [], None  # fence: the language of the open code block
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence == "bash" and line.strip().startswith("tomau "):
            lines.append(" ".join(shlex.split(line.strip(), comments=True)))
    return lines


def test_the_readme_is_short_and_shows_commands():
    assert len(README.read_text().splitlines()) <= 220
    commands = readme_commands()
    assert len(commands) >= 15 and all(c.startswith("tomau ") for c in commands)
    assert set(NOT_RUN) <= set(commands)  # nothing listed that the README no longer shows


def grey(path: Path, size=(64, 48), seed=0) -> None:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    g = 128 + 60 * np.sin(x / 5 + seed) * np.cos(y / 7) + np.random.default_rng(seed).normal(0, 4, (size[1], size[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "L").save(path)


def make_inputs(folder: Path, colour_image) -> None:
    """Every file and folder the README's lines name, tiny."""
    from tomau.video import make_test_film

    grey(folder / "old.jpg")
    grey(folder / "photo.jpg", size=(160, 120))  # --suggest 120,80 lies inside it
    (folder / "points.csv").write_text("x,y,color\n20,30,#c0302a\n120,80,#2a50c0\n")
    (folder / "keyframes.csv").write_text("frame,x,y,color\n0,10,10,#c0302a\n3,40,30,#2a50c0\n")
    for i, name in enumerate(("scans/a.jpg", "scans/b/c.png", "more/d.png")):
        grey(folder / name, seed=i + 1)
    for name in ("similar.jpg", "tinted.jpg"):
        Image.fromarray(colour_image(7, 64)[:48]).save(folder / name)
    marks = np.zeros((120, 160, 4), np.uint8)  # photo.jpg's size
    marks[5:12, 5:30] = (200, 60, 40, 255)
    marks[30:40, 20:60] = (40, 90, 200, 255)
    Image.fromarray(marks, "RGBA").save(folder / "marks.png")
    listed = [f"list/p{i:03d}.png" for i in range(300)]  # enough that each of 100 shards gets some
    Image.new("L", (8, 6), 90).save(folder / "tiny.png")
    (folder / "list").mkdir()
    for name in listed:
        (folder / name).write_bytes((folder / "tiny.png").read_bytes())
    (folder / "scans.txt").write_text("\n".join(listed) + "\n")
    make_test_film(folder / "film.mp4", n=6, fps=10)
    make_test_film(folder / "test_film.mp4", n=6, fps=10)
    for sub, n in (("photos", 12), ("val_photos", 6)):
        (folder / sub).mkdir()
        for i in range(n):
            Image.fromarray(colour_image(i + (100 if sub == "val_photos" else 0), 40)).save(folder / sub / f"{i:02d}.png")


def fast(argv: list[str]) -> list[str]:
    """The same command with tiny settings where the README's would take long: training steps and sizes, the
    evaluation's resolution."""
    if argv[:1] == ["train"] and "--help" not in argv:
        if "--resume" in argv:
            argv = list(argv)
            argv[argv.index("--steps") + 1] = "3"
            return argv
        return [*argv, *TRAIN_FAST]
    if argv[:1] == ["evaluate"]:
        return [*argv, "--size", "32"]
    return argv


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch, capsys):
    import shutil

    from tests.conftest import colour_image

    make_inputs(tmp_path, colour_image)
    monkeypatch.chdir(tmp_path)
    ran = []
    for line in readme_commands():
        if line in NOT_RUN:
            continue
        for out in OUTPUTS:
            shutil.rmtree(tmp_path / out, ignore_errors=True)
        argv = fast(shlex.split(line)[1:])
        try:
            code = main(argv)
        except SystemExit as done:  # --help
            code = done.code
        err = capsys.readouterr().err
        assert code == 0, f"{line}\n{err}"
        ran.append(line)
        if argv[0] in ("colorize", "hint") and "-o" in argv:  # a result where it said
            assert any((tmp_path / argv[argv.index("-o") + 1]).rglob("*.*")), line
    assert len(ran) == len(readme_commands()) - len(NOT_RUN)
    assert (tmp_path / "runs" / "stage2" / "model.safetensors").is_file() and (tmp_path / "mix.safetensors").is_file()
    assert (tmp_path / "effunet.onnx").is_file()
