"""Colour hints: PSNR against the truth vs the number of hints, for the hints network (Zhang et al. 2017, the bundled
'hints' model), Levin et al.'s optimisation alone (2004) and the default model without hints; the time of one update.

    python bench/hints.py                                       # photos/val (the dev set), all 600
    python bench/hints.py --data ../shared/data/imagenette/val  # and any other dev set, each its own table

Each photo is resized to 256x256 (tomau.evaluate.load_truth); k hints are 3x3 truth patches (each pixel its true ab)
centred on k points drawn at random (seed = the photo's index in its set, so every method and count sees the same
points; the k of a larger count include the smaller's). Every method gets the same patches: the network as a scribble
mask (tomau.guided: each cell of its 1/4 grid holds the mean ab of the hint pixels in it), Levin's as hinted pixels.
0 hints: the network's output is the default model's (the hints decoder is not used), Levin's alone is grey.
The update time is tomau.guided.HintSession.colorize with 10 points on one 256x256 photo (the encoder ran once; the
hints decoder and the recombination at 256x256), one thread, median of 30. Writes bench/results/hints_network.json.
``--levin-on-model`` adds Levin's hints on the default model's output (the row of bench/results/hints.json).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, median_ms, write_result  # noqa: E402 - also puts the repo on sys.path

from tomau.color import lab_to_rgb_u8_hwc, rgb_to_lab_hwc  # noqa: E402
from tomau.data import scan_folder  # noqa: E402
from tomau.evaluate import load_truth  # noqa: E402
from tomau.guided import HINTS_MODEL, HintSession, Point, lab_hex  # noqa: E402
from tomau.hints import colorize_with_hints  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import psnr  # noqa: E402

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "val"


def patch_centres(size: int, k: int, seed: int) -> np.ndarray:
    """(k, 2) (y, x): the first k of a fixed random sequence of points, off the border (a larger k extends a smaller)."""
    return np.random.default_rng(seed).integers(1, size - 1, (50_000, 2))[:k]


def patch_mask(size: int, k: int, seed: int) -> np.ndarray:
    """(size, size) bool: 3x3 patches centred on :func:`patch_centres`."""
    mask = np.zeros((size, size), bool)
    for y, x in patch_centres(size, k, seed):
        mask[y - 1 : y + 2, x - 1 : x + 2] = True
    return mask


def score_set(data: str, network, default, counts: list[int], size: int, max_images: int, levin_on_model: bool) -> dict:
    files = scan_folder(data, None, progress=False, colour_only=False).usable
    files = files[:: max(1, len(files) // max_images)][:max_images] if max_images else files
    rows = ["network", "levin alone", "default"] + (["levin on default"] if levin_on_model else [])
    scores = {(r, k): [] for r in rows for k in counts}
    for i, f in enumerate(files):
        truth = load_truth(f, size)
        rgb = truth.astype(np.float32) / 255
        lab = rgb_to_lab_hwc(rgb)
        grey = lab_to_rgb_u8_hwc(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1))
        default_rgb = default.colorize_arrays([rgb])[0]
        session = HintSession(network, truth)
        for k in counts:
            mask = patch_mask(size, k, i)
            scores[("network", k)].append(psnr(session.colorize(mask=mask, ab=lab[..., 1:]), truth))
            scores[("levin alone", k)].append(psnr(grey if k == 0 else colorize_with_hints(rgb, mask, lab[..., 1:]), truth))
            scores[("default", k)].append(psnr(default_rgb, truth))
            if levin_on_model:
                on = default_rgb if k == 0 else colorize_with_hints(rgb, mask, lab[..., 1:], default_rgb)
                scores[("levin on default", k)].append(psnr(on, truth))
        print(f"\r{data}: {i + 1}/{len(files)}", end="", flush=True)
    print()
    return {"data": data, "n": len(files), "psnr": {f"{r} {k}": float(np.mean(scores[(r, k)])) for r in rows for k in counts},
            "rows": rows}


def update_ms(network, data: str, size: int) -> float:
    """One update (10 points) of a 256x256 photo, one thread, the encoder already run."""
    files = scan_folder(data, None, progress=False, colour_only=False).usable
    truth = load_truth(files[0], size)
    lab = rgb_to_lab_hwc(truth.astype(np.float32) / 255)
    session = HintSession(network, truth)
    rng = np.random.default_rng(0)
    points = [Point(float(x), float(y), lab_hex(*lab[y, x])) for y, x in rng.integers(0, size, (10, 2))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return median_ms(lambda: session.colorize(points), 30, warmup=3)
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", help="dev set folder (repeatable; default: ../shared/data/photos/val)")
    ap.add_argument("--model", default=HINTS_MODEL, help="the hints network (default: the bundled hints model)")
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 1, 5, 10, 50])
    ap.add_argument("--max-images", type=int, default=0, help="at most this many photos of each set, evenly spaced (0: all)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--levin-on-model", action="store_true", help="also Levin's hints on the default model's output")
    ap.add_argument("--out", default=str(RESULTS / "hints_network.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    network = load_model(args.model, backend="torch")
    default = load_model("default", backend="torch")  # the same PyTorch path as the network: 0 hints compare exactly
    sets = [score_set(d, network, default, args.hints, args.size, args.max_images, args.levin_on_model)
            for d in (args.data or [str(DEV_SET)])]
    ms = update_ms(network, (args.data or [str(DEV_SET)])[0], args.size)
    for s in sets:
        print(f"\n{s['n']} photos of {s['data']} at {args.size}x{args.size}; PSNR dB against the truth\n")
        print("| hints (3x3 truth patches) | " + " | ".join(str(k) for k in args.hints) + " |")
        print("| --- |" + " ---: |" * len(args.hints))
        for r in s["rows"]:
            print(f"| {r} | " + " | ".join(f"{s['psnr'][f'{r} {k}']:.2f}" for k in args.hints) + " |")
    print(f"\none update at {args.size}x{args.size} (10 points, encoder cached): {ms:.1f} ms on one thread")
    write_result(args.out, {"model": args.model, "size": args.size, "hints": args.hints, "sets": sets, "update_ms_1_thread": ms})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
