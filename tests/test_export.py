"""ONNX export of every network and bundled model, and the onnxruntime backend of the colourisers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.cli import main
from tomau.errors import TomauError
from tomau.export import NETWORK_IO, export_model, export_network, network_io, read_io
from tomau.models import GENERATORS, build_network

ort = pytest.importorskip("onnxruntime")
SAMPLES = Path(__file__).resolve().parents[1] / "tomau" / "samples"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """The backend's exports go to a cache of this test session, not the user's ~/.cache."""
    monkeypatch.setenv("TOMAU_CACHE", str(tmp_path_factory.getbasetemp() / "tomau_cache"))


def small_params(kind: str) -> dict:
    """A few-thousand-parameter config of each registered network, as a model file's generator params."""
    g = np.arange(-100, 101, 50)
    centres = [[float(a), float(b)] for a in g for b in g][:9]
    return {"unet": {"ngf": 4, "num_downs": 5}, "resunet": {"decoder_widths": [8, 8, 8, 8]},
            "effunet": {"decoder_widths": [8, 8, 8], "bins": 9, "bin_centres": centres, "mix": 0.5},
            "liteunet": {"decoder_widths": [8, 8, 8, 8, 8]}, "cvae": {"width": 0.0625, "hidden": 8, "nmix": 4},
            "dcgan": {"g_width": 64, "nz": 16}, "fastgan": {"g_width": 64, "nz": 16}}[kind]


