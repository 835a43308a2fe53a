"""``tomau export``: a model file as ONNX (tomau.export), for onnxruntime, OpenVINO, C++, mobile and the browser page."""
from __future__ import annotations

from ..errors import TomauError
from .common import between, command, quiet, say


def add_parser(sub) -> None:
    e = command(sub, "export", "tomau export -m effunet -o effunet.onnx",
                "write a model as ONNX: colourisers take Lab L in [0, 100] and give ab; translators and generators give sRGB",
                description="The graph takes what a user has (the photo's L at the model's size, an sRGB image, or noise) "
                            "and gives ab (or sRGB in [0, 1]); the networks' normalisation is inside, and the file's metadata "
                            "(tomau_io) declares names, shapes, ranges and how to recombine ab with the full-resolution L.")
    e.add_argument("-m", "--model", required=True, help="bundled model name, .safetensors file or run folder")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write (atomically)")
    e.add_argument("--overwrite", action="store_true", help="replace a file already there")
    e.add_argument("--mix", type=between(0, 1), help="effunet models: the fidelity-to-vividness dial baked into the graph (default: the model's)")
    e.add_argument("--temperature", type=between(0.01, 10), help="effunet models: annealed-mean temperature baked in (default: the model's)")
    e.add_argument("--no-check", action="store_true", help="skip running the graph in onnxruntime against PyTorch after the export")
    quiet(e)
    e.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ..export import export_model

    try:
        import onnx  # noqa: F401
    except ImportError:
        raise TomauError("tomau export needs onnx (and onnxruntime to check the result): pip install onnx onnxruntime") from None
    exported, diff = export_model(args.model, args.output, args.mix, args.temperature, check=not args.no_check,
                                  overwrite=args.overwrite)
    if not args.quiet:
        i, o = exported.inputs, exported.outputs
        say(f"{exported.path}: {exported.task} graph, {i.name} {tuple(i.shape)} -> {o.name} {tuple(o.shape)}, "
            f"{len(exported.data) / 1e6:.1f} MB" + (f"; largest difference from PyTorch {diff:.2g} ({o.name} units)" if diff is not None else ""))
    return 0
