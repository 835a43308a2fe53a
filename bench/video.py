"""Film colourisation: flicker, naive (frame by frame) vs motion-guided temporal smoothing, and throughput at 480p.

    python bench/video.py --data ../shared/data/historical --photos 4

The clip (854x480, 25 fps) is built from historical photos: per photo, three 2-second shots -- a static camera
with a grey disc crossing the scene (moving content), a slow pan (1.5 px/frame) and a slow zoom (0.2 %/frame) --
with independent film grain (sigma 4/255) and a +-2 % brightness flicker on every frame, as old film has.

Flicker: since the camera motion is known exactly, each pixel of frame t is mapped to where the same point of the
(static) scene was in frame t-1; flicker is the mean absolute change of a and b (Lab) between the two, over
pixels away from the disc and the frame edges, averaged over all consecutive frame pairs within shots.
Smearing: on the disc and on the pixels it uncovered during the last 6 frames (its trail), the mean absolute
ab difference between the smoothed and the naive colours; colours that lag behind moving content show up there.
Throughput: `tomau colorize` on the whole clip (decode, colourise, smooth, encode, audio), frames per second.
Writes bench/results/video.json and a strip of frames to docs/images/video_strip.jpg.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import RESULTS, ROOT, FilmCamera, ab_of, write_result  # noqa: E402 - also puts the repo on sys.path
from PIL import Image

from tomau.data import scan_folder  # noqa: E402
from tomau.inference import load_model  # noqa: E402
from tomau.video import TemporalSmoother, colorize_frames, colorize_video, probe, write_video  # noqa: E402

W, H, FPS, SHOT = 854, 480, 25, 50
CAMERA = FilmCamera(W, H, SHOT)


def disc_mask(kind: str, t: int, pad: int = 0) -> np.ndarray:
    if kind != "static":
        return np.zeros((H, W), bool)
    y, x = np.mgrid[0:H, 0:W]
    cx, cy = 150 + 5 * t, H * 0.6
    return (x - cx) ** 2 + (y - cy) ** 2 <= (70 + pad) ** 2


def render(photo: np.ndarray, disc_tex: np.ndarray, kind: str, t: int, rng) -> np.ndarray:
    frame = CAMERA.view(photo, kind, t)
    disc = disc_mask(kind, t)
    if disc.any():
        frame = np.where(disc, np.roll(disc_tex, 5 * t, axis=1), frame)
    frame = frame * (1 + rng.uniform(-0.02, 0.02)) + rng.normal(0, 4 / 255, frame.shape)
    g = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(g[..., None], 3, -1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder of (black-and-white) photos, e.g. ../shared/data/historical")
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--model", default="default")
    ap.add_argument("--strength", type=float, default=0.95)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/tomau_bench_video")
    ap.add_argument("--out", default=str(RESULTS / "video.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    files = files[:: max(1, len(files) // args.photos)][: args.photos]
    rng = np.random.default_rng(0)
    shots, frames = [], []
    for i, f in enumerate(files):
        im = Image.open(f).convert("L")
        scale = max(1.25 * W / im.width, 1.25 * H / im.height)
        photo = np.asarray(im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC), np.float32) / 255
        other = np.asarray(Image.open(files[(i + 1) % len(files)]).convert("L").resize((W, H)), np.float32) / 255
        for kind in ("static", "pan", "zoom"):
            shots.append((kind, photo.shape))
            frames += [render(photo, other, kind, t, rng) for t in range(SHOT)]
    clip = work / "clip.mp4"
    sr = 44100
    audio = 0.2 * np.sin(2 * np.pi * 220 * np.arange(int(len(frames) / FPS * sr)) / sr)
    write_video(clip, frames, FPS, (audio, sr))
    print(f"clip: {clip} ({len(frames)} frames, {len(frames) / FPS:.0f} s, {W}x{H}) from {len(files)} photos")

    model = load_model(args.model)
    decoded = []
    import av

    with av.open(str(clip)) as c:
        decoded = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    naive = list(colorize_frames(model, decoded, None))
    ours = list(colorize_frames(model, decoded, TemporalSmoother(args.strength)))
    flick = {"naive": [], "ours": []}
    by_kind = {(name, kind): [] for name in flick for kind in ("static", "pan", "zoom")}
    smear, static_diff = [], []
    for k, (kind, shape) in enumerate(shots):
        for t in range(1, SHOT):
            i = k * SHOT + t
            qx, qy = CAMERA.to_previous(kind, t, shape)
            valid = (qx > 4) & (qx < W - 5) & (qy > 4) & (qy < H - 5)
            valid &= ~disc_mask(kind, t, pad=8) & ~disc_mask(kind, t - 1, pad=8)
            for name, seq in (("naive", naive), ("ours", ours)):
                prev = cv2.remap(ab_of(seq[i - 1]), qx, qy, cv2.INTER_LINEAR)
                flick[name].append(np.abs(ab_of(seq[i]) - prev)[valid].mean())
                by_kind[name, kind].append(flick[name][-1])
            diff = np.abs(ab_of(ours[i]) - ab_of(naive[i]))
            if kind == "static" and t >= 6:
                moving = disc_mask(kind, t)
                for back in range(1, 7):
                    moving |= disc_mask(kind, t - back)
                smear.append(diff[moving].mean())
                static_diff.append(diff[valid].mean())
    result = {"frames": len(frames), "size": [W, H], "photos": [f.name for f in files], "strength": args.strength,
              "flicker_naive": float(np.mean(flick["naive"])), "flicker_ours": float(np.mean(flick["ours"])),
              "moving_diff": float(np.mean(smear)), "static_diff": float(np.mean(static_diff))}
    result["flicker_reduction"] = result["flicker_naive"] / result["flicker_ours"]
    result["by_shot"] = {kind: {name: float(np.mean(by_kind[name, kind])) for name in flick} for kind in ("static", "pan", "zoom")}

    # throughput of the whole command path: decode, colourise, smooth, encode, copy audio
    for name, strength in (("fps_naive", 0.0), ("fps_ours", args.strength)):
        t0 = time.time()
        colorize_video(clip, work / f"out_{name}.mp4", model, smoothing=strength)
        result[name] = len(frames) / (time.time() - t0)
    out_info, in_info = probe(work / "out_fps_ours.mp4"), probe(clip)
    result["kept"] = {"fps": [str(in_info.fps), str(out_info.fps)], "duration": [in_info.duration, out_info.duration],
                      "frames": [in_info.frames, out_info.frames], "audio": [in_info.has_audio, out_info.has_audio]}

    print(f"\n{len(frames)} frames at {W}x{H}, {args.threads} CPU threads, model {args.model}\n")
    print("| | naive (frame by frame) | temporal smoothing |")
    print("| --- | ---: | ---: |")
    print(f"| flicker: mean abs ab change on static regions | {result['flicker_naive']:.3f} | {result['flicker_ours']:.3f} |")
    for kind, v in result["by_shot"].items():
        print(f"| ... {kind} camera shots | {v['naive']:.3f} | {v['ours']:.3f} |")
    print(f"| frames per second at 480p (decode to encode) | {result['fps_naive']:.1f} | {result['fps_ours']:.1f} |")
    print(f"\nflicker reduced {result['flicker_reduction']:.1f}x; smoothed vs naive ab on the moving disc and its trail: "
          f"{result['moving_diff']:.2f} (on static regions: {result['static_diff']:.2f})")
    print(f"kept: {result['kept']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)

    # strip: frames 10, 25, 40 of the first shot (moving disc), naive over ours
    picks = [10, 25, 40]
    rows = [np.concatenate([seq[i] for i in picks], 1) for seq in (decoded, naive, ours)]
    strip = Image.fromarray(np.concatenate(rows, 0)).resize((3 * W // 2, 3 * H // 2))
    strip.save(ROOT / "docs" / "images" / "video_strip.jpg", quality=85)


if __name__ == "__main__":
    main()
