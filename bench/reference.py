"""Reference-photo colourisation on imagenette val: each photo coloured from another photo of the same class.

    python bench/reference.py --data ../shared/data/imagenette/val --max-images 100

Every image is resized to 256x256. Its reference is the next photo of the same class folder (a similar scene,
as a restorer would pick); as a control, the next photo of another class; as an upper bound, the photo's own
colour version. Scores: PSNR and SSIM against the truth, colourfulness (CF) and |CF - truth's CF|. Writes
bench/results/reference.json.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import RESULTS, ROOT  # noqa: E402 - also puts the repo on sys.path

from tomau.data import scan_folder  # noqa: E402
from tomau.evaluate import load_truth  # noqa: E402
from tomau.hints import lab_to_rgb_u8, rgb_to_lab  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import colourfulness, psnr, ssim  # noqa: E402
from tomau.reference import colorize_from_reference  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--max-images", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "reference.json"))
    ap.add_argument("--grid", default=str(ROOT / "docs" / "images" / "reference_grid.jpg"))
    ap.add_argument("--grid-rows", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    by_class = defaultdict(list)
    for f in files:
        by_class[f.parent.name].append(f)
    classes = sorted(by_class)
    chosen = files[:: max(1, len(files) // args.max_images)][: args.max_images]
    model = load_model(args.model)
    rows = defaultdict(lambda: defaultdict(list))
    seconds = defaultdict(float)
    grid_rows = []

    def score(name, out, truth, t):
        rows[name]["psnr"].append(psnr(out, truth))
        rows[name]["ssim"].append(ssim(out, truth))
        rows[name]["cf"].append(colourfulness(out))
        rows[name]["dcf"].append(abs(colourfulness(out) - colourfulness(truth)))
        seconds[name] += t

    for i, f in enumerate(chosen):
        truth = load_truth(f, args.size)
        rgb = truth.astype(np.float32) / 255
        same = by_class[f.parent.name]
        other = by_class[classes[(classes.index(f.parent.name) + 1) % len(classes)]]
        ref_same = load_truth(same[(same.index(f) + 1) % len(same)], args.size).astype(np.float32) / 255
        ref_other = other[i % len(other)]
        ref_other = load_truth(ref_other, args.size).astype(np.float32) / 255
        lab = rgb_to_lab(rgb)
        score("grey", lab_to_rgb_u8(np.concatenate([lab[..., :1], 0 * lab[..., 1:]], -1)), truth, 0)
        t0 = time.time()
        model_rgb = model.colorize_arrays([rgb])[0]
        score(f"{args.model} model alone", model_rgb, truth, time.time() - t0)
        outs = {}
        for label, ref in (("same-class reference", ref_same), ("other-class reference (control)", ref_other),
                           ("the photo's own colours (upper bound)", rgb)):
            for method in ("welsh", "stats"):
                t0 = time.time()
                out = colorize_from_reference(rgb, ref, method, model_rgb if method == "stats" else None)
                score(f"{method}, {label}", out, truth, time.time() - t0)
                outs[method, label] = out
        if len(grid_rows) < args.grid_rows and i % 7 == 3:  # a spread of classes
            grey = np.repeat(np.asarray(Image.fromarray(truth).convert("L"))[..., None], 3, -1)
            grid_rows.append([grey, (ref_same * 255).astype(np.uint8), model_rgb, outs["stats", "same-class reference"],
                              outs["welsh", "same-class reference"], truth])
        print(f"\r{i + 1}/{len(chosen)}", end="", flush=True)
    truth_cf = float(np.mean([colourfulness(load_truth(f, args.size)) for f in chosen]))
    table = {name: {k: float(np.mean(v)) for k, v in m.items()} | {"ms": 1000 * seconds[name] / len(chosen)}
             for name, m in rows.items()}
    print(f"\n\n{len(chosen)} images from {args.data} at {args.size}x{args.size}; truth CF {truth_cf:.1f}\n")
    print("| method | PSNR dB | SSIM | CF | abs dCF | ms/img |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, m in table.items():
        print(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['cf']:.1f} | {m['dcf']:.1f} | {m['ms']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"data": args.data, "n": len(chosen), "size": args.size, "model": args.model,
                                          "truth_cf": truth_cf, "rows": table}, indent=2))
    if grid_rows:  # columns: input, reference, model alone, stats, welsh, truth
        grid = np.concatenate([np.concatenate(r, 1) for r in grid_rows], 0)
        Image.fromarray(grid).resize((grid.shape[1] // 2, grid.shape[0] // 2), Image.LANCZOS).save(args.grid, quality=88)
        print(f"grid: {args.grid} (input, reference, model alone, stats, welsh, truth)")


if __name__ == "__main__":
    main()
