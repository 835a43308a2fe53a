"""The feature cache of effunet training: crops of every photo through the frozen EfficientNet-Lite encoder, once.

Every training photo is cut into ``views`` crops (view 0: centre crop; later views: random scale, crop and flip);
the encoder's skips (strides 4-32) are stored as fp16 memory-mapped arrays, with the crop's Lab at 1/4
resolution (the decoder's L input and ab target). The effunet family (tomau.training.effunet) trains the decoder on them
in the one training loop when the encoder is frozen.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from .. import color
from ..data import crop_and_flip, shorter_side_to
from ..errors import TomauError
from ..images import open_image, write_atomic
from ..models.effunet import EffUNetColorizer, EffUNetConfig

CACHE_FORMAT = 1


def _crop(im: Image.Image, size: int, rng: random.Random | None) -> Image.Image:
    """Shorter side to ``size`` (view 0) or to a random 1-1.3 x ``size`` (other views), crop, maybe flip."""
    target = size if rng is None else size * rng.uniform(1.0, 1.3)
    return crop_and_flip([shorter_side_to(im, target, size)], size, rng)[0]


def _load_crops(path: Path, size: int, views: int, seed: int) -> np.ndarray:
    with open_image(path) as im:  # refused from its header when over 100 MP
        im = im.convert("RGB")
        rng = random.Random(f"{seed}:{path.name}")
        return np.stack([np.asarray(_crop(im, size, None if v == 0 else rng), np.uint8) for v in range(views)])


def cache_shapes(encoder: str, size: int) -> dict[str, tuple[int, ...]]:
    net = EffUNetColorizer(EffUNetConfig(encoder=encoder, bins=0, mix=0))
    chans = net.encoder.feature_channels[1:]
    shapes = {f"f{s}": (c, size // s, size // s) for s, c in zip((4, 8, 16, 32), chans)}
    shapes["lab"] = (3, size // 4, size // 4)
    return shapes


def build_cache(files: list[Path], cache_dir: str | Path, encoder: str = "efficientnet_lite0", size: int = 128,
                views: int = 2, batch_size: int = 64, seed: int = 0, progress: bool = True, weights: str = "") -> Path:
    """Encode every file once per view into ``cache_dir`` (resumable: finished chunks are kept). The encoder has
    ImageNet's weights, or with ``weights`` (a model file, bundled name or run folder) that effunet model's own."""
    from concurrent.futures import ThreadPoolExecutor

    from ..progress import progress_bar

    if not files:
        raise TomauError("no training images to cache")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    meta = {"format": CACHE_FORMAT, "encoder": encoder, "size": size, "views": views, "seed": seed,
            "files": [str(f) for f in files]} | ({"weights": str(weights)} if weights else {})
    meta_path = cache_dir / "cache.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if {k: v for k, v in old.items() if k != "done"} != meta:
            raise TomauError(f"{cache_dir}: holds a cache of other settings or files; use another --cache folder")
        meta["done"] = old.get("done", 0)
    else:
        meta["done"] = 0
    rows = len(files) * views
    shapes = cache_shapes(encoder, size)
    arrays = {k: np.lib.format.open_memmap(cache_dir / f"{k}.npy", mode="r+" if meta["done"] else "w+",
                                           dtype=np.float16, shape=(rows, *s)) for k, s in shapes.items()}
    net = EffUNetColorizer(EffUNetConfig(encoder=encoder, bins=0, mix=0))
    if weights:
        from ..modelfile import load_model_file

        _, state = load_model_file(weights)
        encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        if not encoder_state:
            raise TomauError(f"{weights}: holds no effunet encoder to compute the cached features with")
        missing = [k for k in net.encoder.load_state_dict(encoder_state, strict=False).missing_keys if "num_batches_tracked" not in k]
        if missing:
            raise TomauError(f"{weights}: its encoder is not a {encoder} (missing {', '.join(missing[:3])})")
    else:
        net.load_pretrained_encoder()
    net.eval()
    per_chunk = max(1, batch_size // views)
    bar = progress_bar(total=len(files), initial=meta["done"], desc="caching encoder features", unit="img", show=progress)
    with ThreadPoolExecutor(2) as pool, torch.inference_mode():
        for start in range(meta["done"], len(files), per_chunk):
            chunk = files[start : start + per_chunk]
            crops = np.concatenate(list(pool.map(lambda p: _load_crops(p, size, views, seed), chunk)))
            rgb = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
            lab = color.rgb_to_lab(rgb)
            feats = net.encode(color.normalize_l(lab[:, :1]))
            lab_small = F.avg_pool2d(lab, 4)
            r0 = start * views
            for key, value in zip(("f4", "f8", "f16", "f32"), feats):
                arrays[key][r0 : r0 + len(crops)] = value.half().numpy()
            arrays["lab"][r0 : r0 + len(crops)] = lab_small.half().numpy()
            meta["done"] = start + len(chunk)
            if (start // per_chunk) % 20 == 0 or meta["done"] == len(files):
                for a in arrays.values():
                    a.flush()
                write_atomic(meta_path, lambda f: f.write(json.dumps(meta).encode()))
            bar.update(len(chunk))
    bar.close()
    for a in arrays.values():
        a.flush()
    write_atomic(meta_path, lambda f: f.write(json.dumps(meta).encode()))
    return cache_dir


def open_cache(cache_dir: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    cache_dir = Path(cache_dir)
    try:
        meta = json.loads((cache_dir / "cache.json").read_text())
    except (OSError, ValueError) as err:
        raise TomauError(f"{cache_dir}: not a feature cache (no readable cache.json: {err})") from None
    if meta.get("done") != len(meta.get("files", [])):
        done, total = meta.get("done"), len(meta.get("files", []))
        raise TomauError(f"{cache_dir}: the cache is unfinished ({done} of {total} images); run the caching again to finish it")
    arrays = {k: np.load(cache_dir / f"{k}.npy", mmap_mode="r") for k in ("f4", "f8", "f16", "f32", "lab")}
    return meta, arrays
