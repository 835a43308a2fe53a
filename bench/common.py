"""Helpers shared by the benchmark scripts: the repo on sys.path, timing, and writing a result file that says
where its figures come from (commit, date, PyTorch, CPU)."""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def medians_in_turns(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Median wall time (ms) of each of ``fns`` (name -> callable), called in turns ``repeats`` times: a load that
    comes and goes on a shared machine falls on all of them, so their ratios hold better than separate runs'."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1000)
    return {name: statistics.median(v) for name, v in times.items()}


def write_result(path: str | Path, result: dict, indent: int = 2) -> Path:
    """Write a benchmark's result as JSON with tomau.provenance.run_info() (commit, date, PyTorch, CPU) under "run"
    first; returns the path."""
    from tomau.provenance import run_info

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run_info(), **result}, indent=indent) + "\n")
    return path
