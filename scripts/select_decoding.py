"""Pick the shipped default colouriser and its decoding by a rule fixed before any number was seen (issue 35).

    python scripts/select_decoding.py --model effunet --model runs/new [--baseline pix2pix] [--unseen ~/tomau-data/dev] \
        [--write tomau/weights/effunet.safetensors]

Candidates are (model, decoding): for each ``--model`` (an effunet model: its two heads are computed once per photo)
every decoding of the grid below - the mix of the two heads and the temperature, the guided filter that keeps colour
inside its object (radius, eps) and the muting of uncertain colour (spread) -, and each ``--baseline`` as it decodes
by itself. Every candidate is scored at 256x256 on the unseen-source dev set (scripts/build_training_set.py's dev/,
sources no model trains on), on ../shared/data/photos/val (600 photos) and on the held-out faces (every 10th file
of ../shared/data/faces). The rule (issue 35):

    eligible = unseen PSNR >= its grey + 0.3 dB  and  photos/val PSNR >= its grey + 0.3 dB  and  faces PSNR >= 27.0
    default  = the eligible candidate with the smallest |CF - truth CF| on the unseen set (ties: the higher unseen PSNR)

``--write`` stores the winning decoding in a copy of the winning model file (the weights are unchanged); when a
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
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tomau.evaluate import grey_baseline, load_truth  # noqa: E402
from tomau.inference import Colorizer, load_model  # noqa: E402
from tomau.metrics import colourfulness, psnr  # noqa: E402
from tomau.metrics.image import false_colour_on, nearly_grey  # noqa: E402
from tomau.modelfile import load_model_file, save_model_file  # noqa: E402
from tomau.models.effunet import guided_filter  # noqa: E402

MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURES = (0.2, 0.38)
GUIDED = ((0, 1e-3), (4, 1e-3), (8, 1e-2))  # (radius in model-input pixels, eps); radius 0 = bilinear only
SPREADS = (0.0, 20.0, 40.0)  # uncertain_spread in Lab units; 0 = off
UNSEEN_PSNR_OVER_GREY = 0.3
VAL_PSNR_OVER_GREY = 0.3
FACES_PSNR = 27.0
DECODING_KEYS = ("mix", "temperature", "guided_radius", "guided_eps", "uncertain_spread")


def scores(preds: list[np.ndarray], truths: list[np.ndarray], greys: list[np.ndarray] | None = None) -> dict[str, float]:
    """PSNR, CF and false colour of ``preds``; ``greys``: the truths' nearly-grey masks, when already computed."""
    greys = greys if greys is not None else [nearly_grey(t) for t in truths]
    return {"psnr": float(np.mean([psnr(a, b) for a, b in zip(preds, truths)])),
            "cf": float(np.mean([colourfulness(a) for a in preds])),
            "false_colour": float(np.mean([false_colour_on(a, g) for a, g in zip(preds, greys)]))}


def decodings(mixes=MIXES, temperatures=TEMPERATURES, guided=GUIDED, spreads=SPREADS):
    for mix, t, (radius, eps), spread in itertools.product(mixes, temperatures, guided, spreads):
        if mix == 0 and t != temperatures[0]:
            continue  # the temperature does not matter without the classification head
        yield {"mix": mix, "temperature": t, "guided_radius": radius, "guided_eps": eps, "uncertain_spread": spread}


