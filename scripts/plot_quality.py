"""Dev quality against CPU hours of an effunet run (README plot).

    python scripts/plot_quality.py RUN --cache-hours 0.25 --old "23.39,17.3" --grey 23.87 -o docs/images/quality_vs_cpu_hours.png

Hours = the feature cache's build time (--cache-hours, measured once) + training time summed from metrics.jsonl
(log_every steps x batch / images_per_s per line), times 2 for this machine's 2 cores (CPU hours). val_* are the
trainer's checkpoint scores on --val-images photos of its --val-data (photos/val), 256x256.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--cache-hours", type=float, default=0.0, help="wall hours spent building the feature cache")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--old", help="old default's PSNR,CF on the same images, drawn as dashed lines")
    ap.add_argument("--grey", type=float, help="grey baseline PSNR")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    hours, t = [], args.cache_hours
    for r in rows:
        t += cfg["log_every"] * cfg["batch_size"] / r["images_per_s"] / 3600
        hours.append(t * args.cores)
    pts = [(h, r["val_psnr"], r["val_cf"]) for h, r in zip(hours, rows) if "val_psnr" in r]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label="effunet (frozen Lite0, cached)")
    ax[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label="effunet")
    if args.old:
        psnr, cf = (float(x) for x in args.old.split(","))
        ax[0].axhline(psnr, ls="--", c="grey", label="old default")
        ax[1].axhline(cf, ls="--", c="grey", label="old default")
    if args.grey:
        ax[0].axhline(args.grey, ls=":", c="k", label="grey baseline")
    ax[0].axhline(24.6, ls="-.", c="g", label="target")
    ax[1].axhline(32, ls="-.", c="g", label="target")
    for a, name in zip(ax, ("PSNR dB", "colourfulness")):
        a.set_xlabel("CPU hours (2 cores x wall hours, cache included)"), a.set_ylabel(name), a.legend(fontsize=7)
    fig.suptitle(f"{run.name}: dev scores at each checkpoint")
    fig.tight_layout()
    fig.savefig(args.output, dpi=90)
    print(f"wrote {args.output}; last: {pts[-1] if pts else None}")


if __name__ == "__main__":
    main()
