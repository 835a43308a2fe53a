"""Only regular files are read, with a size bound, and JSON with a depth bound; text from files and file names
reaches the terminal inert. Each case ends in one sentence and exit 2 - never a hang, a memory blow-up or a
traceback."""
from __future__ import annotations

import json
import os
import signal
import struct

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main
from tomau.files import shown

from .conftest import colour_image


@pytest.fixture(autouse=True)
def no_hang():
    """A case that would block for ever (a FIFO opened for reading) fails the test after 60 s instead."""

    def hung(signum, frame):
        raise TimeoutError("blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _fifo(path):
    os.mkfifo(path)
    return path


def _one_sentence(capsys, *words):
    """The one error line (a batch's summary line may follow it), naming ``words``; no traceback."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    assert all(w in errors[0] for w in words), (errors[0], words)
    return errors[0]


def _model_with_config(path, config_text: str):
    """A safetensors file with one tensor whose tomau config is ``config_text`` (written by hand: any text)."""
    header = json.dumps({"__metadata__": {"tomau": config_text}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return path


def test_a_fifo_or_a_device_is_refused_wherever_a_file_is_read(tmp_path, tiny_model_file, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(colour_image(0, 32)).convert("L").save(photo)
    out = ["-o", str(tmp_path / "out")]
    assert main(["colorize", str(_fifo(tmp_path / "pipe.png")), *out, "-m", str(tiny_model_file)]) == 2
    _one_sentence(capsys, "pipe.png", "named pipe")
    assert main(["colorize", str(photo), *out, "-m", str(_fifo(tmp_path / "m.safetensors"))]) == 2
    _one_sentence(capsys, "m.safetensors", "named pipe")
    run = tmp_path / "run"
    run.mkdir()
    _fifo(run / "model.safetensors")
    for argv in (["colorize", str(photo), *out, "-m", str(run)], ["models", str(run)],
                 ["export", "-m", str(run), "-o", str(tmp_path / "x.onnx")]):
        assert main(argv) == 2, argv
        _one_sentence(capsys, "model.safetensors", "named pipe")
    zero = tmp_path / "zero"
    zero.mkdir()
    (zero / "model.safetensors").symlink_to("/dev/zero")
    assert main(["models", str(zero)]) == 2
    _one_sentence(capsys, "is a device")
    assert main(["colorize", str(photo), *out, "-m", str(tiny_model_file), "--files-from", "/dev/zero"]) == 2
    _one_sentence(capsys, "/dev/zero", "device")
    assert main(["colorize", str(photo), *out, "-m", str(tiny_model_file), "--files-from", str(_fifo(tmp_path / "list"))]) == 2
    _one_sentence(capsys, "named pipe")
    assert main(["fid", str(_fifo(tmp_path / "s.npz")), str(tmp_path / "s.npz")]) == 2
    _one_sentence(capsys, "named pipe")


def test_run_folders_with_a_fifo_or_deep_json_are_one_sentence(tmp_path, colour_folder, capsys):
    from tomau.training.trainer import train

    from .test_training import tiny_cfg

    run = train(tiny_cfg(colour_folder, tmp_path / "r", steps=1, ckpt_every=1), quiet=True)
    config = (run / "config.json").read_text()
    (run / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "2", "-q"]) == 0  # falls back on the state's copy
    assert "nested too deeply" in capsys.readouterr().err
    (run / "config.json").write_text(config)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": ' + "[" * 30_000 + "]" * 30_000 + "}\n" + '{"step": "x"}\n')  # lines added by hand
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "3", "-q"]) == 0
    state = run / "state.safetensors"
    state.unlink()
    _fifo(state)
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "4", "-q"]) == 2
    _one_sentence(capsys, "state.safetensors", "named pipe")


@pytest.mark.parametrize("config", ["[" * 30_000 + "]" * 30_000, '{"format": 1, "notes": ' + "[" * 30_000 + "]" * 30_000 + "}",
                                    '{"format": 1, "a": ' + '{"b": ' * 200 + "1" + "}" * 200 + "}"])
def test_a_model_config_nested_deep_is_one_sentence(tmp_path, config, capsys):
    model = _model_with_config(tmp_path / "deep.safetensors", config)
    photo = tmp_path / "p.png"
    Image.fromarray(colour_image(0, 32)).convert("L").save(photo)
    (tmp_path / "data").mkdir()
    for i in range(4):
        Image.fromarray(colour_image(i, 32)).save(tmp_path / "data" / f"{i}.png")
    for argv in (["colorize", str(photo), "-o", str(tmp_path / "o"), "-m", str(model)], ["models", str(model)],
                 ["train", "pix2pix", "--data", str(tmp_path / "data"), "--init", str(model), "--out", str(tmp_path / "runs"),
                  "--batch-size", "2", "--image-size", "32", "--num-downs", "5", "--workers", "0", "-q"]):
        assert main(argv) == 2, argv
        _one_sentence(capsys, "deep.safetensors")


def test_text_from_a_model_file_cannot_drive_the_terminal(tmp_path, tiny_model_file, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tiny_model_file), "pt") as f:
        config = json.loads(f.metadata()["tomau"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config["family"] = "pix2pix\x1b]0;pwned\x07\x1b[2J\u202eevil"  # a title change, a screen clear, a right-to-left override
    hostile = tmp_path / "hostile\x1b[31m.safetensors"
    save_file(tensors, str(hostile), metadata={"tomau": json.dumps(config)})
    assert main(["models", str(hostile)]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text


def test_shown_escapes_controls_bidi_and_undecodable_bytes():
    assert shown("plain é 写真 📷") == "plain é 写真 📷"
    assert shown("a\rb\x1b[2Jc\u202ed\x85e") == "a\\x0db\\x1b[2Jc\\u202ed\\x85e"
    assert shown(os.fsdecode(b"scan\xff.png")) == "scan\\xff.png"
    assert shown("two\nlines", lines=True) == "two\nlines" and shown("two\nlines") == "two\\x0alines"


def test_files_from_with_junk_is_one_sentence_and_a_bad_line_spoils_nothing(tmp_path, tiny_model_file, capsys):
    photos = []
    for i in range(2):
        photos.append(tmp_path / f"p{i}.png")
        Image.fromarray(colour_image(i, 32)).convert("L").save(photos[-1])
    listed = tmp_path / "list.txt"
    listed.write_bytes(b"p0.png\n\xff\xfe not utf-8.png\np1.png\n")
    m = ["-m", str(tiny_model_file)]
    assert main(["colorize", "--files-from", str(listed), "-o", str(tmp_path / "o1"), *m]) == 3  # 2 done, the odd line named
    err = capsys.readouterr().err
    assert "\\xff\\xfe not utf-8.png: no such file" in err and sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["p0.png", "p1.png"]
    junk = tmp_path / "junk.txt"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main(["colorize", "--files-from", str(junk), "-o", str(tmp_path / "o2"), *m]) == 2
    _one_sentence(capsys, "junk.txt")
    long_line = tmp_path / "long.txt"
    long_line.write_text("a" * 100_000 + "\n")
    assert main(["colorize", "--files-from", str(long_line), "-o", str(tmp_path / "o3"), *m]) == 2
    _one_sentence(capsys, "long.txt", "line 1")


def test_fid_on_a_pickled_or_garbage_npz_is_one_sentence(tmp_path, capsys):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, mu=np.array([object()], dtype=object), sigma=np.eye(1))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a zip at all")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mu=np.zeros(3), sigma=np.zeros(2))
    for bad in (pickled, garbage, wrong):
        assert main(["fid", str(bad), str(bad)]) == 2, bad
        _one_sentence(capsys, bad.name)


def test_a_ray_manifest_with_garbage_lines_or_that_is_a_folder(tmp_path):
    from tomau.archive import MANIFEST, Manifest, Place
    from tomau.errors import TomauError

    good = {"source": "a.png", "result": "out/a.png", "status": "done"}
    (tmp_path / MANIFEST).write_bytes(b"\n".join([
        json.dumps(good).encode(), b"\xff\xfe binary \x00 junk", b"[1, 2, 3]", b'"just a string"', b'{"source": ["a list"]}',
        b'{"source": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", b'{"no": "source"}', b'{"source": "b.png", "status": "do']))
    assert Manifest(Place(str(tmp_path))).read() == {"a.png": good}  # the good row; every other line left out
    (tmp_path / MANIFEST).unlink()
    (tmp_path / MANIFEST).mkdir()
    with pytest.raises(TomauError, match="is a folder"):
        Manifest(Place(str(tmp_path))).read()
