"""An 8x8 (or n x n) grid of images from an unconditional generator, for the README.

    python scripts/gan_grid.py --model flowers_gan -o docs/images/flowers_projected_grid.png
Image i of the grid is image i of `tomau generate -m MODEL --seed SEED` (the same z), 2-px white borders.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tomau.generation import generate_batches, load_generator
from tomau.training.outputs import save_grid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--side", type=int, default=8, help="images per row and column")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    net, _ = load_generator(args.model)
    images = torch.cat(list(generate_batches(net, args.side ** 2, seed=args.seed))).float() / 255
    save_grid(list(images.view(args.side, args.side, *images.shape[1:])), Path(args.output))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
