"""ONNX export of model files: the graph takes what a user has and gives what they want, no tomau needed to run it.

========== ======================================== ===========================================================
task       graph input                              graph output
========== ======================================== ===========================================================
colorize   ``L``  (N, 1, S, S) Lab L* in [0, 100]    ``ab`` (N, 2, S, S) Lab a*, b* in about [-110, 110]
translate  ``image`` (N, 3, S, S) sRGB in [0, 1]     ``translated`` (N, 3, S, S) sRGB in [0, 1]
generate   ``z`` (N, nz) standard normal noise       ``image`` (N, 3, S, S) sRGB in [0, 1]
========== ======================================== ===========================================================

The networks' own normalisation (L / 50 - 1, ab * 110, [-1, 1] pixels) is inside the graph, so the runtime side
has nothing to guess; the declaration of both levels travels in the file's metadata (``tomau_io``, JSON), with the
model file's config (``tomau``). A colourisation graph predicts ab at the model's size S: as in
tomau.inference, the caller resizes the photo's L to S, and upsamples ab back to the photo's size to recombine it
with the full-resolution L (web/colorize.js does exactly that in a browser).

A hints model (effunet with a hints decoder, tomau.guided) takes two more inputs, ``hint_ab`` (N, 2, S/4, S/4) in Lab
units and ``hint_mask`` (N, 1, S/4, S/4) in {0, 1}, and gives two more outputs, ``probs`` (N, bins, S/4, S/4): the
classification head's distribution over the 313 ab bins, and ``bin_ab`` (bins, 2): their centres in Lab units,
from which a page suggests colours. A photo whose mask is all zero gets the shipped decoder's colours (both decoders run in the graph).

Each network declares its own tensors in one place, NETWORK_IO below (shapes and value ranges in the network's
units); tests/test_export.py runs every registered network against its declaration.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import color
from .errors import TomauError
from .graphs import GRAPH_VERSION, OPSET
from .images import write_atomic


@dataclass(frozen=True)
class TensorSpec:
    """One graph or network tensor: name, shape ("N" = any batch size), value range and what it holds."""

    name: str
    shape: tuple
    low: float
    high: float
    meaning: str

    def example(self, batch: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random tensor of this shape and range (standard normal for noise inputs)."""
        shape = tuple(batch if d == "N" else d for d in self.shape)
        if self.low == float("-inf"):
            return torch.randn(shape, generator=generator)
        return self.low + (self.high - self.low) * torch.rand(shape, generator=generator)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["low"], d["high"] = (None if abs(v) == float("inf") else v for v in (self.low, self.high))
        return d


INF = float("inf")


def _image(name: str, channels: int, size: int, meaning: str = "normalised image") -> TensorSpec:
    return TensorSpec(name, ("N", channels, size, size), -1.0, 1.0, meaning)


def _noise(nz: int) -> TensorSpec:
    return TensorSpec("z", ("N", nz), -INF, INF, "latent noise, standard normal")


# network kind -> (its config, the model file's image size) -> (input, output) in the network's own units.
# One entry per registered generator (tomau.models.GENERATORS); the export and tests/test_export.py read them.
NETWORK_IO: dict[str, Callable[[object, int], tuple[TensorSpec, TensorSpec]]] = {
    "unet": lambda c, s: (_image("x", c.in_channels, s, "L / 50 - 1 (colour) or RGB in [-1, 1] (translate)"),
                          _image("y", c.out_channels, s, "ab / 110 (colour) or RGB in [-1, 1] (translate)")),
    "resunet": lambda c, s: (_image("x", c.in_channels, s, "L / 50 - 1"), _image("y", c.out_channels, s, "ab / 110")),
    "effunet": lambda c, s: (_image("l_norm", 1, s, "L / 50 - 1"), _image("ab_norm", 2, s, "ab / 110")),
    "liteunet": lambda c, s: (_image("x", c.in_channels, s, "RGB in [-1, 1]"), _image("y", c.out_channels, s, "RGB in [-1, 1]")),
    "cvae": lambda c, s: (_image("l_norm", 1, c.image_size, "L / 50 - 1"),
                          _image("ab_norm", 2, c.image_size, "ab / 110, the most likely colouring")),
    "dcgan": lambda c, s: (_noise(c.nz), _image("image", c.channels, c.image_size, "RGB in [-1, 1]")),
    "fastgan": lambda c, s: (_noise(c.nz), _image("image", c.channels, c.image_size, "RGB in [-1, 1]")),
}


