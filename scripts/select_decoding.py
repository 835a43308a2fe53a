"""Pick the shipped default colouriser and its decoding by a rule fixed before any number was seen.

    python scripts/select_decoding.py --model effunet --baseline pix2pix [--shared ../shared/data] \
        [--write tomau/weights/effunet.safetensors]

Candidates are (model, mix, temperature): every (mix, T) on the grid below for each ``--model`` (an effunet model:
its two heads are computed once per photo, then combined at every setting), and each ``--baseline`` model as it
decodes by itself. Each candidate is scored at 256x256 on ../shared/data/photos/val (600 photos) and on the held-out
faces (every 10th file of ../shared/data/faces). The rule:

    eligible = photos/val PSNR >= grey PSNR + 0.3 dB  and  faces PSNR >= 27.0
    default  = the eligible candidate with the highest photos/val CF (ties: the higher photos/val PSNR)

``--write`` stores the winning (mix, T) in a copy of the winning model file (the weights are unchanged); when a
baseline wins, nothing is written and the script says so. JSON: bench/results/default_selection.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tomau.evaluate import grey_baseline, load_truth  # noqa: E402
from tomau.inference import Colorizer, load_model  # noqa: E402
from tomau.metrics import colourfulness, psnr  # noqa: E402
from tomau.modelfile import load_model_file, save_model_file  # noqa: E402

MIXES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)
TEMPERATURES = (0.2, 0.38, 0.5)
PSNR_OVER_GREY = 0.3
FACES_PSNR = 27.0


def scores(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    return {"psnr": float(np.mean([psnr(a, b) for a, b in zip(preds, truths)])),
            "cf": float(np.mean([colourfulness(a) for a in preds]))}


def effunet_grid(model, truths: list[np.ndarray]) -> dict[tuple[float, float], dict[str, float]]:
    """Scores of every (mix, T) on these photos, from one pass of the network."""
    net = model.net
    heads = []
    with torch.inference_mode():
        for i in range(0, len(truths), 32):
            batch = [t.astype(np.float32) / 255 for t in truths[i : i + 32]]
            l_orig, l_small = model.grey_inputs(batch)
            reg, logits = net.heads(net.encode(l_small), l_small)
            heads += list(zip(l_orig, reg, logits))
    out = {}
    for mix, t in itertools.product(MIXES, TEMPERATURES):
        if mix == 0 and t != TEMPERATURES[0]:
            continue  # the temperature does not matter without the classification head
        with torch.inference_mode():
            preds = [Colorizer.recombine(l, F.interpolate(net.combine(r[None], g[None], mix, t), size=(model.image_size,) * 2,
                                                            mode="bilinear", align_corners=False)[0]) for l, r, g in heads]
        out[(mix, t)] = scores(preds, truths)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="an effunet model (bundled name, file or run folder); repeatable")
    ap.add_argument("--baseline", action="append", default=[], help="another candidate scored as it decodes by itself; repeatable")
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--write", help="write the winning effunet model with its decoding here")
    ap.add_argument("--out", default="bench/results/default_selection.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared = Path(args.shared)
    sets = {"photos/val": sorted((shared / "photos" / "val").glob("*.jpg")), "faces": sorted((shared / "faces").glob("*.jpg"))[::10]}
    truths = {name: [load_truth(f, 256) for f in files] for name, files in sets.items()}
    grey = {name: float(np.mean([psnr(grey_baseline(t), t) for t in ts])) for name, ts in truths.items()}
    print(f"grey PSNR: photos/val {grey['photos/val']:.2f} ({len(sets['photos/val'])} photos), faces {grey['faces']:.2f} ({len(sets['faces'])})")
    rows = []
    for name in args.model:
        model = load_model(name)
        grids = {s: effunet_grid(model, ts) for s, ts in truths.items()}
        for key in grids["photos/val"]:
            rows.append({"model": name, "mix": key[0], "temperature": key[1], **{s: grids[s][key] for s in grids}})
    for name in args.baseline:
        model = load_model(name)
        rows.append({"model": name, "mix": None, "temperature": None,
                     **{s: scores(model.colorize_arrays([t.astype(np.float32) / 255 for t in ts], batch_size=16), ts) for s, ts in truths.items()}})
    for r in rows:
        r["eligible"] = r["photos/val"]["psnr"] >= grey["photos/val"] + PSNR_OVER_GREY and r["faces"]["psnr"] >= FACES_PSNR
        print(f"{r['model']:14s} mix {str(r['mix']):5s} T {str(r['temperature']):5s}  photos/val PSNR {r['photos/val']['psnr']:6.2f} "
              f"CF {r['photos/val']['cf']:5.1f}   faces PSNR {r['faces']['psnr']:6.2f} CF {r['faces']['cf']:5.1f}   "
              f"{'eligible' if r['eligible'] else '-'}", flush=True)
    eligible = [r for r in rows if r["eligible"]]
    best = max(eligible, key=lambda r: (r["photos/val"]["cf"], r["photos/val"]["psnr"])) if eligible else None
    rule = (f"highest photos/val CF among photos/val PSNR >= grey + {PSNR_OVER_GREY} and faces PSNR >= {FACES_PSNR}; "
            "ties to the higher PSNR")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from tomau.provenance import run_info

    Path(args.out).write_text(json.dumps({"run": run_info(), "rule": rule, "grey_psnr": grey, "n": {s: len(f) for s, f in sets.items()},
                                          "candidates": rows, "chosen": best}, indent=1) + "\n")
    if best is None:
        print("no candidate passes the rule; nothing chosen")
        return
    print(f"chosen: {best['model']} mix {best['mix']} T {best['temperature']}")
    if args.write:
        if best["mix"] is None:
            print(f"the winner is the baseline {best['model']}; nothing written")
            return
        config, state = load_model_file(best["model"])
        config.pop("format")
        config["generator"]["params"].update(mix=best["mix"], temperature=best["temperature"])
        config.setdefault("training", {})["decoding_selection"] = {"rule": rule, "mix": best["mix"], "temperature": best["temperature"],
                                                                  "photos_val": best["photos/val"], "faces": best["faces"]}
        save_model_file(args.write, state, config)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
