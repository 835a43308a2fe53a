"""Before/after grid of photos colourised by one or more models, for the README.

    python scripts/make_grid.py ../shared/data/historical -n 8 -o docs/images/historical_grid.jpg
    python scripts/make_grid.py PHOTOS --models default other.safetensors -o grid.jpg
    python scripts/make_grid.py ../shared/data/photos/val --truth --models "old=old.safetensors" "new=default" -o g.jpg
    python scripts/make_grid.py FACES -n 4 --models runs/faces_mdn --samples 8 -o faces.jpg
    python scripts/make_grid.py ../shared/data/maps/val -n 4 --translate runs/maps -o maps.jpg
Rows: the input, then one row per model. With --samples (a diverse model): one row per photo,
grey input | N colourings (most likely first) | the photo itself. With --translate (a paired translator):
one row per pair file, input | output | target. Photos are picked evenly from the sorted folder.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tomau.images import IMAGE_EXTENSIONS, load_image, save_image
from tomau.inference import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--models", nargs="+", default=["default"])
    ap.add_argument("--height", type=int, default=200)
    ap.add_argument("--samples", type=int, default=0, help="diverse model: N colourings per photo, one row per photo")
    ap.add_argument("--translate", metavar="MODEL", help="a translator: rows of input | output | target from pair files")
    ap.add_argument("--truth", action="store_true", help="colour photos: rows grey input | models | the photo itself")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    files = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    picks = [files[round(i * (len(files) - 1) / max(1, args.n - 1))] for i in range(args.n)]
    images = [load_image(p) for p in picks]
    originals = [(img.rgb * 255 + 0.5).astype(np.uint8) for img in images]
    if args.translate:
        from tomau.translation import load_translator

        translator = load_translator(args.translate)
        pairs = [translator.split_pair(Image.fromarray(o)) for o in originals]
        outs = translator.translate_arrays([a for a, _ in pairs])
        rows = [[a, out, b] for (a, b), out in zip(pairs, outs)]
        labels = [p.name[:12] for p in picks]
    elif args.samples:
        model = load_model(args.models[0])
        greys = [np.repeat(np.asarray(Image.fromarray(o).convert("L"))[..., None], 3, 2) for o in originals]
        samples = model.sample_arrays([img.rgb for img in images], args.samples)
        rows = [[g, *s, o] for g, s, o in zip(greys, samples, originals)]
        labels = [p.name[:12] for p in picks]
    else:
        greys = [np.repeat(np.asarray(Image.fromarray(o).convert("L"))[..., None], 3, 2) for o in originals]
        rows, labels = ([greys], ["grey input"]) if args.truth else ([originals], ["input"])
        for name in args.models:
            label, _, name = name.rpartition("=")
            model = load_model(name)
            rows.append(model.colorize_arrays([img.rgb for img in images], batch_size=1))
            labels.append(label or Path(name).stem)
        if args.truth:
            rows.append(originals)
            labels.append("truth")
    h, pad = args.height, 4
    tiles = [[Image.fromarray(a).resize((max(1, round(a.shape[1] * h / a.shape[0])), h), Image.LANCZOS) for a in row] for row in rows]
    width = max(sum(t.width for t in row) + pad * (len(row) + 1) for row in tiles)
    canvas = Image.new("RGB", (width, len(tiles) * (h + pad) + pad), "white")
    for r, row in enumerate(tiles):
        x = pad
        for t in row:
            canvas.paste(t, (x, pad + r * (h + pad)))
            x += t.width + pad
        ImageDraw.Draw(canvas).text((pad + 4, pad + r * (h + pad) + 4), labels[r], fill=(255, 255, 0))
    save_image(Path(args.output), np.asarray(canvas), quality=88)
    print("\n".join(str(p) for p in picks))


if __name__ == "__main__":
    main()
