"""Colour hints (Levin et al. 2004) on imagenette val: PSNR against the truth vs the number of point hints
taken from the truth, hints alone and hints on the default model's output; solve time for 1 megapixel.

    python bench/hints.py --data ../shared/data/imagenette/val --max-images 100

Each image is resized to 256x256; k pixels are drawn at random (seed = image index) and given their true ab.
0 hints alone is the grey image; 0 hints on the model is the model alone. Writes bench/results/hints.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import RESULTS, median_ms, write_result  # noqa: E402 - also puts the repo on sys.path

from tomau.color import lab_to_rgb_u8_hwc, rgb_to_lab_hwc  # noqa: E402
from tomau.data import scan_folder  # noqa: E402
from tomau.evaluate import load_truth  # noqa: E402
from tomau.hints import colorize_with_hints, propagate  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import psnr  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 10, 50, 200])
    ap.add_argument("--max-images", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "hints.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    files = files[:: max(1, len(files) // args.max_images)][: args.max_images]
    model = load_model(args.model)
    scores = {("alone", k): [] for k in args.hints} | {("model", k): [] for k in args.hints}
    for i, f in enumerate(files):
        truth = load_truth(f, args.size)
        rgb = truth.astype(np.float32) / 255
        lab = rgb_to_lab_hwc(rgb)
        grey = lab_to_rgb_u8_hwc(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1))
        model_rgb = model.colorize_arrays([rgb])[0]
        rng = np.random.default_rng(i)
        order = rng.permutation(args.size * args.size)
        for k in args.hints:
            mask = np.zeros(args.size * args.size, bool)
            mask[order[:k]] = True
            mask = mask.reshape(args.size, args.size)
            alone = grey if k == 0 else colorize_with_hints(rgb, mask, lab[..., 1:])
            on_model = model_rgb if k == 0 else colorize_with_hints(rgb, mask, lab[..., 1:], model_rgb)
            scores[("alone", k)].append(psnr(alone, truth))
            scores[("model", k)].append(psnr(on_model, truth))
        print(f"\r{i + 1}/{len(files)}", end="", flush=True)
    # solve time for one megapixel (1000 x 1000), 200 hints, after a warm-up
    rgb = np.asarray(torch.nn.functional.interpolate(torch.from_numpy(load_truth(files[0], 256).astype(np.float32) / 255)
                                                     .permute(2, 0, 1)[None], size=(1000, 1000), mode="bilinear")[0].permute(1, 2, 0))
    lab = rgb_to_lab_hwc(rgb)
    mask = np.zeros((1000, 1000), bool)
    idx = np.random.default_rng(0).integers(0, 1000, (200, 2))
    mask[idx[:, 0], idx[:, 1]] = True
    solve_ms = median_ms(lambda: propagate(lab[..., 0] / 100, mask, lab[..., 1:]), 3, warmup=1)
    t0 = time.time()
    colorize_with_hints(rgb, mask, lab[..., 1:])
    total_s = time.time() - t0
    rows = {f"{how} {k}": float(np.mean(v)) for (how, k), v in scores.items()}
    print(f"\n\n{len(files)} images from {args.data} at {args.size}x{args.size}; PSNR dB against the truth\n")
    print("| point hints | " + " | ".join(str(k) for k in args.hints) + " |")
    print("| --- |" + " ---: |" * len(args.hints))
    print("| hints alone | " + " | ".join(f"{rows[f'alone {k}']:.2f}" for k in args.hints) + " |")
    print(f"| hints + {args.model} | " + " | ".join(f"{rows[f'model {k}']:.2f}" for k in args.hints) + " |")
    print(f"\n1-megapixel solve (200 hints): {solve_ms / 1000:.2f} s (median of 3); with Lab conversions: {total_s:.2f} s "
          f"on {args.threads} CPU threads")
    write_result(args.out, {"data": args.data, "n": len(files), "size": args.size, "model": args.model,
                            "psnr": rows, "solve_1mp_s": solve_ms / 1000, "total_1mp_s": total_s})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
