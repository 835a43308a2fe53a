"""No run replaces another's file: results and model files take their name atomically (the next free name if another
run got there first), every command refuses a file already there unless --overwrite, temp names are tomau's own, and
pages find each other through lock files."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from tomau.cli import main
from tomau.images import TEMP_MARK, remove_stale_temps, write_atomic

from .conftest import colour_image


def _grey(path, seed=0, size=40):
    Image.fromarray(colour_image(seed, size)).convert("L").save(path)
    return path


def test_a_name_taken_meanwhile_is_never_replaced(tmp_path):
    target = tmp_path / "a.png"
    first = write_atomic(target, lambda f: f.write(b"one"), replace=False)
    second = write_atomic(target, lambda f: f.write(b"two"), replace=False)
    third = write_atomic(target, lambda f: f.write(b"three"), replace=False)
    assert (first, second, third) == (target, tmp_path / "a_2.png", tmp_path / "a_3.png")
    assert [p.read_bytes() for p in (first, second, third)] == [b"one", b"two", b"three"]
    assert write_atomic(target, lambda f: f.write(b"new")) == target and target.read_bytes() == b"new"  # replace asked for
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_2.png", "a_3.png"]  # no temp file left


def test_without_hard_links_the_name_is_reserved_with_o_excl(tmp_path, monkeypatch):
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # as on a file system without hard links
    (tmp_path / "a.png").write_bytes(b"theirs")
    assert write_atomic(tmp_path / "a.png", lambda f: f.write(b"mine"), replace=False) == tmp_path / "a_2.png"
    assert (tmp_path / "a.png").read_bytes() == b"theirs" and (tmp_path / "a_2.png").read_bytes() == b"mine"


def test_two_colorize_runs_into_one_folder_keep_both_results(tmp_path, tiny_model_file, capsys, monkeypatch):
    """Run 1 plans out/a.jpg; run 2 (another photo also named a.jpg) finishes first, while run 1 works."""
    import tomau.images as images

    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    _grey(tmp_path / "one" / "a.jpg", 1), _grey(tmp_path / "two" / "a.jpg", 2)
    out = tmp_path / "out"
    m = ["-m", str(tiny_model_file)]
    real = images.save_image

    def other_run_finishes_first(path, *args, **kwargs):
        monkeypatch.setattr(images, "save_image", real)
        assert main(["colorize", str(tmp_path / "two" / "a.jpg"), "-o", str(out), *m]) == 0
        theirs.append(path.read_bytes())
        return real(path, *args, **kwargs)

    theirs: list[bytes] = []
    monkeypatch.setattr(images, "save_image", other_run_finishes_first)
    assert main(["colorize", str(tmp_path / "one" / "a.jpg"), "-o", str(out), *m]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "a_2.jpg"]
    assert (out / "a.jpg").read_bytes() == theirs[0]  # the other run's result is untouched
    assert "appeared while this run worked" in err and "a_2.jpg" in err


def test_blend_never_writes_over_a_model_or_a_file_already_there(tmp_path, tiny_model_file, capsys):
    other = tmp_path / "b.safetensors"
    other.write_bytes(tiny_model_file.read_bytes())
    before = tiny_model_file.read_bytes()
    blend = ["blend", str(tiny_model_file), str(other), "--alpha", "0.5"]
    assert main([*blend, "-o", str(tiny_model_file)]) == 2
    assert main([*blend, "-o", str(tiny_model_file), "--overwrite"]) == 2  # never model A, even asked
    assert "that is model A" in capsys.readouterr().err and tiny_model_file.read_bytes() == before
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"the user's own file")
    assert main([*blend, "-o", str(mine)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and mine.read_bytes() == b"the user's own file"
    assert main([*blend, "-o", str(mine), "--overwrite", "-q"]) == 0 and mine.read_bytes() != b"the user's own file"


def test_generate_and_export_refuse_files_already_there(tmp_path, tiny_model_file, capsys):
    out = tmp_path / "fakes"
    out.mkdir()
    (out / "00000.png").write_bytes(b"the user's own")
    assert main(["generate", "-m", "flowers_gan", "-n", "2", "-o", str(out), "-q"]) == 2
    assert "00000.png already exists" in capsys.readouterr().err and (out / "00000.png").read_bytes() == b"the user's own"
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"the user's own")
    assert main(["export", "-m", str(tiny_model_file), "-o", str(onnx), "-q"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and onnx.read_bytes() == b"the user's own"


def test_numbered_run_folders_are_reserved_when_chosen(tmp_path):
    from tomau.training.config import next_run_dir

    first = next_run_dir(tmp_path, "pix2pix", "")
    second = next_run_dir(tmp_path, "pix2pix", "")  # a second run started before the first wrote anything
    assert (first.name, second.name) == ("00000-pix2pix", "00001-pix2pix") and first.is_dir() and second.is_dir()


def test_temp_names_are_tomaus_own(tmp_path):
    seen = []
    write_atomic(tmp_path / ("x" * 250 + ".png"), lambda f: seen.append(Path(f.name).name))  # a 250-character name
    assert TEMP_MARK in seen[0] and len(seen[0].encode()) <= 255
    theirs = [".notes.20240101.tmp", ".a.png.abcdefgh.tmp", ".backup.tomau-tmp-.tmp", "a.png.tomau-tmp-abcdefgh.tmp"]
    ours = ".a.png.tomau-tmp-abcdefgh.tmp"
    for name in [*theirs, ours]:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1, 1))
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "tomau" in p.name) == sorted(theirs)


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_pages_find_each_other_by_lock_not_by_pid(tmp_path):
    """A page of another PID namespace sharing /tmp has a PID that means nothing here: its lock keeps its folder."""
    pytest.importorskip("gradio")
    from tomau.serve import Session

    temp = Path(tempfile.gettempdir())
    theirs = temp / "tomau_serve_999999999_otherns"  # no such PID here
    (theirs / "page_x" / "uploads").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(theirs / ".tomau-serve.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        session = Session()
        try:
            assert theirs.exists()
        finally:
            session.cleanup()
    finally:
        holder.kill()
        holder.wait()
    session = Session()  # its server is gone now: the lock is free, the folder goes
    try:
        assert not theirs.exists()
    finally:
        session.cleanup()


@pytest.mark.slow
def test_a_page_makes_its_folder_again_if_it_disappears(tmp_path, tiny_model_file):
    pytest.importorskip("gradio")
    import shutil

    from tomau.serve import Session

    _grey(tmp_path / "p.png")
    session = Session()
    try:
        shutil.rmtree(session.root.parent)  # a cleaner of /tmp, or an older tomau's page
        (_, after), _, download = session.colorize_photo(str(tmp_path / "p.png"), str(tiny_model_file))
        assert Path(download).is_file() and session.upload_dir.is_dir() and after.shape == (40, 40, 3)
        shutil.rmtree(session.root)
        session.sweep()
        assert session.upload_dir.is_dir() and (session.root.parent / ".tomau-serve.lock").exists()
        (_, after), _, download = session.colorize_photo(str(tmp_path / "p.png"), str(tiny_model_file))
        assert Path(download).is_file()
    finally:
        session.cleanup()
    assert not session.root.parent.exists()


def test_train_never_writes_into_a_named_folder_that_holds_anything(tmp_path):
    from tomau.errors import TomauError
    from tomau.training.config import next_run_dir

    mine = tmp_path / "runs" / "holiday"
    mine.mkdir(parents=True)
    (mine / "config.json").write_text("my own notes")
    with pytest.raises(TomauError, match="already exists; continue that run with --resume"):
        next_run_dir(tmp_path / "runs", "effunet", "holiday")
    assert (mine / "config.json").read_text() == "my own notes"
    (tmp_path / "runs" / "empty").mkdir()
    assert next_run_dir(tmp_path / "runs", "effunet", "empty") == tmp_path / "runs" / "empty"  # an empty folder is fine
    assert next_run_dir(tmp_path / "runs", "effunet", "new").is_dir()
