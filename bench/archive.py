"""Archive-scale throughput: the same photos through the plain CLI, the CLI with --batch-size, two single-thread
CLI processes (--shard 0/2, 1/2: what a job array does on one machine) and the Ray Data engine with 1 and 2
workers; photos/s and CPU ms per photo (every process of the run's tree, Ray's own included, sampled with psutil).
Then where the time of a 10-MP scan goes (decode, model, encode; one thread), for the README's sizing.

    python bench/archive.py                      # 300 photos of ../shared/data/photos/val, JSON in bench/results/
    python bench/archive.py --photos 50 --big 1  # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import RESULTS, ROOT, write_result

TOMAU = [sys.executable, "-m", "tomau"]


def run_tree(cmd: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(wall s, CPU s of the process and all its descendants, exit code). CPU: each process's user+system time
    as last seen by a 50 ms poll, so the last <50 ms of short-lived processes is missed."""
    import psutil

    seen: dict[int, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def poll():
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    t = p.cpu_times()
                    seen[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    err = proc.communicate()[1]
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    if proc.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, sum(seen.values()), proc.returncode


def throughput(src: Path, scratch: Path, n: int) -> dict:
    variants = {
        "cli (batch 8, the default)": [[*TOMAU, "colorize", str(src), "-o", "{out}", "-q"]],
        "cli --batch-size 32": [[*TOMAU, "colorize", str(src), "-o", "{out}", "-q", "--batch-size", "32"]],
        "2 cli processes --shard K/2 --threads 1": [[*TOMAU, "colorize", str(src), "-o", "{out}", "-q", "--threads", "1",
                                                    "--shard", f"{k}/2"] for k in range(2)],
        "ray, 1 worker": [[*TOMAU, "colorize", str(src), "-o", "{out}", "-q", "--engine", "ray", "--workers", "1"]],
        "ray, 2 workers": [[*TOMAU, "colorize", str(src), "-o", "{out}", "-q", "--engine", "ray", "--workers", "2"]],
        "ray start-up (2 workers, 2 photos)": None,
    }
    rows = {}
    for name, cmds in variants.items():
        out = scratch / f"out-{len(rows)}"
        shutil.rmtree(out, ignore_errors=True)
        if cmds is None:  # Ray's fixed cost: a run of 2 photos
            two = scratch / "two"
            shutil.rmtree(two, ignore_errors=True)
            two.mkdir()
            for f in sorted(src.iterdir())[:2]:
                shutil.copy(f, two / f.name)
            wall, cpu, _ = run_tree([*TOMAU, "colorize", str(two), "-o", str(out), "-q", "--engine", "ray", "--workers", "2"])
            rows[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
            print(f"{name:45s} {wall:6.1f} s wall", flush=True)
            continue
        if len(cmds) == 1:
            wall, cpu, _ = run_tree([a.replace("{out}", str(out)) for a in cmds[0]])
        else:  # processes side by side, as a job array's tasks on one machine
            results = [None] * len(cmds)

            def one(k):
                results[k] = run_tree([a.replace("{out}", str(out)) for a in cmds[k]])

            t0 = time.perf_counter()
            threads = [threading.Thread(target=one, args=(k,)) for k in range(len(cmds))]
            [t.start() for t in threads]
            [t.join() for t in threads]
            wall, cpu = time.perf_counter() - t0, sum(r[1] for r in results)
        written = sum(1 for p in out.rglob("*") if p.is_file() and not p.name.startswith("tomau-manifest"))
        assert written == n, f"{name}: {written} results for {n} photos"
        rows[name] = {"photos": n, "wall_s": round(wall, 2), "photos_per_s": round(n / wall, 2),
                      "cpu_ms_per_photo": round(1000 * cpu / n, 1)}
        if (out / "tomau-manifest.jsonl").exists():  # Ray: the rate once the first photo is recorded (no start-up)
            from datetime import datetime

            times = sorted(datetime.fromisoformat(json.loads(line)["time"]).timestamp()
                           for line in (out / "tomau-manifest.jsonl").read_text().splitlines())
            rows[name]["after_first_result_photos_per_s"] = round((len(times) - 1) / max(times[-1] - times[0], 1e-3), 2)
            rows[name]["start_up_s"] = round(wall - (times[-1] - times[0]), 1)
        print(f"{name:45s} {n / wall:6.2f} photos/s  {1000 * cpu / n:7.1f} CPU ms/photo  ({wall:.1f} s)", flush=True)
    return rows


def ten_megapixel(src: Path, scratch: Path, k: int) -> dict:
    """Stages of a 10-MP grey scan (3872x2592 JPEG, q95, film grain of sigma 4 levels as bench/speed.py's: a smooth
    enlargement decodes far more easily than a real scan) on one thread, and end to end as the CLI does it."""
    import numpy as np
    import torch
    from PIL import Image

    from tomau.images import load_image, save_image
    from tomau.pipeline import load

    torch.set_num_threads(1)
    big = scratch / "big"
    shutil.rmtree(big, ignore_errors=True)
    big.mkdir()
    rng = np.random.default_rng(0)
    for f in sorted(src.iterdir())[:k]:
        with Image.open(f) as im:
            grey = np.asarray(im.convert("L").resize((3872, 2592), Image.LANCZOS)).astype(np.int16)
        grey += rng.normal(0, 4, grey.shape).astype(np.int16)
        Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(big / f.name, quality=95)
    model = load("default", "colorize", device="cpu")
    decode, colour, encode, sizes = [], [], [], []  # (wall, CPU) seconds of each stage
    for f in sorted(big.iterdir()):
        t, c = time.perf_counter(), time.process_time()
        img = load_image(f)
        decode.append((time.perf_counter() - t, time.process_time() - c))
        t, c = time.perf_counter(), time.process_time()
        rgb = model.colorize_arrays([img.pixels], batch_size=1)[0]
        colour.append((time.perf_counter() - t, time.process_time() - c))
        t, c = time.perf_counter(), time.process_time()
        save_image(scratch / "big-out.jpg", np.asarray(rgb), info=img.info)
        encode.append((time.perf_counter() - t, time.process_time() - c))
        sizes.append((f.stat().st_size, (scratch / "big-out.jpg").stat().st_size))
    from tomau.batch import colorize_photos, plan_targets

    out = scratch / "big-out"  # end to end as the CLI does it (rows streamed through model and encoder), in process
    shutil.rmtree(out, ignore_errors=True)
    targets, _ = plan_targets([(f, Path(f.name)) for f in sorted(big.iterdir())], out)
    t, c = time.perf_counter(), time.process_time()
    counts = colorize_photos(targets, out, model, batch_size=1, quiet=True)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    assert counts.done == k
    ms = lambda xs: {"wall": round(1000 * float(np.median([w for w, _ in xs])), 1),  # noqa: E731
                     "cpu": round(1000 * float(np.median([c for _, c in xs])), 1)}
    return {"megapixels": round(3872 * 2592 / 1e6, 2), "scans": k, "threads": 1,
            "decode_ms": ms(decode), "model_ms": ms(colour), "encode_ms": ms(encode),
            "input_mb": round(float(np.mean([a for a, _ in sizes])) / 1e6, 2),
            "result_mb": round(float(np.mean([b for _, b in sizes])) / 1e6, 2),
            "end_to_end": {"wall_s": round(wall, 2), "photos_per_s": round(k / wall, 3), "cpu_s_per_photo": round(cpu / k, 2),
                           "note": "tomau.batch.colorize_photos, model loaded; decode + model + streamed encode"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(ROOT.parent / "shared" / "data" / "photos" / "val"))
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--big", type=int, default=3, help="10-MP scans for the stage breakdown (0 = skip)")
    ap.add_argument("--scratch", default="/tmp/tomau-bench-archive")
    ap.add_argument("--out", default=str(RESULTS / "archive.json"))
    args = ap.parse_args()
    scratch = Path(args.scratch)
    src = scratch / "photos"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    files = sorted(p for p in Path(args.src).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:args.photos]
    if len(files) < args.photos:
        sys.exit(f"{args.src} holds {len(files)} photos, fewer than --photos {args.photos}")
    for f in files:
        shutil.copy(f, src / f.name)
    from PIL import Image

    with Image.open(files[0]) as im:
        size = im.size
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
              "photos": {"count": args.photos, "from": args.src, "first_size": size},
              "model": "default (effunet)", "throughput": throughput(src, scratch, args.photos)}
    if args.big:
        result["ten_megapixel_scan"] = ten_megapixel(src, scratch, args.big)
        print(json.dumps(result["ten_megapixel_scan"], indent=1), flush=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