def network_io(kind: str, params: dict, image_size: int) -> tuple[TensorSpec, TensorSpec]:
    """The declared (input, output) of network ``kind`` built from ``params`` (a model file's generator params)."""
    from .models import GENERATORS, config_from_dict

    if kind not in NETWORK_IO or kind not in GENERATORS:
        raise TomauError(f"network {kind!r} has no ONNX declaration (tomau.export.NETWORK_IO); it cannot be exported yet")
    return NETWORK_IO[kind](config_from_dict(GENERATORS[kind][0], params), image_size)


# ---- the graphs: what the user has -> the network's units -> what the user wants --------------------------------
class ColourGraph(nn.Module):
    """Lab L in [0, 100] -> Lab ab (the network's normalisation inside)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, l: torch.Tensor) -> torch.Tensor:
        return color.denormalize_ab(self.net(color.normalize_l(l)).float())


class PixelGraph(nn.Module):
    """sRGB (or noise) in -> sRGB in [0, 1] out; ``pixels_in`` maps [0, 1] input pixels to the network's [-1, 1]."""

    def __init__(self, net: nn.Module, pixels_in: bool):
        super().__init__()
        self.net, self.pixels_in = net, pixels_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x * 2 - 1 if self.pixels_in else x)
        return ((y.float() + 1) / 2).clamp(0, 1)


def graph_io(task: str, inner: tuple[TensorSpec, TensorSpec]) -> tuple[TensorSpec, TensorSpec]:
    """The exported graph's tensors for a task, from the network's own declaration."""
    x, y = inner
    if task == "colorize":
        return (TensorSpec("L", x.shape, 0.0, 100.0, "CIE Lab lightness L* (D65) of the photo resized to the model's size"),
                TensorSpec("ab", y.shape, -color.AB_NORM, color.AB_NORM, "CIE Lab a*, b* at the model's size"))
    if task == "translate":
        return (TensorSpec("image", x.shape, 0.0, 1.0, "sRGB, channels first, resized to the model's size"),
                TensorSpec("translated", y.shape, 0.0, 1.0, "sRGB, channels first"))
    if task == "generate":
        return (TensorSpec("z", x.shape, -INF, INF, "standard normal noise; image i of seed s: tomau.generation.latent(s, i, nz)"),
                TensorSpec("image", y.shape, 0.0, 1.0, "sRGB, channels first"))
    raise TomauError(f"a {task!r} model cannot be exported (tomau exports colorize, translate and generate models)")


def wrap(task: str, net: nn.Module) -> nn.Module:
    return ColourGraph(net) if task == "colorize" else PixelGraph(net, pixels_in=task == "translate")


@dataclass
class Exported:
    """An export in memory: the ONNX bytes, its input and output declarations, and the wrapped PyTorch graph."""

    data: bytes
    inputs: TensorSpec
    outputs: TensorSpec
    graph: nn.Module
    task: str
    extra_inputs: tuple = ()  # a hints model's hint_ab and hint_mask
    extra_outputs: tuple = ()  # and its probs
    path: Path | None = None  # the file it was written to (set by export_model)