def effunet_grid(model, truths: list[np.ndarray], grid: list[dict]) -> dict[tuple, dict[str, float]]:
    """Scores of every decoding of ``grid`` on these photos, from one pass of the network per photo."""
    net = model.net
    greys = [nearly_grey(t) for t in truths]  # once: every decoding is scored against the same truths
    heads = []
    with torch.inference_mode():
        for i in range(0, len(truths), 32):
            batch = [t.astype(np.float32) / 255 for t in truths[i : i + 32]]
            l_orig, l_small = model.grey_inputs(batch)
            reg, logits = net.heads(net.encode(l_small), l_small)
            heads += list(zip(l_orig, l_small, reg, logits))
    out = {}
    saved = {k: getattr(net.config, k) for k in DECODING_KEYS}
    try:
        for d in tqdm(grid, desc="decodings", unit="decoding", leave=False):
            net.config.uncertain_spread = d["uncertain_spread"]
            preds = []
            with torch.inference_mode():
                for l_orig, l_small, r, g in heads:
                    ab = F.interpolate(net.combine(r[None], g[None], d["mix"], d["temperature"]), size=l_small.shape[-2:],
                                       mode="bilinear", align_corners=False)
                    if d["guided_radius"]:
                        ab = guided_filter(l_small[None], ab, d["guided_radius"], d["guided_eps"])
                    preds.append(Colorizer.recombine(l_orig, ab[0]))
            out[tuple(d.values())] = scores(preds, truths, greys)
    finally:
        for k, v in saved.items():
            setattr(net.config, k, v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="an effunet model (bundled name, file or run folder); repeatable")
    ap.add_argument("--baseline", action="append", default=[], help="another candidate scored as it decodes by itself; repeatable")
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--unseen", default="~/tomau-data/dev", help="the unseen-source dev set (scripts/build_training_set.py)")
    ap.add_argument("--write", help="write the winning effunet model with its decoding here")
    ap.add_argument("--out", default="bench/results/default_selection.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mixes", type=float, nargs="+", default=list(MIXES))
    ap.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    ap.add_argument("--guided", nargs="+", default=[f"{r},{e}" for r, e in GUIDED], help="RADIUS,EPS pairs; radius 0 = off")
    ap.add_argument("--spreads", type=float, nargs="+", default=list(SPREADS))
    args = ap.parse_args()
    guided = [(int(g.split(",")[0]), float(g.split(",")[1])) for g in args.guided]
    grid = list(decodings(args.mixes, args.temperatures, guided, args.spreads))
    torch.set_num_threads(args.threads)
    shared, unseen = Path(args.shared), Path(args.unseen).expanduser()
    sets = {"unseen": sorted(unseen.glob("*/*.jpg")), "photos/val": sorted((shared / "photos" / "val").glob("*.jpg")),
            "faces": sorted((shared / "faces").glob("*.jpg"))[::10]}
    for name, files in sets.items():
        if not files:
            sys.exit(f"the {name} set is empty: build it first (scripts/build_training_set.py for unseen, ../shared/data otherwise)")
    truths = {name: [load_truth(f, 256) for f in files] for name, files in sets.items()}
    grey = {name: scores([grey_baseline(t) for t in ts], ts) for name, ts in truths.items()}
    truth_cf = {name: float(np.mean([colourfulness(t) for t in ts])) for name, ts in truths.items()}
    print("grey PSNR: " + ", ".join(f"{s} {grey[s]['psnr']:.2f} ({len(sets[s])} photos, truth CF {truth_cf[s]:.1f})" for s in sets))
    rows = []
    for name in args.model:
        model = load_model(name, backend="torch")
        grids = {}
        for s, ts in truths.items():
            grids[s] = effunet_grid(model, ts, grid)
            print(f"{name}: {s} scored at {len(grid)} decodings", flush=True)
        for key in grids["unseen"]:
            rows.append({"model": name, **dict(zip(DECODING_KEYS, key)), **{s: grids[s][key] for s in grids}})
    for name in args.baseline:
        model = load_model(name)
        rows.append({"model": name, **{k: None for k in DECODING_KEYS},
                     **{s: scores(model.colorize_arrays([t.astype(np.float32) / 255 for t in ts], batch_size=16), ts) for s, ts in truths.items()}})
    for r in rows:
        r["eligible"] = bool(r["unseen"]["psnr"] >= grey["unseen"]["psnr"] + UNSEEN_PSNR_OVER_GREY
                             and r["photos/val"]["psnr"] >= grey["photos/val"]["psnr"] + VAL_PSNR_OVER_GREY
                             and r["faces"]["psnr"] >= FACES_PSNR)
        r["unseen_dcf"] = abs(r["unseen"]["cf"] - truth_cf["unseen"])
        print(f"{r['model']:18s} " + " ".join(f"{k[:6]} {str(r[k]):5s}" for k in DECODING_KEYS)
              + "".join(f"  {s} {r[s]['psnr']:6.2f}/{r[s]['cf']:4.1f}/{r[s]['false_colour']:5.2f}" for s in sets)
              + f"  {'eligible' if r['eligible'] else '-'}", flush=True)
    eligible = [r for r in rows if r["eligible"]]
    best = min(eligible, key=lambda r: (r["unseen_dcf"], -r["unseen"]["psnr"])) if eligible else None
    rule = (f"smallest |CF - truth CF| on the unseen-source dev set among unseen PSNR >= grey + {UNSEEN_PSNR_OVER_GREY}, "
            f"photos/val PSNR >= grey + {VAL_PSNR_OVER_GREY} and faces PSNR >= {FACES_PSNR}; ties to the higher unseen PSNR")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from tomau.provenance import run_info

    Path(args.out).write_text(json.dumps({"run": run_info(), "rule": rule, "grey": grey, "truth_cf": truth_cf,
                                          "n": {s: len(f) for s, f in sets.items()}, "candidates": rows, "chosen": best}, indent=1) + "\n")
    if best is None:
        print("no candidate passes the rule; nothing chosen")
        return
    print("chosen: " + best["model"] + " " + " ".join(f"{k} {best[k]}" for k in DECODING_KEYS))
    if args.write:
        if best["mix"] is None:
            print(f"the winner is the baseline {best['model']}; nothing written")
            return
        config, state = load_model_file(best["model"])
        config.pop("format")
        config["generator"]["params"].update({k: best[k] for k in DECODING_KEYS})
        config.setdefault("training", {})["decoding_selection"] = {
            "rule": rule, **{k: best[k] for k in DECODING_KEYS}, **{s.replace("/", "_"): best[s] for s in sets}}
        save_model_file(args.write, state, config)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
