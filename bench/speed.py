"""Speed of the bundled colouriser on this machine's CPU.

    python bench/speed.py [--model default] [--threads 2] [--repeats 20]

Prints a table and writes bench/results/speed.json:
  - model forward, ms per image at the model's own size, batch 1 and batch 16
  - for grey JPEG scans of 1, 16 and 64 megapixels (--mp), in the same run: the decode + encode baseline (Pillow
    reads the scan and writes an RGB JPEG of it, quality 95), tomau end to end (read, model, recombine, encode,
    write; in-process, the model loaded, as a batch job sees it) and the model's forward on that scan's own input
    (and on zeros, as earlier figures took it), taken in turns in one loop so that a busy machine slows them
    alike (medians), and the peak memory (RSS) of a fresh
    `tomau colorize` process on it, with the default backend and with --backend torch
  - one-off costs: model load, and a cold `tomau colorize` process (imports included)
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, ROOT, median_ms, medians_in_turns, write_result  # noqa: E402 - also puts the repo on sys.path
from PIL import Image

from tomau.batch import colorize_photos  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.modelfile import SAMPLES_DIR  # noqa: E402


def make_scan(path: Path, mp: float) -> Path:
    """A grey 4:3 JPEG scan of ``mp`` megapixels: the bundled 1880 Paris photo enlarged, with film grain (sigma 4
    levels, fixed seed; a smooth enlargement compresses and decodes far more easily than any real scan)."""
    w = int((mp * 1e6 * 4 / 3) ** 0.5)
    grey = Image.open(SAMPLES_DIR / "1880_paris.jpg").convert("L").resize((w, int(w * 3 / 4)), Image.BILINEAR)
    pixels = np.asarray(grey).astype(np.int16)
    pixels += np.random.default_rng(0).normal(0, 4, pixels.shape).astype(np.int16)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=str(RESULTS / "speed.json"))
    ap.add_argument("--mp", type=float, nargs="*", default=[1, 16, 64], help="megapixel sizes of the grey scans")
    ap.add_argument("--note", default="", help="what else ran on the machine (stored with the figures)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_start = round(os.getloadavg()[0], 2)

    t = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t
    s = model.image_size
    x1, x16 = torch.zeros(1, 1, s, s), torch.zeros(16, 1, s, s)
    ms_b1 = median_ms(lambda: model.predict_ab(x1), args.repeats)
    ms_b16 = median_ms(lambda: model.predict_ab(x16), max(3, args.repeats // 4)) / 16

    with tempfile.TemporaryDirectory() as tmp:
        src1 = make_scan(Path(tmp) / "photo_1mp.jpg", 1)
        t = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "tomau", "colorize", str(src1), "-o", str(Path(tmp) / "cli"), "-q",
                              "--threads", str(args.threads), "-m", args.model], cwd=ROOT, capture_output=True, text=True)
        cold_s = time.perf_counter() - t
        assert cli.returncode == 0, cli.stderr
        sizes = {}
        for mp in args.mp:
            src = src1 if mp == 1 else make_scan(Path(tmp) / f"scan_{mp:g}mp.jpg", mp)
            repeats = 5 if mp >= 16 else max(10, args.repeats)
            dst, out = Path(tmp) / "baseline.jpg", Path(tmp) / "out"
            with Image.open(src) as im:  # the model's own input for this scan: its time on this photo
                x_photo = model.model_inputs([np.asarray(im)])
            ms = medians_in_turns({
                # the floor of any tool that reads this photo and writes a colour one: decode, RGB, encode (Pillow)
                "baseline": lambda: Image.open(src).convert("RGB").save(dst, quality=95),
                # read, model, recombine, encode, write: as a batch job sees it
                "tomau": lambda: colorize_photos([(src, Path(src.name))], out, model, quiet=True, say=lambda m: None),
                "forward": lambda: model.predict_ab(x_photo),
                # the same network on zeros, as the figures before 2026-12-04 took it: ran 1-2 ms faster than a photo
                "forward_zeros": lambda: model.predict_ab(x1)}, repeats)
            base_ms, tomau_ms = ms["baseline"], ms["tomau"]
            peaks = {}
            for backend in ("default", "torch"):  # a fresh process each: its peak RSS is the photo's cost
                extra = "" if backend == "default" else f", '--backend', {backend!r}"
                # VmHWM: this process's own peak (ru_maxrss would keep the forking benchmark's size across exec)
                code = ("import resource, sys; from tomau.cli import main\n"
                        "def peak_kb():\n"
                        "    try:\n"
                        "        return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
                        "    except OSError:\n"
                        "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
                        f"rc = main(['colorize', {str(src)!r}, '-o', {str(Path(tmp) / f'big_{backend}_{mp:g}')!r}, '-q', '--max-pixels', '0', "
                        f"'--threads', '{args.threads}', '-m', {args.model!r}{extra}]); "
                        "print(peak_kb()); sys.exit(rc)")
                run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
                assert run.returncode == 0, run.stderr
                peaks[backend] = round(int(run.stdout.split()[-1]) / 1024)
            with Image.open(src) as im:
                w, h = im.size
            target_s = (1.5 * base_ms + ms["forward"]) / 1000 if mp == 1 else 2 * base_ms / 1000 if mp == 64 else None
            sizes[f"{mp:g}"] = {"size": f"{w}x{h}", "baseline_decode_encode_s": round(base_ms / 1000, 4),
                                "tomau_end_to_end_s": round(tomau_ms / 1000, 4), "ratio": round(tomau_ms / base_ms, 2),
                                "forward_ms_same_loop": round(ms["forward"], 1),
                                "forward_on_zeros_ms_same_loop": round(ms["forward_zeros"], 1),
                                "target_s": None if target_s is None else round(target_s, 4),
                                "time_target_met": None if target_s is None else tomau_ms / 1000 <= target_s,
                                "tomau_peak_rss_mb": peaks["default"], "tomau_peak_rss_mb_torch_backend": peaks["torch"],
                                "load_average_1min": round(os.getloadavg()[0], 2)}
            if src != src1:
                src.unlink()

    params = sum(p.numel() for p in model.net.parameters())
    result = {
        "model": args.model,
        "backend": model.backend,
        "parameters": params,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "image_size": s,
        "ms_per_image_batch1": round(ms_b1, 1),
        "ms_per_image_batch16": round(ms_b16, 1),
        "model_load_s": round(load_s, 3),
        "cold_cli_1mp_s": round(cold_s, 2),
        "by_megapixels": sizes,
        "targets": {"64": "end to end <= 2 x baseline, peak < 600 MB", "1": "end to end <= 1.5 x baseline + forward"},
        "machine_note": args.note,
        "load_average_1min_at_start": load_start,
    }
    rows = [
        (f"forward {s}x{s}, batch 1", f"{ms_b1:.1f} ms/img", ""),
        (f"forward {s}x{s}, batch 16", f"{ms_b16:.1f} ms/img", ""),
        ("model load (once)", f"{load_s:.3f} s", ""),
        ("cold CLI run, 1 MP (imports too)", f"{cold_s:.2f} s", ""),
    ]
    for mp, r in sizes.items():
        target = ""
        if mp == "64":
            target = f"<= {r['target_s']:.2f} s, < 600 MB"
        elif mp == "1":
            target = f"<= {r['target_s']:.4f} s (1.5 x baseline + forward {r['forward_ms_same_loop']} ms)"
        rows += [(f"{mp} MP ({r['size']}) decode+encode", f"{r['baseline_decode_encode_s']:.4f} s", "baseline"),
                 (f"{mp} MP tomau end to end", f"{r['tomau_end_to_end_s']:.4f} s", f"x{r['ratio']}  {target}"),
                 (f"{mp} MP tomau colorize peak RSS", f"{r['tomau_peak_rss_mb']} MB",
                  f"{r['tomau_peak_rss_mb_torch_backend']} MB with --backend torch")]
    print(f"tomau speed: model {args.model} ({params / 1e6:.1f} M params), {args.threads} threads, torch {torch.__version__}")
    for name, value, target in rows:
        print(f"  {name:<34}{value:>14}  {target}")
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