class HintsGraph(nn.Module):
    """(L in [0, 100], hint ab in Lab units, hint mask in {0, 1}) -> (ab in Lab units, bin probabilities at 1/4)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, l: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor):
        from torch.nn import functional as F

        l_norm = color.normalize_l(l)
        hints = torch.cat([color.normalize_ab(hint_ab) * hint_mask, hint_mask], 1)
        reg, logits = self.net.heads(self.net.encode(l_norm), l_norm, hints)
        ab = F.interpolate(self.net.combine(reg, logits), size=l.shape[-2:], mode="bilinear", align_corners=False)
        if getattr(self.net.config, "guided_radius", 0):
            from .models.effunet import guided_filter

            ab = guided_filter(l_norm, ab, self.net.config.guided_radius, self.net.config.guided_eps)
        return color.denormalize_ab(ab.float()), torch.softmax(logits.float(), 1), self.net.bin_centres * color.AB_NORM


def hints_io(config: dict) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    size = int(config.get("image_size", 64))
    bins, q = config["generator"]["params"].get("bins", 0), size // 4
    return ((TensorSpec("L", ("N", 1, size, size), 0.0, 100.0, "CIE Lab lightness L* (D65) of the photo resized to the model's size"),
             TensorSpec("hint_ab", ("N", 2, q, q), -color.AB_NORM, color.AB_NORM, "Lab a*, b* of the hints: each cell of the "
                        "1/4 grid the mean of the hints in it"),
             TensorSpec("hint_mask", ("N", 1, q, q), 0.0, 1.0, "1 where a cell holds hints, else 0")),
            (TensorSpec("ab", ("N", 2, size, size), -color.AB_NORM, color.AB_NORM, "CIE Lab a*, b* at the model's size"),
             TensorSpec("probs", ("N", bins, q, q), 0.0, 1.0, "probability of each ab bin per cell of the 1/4 grid"),
             TensorSpec("bin_ab", (bins, 2), -color.AB_NORM, color.AB_NORM, "the bins' centres, Lab a*, b*")))


def export_hints_network(net: nn.Module, config: dict, source: str = "", extra_meta: dict | None = None) -> Exported:
    """ONNX bytes of a hints model (three inputs, two outputs; see the module's docstring)."""
    import onnx

    if not config["generator"]["params"].get("bins"):
        raise TomauError(f"{source}: a hints model without a classification head cannot suggest colours; it is not exported")
    inputs, outputs = hints_io(config)
    graph = HintsGraph(net.cpu().eval()).eval()
    buf = io.BytesIO()
    names_in, names_out = [t.name for t in inputs], [t.name for t in outputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(graph, tuple(t.example(1) for t in inputs), buf, input_names=names_in, output_names=names_out,
                              dynamic_axes={n: {0: "N"} for n in names_in + names_out[:2]}, opset_version=OPSET,
                              do_constant_folding=True, dynamo=False)
        except Exception as err:  # noqa: BLE001 - the exporter's own error types
            raise TomauError(f"{source}: PyTorch could not export this network to ONNX ({type(err).__name__}: {err})") from None
    proto = onnx.load_from_string(buf.getvalue())
    meta = {"tomau": json.dumps(config), "tomau_graph_version": str(GRAPH_VERSION), "task": "colorize",
            "image_size": str(config.get("image_size", "")),
            "tomau_io": json.dumps({"task": "colorize", "hints": True, "inputs": [t.as_dict() for t in inputs],
                                    "outputs": [t.as_dict() for t in outputs], "recombine": RECOMBINE["colorize"]}),
            **(extra_meta or {})}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.doc_string = "tomau", f"tomau hints model {source}".strip()
    onnx.checker.check_model(proto)
    return Exported(proto.SerializeToString(), inputs[0], outputs[0], graph, "colorize", inputs[1:], outputs[1:])


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_network(net: nn.Module, config: dict, source: str = "", extra_meta: dict | None = None) -> Exported:
    """ONNX bytes of a loaded network and its model file's config (any batch size; the other sides fixed)."""
    import onnx

    task = config.get("task", "colorize")
    kind = config.get("generator", {}).get("kind", "?")
    inner = network_io(kind, config.get("generator", {}).get("params", {}), int(config.get("image_size", 64)))
    inputs, outputs = graph_io(task, inner)
    graph = wrap(task, net.cpu().eval()).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on shapes it fixes (they are fixed: S is the model's)
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(graph, (inputs.example(1),), buf, input_names=[inputs.name], output_names=[outputs.name],
                              dynamic_axes={inputs.name: {0: "N"}, outputs.name: {0: "N"}}, opset_version=OPSET,
                              do_constant_folding=True, dynamo=False)
        except Exception as err:  # noqa: BLE001 - the exporter's own error types
            raise TomauError(f"{source or kind}: PyTorch could not export this network to ONNX ({type(err).__name__}: {err})") from None
    proto = onnx.load_from_string(buf.getvalue())
    meta = {"tomau": json.dumps(config), "tomau_graph_version": str(GRAPH_VERSION), "task": task,
            "image_size": str(config.get("image_size", "")),
            "tomau_io": json.dumps({"task": task, "inputs": [inputs.as_dict()], "outputs": [outputs.as_dict()],
                                    "network": {"kind": kind, "inputs": [inner[0].as_dict()], "outputs": [inner[1].as_dict()]},
                                    "recombine": RECOMBINE.get(task, "")}),
            **(extra_meta or {})}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.doc_string = "tomau", f"tomau {task} model {source}".strip()
    onnx.checker.check_model(proto)
    return Exported(proto.SerializeToString(), inputs, outputs, graph, task)


RECOMBINE = {
    "colorize": "resize the photo's L to S (bilinear, antialiased), run, upsample ab bilinearly (half-pixel centres) "
                "to the photo's size and recombine it with the photo's full-resolution L; Lab D65 -> sRGB",
    "translate": "resize the image to S (bicubic), run, resize the result back to the image's size",
    "generate": "z of image i of seed s: torch.randn(nz, generator=torch.Generator().manual_seed(s * 1000003 + i))",
}


def load_for_export(model: str | Path, mix: float | None = None, temperature: float | None = None) -> tuple[nn.Module, dict]:
    """The network of a model file (any task) with its config; ``mix``/``temperature`` set a colouriser's dial."""
    from .modelfile import load_model_file, load_network

    task = load_model_file(model)[0].get("task", "colorize")
    if task not in RECOMBINE:
        raise TomauError(f"{model}: a {task!r} model cannot be exported (tomau exports colorize, translate and generate models)")
    net, config = load_network(model, task, f"a {task} model")
    if mix is not None or temperature is not None:
        cfg = getattr(net, "config", None)
        if task != "colorize" or not getattr(cfg, "bins", 0):
            raise TomauError(f"{model}: this model has no classification head, so it has no mix / temperature dial")
        cfg.mix = cfg.mix if mix is None else mix
        cfg.temperature = cfg.temperature if temperature is None else temperature
        cfg.validate()
        config = {**config, "generator": {**config["generator"], "params": {**config["generator"]["params"], "mix": cfg.mix,
                                                                            "temperature": cfg.temperature}}}
    return net.eval(), config


def check_against_torch(exported: Exported, batch: int = 2, seed: int = 0) -> float:
    """Largest |ONNX - PyTorch| over a random batch in the declared input range, in the graph's output units."""
    import numpy as np
    import onnxruntime as ort

    g = torch.Generator().manual_seed(seed)
    specs = (exported.inputs, *exported.extra_inputs)
    xs = [t.example(batch, g) for t in specs]
    if exported.extra_inputs:  # a hints model: sparse hints, and one photo without any (the shipped decoder's path)
        xs[2] = (xs[2] > 0.9).float()
        xs[2][-1] = 0
    with torch.inference_mode():
        ref = exported.graph(*xs)
    refs = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    session = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"])
    outs = session.run(None, {t.name: x.numpy() for t, x in zip(specs, xs)})
    return max(float(np.abs(o - r).max()) for o, r in zip(outs, refs))


def export_model(model: str | Path, output: str | Path, mix: float | None = None, temperature: float | None = None,
                 check: bool = True, overwrite: bool = True) -> tuple[Exported, float | None]:
    """Write a model file (bundled name, .safetensors or run folder) as ONNX to ``output``, atomically. Without
    ``overwrite`` a file already there is refused before any work, and one that appears meanwhile is not replaced
    (the next free name is taken: ``exported.path``).

    Returns the export and, with ``check``, the largest difference from PyTorch on a random batch."""
    from .modelfile import resolve_model_path

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise TomauError(f"{output}: the output must be a .onnx file")
    if output.is_dir():
        raise TomauError(f"{output}: is a folder; give the .onnx file to write")
    if not overwrite and os.path.lexists(output):
        raise TomauError(f"{output} already exists; pass --overwrite to replace it, or choose another -o")
    net, config = load_for_export(model, mix, temperature)
    source = resolve_model_path(model)
    export = export_hints_network if getattr(net, "hint_decoder", None) is not None else export_network
    exported = export(net, config, str(model), {"tomau_source_sha256": file_digest(source)})
    diff = check_against_torch(exported) if check else None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        exported.path = write_atomic(output, lambda f: f.write(exported.data), overwrite)
    except OSError as err:
        raise TomauError(f"{output}: cannot write ({err.strerror or err})") from None
    return exported, diff


def read_io(path: str | Path) -> dict:
    """The ``tomau_io`` declaration of an exported file (task, inputs, outputs, how to recombine)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001
        raise TomauError(f"{path}: not a readable ONNX file ({err})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if "tomau_io" not in meta:
        raise TomauError(f"{path}: an ONNX file without tomau's declaration; it was not written by tomau export")
    return json.loads(meta["tomau_io"])
