"""What a training run writes besides checkpoints: sample grids and loss curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..images import write_atomic

MIN_TILE = 128  # sample grids show each image at least this big: a 32-px crop enlarged 4x (nearest: its pixels stay visible)


def save_grid(rows: list[torch.Tensor], path: Path) -> None:
    """Rows of (N, 3, S, S) images in [0, 1] -> one PNG, one row per entry, 2 px white gutters; images smaller than
    MIN_TILE are enlarged by a whole factor (each pixel a square block) to at least MIN_TILE."""
    from PIL import Image

    pad = 2
    n, _, s, _ = rows[0].shape
    factor = -(-MIN_TILE // s)  # ceil: 32 -> 4, 64 -> 2, 256 -> 1
    t = s * factor
    canvas = np.full((len(rows) * (t + pad) + pad, n * (t + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        arr = (row.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()
        if factor > 1:
            arr = arr.repeat(factor, axis=1).repeat(factor, axis=2)
        for c in range(n):
            y, x = pad + r * (t + pad), pad + c * (t + pad)
            canvas[y : y + t, x : x + t] = arr[c]
    write_atomic(path, lambda f: Image.fromarray(canvas).save(f, format="PNG"))


def read_metrics(metrics_path: Path) -> list[dict]:
    """The rows of a metrics.jsonl; a line a kill left half-written (or any line that is not a JSON object) is skipped."""
    from ..errors import TomauError
    from ..files import MAX_LIST_BYTES, loads_json, read_bounded

    rows = []
    for line in read_bounded(metrics_path, MAX_LIST_BYTES, "metrics file").decode("utf-8", "replace").splitlines():
        try:
            row = loads_json(line, metrics_path, max_depth=4)
        except (ValueError, TomauError):  # not JSON, or a hand-made line nested deeper than a row is
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def plot_losses(metrics_path: Path, out_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not metrics_path.exists():
        return  # nothing logged yet (a checkpoint before the first log line)
    rows = [r for r in read_metrics(metrics_path) if isinstance(r.get("step"), (int, float))]
    if not rows:
        return
    keys = sorted({k for r in rows for k in r if k not in ("step", "epoch", "img_per_s") and not k.startswith("val_")})
    val_keys = sorted({k for r in rows for k in r if k.startswith("val_")})
    fig, axes = plt.subplots(1, 1 + bool(val_keys), figsize=(11 if val_keys else 6, 4), squeeze=False)
    positive = True
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if k in r]
        positive = positive and all(v > 0 for _, v in pts)
        axes[0][0].plot(*zip(*pts), label=k)
    # GAN losses and logits can be negative (hinge, D's mean logit): a log axis only when all are positive
    axes[0][0].set_xlabel("step"), axes[0][0].set_yscale("log" if positive else "symlog"), axes[0][0].legend()
    axes[0][0].set_title("losses")
    for k in val_keys:
        pts = [(r["step"], r[k]) for r in rows if k in r]
        axes[0][1].plot(*zip(*pts), marker="o", label=k)
    if val_keys:
        axes[0][1].set_xlabel("step"), axes[0][1].legend(), axes[0][1].set_title("validation")
    fig.tight_layout()
    write_atomic(out_path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
