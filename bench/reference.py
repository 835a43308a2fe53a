"""Reference-photo colourisation on imagenette val: each photo coloured from another photo of the same class.

    python bench/reference.py --data ../shared/data/imagenette/val --max-images 100

Every image is resized to 256x256. Its reference is the next photo of the same class folder (a similar scene,
as a restorer would pick); as a control, the next photo of another class; as an upper bound, the photo's own
colour version. Scores: the --metrics named (tomau.metrics.METRICS; default PSNR and SSIM against the truth,
colourfulness (CF) and |CF - truth's CF|). Writes bench/results/reference.json.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from common import RESULTS, ROOT, write_result  # also puts the repo on sys.path
from PIL import Image

from tomau.data import scan_folder
from tomau.evaluate import grey_baseline, load_truth
from tomau.inference import load_model
from tomau.metrics import COLOUR_METRICS, METRICS, Shared, markdown_table, score
from tomau.reference import colorize_from_reference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--max-images", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--metrics", nargs="+", choices=list(METRICS), default=list(COLOUR_METRICS))
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
    outputs, truths = defaultdict(list), []  # every method's outputs, scored at the end
    seconds = defaultdict(float)
    grid_rows = []

    def keep(name, out, t):
        outputs[name].append(out)
        seconds[name] += t

    for i, f in enumerate(chosen):
        truth = load_truth(f, args.size)
        truths.append(truth)
        rgb = truth.astype(np.float32) / 255
        same = by_class[f.parent.name]
        other = by_class[classes[(classes.index(f.parent.name) + 1) % len(classes)]]
        ref_same = load_truth(same[(same.index(f) + 1) % len(same)], args.size).astype(np.float32) / 255
        ref_other = other[i % len(other)]
        ref_other = load_truth(ref_other, args.size).astype(np.float32) / 255
        keep("grey", grey_baseline(truth), 0)
        t0 = time.time()
        model_rgb = model.colorize_arrays([rgb])[0]
        keep(f"{args.model} model alone", model_rgb, time.time() - t0)
        outs = {}
        for label, ref in (("same-class reference", ref_same), ("other-class reference (control)", ref_other),
                           ("the photo's own colours (upper bound)", rgb)):
            for method in ("welsh", "stats"):
                t0 = time.time()
                out = colorize_from_reference(rgb, ref, method, model_rgb if method == "stats" else None)
                keep(f"{method}, {label}", out, time.time() - t0)
                outs[method, label] = out
        if len(grid_rows) < args.grid_rows and i % 7 == 3:  # a spread of classes
            grey = np.repeat(np.asarray(Image.fromarray(truth).convert("L"))[..., None], 3, -1)
            grid_rows.append([grey, (ref_same * 255).astype(np.uint8), model_rgb, outs["stats", "same-class reference"],
                              outs["welsh", "same-class reference"], truth])
        print(f"\r{i + 1}/{len(chosen)}", end="", flush=True)
    shared = Shared()
    truth = score([n for n in args.metrics if METRICS[n].of_preds_alone], truths, truths, shared)
    table = {name: score(args.metrics, outs, truths, shared) | {"ms": 1000 * seconds[name] / len(chosen)} for name, outs in outputs.items()}
    truth_text = "".join(f"; truth {METRICS[k].label} {v:{METRICS[k].fmt}}" for k, v in truth.items())
    print(f"\n\n{len(chosen)} images from {args.data} at {args.size}x{args.size}{truth_text}\n")
    print(markdown_table([(name, {**m, "ms_text": f"{m['ms']:.0f}"}) for name, m in table.items()], args.metrics, "method",
                         extra=(("ms/img", "ms_text"),)))
    write_result(args.out, {"data": args.data, "n": len(chosen), "size": args.size, "model": args.model, "truth": truth, "rows": table})
    if grid_rows:  # columns: input, reference, model alone, stats, welsh, truth
        grid = np.concatenate([np.concatenate(r, 1) for r in grid_rows], 0)
        Image.fromarray(grid).resize((grid.shape[1] // 2, grid.shape[0] // 2), Image.LANCZOS).save(args.grid, quality=88)
        print(f"grid: {args.grid} (input, reference, model alone, stats, welsh, truth)")


if __name__ == "__main__":
    main()
