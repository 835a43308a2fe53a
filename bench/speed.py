"""Speed of the bundled colouriser on this machine's CPU.

    python bench/speed.py [--model default] [--threads 2] [--repeats 20]

Prints a table and writes bench/results/speed.json:
  - model forward, ms per 256x256 image at batch 1 and batch 16
  - end to end for a 1-megapixel JPEG: read + decode, predict, recombine with full-res L, encode + write
    (in-process, the model already loaded, as a batch job sees it), median of several runs
  - one-off costs: model load, and a cold `tomau colorize` process (imports included)
  - peak memory (RSS) of a `tomau colorize` process on a grey JPEG of 1, 16 and 64 megapixels (--mp to change)
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from common import RESULTS, ROOT, median_ms  # noqa: E402 - also puts the repo on sys.path

from tomau.images import load_image, save_image  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.modelfile import SAMPLES_DIR  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=str(RESULTS / "speed.json"))
    ap.add_argument("--mp", type=float, nargs="*", default=[1, 16, 64], help="megapixel sizes for the peak-memory rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t
    s = model.image_size
    x1, x16 = torch.zeros(1, 1, s, s), torch.zeros(16, 1, s, s)
    ms_b1 = median_ms(lambda: model.predict_ab(x1), args.repeats)
    ms_b16 = median_ms(lambda: model.predict_ab(x16), max(3, args.repeats // 4)) / 16

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo_1mp.jpg"
        Image.open(SAMPLES_DIR / "1860_girls.jpg").convert("L").resize((1155, 866), Image.LANCZOS).save(src, quality=92)
        dst = Path(tmp) / "out.jpg"

        def end_to_end():
            img = load_image(src)
            save_image(dst, model.colorize_arrays([img.rgb])[0], img.alpha)

        e2e_ms = median_ms(end_to_end, max(5, args.repeats // 2), warmup=2)
        t = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "tomau", "colorize", str(src), "-o", str(Path(tmp) / "cli"), "-q",
                              "--threads", str(args.threads), "-m", args.model], cwd=ROOT, capture_output=True, text=True)
        cold_s = time.perf_counter() - t
        assert cli.returncode == 0, cli.stderr
        peak_mb = {}
        for mp in args.mp:  # a fresh process per size: its peak RSS is the photo's cost
            side_w = int((mp * 1e6 * 4 / 3) ** 0.5)
            big = Path(tmp) / f"scan_{mp:g}mp.jpg"
            Image.open(SAMPLES_DIR / "1880_paris.jpg").convert("L").resize((side_w, int(side_w * 3 / 4)), Image.BILINEAR).save(big, quality=90)
            code = ("import resource, sys; from tomau.cli import main; "
                    f"rc = main(['colorize', {str(big)!r}, '-o', {str(Path(tmp) / 'big')!r}, '-q', '--max-pixels', '0', '-m', {args.model!r}]); "
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
            run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
            assert run.returncode == 0, run.stderr
            peak_mb[f"{mp:g}"] = round(int(run.stdout.split()[-1]) / 1024)
            big.unlink()

    params = sum(p.numel() for p in model.net.parameters())
    result = {
        "model": args.model,
        "parameters": params,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "ms_per_image_256_batch1": round(ms_b1, 1),
        "ms_per_image_256_batch16": round(ms_b16, 1),
        "end_to_end_1mp_jpeg_s": round(e2e_ms / 1000, 3),
        "model_load_s": round(load_s, 3),
        "cold_cli_1mp_s": round(cold_s, 2),
        "peak_rss_mb_by_megapixels": peak_mb,
        "targets": {"ms_per_image_256_batch1": 100, "end_to_end_1mp_jpeg_s": 1.0},
    }
    rows = [
        ("forward 256x256, batch 1", f"{ms_b1:.1f} ms/img", "<= 100 ms"),
        ("forward 256x256, batch 16", f"{ms_b16:.1f} ms/img", ""),
        ("1 MP JPEG end to end", f"{e2e_ms / 1000:.3f} s", "<= 1 s"),
        ("model load (once)", f"{load_s:.3f} s", ""),
        ("cold CLI run, 1 MP (imports too)", f"{cold_s:.2f} s", ""),
        *[(f"peak RSS, tomau colorize {mp} MP JPEG", f"{mb} MB", "< 2 GB at 64 MP" if mp == "64" else "") for mp, mb in peak_mb.items()],
    ]
    print(f"tomau speed: model {args.model} ({params / 1e6:.1f} M params), {args.threads} threads, torch {torch.__version__}")
    for name, value, target in rows:
        print(f"  {name:<34}{value:>14}  {target}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
