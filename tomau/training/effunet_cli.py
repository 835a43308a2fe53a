"""``tomau train effunet``: build (or reuse) the feature cache, then train or resume the decoder."""
from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from ..errors import TomauError

# flags of `tomau train` that effunet reads besides its own group (the rest belong to other families)
COMMON = ("data", "out", "name", "resume", "init", "steps", "batch_size", "image_size", "max_images", "seed",
          "log_every", "ckpt_every", "val_data", "val_images", "ema", "max_minutes", "quiet", "family", "func", "cpu")
RESUME_OVERRIDES = ("steps", "max_minutes", "val_data", "val_images", "log_every", "ckpt_every", "threads")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _check_flags(given: dict, family_flags: dict) -> None:
    own = set(family_flags["effunet"]) | set(COMMON)
    every = {f for flags in family_flags.values() for f in flags}
    from .trainer import TrainConfig

    known_train = {f.name for f in fields(TrainConfig)}
    wrong = sorted(k for k in given if k not in own and (k in every or k in known_train))
    if wrong:
        raise TomauError(f"--{wrong[0].replace('_', '-')} does not apply to `tomau train effunet`")


def load_state_config(run: str | Path):
    from ..models import config_from_dict
    from ..models.effunet import EffUNetConfig
    from .cached import CachedTrainConfig

    try:
        meta = json.loads((Path(run) / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise TomauError(f"{run}: not an effunet run folder with a saved state ({err})") from None
    raw = dict(meta["config"])
    raw["model"] = config_from_dict(EffUNetConfig, raw.get("model", {}))
    return config_from_dict(CachedTrainConfig, raw)


def train_effunet(args, given: dict, family_flags: dict) -> int:
    from ..data import scan_folder
    from ..models.effunet import EffUNetConfig
    from .cached import CachedTrainConfig, CachedTrainer, build_cache
    from .trainer import next_run_dir

    _check_flags(given, family_flags)  # --threads reaches CachedTrainConfig.threads, which the trainer applies
    if args.resume:
        cfg = load_state_config(args.resume)
        for k in RESUME_OVERRIDES:
            if k in given:
                setattr(cfg, k, given[k])
        ignored = [k for k in given if k not in RESUME_OVERRIDES and k not in ("resume", "family", "func", "quiet", "out", "name", "command")]
        if ignored:
            _say(f"note: resuming keeps the run's own settings; ignored: {', '.join('--' + k.replace('_', '-') for k in ignored)}")
        cfg.out = str(args.resume)
        run = CachedTrainer(cfg, resume=True, quiet=args.quiet).run()
        _say(f"run folder: {run}")
        return 0
    model = EffUNetConfig()
    if "encoder" in given:
        model.encoder = given["encoder"]
    if given.get("regression_only"):
        model.bins, model.mix = 0, 0.0
    for k in ("mix", "temperature"):
        if k in given:
            setattr(model, k, given[k])
    if model.bins and not given.get("bins"):
        raise TomauError("the classification head needs Zhang et al.'s ab bins: --bins DIR (pts_in_hull.npy, prior_probs.npy), or --regression-only")
    if not given.get("data") and not given.get("cache"):
        raise TomauError("no training data: pass --data DIR, a folder of colour images (or --cache DIR, a finished cache)")
    size = given.get("image_size", 128)
    views = given.get("views", 2)
    if size <= 0 or size % 32:
        raise TomauError(f"--image-size must be a positive multiple of 32, not {size}")
    if views < 1:
        raise TomauError(f"--views must be at least 1, not {views}")
    out = Path(given.get("out", "runs"))
    cache = Path(given.get("cache") or out / f"cache-{model.encoder.removeprefix('efficientnet_')}-{size}x{views}")
    if given.get("data"):
        report = scan_folder(given["data"], given.get("max_images") or None, progress=not args.quiet)
        _say(report.summary())
        build_cache(report.usable, cache, model.encoder, size, views, seed=given.get("seed", 0), progress=not args.quiet)
    run_dir = next_run_dir(out, "effunet", given.get("name", ""))
    cfg = CachedTrainConfig(cache=str(cache), out=str(run_dir), bins_dir=given.get("bins", ""), model=model)
    names = {f.name for f in fields(CachedTrainConfig)}
    for k, v in given.items():
        if k in names and k not in ("cache", "out", "model", "bins_dir"):
            setattr(cfg, k, v)
    run = CachedTrainer(cfg, quiet=args.quiet).run()
    _say(f"run folder: {run}")
    return 0


