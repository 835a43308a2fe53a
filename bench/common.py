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


class FilmCamera:
    """The camera of the benchmarks' made-up films over a still photo: ``width`` x ``height`` frames, shots of
    ``shot`` frames, a pan (1.5 photo px a frame) or a zoom (0.2 % a frame) about the photo's centre. Because only the
    camera moves, where each pixel was one frame earlier is known exactly: flicker is measured against it."""

    def __init__(self, width: int, height: int, shot: int):
        import numpy as np

        self.width, self.height, self.shot = width, height, shot
        self.centre = np.array([width / 2, height / 2])

    def camera(self, kind: str, t: int, photo_shape):
        """(centre in photo pixels, photo pixels per frame pixel) of frame t of a shot."""
        import numpy as np

        c0 = np.array([photo_shape[1] / 2, photo_shape[0] / 2])
        if kind == "pan":
            return c0 + np.array([1.5 * (t - self.shot / 2), 0.0]), 1.0
        if kind == "zoom":
            return c0, 1.0 - 0.002 * t
        return c0, 1.0

    def _grid(self):
        import numpy as np

        return np.meshgrid(np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32))

    def view(self, photo, kind: str, t: int):
        """Frame t of a shot over ``photo`` (bilinear, borders reflected)."""
        import cv2
        import numpy as np

        (c, s), (gx, gy), fc = self.camera(kind, t, photo.shape), self._grid(), self.centre
        mx, my = (c[0] + s * (gx - fc[0])).astype(np.float32), (c[1] + s * (gy - fc[1])).astype(np.float32)
        return cv2.remap(photo, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def to_previous(self, kind: str, t: int, photo_shape):
        """Where each pixel of frame t was in frame t-1, as cv2.remap's maps (x, y)."""
        import numpy as np

        (c1, s1), (c0, s0) = self.camera(kind, t, photo_shape), self.camera(kind, t - 1, photo_shape)
        (gx, gy), fc = self._grid(), self.centre
        px, py = c1[0] + s1 * (gx - fc[0]), c1[1] + s1 * (gy - fc[1])
        return (fc[0] + (px - c0[0]) / s0).astype(np.float32), (fc[1] + (py - c0[1]) / s0).astype(np.float32)


def ab_of(rgb_u8):
    """CIE Lab a*, b* (OpenCV's float conversion) of a uint8 RGB frame: what flicker is measured on."""
    import cv2
    import numpy as np

    return cv2.cvtColor(rgb_u8.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[..., 1:]
