"""The ``tomau`` command line, one module per group of commands (each adds its parsers, thin over the library):

colorize.py  colorize           train.py     train           evaluate.py  evaluate
generate.py  generate, fid, swd, translate                  misc.py      hint, serve, blend, models
"""
from __future__ import annotations

import argparse

from ..errors import TomauError
from .common import HelpFormatter, say

EPILOG = """examples:
  tomau colorize old.jpg scans/ 'more/*.png' -o coloured/
  tomau train pix2pix --data photos/ --gan-weight 0 --steps 20000      # stage 1: L1 only
  tomau train pix2pix --data photos/ --init runs/00000-pix2pix          # stage 2: GAN
  tomau train pix2pix --resume runs/00001-pix2pix --steps 40000
  tomau train resunet --data photos/ --stage pretrain --name r1      # ResNet18 U-Net, L1 only
  tomau train resunet --data photos/ --stage gan --init runs/r1      # then the PatchGAN stage
  tomau train effunet --data photos/ --bins zhang/ --val-data val/ --name e1   # the default's CPU recipe
  tomau train effunet --resume runs/e1 --steps 12000                         # continue it exactly
  tomau train cvae --data faces/ --bins zhang/ --name v1             # diverse colourings: the CVAE
  tomau train mdn --data faces/ --vae runs/v1 --name m1              # then the mixture density network
  tomau evaluate --model default --data val_photos/ --json scores.json
  tomau train gan --data flowers/ --image-size 64 --batch-size 64 --name g1   # RaLSGAN image generator
  tomau generate -m runs/g1 -n 10000 -o fakes/ && tomau swd flowers/ fakes/
  tomau fid real/ fakes/ --weights pt_inception-2015-12-05-6726825d.pth
  tomau train translate --data maps/train --direction AtoB --name m1          # satellite -> map
  tomau translate -m runs/m1 maps/val --paired -o maps_out/
  tomau colorize old.jpg --reference similar_colour_photo.jpg -o coloured/
  tomau hint old.jpg --points points.csv -o coloured/                   # colour points (x,y,color) through the hints network
  tomau colorize film.mp4 -o coloured/                                 # audio, fps and duration kept
  tomau serve                                                          # the web page on 127.0.0.1:7860
"""


GROUPS = ("colorize", "train", "evaluate", "generate", "misc", "export")  # the modules of tomau.cli, one per group


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command``, that command's group in full and every other command by name and help
    only (so `tomau colorize` imports no training code, and `tomau train` no inference code)."""
    import importlib

    from .. import __version__

    parser = argparse.ArgumentParser(prog="tomau", description="Colourise black-and-white photos and train the models that do it.",
                                     epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tomau {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    group = GROUP_OF.get(ALIAS_OF.get(command, command)) if command else None
    for name in GROUPS if group is None else (group,):
        importlib.import_module(f".{name}", __name__).add_parser(sub)
    if group is not None:
        for name, text in COMMANDS.items():
            if GROUP_OF[name] != group:
                sub.add_parser(name, help=text, aliases=ALIASES.get(name, []))
    return parser


# every command's one-line help, for `tomau --help` and `tomau --version` without importing the commands (which
# import PyTorch): kept equal to the commands' own by tests/test_cli_robustness.py
COMMANDS = {
    "colorize": "colourise photos and films",
    "train": "train a model family on a folder of images",
    "evaluate": "score a model against colour ground truth",
    "generate": "sample images from an unconditional GAN (tomau train gan)",
    "fid": "Frechet Inception distance between two image folders (needs the published Inception weights)",
    "swd": "sliced Wasserstein distance between two image folders (no downloaded weights)",
    "translate": "translate images with a paired model (tomau train translate)",
    "hint": "colour a photo from colour points or scribbles: the hints network, or Levin et al.'s method",
    "serve": "a local web page: photos, colour hints, reference photos, films",
    "blend": "interpolate two models' weights: a fidelity-to-vividness dial",
    "models": "list bundled models, or describe one model file",
    "export": "write a model as ONNX: colourisers take Lab L in [0, 100] and give ab; translators and generators give sRGB",
}
ALIASES = {"colorize": ["colourise", "colorise"]}
ALIAS_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
GROUP_OF = {"colorize": "colorize", "train": "train", "evaluate": "evaluate", "generate": "generate", "fid": "generate",
            "swd": "generate", "translate": "generate", "hint": "misc", "serve": "misc", "blend": "misc", "models": "misc",
            "export": "export"}


def light_parser() -> argparse.ArgumentParser:
    """The top-level parser with each command's name and help only: `tomau`, `tomau --help`, `tomau --version`."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="tomau", description="Colourise black-and-white photos and train the models that do it.",
                                     epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tomau {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, aliases=ALIASES.get(name, []))
    return parser


def _terminated(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 done, 2 an error in one sentence, 3 some files failed, 130
    interrupted by Ctrl-C or SIGTERM - after what was being written is finished or removed, never half-written)."""
    import signal
    import sys
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM (kill, schedulers, containers) ends like Ctrl-C
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # before or after the command ran (while its parser was built, say)
        say("interrupted")
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str]) -> int:
    import sys

    named = next((a for a in argv if not a.startswith("-")), None)
    if named is None or named not in {*COMMANDS, *(a for names in ALIASES.values() for a in names)}:
        light_parser().parse_args(argv)  # help, version, or the usage error of a missing or unknown command: exits
    parser = build_parser(named)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TomauError as err:
        say(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BrokenPipeError:  # the output went to a pipe that closed early (`tomau models | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141
    except OSError as err:  # what no command foresaw of the system (a name too long, a full disk): one sentence
        name = str(err.filename) if err.filename is not None else ""
        name = name if len(name) <= 200 else name[:100] + "..." + name[-60:]
        say(f"error: {name + ': ' if name else ''}{err.strerror or err}")
        return 2
