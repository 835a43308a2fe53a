"""Compare colourisers on one benchmark: quality beside the grey baseline, CPU speed, size.

    python bench/ablation.py --data ../shared/data/imagenette/val \
        --model "pix2pix U-Net (L1 only)=runs/p1" --model "ResNet U-Net (L1 then GAN)=runs/r2" ...

Prints a Markdown table (PSNR, SSIM, CF, |dCF| vs truth, ms/image at 256x256 batch 1 on this CPU,
parameters) and writes bench/results/ablation.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import RESULTS, median_ms  # noqa: E402 - also puts the repo on sys.path

from tomau.data import scan_folder  # noqa: E402
from tomau.evaluate import evaluate_files  # noqa: E402
from tomau.inference import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", action="append", required=True, help="LABEL=MODEL (bundled name, file or run folder)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "ablation.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    rows, grey, truth_cf = [], None, None
    for spec in args.model:
        label, _, name = spec.rpartition("=")
        model = load_model(name)
        scores = evaluate_files(model, files, args.size)
        x = torch.zeros(1, 1, model.image_size, model.image_size)
        ms = median_ms(lambda: model.predict_ab(x), 10)
        params = sum(p.numel() for p in model.net.parameters())
        rows.append({"label": label or name, "model": name, **scores["model"], "ms_per_image": ms, "parameters": params})
        grey, truth_cf = scores["grey"], scores["truth"]["cf"]
        print(f"{label or name}: PSNR {scores['model']['psnr']:.2f} CF {scores['model']['cf']:.1f}", flush=True)
    lines = ["| model | PSNR dB | SSIM | CF | \\|dCF\\| | ms/img (CPU) | params |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| grey baseline (ab = 0) | {grey['psnr']:.2f} | {grey['ssim']:.3f} | {grey['cf']:.1f} | {grey['dcf']:.1f} | 0 | 0 |"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['cf']:.1f} | {r['dcf']:.1f} | {r['ms_per_image']:.0f} "
                     f"| {r['parameters'] / 1e6:.1f} M |")
    lines.append(f"| ground truth | | | {truth_cf:.1f} | | | |")
    print(f"\n{len(files)} images from {args.data} at {args.size}x{args.size}, {args.threads} CPU threads\n")
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"data": args.data, "n": len(files), "size": args.size, "grey": grey,
                                          "truth_cf": truth_cf, "models": rows}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
