"""``tomau evaluate``: a colouriser against colour ground truth, or a translator against its pairs."""
from __future__ import annotations

import json
from pathlib import Path

from .common import at_least, command, quiet


def add_parser(sub) -> None:
    from ..modelfile import DEFAULT_MODEL

    e = command(sub, "evaluate", "tomau evaluate -m default --data ../shared/data/photos/val --json scores.json",
                "score a model against colour ground truth")
    e.add_argument("--model", "-m", default=DEFAULT_MODEL)
    e.add_argument("--data", required=True, help="folder of colour images (recursive)")
    e.add_argument("--size", type=at_least(8), default=256, help="evaluation resolution (default: 256)")
    e.add_argument("--json", help="also write the scores to this JSON file")
    e.add_argument("--max-images", type=at_least(0), default=0)
    e.add_argument("--no-frechet", action="store_true",
                   help="skip the Frechet distance on pretrained EfficientNet-Lite0 features (FD-lite0; not comparable with Inception FID)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=at_least(0), default=0)
    quiet(e)
    e.set_defaults(func=cmd_evaluate)


def format_table(rows: list[tuple[str, dict]], truth_cf: float) -> str:
    fd = all("fd" in r for _, r in rows)
    lines = [f"{'':<24}{'PSNR dB':>9}{'SSIM':>8}{'CF':>7}{'|dCF|':>8}" + (f"{'FD-lite0':>10}" if fd else "")]
    for name, r in rows:
        lines.append(f"{name:<24}{r['psnr']:>9.2f}{r['ssim']:>8.3f}{r['cf']:>7.1f}{r['dcf']:>8.1f}" + (f"{r['fd']:>10.2f}" if fd else ""))
    lines.append(f"{'ground truth':<24}{'':>9}{'':>8}{truth_cf:>7.1f}")
    return "\n".join(lines)


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
        write_atomic(Path(args.json), lambda f: f.write(json.dumps(res, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0


def _colorizer(args, model, files) -> dict:
    from ..evaluate import evaluate_files

    res = evaluate_files(model, files, args.size, progress=not args.quiet, frechet=not args.no_frechet)
    res["model_name"] = args.model
    res["data"] = str(args.data)
    print(f"{res['n']} images from {args.data} at {args.size}x{args.size}")
    print(format_table([(f"model ({Path(args.model).name})", res["model"]), ("grey baseline (ab = 0)", res["grey"])], res["truth"]["cf"]))
    return res


def _translator(args, translator, files) -> dict:
    from ..translation import evaluate_pairs

    res = evaluate_pairs(translator, files, progress=not args.quiet)
    res.update(model_name=args.model, data=str(args.data), direction=translator.direction)
    print(f"{res['n']} pairs from {args.data} ({translator.direction}, model at {translator.image_size}x{translator.image_size})")
    print(f"{'':<34}{'L1':>8}{'RMSE':>8}{'PSNR dB':>9}{'pixel acc':>10}")
    for label, key in ((f"model ({Path(args.model).name})", "model"), ("identity (output = input)", "identity"),
                       ("best constant colour (oracle)", "constant")):
        r = res[key]
        print(f"{label:<34}{r['l1']:>8.4f}{r['rmse']:>8.4f}{r['psnr']:>9.2f}{r['pixel_acc']:>10.3f}")
    return res
