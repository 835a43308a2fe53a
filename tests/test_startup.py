"""Start-up: the command line builds its parser without PyTorch, Accelerate or Gradio, each command imports what it
uses, and colourising with onnxruntime (the default on the CPU) never imports PyTorch once the model's graph exists
(tomau.backends caches it; tomau.modelfile.read_header checks the file from its header). Checked in fresh processes,
by what sys.modules holds, never by timing."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tomau.errors import TomauError
from tomau.modelfile import read_header, save_model_file

pytest.importorskip("onnxruntime")
HEAVY = ("torch", "accelerate", "gradio", "ray", "onnx")


def loaded_after(code: str, tmp_path, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter and return {module: loaded?} for HEAVY, plus what the code printed."""
    import os

    probe = code + f"\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, **(env or {})})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["--help"], ["colorize", "--help"], ["hint", "--help"], ["models", "--help"],
                                  ["swd", "--help"]])
def test_the_parser_imports_no_heavy_library(tmp_path, argv):
    code = f"import sys\nfrom tomau.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    loaded = loaded_after(code, tmp_path)
    assert not any(loaded.values()), loaded


@pytest.mark.slow
def test_each_command_builds_only_its_own_parsers(tmp_path):
    loaded = loaded_after("from tomau.cli import build_parser\nbuild_parser('colorize').parse_args(['colorize', 'a.jpg', '-o', 'o'])",
                          tmp_path)
    assert not any(loaded.values()), loaded
    from tomau.cli import COMMANDS, build_parser

    parser = build_parser("models")  # the other commands are there by name, so their names still parse
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--no-such-flag"])


@pytest.mark.slow
def test_colourising_with_onnxruntime_never_imports_pytorch(tmp_path, tiny_model_file):
    """Once a model's graph is made (the first use, with PyTorch), the API and the command colourise without it."""
    from tomau.backends import cached_export, find_graph

    env = {"TOMAU_CACHE": str(tmp_path / "cache")}
    photo = tmp_path / "old.png"
    Image.fromarray((np.arange(48 * 64).reshape(48, 64) % 251).astype(np.uint8), "L").save(photo)
    import os

    os.environ["TOMAU_CACHE"] = env["TOMAU_CACHE"]
    try:
        assert find_graph(tiny_model_file) is None
        graph = cached_export(tiny_model_file)
        assert graph == find_graph(tiny_model_file) and graph.parent == tmp_path / "cache" / "onnx"
    finally:
        del os.environ["TOMAU_CACHE"]
    api = (f"import tomau\nm = tomau.load_model({str(tiny_model_file)!r})\nassert m.backend == 'onnxruntime', m.backend\n"
           f"out = tomau.colorize({str(photo)!r}, m)\nassert out.size == (64, 48)\n"
           "assert not m.can_sample and m.task == 'colorize'\nm.to('cpu')")
    assert not any(loaded_after(api, tmp_path, env).values())
    cli = (f"from tomau.cli import main\nassert main(['colorize', {str(photo)!r}, '-o', 'out', '-m', {str(tiny_model_file)!r}, "
           "'-q']) == 0")
    assert not any(loaded_after(cli, tmp_path, env).values())
    assert (tmp_path / "out" / "old.png").is_file()
    # --backend torch loads PyTorch, as asked
    torch_cli = cli.replace("'-q']", "'-q', '--backend', 'torch', '--overwrite']")
    assert loaded_after(torch_cli, tmp_path, env)["torch"]