def test_every_registered_network_declares_its_tensors_and_keeps_to_them():
    assert set(NETWORK_IO) == set(GENERATORS)
    for kind in GENERATORS:
        params = small_params(kind)
        net = build_network(GENERATORS, kind, params).eval()
        spec_in, spec_out = network_io(kind, params, 64)
        x = spec_in.example(2, torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = net(x)
        assert list(y.shape) == [2 if d == "N" else d for d in spec_out.shape], kind
        assert spec_out.low - 1e-6 <= float(y.min()) and float(y.max()) <= spec_out.high + 1e-6, kind


@pytest.mark.parametrize("kind,task", [("unet", "colorize"), ("effunet", "colorize"), ("cvae", "colorize"), ("resunet", "colorize"),
                                       ("liteunet", "translate"), ("dcgan", "generate"), ("fastgan", "generate")])
def test_every_network_exports_and_onnxruntime_agrees(kind, task):
    params = small_params(kind)
    torch.manual_seed(0)
    net = build_network(GENERATORS, kind, params).eval()
    config = {"task": task, "generator": {"kind": kind, "params": params}, "image_size": 64}
    exported = export_network(net, config, kind)
    x = exported.inputs.example(3, torch.Generator().manual_seed(1))  # a batch size other than the one traced
    with torch.inference_mode():
        ref = exported.graph(x).numpy()
    out = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"]).run(None, {exported.inputs.name: x.numpy()})[0]
    scale = 255 / 110 if task == "colorize" else 255  # 1/255 of the output's range
    assert out.shape == ref.shape and np.abs(out - ref).max() * scale < 0.5


def photo(size=(300, 220)) -> np.ndarray:
    """A real photo (the bundled 1860 sample), grey and resized: what a user colourises."""
    im = Image.open(SAMPLES / "1860_girls.jpg").convert("L").resize(size, Image.BICUBIC).convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255


@pytest.mark.parametrize("model", ["effunet", "pix2pix", "faces"])
def test_bundled_colourisers_give_the_same_colours_through_onnxruntime(model):
    from tomau.inference import load_model

    images = [photo(), photo((130, 170))]
    ours = load_model(model, backend="onnxruntime")
    assert ours.backend == "onnxruntime" and ours.runner is not None
    theirs = load_model(model, backend="torch")
    for a, b in zip(ours.colorize_arrays(images), theirs.colorize_arrays(images)):
        assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1  # within 1/255 after the whole pipeline
    sixteen = ours.colorize_arrays(images[:1], dtype=np.uint16)[0]
    assert sixteen.dtype == np.uint16 and np.abs(sixteen.astype(int) - theirs.colorize_arrays(images[:1], dtype=np.uint16)[0]).max() <= 257


def test_bundled_translator_and_generators_export(tmp_path):
    from tomau.generation import Generator, latent
    from tomau.translation import load_translator

    exported, diff = export_model("maps", tmp_path / "maps.onnx")
    assert diff < 1 / 255 and read_io(tmp_path / "maps.onnx")["inputs"][0]["name"] == "image"
    translator = load_translator("maps")
    tile = (photo((256, 256)) * 255).astype(np.uint8)
    want = translator.translate_arrays([tile])[0]
    session = ort.InferenceSession(str(tmp_path / "maps.onnx"))
    got = session.run(None, {"image": (tile.transpose(2, 0, 1)[None] / 255).astype(np.float32)})[0][0]
    assert np.abs(np.round(got.transpose(1, 2, 0) * 255) - want).max() <= 1
    for name in ("flowers_gan", "flowers_dcgan"):
        exported, _ = export_model(name, tmp_path / f"{name}.onnx", check=False)
        nz = exported.inputs.shape[1]
        want = Generator.load(name)(3, seed=4)
        z = torch.stack([latent(4, i, nz) for i in range(3)]).numpy()
        got = ort.InferenceSession(exported.data).run(None, {"z": z})[0]
        assert np.abs(np.round(got.transpose(0, 2, 3, 1) * 255) - np.stack(want)).max() <= 1, name


def test_export_command_writes_a_declared_graph(tmp_path, tinted_model, capsys):
    import onnx

    out = tmp_path / "deep" / "tinted.onnx"
    assert main(["export", "-m", str(tinted_model), "-o", str(out)]) == 0
    assert "largest difference from PyTorch" in capsys.readouterr().err
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    io = json.loads(meta["tomau_io"])
    assert io["task"] == "colorize" and io["inputs"][0] == {"name": "L", "shape": ["N", 1, 32, 32], "low": 0.0, "high": 100.0,
                                                            "meaning": io["inputs"][0]["meaning"]}
    assert io["outputs"][0]["name"] == "ab" and io["network"]["kind"] == "unet" and json.loads(meta["tomau"])["image_size"] == 32
    session = ort.InferenceSession(str(out))
    assert [i.shape for i in session.get_inputs()] == [["N", 1, 32, 32]]
    assert not list(out.parent.glob("*.tmp*")) and not list(out.parent.glob(".*"))


@pytest.mark.parametrize("args,message", [
    (["-m", "/nonexistent.safetensors", "-o", "x.onnx"], "no such model"),
    (["-m", "TINY", "-o", "x.png"], "must be a .onnx file"),
    (["-m", "TINY", "-o", "x.onnx", "--mix", "0.3"], "no classification head"),
])
def test_export_refuses_in_one_sentence(tmp_path, tinted_model, capsys, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", *[str(tinted_model) if a == "TINY" else a for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_colorize_cli_backend_onnxruntime_matches_torch_and_caches_the_graph(tmp_path, tinted_model):
    from tomau.backends import cache_dir

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((photo((90, 70)) * 255).astype(np.uint8)).save(src / "old.png")
    for backend in ("torch", "onnxruntime"):
        assert main(["colorize", str(src), "-o", str(tmp_path / backend), "-m", str(tinted_model), "--backend", backend, "-q"]) == 0
    a, b = (np.asarray(Image.open(tmp_path / k / "old.png")).astype(int) for k in ("torch", "onnxruntime"))
    assert a.shape == b.shape == (70, 90, 3) and np.abs(a - b).max() <= 1 and np.ptp(a, axis=-1).mean() > 4
    cached = sorted(cache_dir().glob("tinted-*.onnx"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert main(["colorize", str(src), "-o", str(tmp_path / "again"), "-m", str(tinted_model), "--backend", "onnxruntime", "-q"]) == 0
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not exported again


def test_cache_follows_the_model_file(tmp_path, tinted_model, tiny_model_file):
    from tomau.backends import cached_export
    from tomau.modelfile import load_model_file, save_model_file

    first = cached_export(tinted_model)
    config, state = load_model_file(tinted_model)
    state["ups.4.1.bias"] = state["ups.4.1.bias"] - 0.6
    save_model_file(tinted_model, state, config)  # the same path, other weights
    assert cached_export(tinted_model) != first


def test_backend_refusals(tinted_model):
    from tomau.inference import load_model

    with pytest.raises(TomauError, match="runs on the CPU"):
        load_model(str(tinted_model), device="cuda", backend="onnxruntime")
    with pytest.raises(TomauError, match="unknown backend"):
        load_model(str(tinted_model), backend="tensorrt")


def test_an_unwritable_cache_still_colourises(tmp_path, tinted_model, monkeypatch):
    from tomau.backends import cached_export
    from tomau.inference import load_model

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TOMAU_CACHE", str(blocker / "cache"))
    assert isinstance(cached_export(tinted_model), bytes)  # exported in memory
    image = photo((40, 30))
    a = load_model(str(tinted_model), backend="onnxruntime").colorize_arrays([image])[0].astype(int)
    assert np.abs(a - load_model(str(tinted_model), backend="torch").colorize_arrays([image])[0]).max() <= 1


def test_the_default_backend_and_moving_to_a_gpu(tinted_model, monkeypatch):
    import tomau.backends as backends
    from tomau.inference import load_model

    monkeypatch.setattr(backends, "DEFAULT_BACKEND", "onnxruntime")
    model = load_model(str(tinted_model))
    assert model.backend == "onnxruntime" and model.runner is not None
    assert backends.choose_backend(None, "cuda") == "torch" and backends.choose_backend("torch", "cpu") == "torch"
    monkeypatch.setattr(backends, "DEFAULT_BACKEND", "torch")
    assert load_model(str(tinted_model)).runner is None


def test_the_vividness_dial_is_baked_into_the_cached_graph(tmp_path):
    from tomau.inference import load_model
    from tomau.modelfile import save_model_file

    torch.manual_seed(0)
    params = small_params("effunet")
    net = build_network(GENERATORS, "effunet", params)
    path = tmp_path / "eff.safetensors"
    save_model_file(path, net.state_dict(), {"task": "colorize", "family": "effunet", "image_size": 64,
                                             "generator": {"kind": "effunet", "params": params}}, half=False)
    image = photo((80, 60))
    outs = {}
    for mix in (0.0, 1.0):
        ours = load_model(str(path), mix=mix, temperature=0.3, backend="onnxruntime").colorize_arrays([image])[0].astype(int)
        theirs = load_model(str(path), mix=mix, temperature=0.3, backend="torch").colorize_arrays([image])[0]
        assert np.abs(ours - theirs).max() <= 1
        outs[mix] = ours
    assert np.abs(outs[0.0] - outs[1.0]).mean() > 0.5  # two graphs, one per dial setting


def test_the_default_backend_falls_back_to_pytorch_where_the_export_fails(tinted_model, monkeypatch):
    import tomau.backends as backends
    from tomau.inference import load_model

    def refuse(*args, **kwargs):
        raise TomauError("PyTorch could not export this network to ONNX")

    monkeypatch.setattr(backends, "DEFAULT_BACKEND", "onnxruntime")
    monkeypatch.setattr(backends, "cached_export", refuse)
    model = load_model(str(tinted_model))
    assert model.backend == "torch" and model.runner is None
    with pytest.raises(TomauError, match="could not export"):
        load_model(str(tinted_model), backend="onnxruntime")  # asked for by name: the reason, not a silent change


def test_onnxruntime_flushes_denormals_in_its_threads_only(tinted_model):
    # the session flushes denormals to zero (faster on photos' inputs); building or running it must not leave the
    # caller's thread doing so, or later NumPy / PyTorch results of the process could change
    from tomau import backends
    from tomau.inference import load_model

    tiny = np.float32(1e-39)
    assert tiny * np.float32(1) != 0
    model = load_model(str(tinted_model), backend="onnxruntime")
    image = photo((40, 30))
    model.colorize_arrays([image])
    assert tiny * np.float32(1) != 0 and (torch.tensor([1e-39]) * 1).item() != 0
    assert not backends._denormals_flushed()
    torch.set_flush_denormal(True)  # a caller that asked for flushing keeps it
    try:
        load_model(str(tinted_model), backend="onnxruntime")
        assert backends._denormals_flushed() or not torch.set_flush_denormal(True)  # (a CPU without the mode: nothing to keep)
    finally:
        torch.set_flush_denormal(False)
