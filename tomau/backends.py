"""Where a colouriser's network runs: PyTorch (training, GPUs) or onnxruntime on the exported graph (tomau.export).

The onnxruntime backend runs the same pipeline as PyTorch's (tomau.inference: strips, full-resolution L,
16-bit output, metadata); only the network call changes, and it never imports PyTorch once the graph exists.
The graph is exported on first use (with PyTorch, once) and cached, keyed by the model file's bytes, its
mix/temperature dial and the graph version, so an edited or retrained model or a new tomau never reuses a stale
graph. Where (:func:`graph_folders`): beside the model file, in a ``.onnx`` folder (the bundled models' graphs
then serve every user of the installation), or where that cannot be written (a read-only installation) in the
user's cache ``~/.cache/tomau/onnx``; ``$TOMAU_CACHE`` set, in ``$TOMAU_CACHE/onnx`` only.

Why not ship the graphs in git: as float32 ONNX they are twice the fp16 safetensors files (22 MB for the 11-MB
default), one more copy per bundled colouriser, and stale the moment a model is retrained; made on first use
they cost one export (a few seconds) per model and installation.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import color
from .errors import TomauError
from .fullres import cpu_threads, return_freed_heap

BACKENDS = ("torch", "onnxruntime")
# on the CPU, for load_model(), `tomau colorize` and `tomau serve`: faster end to end, same colours within 1/255
# (bench/backends.py, docs/performance.md)
DEFAULT_BACKEND = "onnxruntime"
GRAPH_FOLDER = ".onnx"  # beside a model file: its graphs


def cache_dir() -> Path:
    """The user's cache of graphs: ``$TOMAU_CACHE/onnx``, else ``$XDG_CACHE_HOME/tomau/onnx`` or ``~/.cache/tomau/onnx``."""
    root = os.environ.get("TOMAU_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tomau"
    return Path(root) / "onnx"


def graph_folders(source: Path) -> list[Path]:
    """Where a model file's graphs are looked for and written, in order: beside it, then the user's cache
    (``$TOMAU_CACHE`` set: there only, so a test or a job keeps its graphs to itself)."""
    if os.environ.get("TOMAU_CACHE"):
        return [cache_dir()]
    return [source.resolve().parent / GRAPH_FOLDER, cache_dir()]


def _installed(*modules: str) -> bool:
    """Whether these modules can be imported, without importing them (onnx alone takes 0.5 s)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


def choose_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend asked for (checked: an unknown one or onnxruntime on a GPU is refused in one sentence), or with None
    the default: DEFAULT_BACKEND on the CPU where onnxruntime is installed, PyTorch otherwise."""
    if backend is None:
        if str(device) != "cpu" or DEFAULT_BACKEND == "torch":
            return "torch"
        return DEFAULT_BACKEND if _installed("onnxruntime") else "torch"
    return check_backend(backend, device)


def check_backend(backend: str, device: str = "cpu") -> str:
    """Refuse, in one sentence, an unknown backend or onnxruntime on a GPU device."""
    if backend not in BACKENDS:
        raise TomauError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        if str(device) != "cpu":
            raise TomauError(f"the onnxruntime backend runs on the CPU; use --backend torch with --device {device}")
        if not _installed("onnxruntime"):
            raise TomauError("the onnxruntime backend needs onnxruntime and onnx: pip install onnxruntime onnx")
    return backend


def graph_name(model: str | Path, mix: float | None = None, temperature: float | None = None) -> str:
    """The file name of a model file's graph with this dial: its stem and a hash of its bytes, the dial and the
    graph version (tomau.graphs)."""
    import hashlib

    from .graphs import GRAPH_VERSION
    from .modelfile import resolve_model_path

    source = resolve_model_path(model)
    key = hashlib.sha256(source.read_bytes())
    key.update(json.dumps({"mix": mix, "temperature": temperature, "graph": GRAPH_VERSION}).encode())
    return f"{source.stem}-{key.hexdigest()[:20]}.onnx"


def find_graph(model: str | Path, mix: float | None = None, temperature: float | None = None) -> Path | None:
    """The cached graph of a model file with this dial, or None: no PyTorch, no export."""
    from .modelfile import resolve_model_path

    name = graph_name(model, mix, temperature)
    return next((p for p in (d / name for d in graph_folders(resolve_model_path(model))) if p.is_file()), None)


def cached_export(model: str | Path, mix: float | None = None, temperature: float | None = None,
                  say=None) -> Path | bytes:
    """The ONNX file of a model file with this dial, exported now (with PyTorch, after the model file's full check:
    tomau.modelfile.load_network) if no folder of :func:`graph_folders` has it; the graph's bytes where none can
    be written (a read-only home still colourises, exporting at each load). ``say`` hears one note on an export."""
    found = find_graph(model, mix, temperature)
    if found is not None:
        return found
    from .export import export_network, load_for_export
    from .images import write_atomic
    from .modelfile import resolve_model_path

    source = resolve_model_path(model)
    name = graph_name(model, mix, temperature)
    if say is not None:
        say(f"note: preparing {source.name} for onnxruntime (once per model file; kept as {name})")
    if not _installed("onnx"):
        raise TomauError(f"{source.name} has no onnxruntime graph yet, and making one needs onnx: pip install onnx")
    data = export_network(*load_for_export(model, mix, temperature), str(model)).data
    for folder in graph_folders(source):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_optimised(data, folder / name, write_atomic)
            return folder / name
        except (OSError, TomauError):  # a read-only or full folder: the next one, else the bytes in memory
            continue
    return data


def _write_optimised(data: bytes, path: Path, write_atomic) -> None:
    """The graph as onnxruntime's portable optimisations leave it (level "extended": constants folded, convolutions
    fused with their activations; not the layout passes, which depend on the CPU and run at each load): a session
    made from it is ready in about half the time. Where onnxruntime cannot save it, the graph as exported."""
    import onnxruntime as ort

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(tmp)
        _in_a_thread(lambda: ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]))
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - onnxruntime's own error types: keep the graph as exported
        tmp.unlink(missing_ok=True)
        write_atomic(path, lambda f: f.write(data))


