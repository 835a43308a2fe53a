"""Films coloured once: keyframe hints carried through the shot (tomau.video.HintCarrier) vs the automatic film.

    python bench/hints_film.py --data ../shared/data/photos/val --photos 4

The clip is made from colour photos, so the truth is known: per photo, a shot of 40 frames at 320x240 - a pan
(1.5 px/frame) for even photos, a zoom (0.2 %/frame) for odd ones - and each shot cuts to the next. The first frame
of each shot gets 10 hints: 3x3-pixel truth means at random points (seed = the shot's index). Both films go through
tomau.video.colorize_frames with the temporal smoothing on (0.95): the automatic one with the default model, the
hinted one with the same model and the carried points (tomau.guided). PSNR (dB) of every frame against the truth, averaged; temporal
warp error: the mean |ab(t) - ab(t-1) moved by the known camera motion| (Lab units) over the frame's inside, as
bench/video.py measures flicker, averaged over consecutive pairs within shots. Writes bench/results/hints_film.json.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch
from common import RESULTS, FilmCamera, ab_of, write_result  # noqa: E402 - also puts the repo on sys.path

from tomau.data import scan_folder  # noqa: E402
from tomau.guided import HINTS_MODEL, Point  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.metrics import psnr  # noqa: E402
from tomau.video import HintCarrier, TemporalSmoother, colorize_frames  # noqa: E402

W, H, SHOT = 320, 240, 40
CAMERA = FilmCamera(W, H, SHOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--hints", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "hints_film.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = scan_folder(args.data, None, progress=False, colour_only=True).usable
    files = files[:: max(1, len(files) // args.photos)][: args.photos]
    shots, truth, keyframes = [], [], {}
    for i, f in enumerate(files):
        photo = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        if min(photo.shape[:2]) < H + 40:  # room for the zoom and the pan
            photo = cv2.resize(photo, None, fx=(H + 40) / min(photo.shape[:2]), fy=(H + 40) / min(photo.shape[:2]))
        kind = "pan" if i % 2 == 0 else "zoom"
        shots.append((kind, photo.shape))
        frames = [CAMERA.view(photo, kind, t) for t in range(SHOT)]
        truth += frames
        rng = np.random.default_rng(i)
        first = frames[0]
        mean3 = lambda y, x: first[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)  # noqa: E731 - a 3x3 truth patch
        keyframes[i * SHOT] = [Point(float(x), float(y), "#%02x%02x%02x" % tuple(int(round(v)) for v in mean3(y, x)))
                               for y, x in zip(rng.integers(1, H - 1, args.hints), rng.integers(1, W - 1, args.hints))]
    grey = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, -1) for f in truth]
    films = {
        "automatic (default model)": list(colorize_frames(load_model("default"), grey, TemporalSmoother(0.95))),
        f"{args.hints} hints on each shot's first frame, carried (default model + hints, tomau.guided)":
            list(colorize_frames(load_model(HINTS_MODEL, backend="torch"), grey, TemporalSmoother(0.95), hints=HintCarrier(keyframes))),
    }
    rows = {}
    for name, out in films.items():
        scores = [psnr(o, t) for o, t in zip(out, truth)]
        warp = []
        for s, (kind, shape) in enumerate(shots):
            for t in range(1, SHOT):
                mx, my = CAMERA.to_previous(kind, t, shape)
                prev = cv2.remap(ab_of(out[s * SHOT + t - 1]), mx, my, cv2.INTER_LINEAR)
                inside = (mx >= 2) & (mx <= W - 3) & (my >= 2) & (my <= H - 3)
                warp.append(float(np.abs(ab_of(out[s * SHOT + t]) - prev)[inside].mean()))
        rows[name] = {"psnr": float(np.mean(scores)), "warp_error": float(np.mean(warp))}
        print(f"| {name} | {rows[name]['psnr']:.2f} | {rows[name]['warp_error']:.3f} |")
    write_result(args.out, {"data": args.data, "photos": [f.name for f in files], "frames": len(truth), "size": [W, H],
                            "hints_per_shot": args.hints, "films": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
