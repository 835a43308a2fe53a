"""Does the pretrained EfficientNet-Lite load right? ImageNet top-1 on imagenette/val, colour and grey inputs.

    python bench/encoder.py --data ../shared/data/imagenette/val [--names efficientnet_lite0 efficientnet_lite1]

Imagenette's 10 classes are ImageNet classes; the 1000-way prediction counts only if it is the exact class.
Grey = the photo's Lab L shown as a grey sRGB photo (what the colouriser's encoder sees)."""
from __future__ import annotations

import argparse

import numpy as np
import torch
from common import RESULTS, write_result

from tomau import color
from tomau.evaluate import load_truth
from tomau.models.efficientnet_lite import VARIANTS, grey_l_to_rgb, pretrained

IMAGENET_INDEX = {"n01440764": 0, "n02102040": 217, "n02979186": 482, "n03000684": 491, "n03028079": 497,
                  "n03394916": 566, "n03417042": 569, "n03425413": 571, "n03445777": 574, "n03888257": 701}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="imagenette/val (folders named by WordNet id)")
    ap.add_argument("--names", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default=str(RESULTS / "encoder.json"))
    args = ap.parse_args()
    from pathlib import Path

    files = [(p, IMAGENET_INDEX[p.parent.name]) for p in sorted(Path(args.data).glob("*/*")) if p.parent.name in IMAGENET_INDEX]
    if not files:
        raise SystemExit(f"{args.data}: no images in folders named by imagenette's WordNet ids")
    torch.set_grad_enabled(False)
    rows = {}
    for name in args.names:
        net = pretrained(name)
        size = VARIANTS[name][2]
        hits = {"colour": 0, "grey": 0}
        for i in range(0, len(files), 32):
            chunk = files[i : i + 32]
            rgb = torch.stack([torch.from_numpy(load_truth(p, size).astype(np.float32) / 255).permute(2, 0, 1) for p, _ in chunk])
            labels = torch.tensor([c for _, c in chunk])
            l_norm = color.normalize_l(color.rgb_to_lab(rgb)[:, :1])
            for kind, x in (("colour", rgb * 2 - 1), ("grey", grey_l_to_rgb(l_norm))):
                hits[kind] += int((net(x).argmax(1) == labels).sum())
        rows[name] = {k: 100 * v / len(files) for k, v in hits.items()}
        print(f"{name:20s} top-1 colour {rows[name]['colour']:5.1f} %   grey {rows[name]['grey']:5.1f} %   ({len(files)} images at {size} px)")
    write_result(args.out, {"images": len(files), "top1": rows}, indent=1)


if __name__ == "__main__":
    main()
