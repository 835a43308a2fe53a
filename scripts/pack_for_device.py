"""Pack training images into one small zip for a remote GPU machine with a transfer limit.

    python scripts/pack_for_device.py --train ../shared/data/imagenette/train --val ../shared/data/imagenette/val \
        --quality 64 -o .gpudata/data.zip          # about 58 MiB for imagenette (9,271 + 96 images)

Images are re-encoded as WebP (train at --quality, val at 90) and stored uncompressed in a zip (the WebP
bytes do not compress further, and a zip's per-file overhead is far smaller than a tar's). On the remote
side: ``python3 -m zipfile -e .gpudata/data.zip /root/d`` gives /root/d/train and /root/d/val.
"""
from __future__ import annotations

import argparse
import io
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def encode(job: tuple[str, str, int]) -> tuple[str, bytes | None]:
    """Re-encode one image; None for a file Pillow cannot read (skipped and counted)."""
    src, name, quality = job
    buf = io.BytesIO()
    try:
        Image.open(src).convert("RGB").save(buf, "WEBP", quality=quality, method=6)
    except (OSError, ValueError):
        return name, None
    return name, buf.getvalue()


def jobs_for(folder: Path, prefix: str, quality: int, every: int = 1, limit: int = 0) -> list[tuple[str, str, int]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS)[::every]
    files = files[:limit] if limit else files
    # flatten sub-folders into the name so equal file names cannot collide
    return [(str(p), f"{prefix}/{'_'.join(p.relative_to(folder).with_suffix('.webp').parts)}", quality) for p in files]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", help="validation images (every 4th, at most --val-images)")
    ap.add_argument("--val-images", type=int, default=96)
    ap.add_argument("--quality", type=int, default=64)
    ap.add_argument("--max-mib", type=float, default=60.0, help="refuse to write a larger file")
    ap.add_argument("-o", "--output", default=".gpudata/data.zip")
    args = ap.parse_args()
    jobs = jobs_for(Path(args.train), "train", args.quality)
    if args.val:
        jobs += jobs_for(Path(args.val), "val", 90, every=4, limit=args.val_images)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        items = list(pool.map(encode, jobs, chunksize=64))
    skipped = [name for name, data in items if data is None]
    items = [(name, data) for name, data in items if data is not None]
    total = sum(len(b) for _, b in items) / 2**20
    if total > args.max_mib:
        raise SystemExit(f"{total:.1f} MiB of images is over --max-mib {args.max_mib}; lower --quality")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in items:
            z.writestr(name, data)
    print(f"{len(items)} images ({len(skipped)} unreadable skipped), {out.stat().st_size / 2**20:.1f} MiB -> {out}")


if __name__ == "__main__":
    main()
