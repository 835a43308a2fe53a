"""Diverse colourisation benchmark: N colourings per photo vs one deterministic colouring.

    python bench/diverse.py --model runs/faces_mdn --data /tmp/faces_val --data ../shared/data/imagenette/val \
        --baseline default -n 8 --max-images 200

For each data folder, at the model's resolution (64x64) and at full size (ab upsampled onto the full-res L):
  diversity      mean pairwise ab distance (Lab units, per pixel, averaged) between the N samples of an image;
                 reported as mean and 10th/50th/90th percentiles over images, and the share of images above 1
  best-of-N err  mean per-pixel ab distance to the truth of the closest sample (Deshpande et al.'s "error of
                 the best sample")
  best-of-N PSNR the highest RGB PSNR among the N samples
  CF             colourfulness of the samples (all N), and of the truth
beside the deterministic baseline (diversity 0): its ab error and PSNR on the same images.
Writes bench/results/diverse.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, write_result  # noqa: E402 - also puts the repo on sys.path
from PIL import Image

from tomau import color  # noqa: E402
from tomau.data import scan_folder  # noqa: E402
from tomau.images import open_image  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import colourfulness, psnr  # noqa: E402


def ab_of(rgb_u8: np.ndarray) -> torch.Tensor:
    return color.rgb_to_lab(torch.from_numpy(np.array(rgb_u8)).permute(2, 0, 1).float() / 255)[1:]


def ab_dist(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).sum(0).sqrt().mean())


def score(model, baseline, files, n, size, seed) -> dict:
    div, best_err, best_psnr, cf_s, cf_t, base_err, base_psnr = [], [], [], [], [], [], []
    for f in files:
        with open_image(f) as im:
            im = im.convert("RGB")
            truth = np.asarray(im.resize((size, size), Image.BICUBIC) if size else im, dtype=np.uint8)
        rgb = truth.astype(np.float32) / 255
        samples = model.sample_arrays([rgb], n, seed)[0]
        ab_t = ab_of(truth)
        abs_ = [ab_of(s) for s in samples]
        div.append(float(np.mean([ab_dist(a, b) for a, b in itertools.combinations(abs_, 2)])) if n > 1 else 0.0)
        best_err.append(min(ab_dist(a, ab_t) for a in abs_))
        best_psnr.append(max(psnr(s, truth) for s in samples))
        cf_s.append(float(np.mean([colourfulness(s) for s in samples])))
        cf_t.append(colourfulness(truth))
        base = baseline.colorize_arrays([rgb])[0]
        base_err.append(ab_dist(ab_of(base), ab_t))
        base_psnr.append(psnr(base, truth))
    d = np.array(div)
    return {
        "n_images": len(files), "samples": n, "size": size or "full",
        "diversity_mean": float(d.mean()), "diversity_p10": float(np.percentile(d, 10)),
        "diversity_p50": float(np.percentile(d, 50)), "diversity_p90": float(np.percentile(d, 90)),
        "share_diversity_above_1": float((d > 1).mean()),
        "best_of_n_ab_error": float(np.mean(best_err)), "best_of_n_psnr": float(np.mean(best_psnr)),
        "cf_samples": float(np.mean(cf_s)), "cf_truth": float(np.mean(cf_t)),
        "baseline_ab_error": float(np.mean(base_err)), "baseline_psnr": float(np.mean(base_psnr)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--baseline", default="default", help="deterministic colouriser shown beside (diversity 0)")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--max-images", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "diverse.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, baseline = load_model(args.model), load_model(args.baseline)
    rows = []
    for folder in args.data:
        files = scan_folder(folder, None, progress=False, colour_only=False).usable
        files = files[:: max(1, len(files) // args.max_images)][: args.max_images]
        for size in (model.image_size, None):
            r = {"data": folder, **score(model, baseline, files, args.n, size, args.seed)}
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\n| data | size | diversity mean (p10 / p50 / p90) | best-of-{args.n} ab err | best-of-{args.n} PSNR | "
          f"CF samples / truth | {Path(args.baseline).name} ab err | {Path(args.baseline).name} PSNR |")
    print("| --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
    for r in rows:
        print(f"| {Path(r['data']).name} ({r['n_images']}) | {r['size']} | {r['diversity_mean']:.1f} ({r['diversity_p10']:.1f} / "
              f"{r['diversity_p50']:.1f} / {r['diversity_p90']:.1f}) | {r['best_of_n_ab_error']:.2f} | {r['best_of_n_psnr']:.2f} | "
              f"{r['cf_samples']:.1f} / {r['cf_truth']:.1f} | {r['baseline_ab_error']:.2f} | {r['baseline_psnr']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, {"model": args.model, "baseline": args.baseline, "rows": rows})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
