"""Where a colouriser's network runs: PyTorch (training, GPUs) or onnxruntime on the exported graph (tomau.export).

The onnxruntime backend runs the same pipeline as PyTorch's (tomau.inference: strips, full-resolution L,
16-bit output, metadata); only the network call changes. The graph is exported on first use and cached under
``$TOMAU_CACHE/onnx`` (default ``~/.cache/tomau/onnx``), keyed by the model file's bytes, its mix/temperature
dial and the graph version, so an edited model or a new tomau never reuses a stale graph.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from . import color
from .errors import TomauError
from .fullres import return_freed_heap

BACKENDS = ("torch", "onnxruntime")
# on the CPU, for load_model(), `tomau colorize` and `tomau serve`: faster end to end, same colours within 1/255
# (bench/backends.py, README "ONNX")
DEFAULT_BACKEND = "onnxruntime"


def cache_dir() -> Path:
    root = os.environ.get("TOMAU_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tomau"
    return Path(root) / "onnx"


def choose_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend asked for (checked: an unknown one or onnxruntime on a GPU is refused in one sentence), or with None
    the default: DEFAULT_BACKEND on the CPU where onnxruntime is installed, PyTorch otherwise."""
    if backend is None:
        if str(device) != "cpu" or DEFAULT_BACKEND == "torch":
            return "torch"
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch"
        return DEFAULT_BACKEND
    return check_backend(backend, device)


def check_backend(backend: str, device: str = "cpu") -> str:
    """Refuse, in one sentence, an unknown backend or onnxruntime on a GPU device."""
    if backend not in BACKENDS:
        raise TomauError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        if str(device) != "cpu":
            raise TomauError(f"the onnxruntime backend runs on the CPU; use --backend torch with --device {device}")
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise TomauError("the onnxruntime backend needs onnxruntime and onnx: pip install onnxruntime onnx") from None
    return backend


def cached_export(model: str | Path, mix: float | None = None, temperature: float | None = None) -> Path | bytes:
    """The ONNX file of a model file with this dial, exported now if the cache has none (the graph's bytes where
    the cache cannot be written: a read-only home still colourises, exporting at each load)."""
    import hashlib

    from .export import GRAPH_VERSION, export_network, load_for_export
    from .images import write_atomic
    from .modelfile import resolve_model_path

    source = resolve_model_path(model)
    key = hashlib.sha256(source.read_bytes())
    key.update(json.dumps({"mix": mix, "temperature": temperature, "graph": GRAPH_VERSION}).encode())
    path = cache_dir() / f"{source.stem}-{key.hexdigest()[:20]}.onnx"
    if path.is_file():
        return path
    data = export_network(*load_for_export(model, mix, temperature), str(model)).data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: f.write(data))
    except (OSError, TomauError):  # a read-only or full cache folder: colourised from the bytes, exported again next time
        return data
    return path


def _denormals_flushed() -> bool:
    """True where this thread's floating point flushes denormals to zero (FTZ / DAZ)."""
    return bool(np.float32(1e-39) * np.float32(1) == 0)


@contextmanager
def _flushing_denormals():
    """This thread flushes denormals to zero inside the block, as onnxruntime's own threads do (its session option
    also sets it in the thread that builds the session), and afterwards is as it was: the process's other maths
    keep their denormals."""
    before = _denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not before:
            torch.set_flush_denormal(False)


class OnnxColourNet:
    """Callable like a colouriser network: normalised L (N, 1, S, S) -> normalised ab (N, 2, S, S), through onnxruntime.

    ``threads`` 0 = PyTorch's thread count (so --threads means the same for both backends). Spinning is off: the
    pixel work between model calls runs on the same cores, and spinning threads slowed effunet end to end."""

    def __init__(self, path: str | Path | bytes, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # denormal floats flushed to zero in onnxruntime's threads: a photo's input ran 1.4-2 ms slower than zeros
        # (1 MP, effunet); this takes 0.7-0.9 ms of that off with the same results (docs/performance.md, "Big scans")
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            with _flushing_denormals():
                self.session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime's own error types
            raise TomauError(f"{path}: onnxruntime cannot load this file ({err}); delete it to have it exported again") from None
        self.input_name = self.session.get_inputs()[0].name
        return_freed_heap()  # parsing the graph and copying its weights leave ~30 MB of freed heap (73 MB for a 23 MB file)

    def __call__(self, l_norm: torch.Tensor) -> torch.Tensor:
        l = color.denormalize_l(l_norm.float()).contiguous().numpy()
        with _flushing_denormals():  # this thread works in the run too
            ab = self.session.run(None, {self.input_name: l})[0]
        return color.normalize_ab(torch.from_numpy(ab))


def onnx_colour_net(model: str | Path, mix: float | None = None, temperature: float | None = None,
                    threads: int = 0, required: bool = True) -> OnnxColourNet | None:
    """The model's network in onnxruntime; None where it cannot be exported and onnxruntime was not asked for by
    name (the default backend then falls back to PyTorch: a network of a family registered by a plugin, say)."""
    try:
        return OnnxColourNet(cached_export(model, mix, temperature), threads)
    except TomauError:
        if required:
            raise
        return None
