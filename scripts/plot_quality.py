"""Dev quality against CPU hours of an effunet run (README plot).

    python scripts/plot_quality.py RUN --cache-hours 0.25 --old "23.39,17.3" --grey 23.87 -o docs/images/quality_vs_cpu_hours.png
    python scripts/plot_quality.py FINETUNE_RUN --cache-hours 2.3 --cores 1 --start "24.84,20.97" --label "effunet fine-tuned" ...

Hours = what came before the run (--cache-hours: the feature cache's build time, or the CPU hours of the model an
--init run starts from) + training time summed from metrics.jsonl (steps since the last line x batch / images per
second), times --cores (the cores the run kept busy: CPU hours). --start draws the --init model's score at step 0.
val_* are the trainer's checkpoint scores on --val-images photos of its --val-data (photos/val), at the run's
predict size.
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
    ap.add_argument("--start", help="PSNR,CF of the model the run starts from (--init), drawn at --cache-hours")
    ap.add_argument("--label", default="effunet (frozen Lite0, cached)")
    ap.add_argument("--no-target", action="store_true", help="no target lines (the scores are not on the targets' protocol)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    hours, t, step = [], args.cache_hours / args.cores, 0
    for r in rows:
        rate = r.get("images_per_s") or r.get("img_per_s")  # the frozen-cache trainer's key, then the one loop's
        if rate:
            t += (r["step"] - step) * cfg["batch_size"] / rate / 3600
            step = r["step"]
        hours.append(t * args.cores)
    pts = [(h, r["val_psnr"], r["val_cf"]) for h, r in zip(hours, rows) if "val_psnr" in r]
    if args.start:
        pts.insert(0, (args.cache_hours, *(float(x) for x in args.start.split(","))))
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=args.label)
    ax[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=args.label)
    if args.old:
        psnr, cf = (float(x) for x in args.old.split(","))
        ax[0].axhline(psnr, ls="--", c="grey", label="old default")
        ax[1].axhline(cf, ls="--", c="grey", label="old default")
    if args.grey:
        ax[0].axhline(args.grey, ls=":", c="k", label="grey baseline")
    if not args.no_target:
        ax[0].axhline(24.6, ls="-.", c="g", label="target")
        ax[1].axhline(32, ls="-.", c="g", label="target")
    for a, name in zip(ax, ("PSNR dB", "colourfulness")):
        a.set_xlabel("CPU hours (cores x wall hours, what came before included)"), a.set_ylabel(name), a.legend(fontsize=7)
    fig.suptitle(f"{run.name}: dev scores at each checkpoint")
    fig.tight_layout()
    fig.savefig(args.output, dpi=90)
    print(f"wrote {args.output}; last: {pts[-1] if pts else None}")


if __name__ == "__main__":
    main()
