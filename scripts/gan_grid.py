"""An 8x8 (or n x n) grid of images from an unconditional generator, for the README.

    python scripts/gan_grid.py --model flowers_gan -o docs/images/flowers_projected_grid.png
Image i of the grid is image i of `tomau generate -m MODEL --seed SEED` (the same z), 2-px white borders.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from tomau.generation import generate
from tomau.images import write_atomic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--side", type=int, default=8, help="images per row and column")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    images = [np.asarray(im) for im in generate(args.model, args.side ** 2, seed=args.seed)]
    s, b = images[0].shape[0], 2
    grid = np.full((args.side * (s + b) + b, args.side * (s + b) + b, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, args.side)
        grid[b + r * (s + b): b + r * (s + b) + s, b + c * (s + b): b + c * (s + b) + s] = im
    write_atomic(args.output, lambda f: Image.fromarray(grid).save(f, format="PNG"))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
