"""Compare colourisers on one benchmark: quality beside the grey baseline, CPU speed, size.

    python bench/ablation.py --data ../shared/data/imagenette/val \
        --model "pix2pix U-Net (L1 only)=runs/p1" --model "ResNet U-Net (L1 then GAN)=runs/r2" ...

Prints a Markdown table (the --metrics named, by default PSNR, SSIM, CF, |dCF| vs truth; ms/image at 256x256 batch 1
on this CPU, parameters) and writes bench/results/ablation.json.
"""
from __future__ import annotations

import argparse

import torch
from common import RESULTS, median_ms, write_result  # also puts the repo on sys.path

from tomau.data import scan_folder
from tomau.evaluate import evaluate_files
from tomau.inference import load_model
from tomau.metrics import COLOUR_METRICS, METRICS, markdown_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", action="append", required=True, help="LABEL=MODEL (bundled name, file or run folder)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--metrics", nargs="+", choices=list(METRICS), default=list(COLOUR_METRICS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "ablation.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    rows, grey, truth = [], None, None
    for spec in args.model:
        label, _, name = spec.rpartition("=")
        model = load_model(name)
        scores = evaluate_files(model, files, args.size, metrics=args.metrics)
        x = torch.zeros(1, 1, model.image_size, model.image_size)
        ms = median_ms(lambda: model.predict_ab(x), 10)
        params = sum(p.numel() for p in model.net.parameters())
        rows.append({"label": label or name, "model": name, **scores["model"], "ms_per_image": ms, "parameters": params})
        grey, truth = scores["grey"], scores["truth"]
        print(f"{label or name}: " + " ".join(f"{METRICS[k].label} {v:{METRICS[k].fmt}}" for k, v in scores["model"].items()), flush=True)
    table = [("grey baseline (ab = 0)", {**grey, "ms": 0, "params": 0})]
    table += [(r["label"], {**r, "ms": f"{r['ms_per_image']:.0f}", "params": f"{r['parameters'] / 1e6:.1f} M"}) for r in rows]
    table.append(("ground truth", truth))
    print(f"\n{len(files)} images from {args.data} at {args.size}x{args.size}, {args.threads} CPU threads\n")
    print(markdown_table(table, args.metrics, extra=(("ms/img (CPU)", "ms"), ("params", "params"))))
    write_result(args.out, {"data": args.data, "n": len(files), "size": args.size, "grey": grey, "truth": truth, "models": rows})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
