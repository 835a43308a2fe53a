"""The colouriser's quality table: every model on every dev set, beside the grey baseline and the truth.

    python bench/colour.py --model "old default=tomau/weights/old.safetensors" --model "new default=default" \
        [--shared ../shared/data] [--threads 2] [--out bench/results/colour.json]

Sets (256x256, bicubic; the model sees only L):
  unseen         ~/tomau-data/dev (--unseen): photos from sources no model trains on, built by
                 scripts/build_training_set.py; unseen:SOURCE is one of its sources
  photos/val     ../shared/data/photos/val, 600 diverse photos (the colouriser's dev set)
  people         the 150 photos of people in photos/val (MANIFEST.csv: the Human-Segmentation source)
  imagenette     ../shared/data/imagenette/val, 386 photos of 10 ImageNet classes
  faces          every 10th file of ../shared/data/faces (UTKFace), 486 faces none of the models trained on
Columns: the --metrics named (tomau.metrics.METRICS; default PSNR, SSIM, CF (Hasler-Suesstrunk colourfulness), |dCF|
(per image, vs truth), FD-lite0 (Frechet distance on EfficientNet-Lite0 pooled features, to the true photos; not
Inception FID)), ms per 256x256 photo end to end at batch 1 (L -> model -> full-res recombination), parameters.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, median_ms, write_result

from tomau.evaluate import evaluate_files
from tomau.inference import load_model
from tomau.metrics import COLOUR_METRICS, METRICS, markdown_table
from tomau.metrics.frechet import FeatureNet


def unseen_sets(folder: Path) -> dict[str, list[Path]]:
    """The unseen-source dev set (scripts/build_training_set.py's dev/: one folder per source that no model trains on):
    all of it as "unseen", and each source as "unseen:NAME"."""
    if not folder.is_dir():
        return {}
    sets = {f"unseen:{d.name}": sorted(d.glob("*.jpg")) for d in sorted(folder.iterdir()) if d.is_dir()}
    return {"unseen": sorted(f for files in sets.values() for f in files), **sets}


def dev_sets(shared: Path) -> dict[str, list[Path]]:
    val = sorted((shared / "photos" / "val").glob("*.jpg"))
    people = []
    manifest = shared / "photos" / "MANIFEST.csv"
    if manifest.exists():
        with open(manifest) as f:
            people = sorted(shared / "photos" / r["file"] for r in csv.DictReader(f)
                            if r["split"] == "val" and r["repo"].startswith("VikramShenoy97/"))
    return {"photos/val": val, "people": people,
            "imagenette": sorted((shared / "imagenette" / "val").glob("*/*")),
            "faces": sorted((shared / "faces").glob("*.jpg"))[::10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="LABEL=MODEL (bundled name, file or run folder)")
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--unseen", default="~/tomau-data/dev", help="the unseen-source dev set (scripts/build_training_set.py)")
    ap.add_argument("--sets", nargs="+", default=["unseen", "photos/val", "people", "imagenette", "faces"],
                    help="set names; unseen:SOURCE names one source of the unseen-source dev set")
    ap.add_argument("--metrics", nargs="+", choices=list(METRICS), default=[*COLOUR_METRICS, "false_colour", "fd"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "colour.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sets = {**dev_sets(Path(args.shared)), **unseen_sets(Path(args.unseen).expanduser())}
    features = FeatureNet()
    results: dict = {"sets": {}, "models": []}
    for spec in args.model:
        label, _, name = spec.rpartition("=")
        model = load_model(name)
        photo = np.random.default_rng(0).random((256, 256, 3)).astype(np.float32)
        ms = median_ms(lambda: model.colorize_arrays([photo], batch_size=1), 10)
        params = sum(p.numel() for p in model.net.parameters())
        results["models"].append({"label": label or name, "model": name, "ms_per_image": ms, "parameters": params})
        for set_name in args.sets:
            files = sets.get(set_name, [])
            if not files:
                print(f"skipping {set_name}: no files under {args.shared}")
                continue
            scores = evaluate_files(model, files, 256, progress=False, metrics=args.metrics, features=features)
            entry = results["sets"].setdefault(set_name, {"n": len(files), "grey": scores["grey"], "truth": scores["truth"], "models": {}})
            entry["models"][label or name] = scores["model"]
            print(f"{label or name:28s} {set_name:11s} " + " ".join(f"{METRICS[k].label} {v:{METRICS[k].fmt}}" for k, v in scores["model"].items()),
                  flush=True)
    for set_name, entry in results["sets"].items():
        truth = ", ".join(f"truth {METRICS[k].label} {v:{METRICS[k].fmt}}" for k, v in entry["truth"].items())
        print(f"\n**{set_name}** ({entry['n']} photos{', ' + truth if truth else ''})\n")
        rows = [("grey baseline (ab = 0)", {**entry["grey"], "ms": 0, "params": 0})]
        rows += [(info["label"], {**entry["models"][info["label"]], "ms": f"{info['ms_per_image']:.0f}",
                                  "params": f"{info['parameters'] / 1e6:.1f} M"}) for info in results["models"] if info["label"] in entry["models"]]
        print(markdown_table(rows, args.metrics, extra=(("ms/img", "ms"), ("params", "params"))))
    write_result(args.out, results)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
