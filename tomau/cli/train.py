"""``tomau train FAMILY``: the families' own flags (tomau.training: each family's ``options``), then its run."""
from __future__ import annotations

from .common import command, say


def add_parser(sub) -> None:
    from ..training.options import add_train_arguments
    from ..training.trainer import FAMILIES

    t = command(sub, "train", "tomau train effunet --data photos/ --bins zhang/ --val-data val/ --name e1",
                "train a model family on a folder of images")
    t.add_argument("family", choices=list(FAMILIES),
                   help="; ".join(f"{name}: {fam.summary}" for name, fam in FAMILIES.items() if fam.summary))
    add_train_arguments(t, FAMILIES)
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from ..training.options import check_flags
    from ..training.trainer import FAMILIES, train_from_flags

    family = FAMILIES[args.family]
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("func", "command")}
    check_flags(family, given, FAMILIES)
    run = train_from_flags(family, given, quiet=args.quiet, say=say)
    from accelerate import PartialState

    if PartialState().is_main_process:
        say(f"run folder: {run}")
    return 0
