"""Grid of the hints network: one row per photo, grey | 0 hints (the default's colours) | 3 hints | 10 hints | truth,
the hints drawn as dots of their colour (3x3 truth patches at random points, as bench/hints.py draws them).

    python scripts/hints_grid.py ../shared/data/photos/val -n 8 -o docs/images/hints_grid.jpg
Photos are picked evenly from the sorted folder, resized to 256x256 (tomau.evaluate.load_truth); the seed of a
photo's points is its index in the folder, so the 3 points are the first 3 of the 10.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from hints import patch_centres, patch_mask  # noqa: E402 - bench/hints.py: the benchmark's own hints

from tomau.color import lab_to_rgb_u8_hwc, rgb_to_lab_hwc  # noqa: E402
from tomau.data import scan_folder  # noqa: E402
from tomau.evaluate import load_truth  # noqa: E402
from tomau.guided import HINTS_MODEL, HintSession  # noqa: E402
from tomau.images import save_image  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import psnr  # noqa: E402


def dotted(rgb: np.ndarray, centres: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The result with each hint drawn as a dot of its (true) colour in a white and black ring."""
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    for y, x in centres:
        colour = tuple(int(v) for v in truth[y, x])
        for r, fill in ((6, "black"), (5, "white"), (3, colour)):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    return np.asarray(im)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--model", default=HINTS_MODEL)
    ap.add_argument("--counts", type=int, nargs="+", default=[0, 3, 10])
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    files = scan_folder(args.folder, None, progress=False, colour_only=False).usable
    picks = [round(i * (len(files) - 1) / max(1, args.n - 1)) for i in range(args.n)]
    model = load_model(args.model, backend="torch")
    rows = []
    for index in picks:
        truth = load_truth(files[index], 256)
        lab = rgb_to_lab_hwc(truth.astype(np.float32) / 255)
        grey = lab_to_rgb_u8_hwc(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1))
        session = HintSession(model, truth)
        cells = [grey]
        scores = []
        for k in args.counts:
            mask = patch_mask(256, k, index)
            out = session.colorize(mask=mask, ab=lab[..., 1:])
            scores.append(psnr(out, truth))
            cells.append(dotted(out, patch_centres(256, k, index), truth) if k else out)
        cells.append(truth)
        rows.append(np.concatenate(cells, 1))
        print(f"{files[index].name}: PSNR " + ", ".join(f"{k} hints {s:.2f}" for k, s in zip(args.counts, scores)))
    save_image(Path(args.output), np.concatenate(rows, 0))
    print(f"wrote {args.output}: rows grey | " + " | ".join(f"{k} hints" for k in args.counts) + " | truth")


if __name__ == "__main__":
    main()
