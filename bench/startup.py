"""Start-up as a user meets it: whole processes, timed from start to exit (wall time and peak memory), medians of
several runs, for the commands a newcomer types first.

    python bench/startup.py                                  # this checkout
    python bench/startup.py --before /tmp/tomau-main         # and an earlier checkout, in turns with this one

Each command runs as ``python -m tomau ...`` (what the ``tomau`` script runs) with PYTHONPATH at the checkout, in
a scratch folder of generated inputs: a 1-MP grey photo (the bundled Paris sample enlarged), 20 photos (the two
bundled samples, 640 px wide, ten times each), and a scribble file for ``tomau hint``. Every command runs once
untimed first (each checkout then has its ONNX graph cached, as after a first use). With ``--before`` the two
checkouts run in turns, so a load that comes and goes falls on both. The machine's load average is written
beside the figures: on a busy machine the times are longer. Bytecode is written and used (as in an installation,
where pip compiles it), whatever PYTHONDONTWRITEBYTECODE says here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, write_result

# case -> (the command's arguments after the interpreter, target wall time in s or None, target peak MB or None)
CASES = {
    "tomau --help": (["-m", "tomau", "--help"], 0.3, None),
    "tomau colorize one.jpg (1 MP)": (["-m", "tomau", "colorize", "one.jpg", "-o", "out1", "-q", "--overwrite"], 1.0, 250),
    "tomau colorize 20 photos": (["-m", "tomau", "colorize", "twenty", "-o", "out20", "-q", "--overwrite"], 2.5, None),
    "tomau hint": (["-m", "tomau", "hint", "hint.jpg", "--scribbles", "strokes.png", "-o", "hinted.png", "-q", "--overwrite"], None, None),
    'python -c "import tomau"': (["-c", "import tomau"], None, None),
    'python -c "import tomau; tomau.load_model()"': (["-c", "import tomau; tomau.load_model()"], 0.8, None),
}


def make_inputs(folder: Path) -> None:
    """The inputs every case reads, made from the bundled samples (no network, no ../shared)."""
    import numpy as np
    from PIL import Image

    samples = sorted((ROOT / "tomau" / "samples").glob("*.jpg"))
    paris = Image.open(samples[-1]).convert("L")
    paris.resize((1155, 866), Image.Resampling.LANCZOS).save(folder / "one.jpg", quality=92)  # 1.0 MP
    (folder / "twenty").mkdir()
    for i in range(20):
        Image.open(samples[i % len(samples)]).convert("L").save(folder / "twenty" / f"photo{i:02d}.jpg", quality=92)
    grey = paris.resize((320, 208))
    grey.save(folder / "hint.jpg", quality=92)
    strokes = np.zeros((208, 320, 4), np.uint8)
    strokes[20:40, 30:120] = (40, 90, 200, 255)  # a blue stroke in the sky
    strokes[160:180, 100:260] = (150, 110, 60, 255)  # a brown one on the street
    Image.fromarray(strokes, "RGBA").save(folder / "strokes.png")


def run_once(python: str, args: list[str], tree: Path, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one whole process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("TOMAU_CACHE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installation runs: pip compiles the bytecode once, at install
    t = time.perf_counter()
    proc = subprocess.Popen([python, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} in {tree} exited {proc.returncode}: {err.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each command per checkout (default: 5)")
    ap.add_argument("--before", type=Path, help="an earlier checkout (its compiled module built) to time in turns with this one")
    ap.add_argument("--python", default=sys.executable, help="the interpreter of the environment tomau is installed in")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), metavar="CASE", help="only these cases (default: all)")
    ap.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = ap.parse_args()
    trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    cases = {k: CASES[k] for k in (args.cases or CASES)}
    load_before = os.getloadavg()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="tomau-startup-") as tmp:
        folder = Path(tmp)
        make_inputs(folder)
        for case, (cmd, target_s, target_mb) in cases.items():
            for tree in trees.values():  # untimed: caches filled, files read once
                run_once(args.python, cmd, tree, folder)
            walls: dict = {name: [] for name in trees}
            peaks: dict = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    wall, peak = run_once(args.python, cmd, tree, folder)
                    walls[name].append(wall)
                    peaks[name].append(peak)
            results[case] = {name: {"median_s": round(statistics.median(walls[name]), 3), "runs_s": [round(w, 3) for w in walls[name]],
                                    "peak_mb": round(max(peaks[name]), 1)} for name in trees}
            results[case]["target_s"], results[case]["target_mb"] = target_s, target_mb
            print(f"{case}: " + ", ".join(f"{n} {results[case][n]['median_s']:.2f} s" for n in trees), flush=True)
    load_after = os.getloadavg()
    names = list(trees)
    print(f"\n{'command':46s}" + "".join(f"{n + ' (s, MB)':>20s}" for n in names) + f"  {'target'}")
    for case, r in results.items():
        target = " / ".join(t for t in (r["target_s"] and f"<= {r['target_s']} s", r["target_mb"] and f"<= {r['target_mb']} MB") if t)
        print(f"{case:46s}" + "".join(f"{r[n]['median_s']:>12.2f} {r[n]['peak_mb']:>6.0f}" for n in names) + f"  {target or '-'}")
    print(f"load average (1, 5, 15 min): {load_before} before, {load_after} after; {os.cpu_count()} CPUs")
    out = write_result(args.out, {"runs": args.runs, "trees": {k: str(v) for k, v in trees.items()}, "python": args.python,
                                  "load_average_before": load_before, "load_average_after": load_after, "cases": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
