"""``tomau train effunet``: build (or reuse) the feature cache, then train or resume the decoder (CachedTrainer).

effunet is not a family of the shared loop (tomau.training.trainer): its encoder is frozen and its features are
cached once, so it trains on those (tomau.training.cached). It declares its flags and config like the others.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from ..errors import TomauError
from ..models.effunet import EffUNetConfig
from .family import Family
from .options import at_least, between, option

RESUME_OVERRIDES = ("steps", "max_minutes", "val_data", "val_images", "log_every", "ckpt_every", "threads")


def load_state_config(run: str | Path):
    from ..models import config_from_dict
    from .cached import CachedTrainConfig

    try:
        meta = json.loads((Path(run) / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise TomauError(f"{run}: not an effunet run folder with a saved state ({err})") from None
    raw = dict(meta["config"])
    raw["model"] = config_from_dict(EffUNetConfig, raw.get("model", {}))
    return config_from_dict(CachedTrainConfig, raw)


class EffUNetFamily(Family):
    name = "effunet"
    summary = "pretrained EfficientNet-Lite encoder, frozen, features cached once (the bundled effunet's recipe, fast on a CPU)"
    config_class = EffUNetConfig
    shared_loop = False  # trained by tomau.training.cached.CachedTrainer
    run_options = ("data", "out", "name", "resume", "init", "steps", "batch_size", "image_size", "max_images", "seed",
                   "log_every", "ckpt_every", "val_data", "val_images", "ema", "max_minutes", "cpu")
    options = (
        option("encoder"),
        option("cache", metavar="DIR", path="", help="feature cache folder (default: OUT/cache-ENCODER-SIZExVIEWS); built on first use, reused after"),
        option("views", type=at_least(1), path="", help="crops cached per photo: view 0 centred, others random scale/crop/flip (default: 2)"),
        option("cls_weight", type=at_least(0, float), path="", help="weight of the rebalanced 313-bin cross-entropy beside the Huber ab loss (default: 0.1)"),
        option("regression_only", action="store_true", default=None, path="", help="no classification head (then --bins is not needed)"),
        option("mix", type=between(0, 1), help="share of the classification head's annealed mean in the output ab (default: 0.5)"),
        option("temperature", type=between(0.01, 10), help="annealed-mean temperature; lower is more vivid (default: 0.38)"),
        option("threads", type=at_least(0), path="", help="CPU threads (default: PyTorch's choice)"),
        option("lr", type=at_least(0, float), path=""),
        option("bins", metavar="DIR", path=""),
    )

    @classmethod
    def resolve(cls, given: dict) -> EffUNetConfig:
        """The network's config: encoder, heads and the decoding dial."""
        config = super().resolve(given)
        if given.get("regression_only"):
            config.bins, config.mix = 0, 0.0
            for k in ("mix", "temperature"):
                if k in given:
                    setattr(config, k, given[k])
        return config

    @classmethod
    def train_from_flags(cls, given: dict, quiet: bool = False, say=print) -> Path:
        from ..data import scan_folder
        from .cached import CachedTrainConfig, CachedTrainer, build_cache
        from .trainer import next_run_dir

        if given.get("resume"):
            cfg = load_state_config(given["resume"])
            for k in RESUME_OVERRIDES:
                if k in given:
                    setattr(cfg, k, given[k])
            ignored = [k for k in given if k not in RESUME_OVERRIDES and k not in ("resume", "family", "func", "quiet", "out", "name", "command")]
            if ignored:
                say(f"note: resuming keeps the run's own settings; ignored: {', '.join('--' + k.replace('_', '-') for k in ignored)}")
            cfg.out = str(given["resume"])
            return CachedTrainer(cfg, resume=True, quiet=quiet).run()
        model = cls.resolve(given)
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
            report = scan_folder(given["data"], given.get("max_images") or None, progress=not quiet)
            say(report.summary())
            build_cache(report.usable, cache, model.encoder, size, views, seed=given.get("seed", 0), progress=not quiet)
        run_dir = next_run_dir(out, "effunet", given.get("name", ""))
        cfg = CachedTrainConfig(cache=str(cache), out=str(run_dir), bins_dir=given.get("bins", ""), model=model)
        names = {f.name for f in fields(CachedTrainConfig)}
        for k, v in given.items():
            if k in names and k not in ("cache", "out", "model", "bins_dir"):
                setattr(cfg, k, v)
        return CachedTrainer(cfg, quiet=quiet).run()
