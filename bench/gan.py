"""Score an unconditional GAN against its training images with statistics that need no downloaded weights.

    python bench/gan.py --model runs/demo/flowers_gan --data ../shared/data/flowers -n 2000

SWD x 1e3 (tomau.metrics.swd, ProGAN's multi-scale sliced Wasserstein distance on 7x7 Laplacian-pyramid patches)
of generated images against real ones, beside two references on the same data and size: the floor
(two disjoint halves of the real images) and a ceiling (images of uniform random pixels).
Also FD-lite0 (tomau.metrics.frechet): a Frechet distance on the pooled features of ImageNet EfficientNet-Lite0, a network
the projected discriminator does not use (it judges on Lite1), so G cannot have been trained against the
metric itself. With --fid-weights (the published pt_inception-2015-12-05 file) FID is reported too.
Writes bench/results/gan.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import RESULTS, write_result  # also puts the repo on sys.path

from tomau.data import SquareImageFolder, scan_folder
from tomau.generation import generate_batches, load_generator
from tomau.metrics import Shared
from tomau.metrics.frechet import fd_lite0, frechet_distance
from tomau.metrics.swd import sliced_wasserstein_distance


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("-n", type=int, default=2000, help="images per set")
    ap.add_argument("--fid-weights", help="pt_inception-2015-12-05-6726825d.pth, for FID as well")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-frechet", action="store_true", help="skip FD-lite0")
    ap.add_argument("--out", default=str(RESULTS / "gan.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net, config = load_generator(args.model)
    size = config["image_size"]
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    ds = SquareImageFolder(files, size, config.get("data_fit", "pad"))
    real = ds.stack(list(range(0, len(ds), max(1, len(ds) // (2 * args.n))))[: 2 * args.n])
    half_a, half_b = real[0::2], real[1::2]
    n = min(args.n, len(half_a), len(half_b))
    t0 = time.time()
    fake = torch.cat(list(generate_batches(net, n, seed=0)))
    gen_ms = (time.time() - t0) / n * 1000
    noise = torch.randint(0, 256, fake.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    rows = {
        "real vs real (floor: two halves of the data)": sliced_wasserstein_distance(half_a[:n], half_b[:n], per_level=True),
        "trained generator vs real": sliced_wasserstein_distance(half_a[:n], fake, per_level=True),
        "uniform noise vs real (ceiling)": sliced_wasserstein_distance(half_a[:n], noise, per_level=True),
    }
    fd_rows = {}
    if not args.no_frechet:
        shared = Shared()  # the real half's features are computed once
        sets = {k: [x.permute(1, 2, 0).numpy() for x in imgs] for k, imgs in (("a", half_a[:n]), ("b", half_b[:n]), ("fake", fake), ("noise", noise))}
        fd_rows = {"real vs real (floor)": fd_lite0(sets["a"], sets["b"], shared),
                   "trained generator vs real": fd_lite0(sets["a"], sets["fake"], shared),
                   "uniform noise vs real (ceiling)": fd_lite0(sets["a"], sets["noise"], shared)}
    fid_rows = {}
    if args.fid_weights:
        import tempfile

        from PIL import Image

        from tomau.metrics.fid import extract_features, load_fid_inception, statistics

        inception = load_fid_inception(args.fid_weights)
        with tempfile.TemporaryDirectory() as tmp:
            sets = {"a": half_a[:n], "b": half_b[:n], "fake": fake}
            stats = {}
            for key, imgs in sets.items():
                folder = Path(tmp) / key
                folder.mkdir()
                for i, x in enumerate(imgs):
                    Image.fromarray(x.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.png")
                stats[key] = statistics(extract_features(inception, sorted(folder.iterdir())))
        fid_rows = {"real vs real": frechet_distance(*stats["a"], *stats["b"], recipe="pytorch-fid"),
                    "trained generator vs real": frechet_distance(*stats["a"], *stats["fake"], recipe="pytorch-fid")}
    print(f"\n{n} images per set at {size}x{size}, {args.data}; SWD x 1e3 per pyramid level ({size} px first) and mean\n")
    print("| comparison | SWD levels | SWD mean |\n| --- | --- | ---: |")
    for label, levels in rows.items():
        print(f"| {label} | {' / '.join(f'{v:.1f}' for v in levels)} | {sum(levels) / len(levels):.1f} |")
    for label, v in fd_rows.items():
        print(f"FD-lite0 {label}: {v:.2f}")
    for label, v in fid_rows.items():
        print(f"FID {label}: {v:.2f}")
    print(f"\ngeneration: {gen_ms:.2f} ms/image on {args.threads} CPU threads (batch 256)")
    write_result(args.out, {"model": args.model, "data": args.data, "n": n, "size": size,
                            "swd": {k: {"levels": v, "mean": sum(v) / len(v)} for k, v in rows.items()},
                            "fd_lite0": fd_rows or "not computed (--no-frechet)",
                            "fid": fid_rows or "not computed: needs --fid-weights (the published Inception file)",
                            "generation_ms_per_image": gen_ms})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
