"""Files from elsewhere cannot run code or exhaust memory: checkpoints load without pickle, configs are checked."""
from __future__ import annotations

import os

import pytest
import torch

from tomau import TomauError
from tomau.cli import main
from tomau.modelfile import load_model_file, load_network, save_model_file
from tomau.training.trainer import train

from .test_training import tiny_cfg


class _Payload:
    """Unpickling this runs ``touch MARKER`` (what a hostile run folder would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny_run(tmp_path, colour_folder):
    return train(tiny_cfg(colour_folder, tmp_path / "runs", steps=2, ckpt_every=2), quiet=True)


def _as_legacy_checkpoint(run):
    """Turn a run folder into one of tomau <= 0.3 (checkpoint.pt); returns its checkpoint dict."""
    from tomau.training.trainer import read_state

    ckpt = read_state(run / "state.safetensors")
    (run / "state.safetensors").unlink()
    return ckpt


def test_checkpoints_hold_no_pickled_objects(tmp_path, colour_folder):
    from safetensors import safe_open

    from tomau.training.trainer import read_state

    run = _tiny_run(tmp_path, colour_folder)
    assert not (run / "checkpoint.pt").exists()
    with safe_open(str(run / "state.safetensors"), "pt") as f:  # tensors, and JSON in the header: nothing to unpickle
        assert set(f.metadata()) == {"tomau_state"}
    assert read_state(run / "state.safetensors")["step"] == 2


def test_a_damaged_state_file_is_one_sentence(tmp_path, colour_folder, capsys):
    run = _tiny_run(tmp_path, colour_folder)
    data = (run / "state.safetensors").read_bytes()
    (run / "state.safetensors").write_bytes(data[: len(data) // 2])
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "3", "-q"]) == 2
    err = capsys.readouterr().err
    assert "state is damaged" in err and "Traceback" not in err


def test_a_checkpoint_that_runs_code_is_refused(tmp_path, colour_folder, capsys):
    run = _tiny_run(tmp_path, colour_folder)
    marker = tmp_path / "pwned"
    ckpt = _as_legacy_checkpoint(run)
    ckpt["rng"]["python"] = _Payload(marker)
    torch.save(ckpt, run / "checkpoint.pt")
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "3", "-q"]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "pickled Python objects" in err and "--trust-checkpoint" in err and "Traceback" not in err


def test_an_old_style_checkpoint_loads_only_when_trusted(tmp_path, colour_folder):
    import numpy as np

    run = _tiny_run(tmp_path, colour_folder)
    from tomau.training.trainer import read_state

    ckpt = _as_legacy_checkpoint(run)
    ckpt["rng"]["numpy"] = np.random.get_state()  # as tomau 0.1 wrote it: a numpy array in the pickle
    torch.save(ckpt, run / "checkpoint.pt")
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "3", "-q"]) == 2
    assert main(["train", "pix2pix", "--resume", str(run), "--steps", "3", "-q", "--trust-checkpoint"]) == 0
    assert read_state(run / "state.safetensors")["step"] == 3  # continued in today's format


@pytest.mark.parametrize("edit, words", [
    ({"ngf": 3000}, "do not match"), ({"ngf": 200000}, "beyond any network"), ({"ngf": "wide"}, "not valid"),
    ({"ngf": -5}, "not valid"), ({"num_downs": 40}, None), ({"num_downs": 10**6}, "beyond any network")])
def test_an_edited_model_config_is_refused_before_building(tmp_path, tiny_model_file, edit, words):
    config, state = load_model_file(str(tiny_model_file))
    config["generator"]["params"].update(edit)
    config.pop("format")
    bad = tmp_path / "bad.safetensors"
    save_model_file(bad, state, config)
    with pytest.raises(TomauError) as err:
        load_network(str(bad), "colorize", "a colouriser")
    if words:
        assert words in str(err.value)


@pytest.mark.parametrize("size", [10**7, -1, "256", 2.5])
def test_a_hostile_image_size_is_refused(tmp_path, tiny_model_file, size):
    config, state = load_model_file(str(tiny_model_file))
    config["image_size"] = size
    config.pop("format")
    bad = tmp_path / "bad.safetensors"
    save_model_file(bad, state, config)
    with pytest.raises(TomauError, match="image_size"):
        load_network(str(bad), "colorize", "a colouriser")


def test_cli_says_one_sentence_for_a_crafted_model(tmp_path, tiny_model_file, capsys):
    config, state = load_model_file(str(tiny_model_file))
    config["generator"]["params"]["ngf"] = 200000
    config.pop("format")
    bad = tmp_path / "bad.safetensors"
    save_model_file(bad, state, config)
    from PIL import Image

    Image.new("RGB", (40, 40), (90, 90, 90)).save(tmp_path / "g.png")
    assert main(["colorize", str(tmp_path / "g.png"), "-o", str(tmp_path / "out"), "-m", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beyond any network" in err[0]


def _with_header(tmp_path, name, tiny_model_file, meta: str | None = None, edit=None, tensors_edit=None):
    """A copy of the tiny model file with its tomau config replaced by ``meta`` (raw text) or edited by ``edit``."""
    import json

    from safetensors.torch import load, save

    raw = tiny_model_file.read_bytes()
    tensors = load(raw)
    config = json.loads(json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]["tomau"])
    if edit:
        edit(config)
    if tensors_edit:
        tensors_edit(tensors)
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(save(tensors, metadata={"tomau": meta if meta is not None else json.dumps(config)}))
    return path


def _nan(tensors):
    key = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("inf")


@pytest.mark.parametrize("name, meta, edit, tensors_edit, words", [
    ("not_json", "{not json", None, None, "not valid JSON"),
    ("a_list", "[1, 2]", None, None, "JSON list, not an object"),
    ("wrong_task", None, lambda c: c.update(task="translate"), None, "cannot run on a 32x32 translate input"),
    ("odd_size", None, lambda c: c.update(image_size=40), None, "cannot run on a 40x40 colorize input"),
    ("deep", None, lambda c: c["generator"]["params"].update(num_downs=10**6), None, "beyond any network"),
    ("infinite", None, None, _nan, "NaN or infinite"),
])
def test_every_damaged_model_file_is_one_sentence_in_under_a_second(tmp_path, tiny_model_file, name, meta, edit,
                                                                    tensors_edit, words):
    import time

    bad = _with_header(tmp_path, name, tiny_model_file, meta, edit, tensors_edit)
    task = "translate" if name == "wrong_task" else "colorize"
    t0 = time.perf_counter()
    with pytest.raises(TomauError, match=words):
        load_network(str(bad), task, "a model")
    assert time.perf_counter() - t0 < 1.0  # checked before anything is built or allocated


