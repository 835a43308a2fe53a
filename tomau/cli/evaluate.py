"""``tomau evaluate``: a colouriser against colour ground truth, or a translator against its pairs."""
from __future__ import annotations

import json
from pathlib import Path

from .common import MAX_THREADS, at_least, command, quiet, say

# the Frechet distance of fewer photos than this says little (its covariance needs many samples) and costs the most
# (45 s on 20 photos): below it the default metrics leave it out, with a note
FRECHET_MIN_IMAGES = 300


def add_parser(sub) -> None:
    from ..metrics import COLOUR_METRICS, METRICS, TRANSLATION_METRICS
    from ..modelfile import DEFAULT_MODEL

    e = command(sub, "evaluate", "tomau evaluate -m default --data ../shared/data/photos/val --json scores.json",
                "score a model against colour ground truth")
    e.add_argument("--model", "-m", default=DEFAULT_MODEL)
    e.add_argument("--data", required=True, help="folder of colour images (recursive)")
    e.add_argument("--size", type=at_least(8, int, 16384), default=256, help="evaluation resolution (default: 256)")
    e.add_argument("--json", help="also write the scores to this JSON file")
    e.add_argument("--max-images", type=at_least(0), default=0)
    e.add_argument("--metrics", nargs="+", metavar="NAME", choices=list(METRICS), help=(
        f"what to score, by name ({', '.join(METRICS)}; default for a colouriser: {' '.join(COLOUR_METRICS)}, and fd from "
        f"{FRECHET_MIN_IMAGES} photos up, fd being the Frechet distance on pretrained EfficientNet-Lite0 features, not "
        f"comparable with Inception FID; for a translator: {' '.join(TRANSLATION_METRICS)})"))
    fd = e.add_mutually_exclusive_group()
    fd.add_argument("--frechet", action="store_true", help="add fd to the default metrics whatever the number of photos")
    fd.add_argument("--no-frechet", action="store_true", help="leave fd (FD-lite0, the slowest) out of the default metrics")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=at_least(0, int, MAX_THREADS), default=0)
    quiet(e)
    e.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import torch

    from ..data import scan_folder
    from ..images import write_atomic
    from ..pipeline import load

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load(args.model, device=args.device)
    if model.task == "generate":
        from ..errors import TomauError

        raise TomauError(f"{args.model}: an image generator; score it with tomau fid or tomau swd against real images")
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    if args.max_images:
        files = files[: args.max_images]
    res = (_translator if model.task == "translate" else _colorizer)(args, model, files)
    if args.json:
        from ..provenance import run_info

        res = {"run": run_info(), **res}  # where the figures come from: commit, date, PyTorch, CPU
        write_atomic(Path(args.json), lambda f: f.write(json.dumps(res, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0


def _colorizer(args, model, files) -> dict:
    from ..evaluate import evaluate_files
    from ..metrics import COLOUR_METRICS, format_table

    metrics = args.metrics or [*COLOUR_METRICS, *(("fd",) if frechet_by_default(args, len(files)) else ())]
    res = evaluate_files(model, files, args.size, progress=not args.quiet, metrics=metrics)
    res["model_name"] = args.model
    res["data"] = str(args.data)
    print(f"{res['n']} images from {args.data} at {args.size}x{args.size}")
    print(format_table([(f"model ({Path(args.model).name})", res["model"]), ("grey baseline (ab = 0)", res["grey"])], metrics, res["truth"]))
    return res


def frechet_by_default(args, n: int) -> bool:
    """Whether the default metrics include fd: asked for (--frechet), refused (--no-frechet), else from
    FRECHET_MIN_IMAGES photos up (with a note when left out)."""
    if args.frechet or args.no_frechet:
        return args.frechet
    if n >= FRECHET_MIN_IMAGES:
        return True
    if not args.quiet:
        say(f"note: fd (the Frechet distance) is left out: on {n} photos it says little and takes the longest; "
            f"it is scored from {FRECHET_MIN_IMAGES} photos up, or with --frechet")
    return False


def _translator(args, translator, files) -> dict:
    from ..metrics import TRANSLATION_METRICS, format_table
    from ..translation import evaluate_pairs

    metrics = args.metrics or TRANSLATION_METRICS
    res = evaluate_pairs(translator, files, progress=not args.quiet, metrics=metrics)
    res.update(model_name=args.model, data=str(args.data), direction=translator.direction)
    print(f"{res['n']} pairs from {args.data} ({translator.direction}, model at {translator.image_size}x{translator.image_size})")
    rows = [(f"model ({Path(args.model).name})", res["model"]), ("identity (output = input)", res["identity"]),
            ("best constant colour (oracle)", res["constant"])]
    print(format_table(rows, metrics, label_width=34))
    return res