def _denormals_flushed() -> bool:
    """True where this thread's floating point flushes denormals to zero (FTZ / DAZ)."""
    return bool(np.float32(1e-39) * np.float32(1) == 0)


@contextmanager
def _flushing_denormals():
    """Where PyTorch is loaded (its switch is the one tomau has), this thread flushes denormals to zero inside the
    block, as onnxruntime's own threads do, and afterwards is as it was: the process's other maths keep their
    denormals. Without PyTorch the thread is left as it is (the run's share of this thread is a little slower on
    denormal inputs, the results the same)."""
    torch = sys.modules.get("torch")
    before = _denormals_flushed()
    if torch is not None:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if torch is not None and not before:
            torch.set_flush_denormal(False)


def _in_a_thread(fn):
    """fn() in a thread of its own, its result or error here: onnxruntime's denormal option sets flushing in the
    thread that builds a session, and a thread of its own keeps this one as it was."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = err

    t = threading.Thread(target=run, name="tomau-onnx-session")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class OnnxColourNet:
    """Callable like a colouriser network: normalised L (N, 1, S, S) -> normalised ab (N, 2, S, S), through
    onnxruntime, as float32 NumPy arrays (a tensor in gives a tensor out).

    ``threads`` 0 = tomau.fullres.cpu_threads() (--threads, or PyTorch's number: the same for both backends).
    Spinning is off: the pixel work between model calls runs on the same cores, and spinning threads slowed
    effunet end to end."""

    def __init__(self, path: str | Path | bytes, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # denormal floats flushed to zero in onnxruntime's threads: a photo's input ran 1.4-2 ms slower than zeros
        # (1 MP, effunet); this takes 0.7-0.9 ms of that off with the same results (docs/performance.md, "Big scans")
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = _in_a_thread(lambda: ort.InferenceSession(path if isinstance(path, bytes) else str(path), options,
                                                                     providers=["CPUExecutionProvider"]))
        except Exception as err:  # noqa: BLE001 - onnxruntime's own error types
            raise TomauError(f"{path}: onnxruntime cannot load this file ({err}); delete it to have it exported again") from None
        self.input_name = self.session.get_inputs()[0].name
        return_freed_heap()  # parsing the graph and copying its weights leave ~30 MB of freed heap (73 MB for a 23 MB file)

    def __call__(self, l_norm):
        torch = sys.modules.get("torch")
        tensor = torch is not None and isinstance(l_norm, torch.Tensor)
        l = np.ascontiguousarray(color.denormalize_l(l_norm.detach().float().cpu().numpy() if tensor else l_norm), np.float32)
        with _flushing_denormals():  # this thread works in the run too
            ab = color.normalize_ab(self.session.run(None, {self.input_name: l})[0])
        return torch.from_numpy(ab) if tensor else ab


def onnx_colour_net(model: str | Path, mix: float | None = None, temperature: float | None = None,
                    threads: int = 0, required: bool = True, say=None) -> OnnxColourNet | None:
    """The model's network in onnxruntime; None where it cannot be exported and onnxruntime was not asked for by
    name (the default backend then falls back to PyTorch: a network of a family registered by a plugin, say)."""
    try:
        return OnnxColourNet(cached_export(model, mix, temperature, say=say), threads)
    except TomauError:
        if required:
            raise
        return None
