"""``tomau hint``, ``serve``, ``blend``, ``models``."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import TomauError
from .common import at_least, between, command, quiet, say


def add_parser(sub) -> None:
    from ..images import DEFAULT_MAX_PIXELS

    h = command(sub, "hint", "tomau hint old.jpg --points points.csv -o coloured/   (or --suggest 120,80)",
                "colour a photo from colour points or scribbles: the hints network, or Levin et al.'s method",
                description="Points: a CSV file with the header x,y,color - pixels from the photo's top-left corner, colour "
                            "#rrggbb. Scribbles: an image of the photo's size with colour marks - either drawn on the grey "
                            "photo (marked pixels are the coloured ones) or on a transparent layer (visible pixels). "
                            "The network (the default effunet) spreads each hint's colour to where its learned features "
                            "are alike (tomau.guided); --method levin propagates it by Levin et al.'s optimisation (2004), alone "
                            "or on any colouriser's output (-m). --suggest X,Y prints the most likely colours at a pixel.")
    h.add_argument("photo")
    h.add_argument("--points", metavar="CSV", help="colour points: a CSV file with the header x,y,color")
    h.add_argument("--scribbles", help="image of the same size holding the colour hints")
    h.add_argument("--suggest", metavar="X,Y", help="print the most likely colours at this pixel (given --points, if any) "
                   "and stop; no result is written")
    h.add_argument("--method", choices=("network", "levin"), default="network",
                   help="network: the hints network (a photo with a side under 32 px: levin); levin: Levin et al.'s optimisation, "
                        "alone or on -m's output")
    h.add_argument("-m", "--model", help="network: the hints model (default: hints); levin: start from this colouriser's "
                   "output (default: none, hints alone)")
    h.add_argument("-o", "--output", help="output file, or folder (required unless --suggest)")
    h.add_argument("--overwrite", action="store_true", help="replace a file already there under the result's name")
    quiet(h)
    h.set_defaults(func=cmd_hint)

    v = command(sub, "serve", "tomau serve --port 7860 --keep-minutes 10",
                "a local web page: photos, colour hints, reference photos, films")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1: this computer only)")
    v.add_argument("--port", type=at_least(0, int, 65535), default=7860, help="(default: 7860)")
    v.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default: cpu)")
    v.add_argument("-m", "--model", action="append", help="the model the page starts with: bundled name, model file or run folder "
                   "(repeatable: all are offered, the first is chosen; the bundled models are always offered too; default: default)")
    v.add_argument("--max-upload-mb", type=at_least(0, float), default=200, help="largest upload accepted (default: 200 MB)")
    v.add_argument("--max-pixels", type=at_least(0, int, 10**12), default=DEFAULT_MAX_PIXELS, help="largest photo (default: 100 MP)")
    v.add_argument("--max-video-seconds", type=at_least(0, float), default=300, help="longest film the page takes (default: 300)")
    v.add_argument("--keep-minutes", type=at_least(0, float, 525_600), default=10,
                   help="uploads and results are deleted this long after they were made, and all of them when the server stops (default: 10)")
    quiet(v)
    v.set_defaults(func=cmd_serve)

    b = command(sub, "blend", "tomau blend runs/stage1 runs/stage2 --alpha 0.8 -o mix.safetensors",
                "interpolate two models' weights: a fidelity-to-vividness dial",
                description="Network interpolation (ESRGAN): (1 - alpha) * A + alpha * B, for A an L1 model and B a GAN model fine-tuned from it.")
    b.add_argument("a", help="model A (e.g. the L1-only stage-1 run)")
    b.add_argument("b", help="model B (e.g. the GAN run started from A)")
    b.add_argument("--alpha", type=between(0, 1), required=True, help="weight of B, 0..1")
    b.add_argument("-o", "--output", required=True, help="output .safetensors file")
    b.add_argument("--overwrite", action="store_true", help="replace a file already there (never model A or B)")
    quiet(b)
    b.set_defaults(func=cmd_blend)

    m = command(sub, "models", "tomau models default", "list bundled models, or describe one model file")
    m.add_argument("model", nargs="?", help="model name, file or run folder to describe")
    quiet(m)
    m.set_defaults(func=cmd_models)


MIN_NETWORK_SIDE = 32  # the hints network's grid has 32 cells a side (128-px model): a photo needs at least a pixel each


def _pixel(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise TomauError(f"--suggest {text!r}: give the pixel as X,Y, e.g. --suggest 120,80") from None
    return x, y


def cmd_hint(args) -> int:
    import time

    from ..guided import HINTS_MODEL, HintSession, read_points
    from ..hints import colorize_with_hints, read_scribbles
    from ..images import load_image, make_output_dir, output_path, save_image

    if not (args.points or args.scribbles or args.suggest):
        raise TomauError("give the hints: --points points.csv and/or --scribbles strokes.png (or --suggest X,Y)")
    if args.method == "levin" and (args.points or args.suggest):
        raise TomauError("--method levin takes --scribbles; points and suggestions come from the hints network (--method network)")
    if not args.suggest and not args.output:
        raise TomauError("-o/--output is required: where the coloured photo goes")
    points = read_points(args.points) if args.points else []
    photo = load_image(args.photo)
    if args.suggest:
        from ..inference import load_model

        x, y = _pixel(args.suggest)
        session = HintSession(load_model(args.model or HINTS_MODEL, backend="torch"), photo.pixels)
        for hex_colour, p in session.suggest(x, y, points):
            print(f"{hex_colour}  {p:.3f}")
        return 0
    scribbles = load_image(args.scribbles) if args.scribbles else None
    inputs = {Path(args.photo).resolve()} | {Path(f).resolve() for f in (args.scribbles, args.points) if f}
    target = Path(args.output)
    if target.is_dir() or not target.suffix:  # decided before any work: never an input, never a file already there
        target = make_output_dir(target)
        target = output_path(target, Path(Path(args.photo).name), photo.format, False, inputs)
    if target.resolve() in inputs:
        raise TomauError(f"{target}: that is an input ({'the photo' if target.resolve() == Path(args.photo).resolve() else 'a hints file'}); "
                         "inputs are never overwritten")
    if target.exists() and not args.overwrite:
        raise TomauError(f"{target} already exists; pass --overwrite to replace it, or choose another -o")
    mask = hint_ab = None
    if scribbles is not None:
        if scribbles.rgb.shape[:2] != photo.rgb.shape[:2]:
            raise TomauError(f"{args.scribbles}: {scribbles.rgb.shape[1]}x{scribbles.rgb.shape[0]} does not match the photo's "
                             f"{photo.rgb.shape[1]}x{photo.rgb.shape[0]}; draw the hints on a copy of the photo")
        mask, hint_ab = read_scribbles(scribbles.rgb, scribbles.alpha)
    if not points and (mask is None or not mask.any()):
        raise TomauError("no colour hints given: the points file is empty and the scribbles hold no colour marks")
    method = args.method
    if method == "network" and min(photo.rgb.shape[:2]) < MIN_NETWORK_SIDE:
        if points:
            raise TomauError(f"{args.photo}: {photo.rgb.shape[1]}x{photo.rgb.shape[0]} is too small for the hints network "
                             f"(a side under {MIN_NETWORK_SIDE} px); mark it with --scribbles and --method levin")
        method = "levin"
        if not args.quiet:
            say(f"note: {args.photo} has a side under {MIN_NETWORK_SIDE} px, too small for the hints network; Levin's method is used")
    t0 = time.time()
    if method == "network":
        from ..inference import load_model

        out = HintSession(load_model(args.model or HINTS_MODEL, backend="torch"), photo.pixels).colorize(points, mask, hint_ab)
        told = f"{len(points)} points, {0 if mask is None else int(mask.sum())} hinted pixels"
    else:
        model_rgb = None
        if args.model:
            from ..pipeline import load

            model_rgb = load(args.model, "colorize")([photo.rgb])[0]
        out = colorize_with_hints(photo.rgb, mask, hint_ab, model_rgb)
        told = f"{int(mask.sum())} hinted pixels"
    target = save_image(target, out, replace=args.overwrite)
    if not args.quiet:
        say(f"{args.photo} -> {target} ({told}, {method} in {time.time() - t0:.2f} s)")
    return 0


def cmd_serve(args) -> int:
    import importlib.util

    from ..serve import serve

    if importlib.util.find_spec("gradio") is None:
        raise TomauError("the web page needs Gradio: pip install 'tomau[serve]' (or pip install gradio)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: serving on {args.host}: anyone who can reach this address can use the page and upload files")
    if args.keep_minutes <= 0:
        raise TomauError(f"--keep-minutes must be more than 0, not {args.keep_minutes}")
    serve(args.host, args.port, args.model, args.max_upload_mb, args.max_pixels or None, args.max_video_seconds,
          device=args.device, keep_minutes=args.keep_minutes)
    return 0


def cmd_blend(args) -> int:
    from ..modelfile import interpolate_models, resolve_model_path, save_model_file

    output = Path(args.output)
    for name, model in (("A", args.a), ("B", args.b)):
        try:
            source = resolve_model_path(model)
        except TomauError:
            continue  # named in its own sentence when it is read
        if output.resolve() in (source.resolve(), Path(model).resolve()):
            raise TomauError(f"{output}: that is model {name}; the models blended are never overwritten, choose another -o")
    if output.is_dir():
        raise TomauError(f"{output}: is a folder; give the .safetensors file to write")
    if os.path.lexists(output) and not args.overwrite:
        raise TomauError(f"{output} already exists; pass --overwrite to replace it, or choose another -o")
    config, state = interpolate_models(args.a, args.b, args.alpha)
    output = save_model_file(output, state, config, replace=args.overwrite)
    if not args.quiet:
        say(f"wrote {output}: {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}")
    return 0


def cmd_models(args) -> int:
    from ..files import shown
    from ..modelfile import DEFAULT_MODEL, bundled_models, describe, read_header

    if args.model:
        print(shown(f"{args.model}: {describe(args.model)}"))
        print(json.dumps(read_header(args.model)[0], indent=2))
        return 0
    names = sorted(bundled_models(), key=lambda n: (n != DEFAULT_MODEL, n))  # the default first
    width = max(map(len, names), default=0)
    for name in names:
        # what a file says (its family, kind) is escaped, so an ANSI or bidi sequence in it stays text
        print(shown(f"{name:{width}s}  {describe(name)}"))
    if not args.quiet:
        print("\nuse one with -m NAME (tomau colorize -m faces --samples 4 ...); tomau models NAME shows its whole config")
    return 0
