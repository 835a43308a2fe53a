"""``tomau train FAMILY``: the families' own flags (tomau.training: each family's ``options``), then its run.

``tomau train --help`` lists the families; ``tomau train FAMILY --help`` shows the run's flags that family reads
and its own, nothing of the others' (the parser itself takes every family's flags, so a flag of another family
is refused in one sentence naming its owner: tomau.training.options.check_flags)."""
from __future__ import annotations

import argparse

from .common import HelpFormatter, command, say

EXAMPLE = "tomau train effunet --data photos/ --bins zhang/ --val-data val/ --name e1"


class FamilyHelp(argparse.Action):
    """-h / --help after a family's name: that family's flags; before one (or alone): the list of families."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..training.trainer import FAMILIES

        family = getattr(namespace, "family", None)
        print((family_parser(FAMILIES[family]) if family in FAMILIES else families_parser(FAMILIES)).format_help(), end="")
        parser.exit()


def families_parser(families: dict) -> argparse.ArgumentParser:
    """The help of `tomau train --help`: the families, one line each, and how to see one's flags."""
    width = max(map(len, families))
    listing = "\n".join(f"  {name:{width}s}  {fam.summary}" for name, fam in families.items())
    return argparse.ArgumentParser(
        prog="tomau train", usage="tomau train FAMILY [flags]", formatter_class=HelpFormatter, add_help=False,
        description=f"Train a model family on a folder of images.\n\nfamilies:\n{listing}",
        epilog=f"tomau train FAMILY --help shows that family's flags.\n\nexample:\n  {EXAMPLE}")


def family_parser(family) -> argparse.ArgumentParser:
    """The help of `tomau train FAMILY --help`: the run flags the family reads, then its own."""
    from ..training.options import TRAIN_OPTIONS, _add

    p = argparse.ArgumentParser(prog=f"tomau train {family.name}", formatter_class=HelpFormatter, add_help=False,
                                description=family.summary, epilog="tomau train --help lists the other families.")
    p.add_argument("-h", "--help", action="store_true", help="show this help message and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    reads = None if family.run_options is None else set(family.run_options)
    g = p.add_argument_group("data and run")
    for opt in TRAIN_OPTIONS:
        if reads is None or opt.name in reads or opt.name in ("resume", "trust_checkpoint", "out", "name"):
            _add(g, opt)
    if family.options:
        g = p.add_argument_group(f"{family.name}'s own")
        for opt in family.options:
            _add(g, opt)
    return p


def add_parser(sub) -> None:
    from ..training.options import add_train_arguments
    from ..training.trainer import FAMILIES

    t = command(sub, "train", EXAMPLE, "train a model family on a folder of images", add_help=False)
    t.add_argument("-h", "--help", action=FamilyHelp, help="the families; after a family's name, its flags")
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
