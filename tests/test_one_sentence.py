"""The failures of the fourth hostile pass that were tracebacks (or wrong words) are one sentence and exit 2."""
from __future__ import annotations

import errno
import io

import pytest
import torch
from PIL import Image

from tomau.cli import main

from .conftest import colour_image
from .test_training import tiny_cfg


def _photo(path):
    Image.fromarray(colour_image(0, 32)).convert("L").save(path)
    return path


def _one_error(capsys, *words):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert all(w in errors[0] for w in words), (errors[0], words)


def test_a_full_disk_at_the_first_checkpoint(tmp_path, colour_folder, capsys, monkeypatch):
    import tomau.images as images

    real_open = open

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_disk(path, mode="r", *args, **kwargs):  # the disk is full when the first checkpoint is written
        return Full() if "w" in mode and ".state.safetensors" in str(path) else real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(images, "open", full_disk, raising=False)
    argv = ["train", "pix2pix", "--data", str(colour_folder), "--out", str(tmp_path / "runs"), "--steps", "3", "--batch-size", "4",
            "--image-size", "32", "--num-downs", "5", "--ngf", "4", "--ndf", "4", "--workers", "0", "--ckpt-every", "1", "-q"]
    assert main(argv) == 2
    _one_error(capsys, "No space left on device", "no checkpoint was written")
    assert not [p for p in (tmp_path / "runs").rglob("*tomau-tmp*")]  # no temp file left


def test_a_device_torch_parses_but_cannot_use(tmp_path, tiny_model_file, capsys):
    assert main(["colorize", str(_photo(tmp_path / "p.png")), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file),
                 "--device", "vulkan"]) == 2
    _one_error(capsys, "'vulkan' cannot be used here", "--device cpu")


def test_names_too_long(tmp_path, tiny_model_file, capsys):
    photo = _photo(tmp_path / "p.png")
    m = ["-m", str(tiny_model_file)]
    assert main(["colorize", str(photo), "-o", str(tmp_path / ("x" * 5000)), *m]) == 2
    _one_error(capsys, "File name too long")
    assert main(["colorize", str(tmp_path / ("y" * 5000 + ".png")), "-o", str(tmp_path / "o"), *m]) == 2
    _one_error(capsys, "File name too long")
    long_name = tmp_path / ("z" * 246 + ".png")  # 250 characters: a temp name built from it would be over 255
    _photo(long_name)
    assert main(["colorize", str(long_name), "-o", str(tmp_path), *m]) == 0  # into its own folder: NAME_color.png, cut
    (result,) = [p for p in tmp_path.iterdir() if p.name.endswith("_color.png")]
    assert len(result.name) == 242 and result.name.startswith("z" * 200)


def test_the_nan_stop_names_no_checkpoint_that_does_not_exist(tmp_path, colour_folder, monkeypatch):
    from tomau.errors import TomauError
    from tomau.training.pix2pix import Pix2PixColorization
    from tomau.training.trainer import train

    real_step = Pix2PixColorization.training_step

    def poisoned(self, batch, accelerator):
        losses = real_step(self, batch, accelerator)
        losses["G_L1"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(Pix2PixColorization, "training_step", poisoned)
    with pytest.raises(TomauError, match="no checkpoint had been written yet") as stop:
        train(tiny_cfg(colour_folder, tmp_path, steps=4, ckpt_every=100), quiet=True)
    assert "state.safetensors" not in str(stop.value)


def test_a_read_only_cache_still_colourises_with_onnxruntime(tmp_path, tiny_model_file, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("TOMAU_CACHE", str(tmp_path / "a_file" / "cache"))  # cannot be made, even by root
    assert main(["colorize", str(_photo(tmp_path / "p.png")), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file),
                 "--backend", "onnxruntime", "-q"]) == 0
    assert (tmp_path / "o" / "p.png").is_file()


@pytest.mark.parametrize("argv, words", [
    (["serve", "--keep-minutes", "1e308"], "--keep-minutes: must be at most"),
    (["colorize", "p.png", "-o", "o", "--samples", "2", "--seed", "99999999999999999999"], "--seed: must be from 0 to"),
    (["colorize", "p.png", "-o", "o", "--samples", "2", "--seed", "-3"], "--seed: must be from 0 to"),
    (["train", "pix2pix", "--data", "d", "--seed", "99999999999999999999"], "--seed: must be from 0 to"),
    (["swd", "a", "b", "--size", "100000"], "--size: must be at most"),
])
def test_numbers_out_of_reach_are_refused_up_front(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert words in err.strip().splitlines()[-1] and "Traceback" not in err
