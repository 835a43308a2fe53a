"""What every command shares: the help formatter, argparse number types, messages on stderr."""
from __future__ import annotations

import argparse
import sys

from ..training.options import at_least, between, seed  # noqa: F401  (the argparse types every command uses)

MAX_THREADS = 1024


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's help: examples kept as written, required options marked, defaults shown one way."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.help is argparse.SUPPRESS:
            return text
        if action.required and action.option_strings:
            return text + " (required)"
        if (action.option_strings and "(default" not in text and action.default not in (None, False, argparse.SUPPRESS)
                and not isinstance(action, argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


def say(msg: str) -> None:
    """One message on stderr; text that came from files or file names in it cannot drive the terminal (shown)."""
    from ..files import shown

    print(shown(msg, lines=True), file=sys.stderr)


def command(sub, name: str, example: str, help: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand with its one-line example and the shared formatter."""
    return sub.add_parser(name, epilog=f"example:\n  {example}", formatter_class=HelpFormatter, help=help, **kwargs)


def quiet(p: argparse.ArgumentParser, help: str = "no progress bar or notes, errors only") -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=help)
