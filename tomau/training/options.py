"""Training options: each family declares its own flags (``Family.options``), this module turns them into
``tomau train`` arguments and into configs, the same way for the command line and the Python API.

An ``Option`` is one flag: its destination name (``ngf`` -> ``--ngf``), where it lands in the family's
config (``path``; by default the first of ``discriminator.ndf`` for ndf, the config itself, its generator, its
discriminator that has the attribute), and its argparse keywords (type, choices, help).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ..errors import TomauError

INT_MAX = 2**31 - 1  # the largest whole number an option takes unless it says otherwise (C int: threads, sizes, counts)


def at_least(low: float, kind: type = int, high: float | None = None):
    """An argparse type: a number (whole for ``int``) of at least ``low`` and at most ``high`` (default for whole
    numbers: INT_MAX, so a 30-digit number is one sentence, not an overflow deep inside), else one sentence."""
    high = INT_MAX if high is None and kind is int else high

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'a whole number' if kind is int else 'a number'}, not {text!r}") from None
        if not value >= low or value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, not {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high if kind is int else f'{high:g}'}, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def seed(text: str) -> int:
    """An argparse type: a random seed, a whole number from 0 to 2**32 - 1 (what NumPy's generators take)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to {2**32 - 1}, not {text}")
    return value


seed.__name__ = "int"


def between(low: float, high: float, high_open: bool = False):
    """An argparse type: a number in [low, high] (or [low, high) with ``high_open``)."""
    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not (low <= value < high if high_open else low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{' (not included)' if high_open else ''}, not {text}")
        return value
    parse.__name__ = "float"
    return parse


@dataclass(frozen=True)
class Option:
    name: str  # argparse dest; the flag is --name with '-' for '_'
    kwargs: dict = field(default_factory=dict)  # argparse keywords (type, choices, help, action ...)
    path: str | None = None  # "generator.ngf"; None = found by name (see set_option); "" = the family's resolve() uses it
    flag: str = ""  # the flag's spelling when it is not --name (e.g. --no-self-attention)

    @property
    def flags(self) -> list[str]:
        return [self.flag or "--" + self.name.replace("_", "-")]


def option(name: str, path: str | None = None, flag: str = "", **kwargs) -> Option:
    return Option(name, kwargs, path, flag)


def set_option(config, name: str, value, path: str | None = None) -> None:
    """Put a flag's value into a family config: at ``path``, else (in this order) the discriminator's ``ndf``,
    the generator's or the discriminator's attribute of that name when the config has none, the config's own."""
    if path:
        *parents, last = path.split(".")
        for p in parents:
            config = getattr(config, p)
        setattr(config, last, value)
    elif name == "ndf":
        config.discriminator.ndf = value
    elif hasattr(getattr(config, "generator", None), name) and not hasattr(config, name):
        setattr(config.generator, name, value)
    elif hasattr(getattr(config, "discriminator", None), name) and not hasattr(config, name):
        setattr(config.discriminator, name, value)
    else:
        setattr(config, name, value)


MIXED_PRECISION = ("no", "bf16", "fp16")
# ``tomau train``'s flags for every family of the shared loop (tomau.training.trainer.TrainConfig's fields)
def _metric_names() -> list[str]:
    from ..metrics import METRICS

    return list(METRICS)


TRAIN_OPTIONS = (
    option("data", help="folder of colour images (recursive)"),
    option("out", default="runs", help="parent folder of run folders (default: runs)"),
    option("name", default="", help="run folder name (default: NNNNN-FAMILY)"),
    option("resume", metavar="RUN", help="continue the run in this folder from its checkpoint"),
    option("trust_checkpoint", action="store_true", default=None,
           help="with --resume: also load a checkpoint written by tomau 0.1 that holds pickled objects (unpickling "
                "can run code: only for run folders you made yourself)"),
    option("init", help="model file or run folder whose generator starts this run (stage 2)"),
    option("steps", type=at_least(1), help="total optimisation steps (default: 20000)"),
    option("batch_size", type=at_least(1), help="images per step per process (default: 16)"),
    option("image_size", type=at_least(8), help="training crop size (default: 256)"),
    option("load_size", type=at_least(0), help="shorter side before the random crop (default: image size)"),
    option("predict_size", type=at_least(0), help="resolution the saved model colourises at (default: image size); "
           "e.g. train on --image-size 128 crops of --load-size 256 images, predict at 256"),
    option("max_images", type=at_least(0), help="use at most this many images"),
    option("workers", type=at_least(0), help="data-loading processes (default: 2)"),
    option("seed", type=seed),
    option("log_every", type=at_least(1)),
    option("sample_every", type=at_least(1)),
    option("ckpt_every", type=at_least(1)),
    option("val_data", help="folder of colour images scored (PSNR, CF) at each checkpoint"),
    option("val_images", type=at_least(1)),
    option("val_metrics", nargs="+", metavar="NAME", choices=_metric_names,
           help="what validation scores, by name (tomau.metrics.METRICS; default: the family's own, e.g. psnr ssim cf dcf)"),
    option("mixed_precision", choices=MIXED_PRECISION),
    option("cpu", action="store_true", default=None, help="train on the CPU even if a GPU is present"),
    option("ema", type=between(0, 1, high_open=True), help="keep an exponential moving average of G with this decay "
           "(e.g. 0.999); samples, validation and the model use it"),
    option("max_minutes", type=at_least(0, float), help="stop with a checkpoint after this many minutes (resume later)"),
)
RUN_FLAGS = ("family", "func", "command", "quiet", "resume", "trust_checkpoint", "out", "name")  # not settings of a run
RESUME_OVERRIDES = ("steps", "max_minutes", "workers", "val_data", "val_images", "val_metrics", "log_every", "sample_every", "ckpt_every")


def _add(group, opt: Option, note: str = "") -> None:
    kwargs = dict(opt.kwargs)
    if callable(kwargs.get("choices")):  # a registry, read when the parser is built
        kwargs["choices"] = list(kwargs["choices"]())
    if note:
        kwargs["help"] = (kwargs.get("help") or "").rstrip() + note
    group.add_argument(*opt.flags, dest=opt.name, **kwargs)


def add_train_arguments(parser: argparse.ArgumentParser, families: dict) -> None:
    """``tomau train``'s flags: those of the run, then each family's own (a flag shared by several families once,
    in the first one's group, its help naming the others)."""
    g = parser.add_argument_group("data and run")
    for opt in TRAIN_OPTIONS:
        _add(g, opt)
    owners: dict[str, list[str]] = {}
    for fam in families.values():
        for opt in fam.options:
            owners.setdefault(opt.name, []).append(fam.name)
    done = {o.name for o in TRAIN_OPTIONS}
    for fam in families.values():
        mine = [o for o in fam.options if o.name not in done]
        if not mine:
            continue
        g = parser.add_argument_group(f"{fam.name}: {fam.summary}" if fam.summary else fam.name)
        for opt in mine:
            others = [n for n in owners[opt.name] if n != fam.name]
            _add(g, opt, f" [also {', '.join(others)}]" if others else "")
            done.add(opt.name)


def check_flags(family, given: dict, families: dict) -> None:
    """A flag of another family, or a run flag this family does not read, is an error (not silently ignored)."""
    own = {o.name for o in family.options}
    run = {o.name for o in TRAIN_OPTIONS}
    reads = run if family.run_options is None else set(family.run_options)
    for name in sorted(given):
        if name in own or name in RUN_FLAGS:
            continue
        owners = [f.name for f in families.values() if name in {o.name for o in f.options}]
        flag = "--" + name.replace("_", "-")
        if owners:
            raise TomauError(f"{flag} applies to `tomau train {'/'.join(owners)}`, not {family.name}")
        if name in run and name not in reads:
            raise TomauError(f"{flag} does not apply to `tomau train {family.name}`")
