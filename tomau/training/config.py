"""A training run's settings: ``TrainConfig`` (the run flags plus the family's config), made from flags for a new
run or read back from a run folder's config.json when resuming."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import TomauError
from ..metrics import check_names
from ..models import config_from_dict
from .options import MIXED_PRECISION, RESUME_OVERRIDES
from .registry import FAMILIES


@dataclass
class TrainConfig:
    family: str = "pix2pix"
    data: str = ""
    out: str = "runs"
    name: str = ""  # run folder name; default NNNNN-family
    steps: int = 20_000
    batch_size: int = 16
    image_size: int = 256
    load_size: int = 0  # resize shorter side to this before the random crop; 0 = image_size
    predict_size: int = 0  # resolution the exported model colourises at; 0 = image_size. Fully convolutional
    # generators can train on small crops (--image-size 128 --load-size 256) and predict on the whole 256 image
    workers: int = 2
    seed: int = 0
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 1000
    mixed_precision: str = "no"
    max_images: int = 0  # 0 = all
    init: str = ""  # model file or run folder whose generator weights start this run (stage 2)
    val_data: str = ""  # folder of colour images scored (PSNR, CF) at each checkpoint
    val_images: int = 100
    val_metrics: list[str] = field(default_factory=list)  # tomau.metrics.METRICS names scored on val_data; [] = the family's
    cpu: bool = False
    max_minutes: float = 0  # stop (with a checkpoint) after this much wall time; 0 = no limit
    ema: float = 0.0  # decay of an exponential moving average of G (e.g. 0.999); 0 = off. Samples, validation and
    # the exported model then use the EMA generator
    model: Any = None  # the family's config dataclass

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise TomauError(f"unknown model family {self.family!r}; choose one of {', '.join(sorted(FAMILIES))}")
        if not self.data:
            raise TomauError("no training data: pass --data DIR, a folder of colour images")
        for name in ("steps", "batch_size", "image_size", "log_every", "sample_every", "ckpt_every"):
            if getattr(self, name) <= 0:
                raise TomauError(f"--{name.replace('_', '-')} must be a positive number, not {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            raise TomauError(f"--ema must be in [0, 1), not {self.ema}")
        check_names(self.val_metrics)
        if self.mixed_precision not in MIXED_PRECISION:
            raise TomauError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISION)}")
        fixed = getattr(self.model.generator, "image_size", None)
        if fixed is not None and self.image_size != fixed:
            raise TomauError(f"the {self.family} network works at {fixed}x{fixed}: pass --image-size {fixed}")
        mult = self.model.generator.size_multiple
        if self.image_size % mult:
            raise TomauError(f"--image-size {self.image_size} must be a multiple of {mult} for this {self.family} generator")
        if self.predict_size and (fixed is not None and self.predict_size != fixed or self.predict_size % mult):
            raise TomauError(f"--predict-size {self.predict_size} does not fit this {self.family} generator "
                             f"(a multiple of {mult}{f', exactly {fixed}' if fixed else ''})")
        try:
            self.model.validate()
        except ValueError as err:
            raise TomauError(f"invalid model settings: {err}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        family = FAMILIES.get(d.get("family"))
        if family is None:
            raise TomauError(f"checkpoint names an unknown model family {d.get('family')!r}")
        d["model"] = config_from_dict(family.config_class, d.get("model") or {})
        return config_from_dict(cls, d)


def next_run_dir(out: Path, family: str, name: str) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TomauError(f"cannot make the run folder's parent {out} ({err.strerror}); choose another --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise TomauError(f"{out} is not writable; choose another --out")
    if name:  # a named folder is made here too; one that holds anything already is never written into
        run_dir = out / name
        try:
            run_dir.mkdir()
        except FileExistsError:
            if not run_dir.is_dir() or any(run_dir.iterdir()):
                raise TomauError(f"{run_dir} already exists; continue that run with --resume {run_dir}, "
                                 "or choose another --name") from None
        except OSError as err:
            raise TomauError(f"cannot make the run folder {run_dir} ({err.strerror}); choose another --name") from None
        return run_dir
    taken = [int(p.name[:5]) for p in out.iterdir() if p.is_dir() and p.name[:5].isdigit()]
    number = (max(taken) + 1) if taken else 0
    while True:  # the folder is made here, so two runs started at once never share a number (the later takes the next)
        run_dir = out / f"{number:05d}-{family}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            number += 1
        except OSError as err:
            raise TomauError(f"cannot make the run folder {run_dir} ({err.strerror}); choose another --out") from None


def load_run_config(run_dir: str | Path) -> TrainConfig:
    from ..files import check_regular, read_json

    path = Path(run_dir) / "config.json"
    if not os.path.lexists(path):
        raise TomauError(f"{run_dir}: no config.json; is this a tomau run folder?")
    check_regular(path, "run config")  # a FIFO would block the read for ever
    try:
        data = read_json(path, "run config")
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError, TomauError) as err:
        data = _config_from_state(Path(run_dir))
        if data is None:
            raise TomauError(f"{path} is damaged ({err}); it cannot be resumed, but its model.safetensors can start "
                             f"a new run with --init {Path(run_dir) / 'model.safetensors'}") from None
        import sys

        print(f"note: {path} is damaged ({err}); using the configuration stored in the checkpoint", file=sys.stderr)
    return TrainConfig.from_dict(data)


def _config_from_state(run_dir: Path) -> dict | None:
    """The configuration a run's state.safetensors carries in its header, or None (no or damaged state file)."""
    from safetensors import safe_open

    from ..files import check_regular, loads_json
    from .state import unpack_entry

    try:
        check_regular(run_dir / "state.safetensors", "training state")
        with safe_open(str(run_dir / "state.safetensors"), "pt") as f:
            config = unpack_entry(loads_json(f.metadata()["tomau_state"], run_dir / "state.safetensors"), "config")
    except Exception:  # noqa: BLE001 - any damage means there is nothing to fall back on
        return None
    return config if isinstance(config, dict) else None


def fresh_train_config(family, given: dict):
    """The TrainConfig of a new run: the family's resolved config, then the run flags given."""
    model = family.resolve(given)
    cfg = TrainConfig(family=family.name, model=model)
    for k, v in family.run_defaults.items():  # the family's own run defaults (effunet: 128 px, bf16 ...)
        setattr(cfg, k, v)
    fixed = getattr(model.generator, "image_size", None)
    if fixed is not None:  # networks of one size (cvae, mdn, gan ...) train at it
        cfg.image_size = fixed
    for f in fields(TrainConfig):
        if f.name in given and f.name not in ("family", "model"):
            setattr(cfg, f.name, given[f.name])
    return cfg


def resumed_train_config(family, given: dict, say):
    """The TrainConfig of a resumed run: its config.json, with the few flags that may change on resuming."""
    cfg = load_run_config(given["resume"])
    if cfg.family != family.name:
        raise TomauError(f"{given['resume']} is a {cfg.family} run, not {family.name}")
    ignored = [k for k in given if k in {f.name for f in fields(TrainConfig)} and k not in RESUME_OVERRIDES
               and k not in ("family", "out", "name")]
    if ignored:
        say(f"note: resuming keeps the run's own settings; ignored: {', '.join('--' + k.replace('_', '-') for k in ignored)}")
    for k in RESUME_OVERRIDES:
        if k in given:
            setattr(cfg, k, given[k])
    return cfg