def test_the_graph_lives_beside_the_model_or_in_the_user_cache(tmp_path, tiny_model_file, monkeypatch):
    """Without $TOMAU_CACHE a graph is kept beside its model file (.onnx/), and where that folder cannot be made
    (a read-only installation) in the user's cache; a changed model file gets a graph of its own."""
    from tomau import backends
    from tomau.modelfile import load_model_file

    monkeypatch.delenv("TOMAU_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    model = tmp_path / "models" / "m.safetensors"
    model.parent.mkdir()
    model.write_bytes(tiny_model_file.read_bytes())
    first = backends.cached_export(model)
    assert first.parent == model.parent / ".onnx" and backends.find_graph(model) == first
    config, state = load_model_file(model)
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}
    save_model_file(model, state, config)  # retrained: other bytes, the same name
    assert backends.find_graph(model) is None
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    ro_model = readonly / "m.safetensors"
    ro_model.write_bytes(model.read_bytes())
    (readonly / ".onnx").write_text("a file where the folder would go: it cannot be made")
    second = backends.cached_export(ro_model)
    assert second.parent == tmp_path / "xdg" / "tomau" / "onnx" and second != first


def test_read_header_checks_a_file_without_building_a_network(tmp_path, tiny_model_file):
    config, tensors = read_header(tiny_model_file)
    assert config["task"] == "colorize" and tensors and all(dtype in ("F16", "F32", "I64") for dtype, _ in tensors.values())
    raw = tiny_model_file.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")

    def edited(change) -> bytes:
        h = json.loads(raw[8 : 8 + n])
        change(h)
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        return len(text).to_bytes(8, "little") + text + raw[8 + n :]

    def overlap(h):  # the second tensor in the file moved onto the first one's bytes
        second = sorted((v["data_offsets"][0], k) for k, v in h.items() if k != "__metadata__")[1][1]
        start, end = h[second]["data_offsets"]
        h[second]["data_offsets"] = [0, end - start]

    cases = {
        "bad_dtype": (lambda h: h[name].update(dtype="Q7"), "bad entry"),
        "bad_shape": (lambda h: h[name].update(shape=[h[name]["shape"][0] + 1, *h[name]["shape"][1:]]), "bad entry"),
        "beyond": (lambda h: h[name].update(data_offsets=[len(raw), len(raw) + 8]), "bad entry"),
        "overlap": (overlap, "share bytes"),
        "no_config": (lambda h: h.pop("__metadata__"), "without a tomau config"),
        "huge": (lambda h: h["__metadata__"].update(tomau=json.dumps({**config, "generator": {"kind": "unet", "params": {"ngf": 10**9}}})), None),
    }
    for label, (change, message) in cases.items():
        path = tmp_path / f"{label}.safetensors"
        path.write_bytes(edited(change))
        if message is None:  # the bounds of the config are check_config's, which load_model runs before anything else
            from tomau.modelfile import check_config

            with pytest.raises(TomauError, match="beyond any network"):
                check_config(read_header(path)[0], "colorize", "a colouriser", str(path))
            continue
        with pytest.raises(TomauError, match=message):
            read_header(path)
    (tmp_path / "short.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(TomauError, match="not a readable safetensors"):
        read_header(tmp_path / "short.safetensors")


def test_every_network_with_an_onnx_declaration_is_known_without_pytorch():
    from tomau.cli.generate import FIT_WORDS
    from tomau.data import SquareImageFolder
    from tomau.export import NETWORK_IO
    from tomau.graphs import ONNX_KINDS
    from tomau.inference import SAMPLING_KINDS
    from tomau.models import GENERATORS

    assert set(ONNX_KINDS) == set(NETWORK_IO) and tuple(FIT_WORDS) == SquareImageFolder.FITS
    assert SAMPLING_KINDS == {kind for kind, (_, cls) in GENERATORS.items() if hasattr(cls, "sample")}


def test_threads_without_pytorch(monkeypatch):
    from tomau import fullres

    monkeypatch.setattr(fullres, "_threads", 0)
    assert fullres.cpu_threads() >= 1
    fullres.set_cpu_threads(3)
    try:
        assert fullres.cpu_threads() == 3 and fullres._workers(10**7) == 3
    finally:
        fullres.set_cpu_threads(0)
        import torch

        torch.set_num_threads(2)  # conftest's
