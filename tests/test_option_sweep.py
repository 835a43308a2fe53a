"""A sweep generated from the command line's own argparse definitions: every numeric option of every command with
-1, 0, nan, inf, 1e309 and a 30-digit integer, every path option with a missing path, a folder, a FIFO, /dev/zero,
an unreadable file and a name that is not UTF-8. Each case must end within 10 s with exit 0 or 2, say at most one
error line on stderr and no traceback, and grow the process by under 1 GB. An option added to a command is swept
without anyone writing its case.

The cases run in two worker processes (tests/sweep_worker.py), many per process, each under an alarm and a memory cap.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import TINY_UNET, colour_image

NUMBERS = ["-1", "0", "nan", "inf", "1e309", "123456789012345678901234567890"]
PATH_KINDS = ["missing", "folder", "fifo", "dev-zero", "unreadable", "not-utf8"]
# options and positionals that name files or folders (beside any whose help or metavar says file, folder or path)
PATH_DESTS = {"inputs", "photo", "a", "b", "model", "output", "data", "out", "init", "resume", "reference", "scribbles",
              "weights", "save_stats", "json", "vae", "bins", "val_data", "files_from", "cache", "encoder_weights"}
WORKERS = 2
CASE_LIMIT_S = 10


def _is_numeric(action: argparse.Action) -> bool:
    return getattr(action.type, "__name__", None) in ("int", "float")


def _is_path(action: argparse.Action) -> bool:
    if action.nargs == 0 or action.choices is not None or _is_numeric(action) or isinstance(action, argparse._HelpAction):
        return False
    words = f"{action.help or ''} {action.metavar or ''}"
    return action.dest in PATH_DESTS or re.search(r"\b(file|folder|path|FILE|LIST)\b", words) is not None


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, once (aliases left out)."""
    from tomau.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    seen, out = set(), {}
    for name, parser in sub.choices.items():
        if id(parser) not in seen:
            seen.add(id(parser))
            out[name] = parser
    return out


def _family_of(dest: str) -> str:
    """The cheapest `tomau train` family that reads a flag (a run flag: pix2pix)."""
    from tomau.training.registry import FAMILIES

    return next((name for name, fam in FAMILIES.items() if dest in {o.name for o in fam.options}), "pix2pix")


def base_argv(command: str, f: dict, out: str, dest: str) -> list[str]:
    """A valid, cheap call of ``command`` (inputs from the fixtures ``f``, results into ``out``); the swept option is
    added to it, or replaces its own value. Training is given one image for a batch of two: it checks every
    option, reads its data and stops with exit 2 before any step."""
    return {
        "colorize": [f["photo"], "-o", out, "-m", f["model"]],
        "train": [_family_of(dest), "--data", f["one_image"], "--out", out, "--batch-size", "2", "--image-size", "32", "-q"],
        "evaluate": ["--data", f["folder"], "-m", f["model"], "--json", f"{out}/scores.json", "--metrics", "psnr"],
        "generate": ["-m", f["gan"], "-o", out, "-n", "2", "-q"],
        "fid": [f["folder"], f["folder"]],
        "swd": [f["folder"], f["folder"]],
        "translate": ["-m", f["translator"], f["photo"], "-o", out],
        "hint": [f["photo"], "--scribbles", f["scribbles"], "-o", out],
        "serve": [],
        "blend": [f["model"], f["model2"], "--alpha", "0.5", "-o", f"{out}/blend.safetensors"],
        "models": [f["model"]],
        "export": ["-m", f["model"], "-o", f"{out}/m.onnx", "--no-check"],
    }.get(command, [])


def with_value(argv: list[str], action: argparse.Action, value: str, positionals: list[argparse.Action]) -> list[str]:
    """``argv`` with ``action`` given ``value``: an option's own value replaced (or the option added); a positional's
    place taken."""
    if action.option_strings:
        argv = list(argv)
        for flag in action.option_strings:
            if flag in argv:
                at = argv.index(flag)
                return argv[:at + 1] + [value] + argv[at + 2:]
        return [*argv, action.option_strings[-1], value]
    index = [p.dest for p in positionals].index(action.dest)
    non_options = []
    for i, a in enumerate(argv):  # the base argv's positionals come first, options after
        if a.startswith("-"):
            break
        non_options.append(i)
    argv = list(argv)
    if index < len(non_options):
        argv[non_options[index]] = value
    else:
        argv.insert(len(non_options), value)
    return argv


def path_value(kind: str, case_dir: Path) -> str:
    """The hostile path of ``kind``, made in the case's own folder."""
    if kind == "missing":
        return str(case_dir / "missing.png")
    if kind == "folder":
        (case_dir / "a_folder").mkdir()
        return str(case_dir / "a_folder")
    if kind == "fifo":
        os.mkfifo(case_dir / "pipe.png")
        return str(case_dir / "pipe.png")
    if kind == "dev-zero":  # a link to it: a command that wrongly renames a file over it replaces the link, not the device
        (case_dir / "zero").symlink_to("/dev/zero")
        return str(case_dir / "zero")
    if kind == "unreadable":
        path = case_dir / "unreadable.png"
        Image.fromarray(colour_image(1, 16)).save(path)
        path.chmod(0)
        return str(path)
    name = os.fsdecode(bytes(case_dir) + b"/scan\xff\xfe.png")  # a name that is not UTF-8, as sys.argv gives it
    Image.fromarray(colour_image(2, 16)).save(name)
    return name


def make_fixtures(root: Path) -> dict:
    from tomau.modelfile import save_model_file
    from tomau.models.unet import UNetConfig, UNetGenerator

    f = {}
    torch.manual_seed(0)
    colour = {"task": "colorize", "family": "pix2pix", "generator": {"kind": "unet", "params": vars(TINY_UNET).copy()},
              "image_size": 32, "normalization": {"l_cent": 50.0, "ab_norm": 110.0}}
    save_model_file(root / "tiny.safetensors", UNetGenerator(TINY_UNET).state_dict(), colour)
    save_model_file(root / "tiny2.safetensors", UNetGenerator(TINY_UNET).state_dict(), colour)
    cfg = UNetConfig(ngf=4, num_downs=5, in_channels=3, out_channels=3)
    save_model_file(root / "translator.safetensors", UNetGenerator(cfg).state_dict(), {
        "task": "translate", "family": "translate", "direction": "AtoB", "generator": {"kind": "unet", "params": vars(cfg).copy()},
        "image_size": 32})
    f.update(model=str(root / "tiny.safetensors"), model2=str(root / "tiny2.safetensors"), translator=str(root / "translator.safetensors"),
             gan="flowers_gan")
    (root / "photos").mkdir()
    for i in range(2):
        Image.fromarray(colour_image(i, 32)).save(root / "photos" / f"c{i}.png")
    (root / "one").mkdir()
    Image.fromarray(colour_image(3, 32)).save(root / "one" / "only.png")
    Image.fromarray(colour_image(4, 32)).convert("L").save(root / "photo.png")
    scribbles = np.zeros((32, 32, 4), np.uint8)
    scribbles[4:8, 4:20] = (200, 30, 30, 255)
    Image.fromarray(scribbles).save(root / "scribbles.png")
    f.update(folder=str(root / "photos"), one_image=str(root / "one"), photo=str(root / "photo.png"),
             scribbles=str(root / "scribbles.png"))
    return f


def generate_cases(root: Path) -> list[dict]:
    """Every (command, option, hostile value) case, from the parsers."""
    fixtures = make_fixtures(root)
    cases = []
    for command, parser in commands().items():
        positionals = [a for a in parser._actions if not a.option_strings]
        for action in parser._actions:
            if _is_numeric(action):
                values = [(v, v) for v in NUMBERS]
            elif _is_path(action):
                values = [(None, k) for k in PATH_KINDS]
            else:
                continue
            for value, label in values:
                case_dir = root / f"case{len(cases):04d}"
                case_dir.mkdir()
                value = value if value is not None else path_value(label, case_dir)
                argv = with_value(base_argv(command, fixtures, str(case_dir / "out"), action.dest), action, value, positionals)
                name = action.option_strings[-1] if action.option_strings else action.dest
                cases.append({"id": f"{command} {name} {label}", "argv": [command, *argv], "cwd": str(case_dir)})
    return cases


def run_cases(cases: list[dict], root: Path) -> dict[str, dict]:
    """Run ``cases`` on WORKERS processes; a worker that stops answering (a case blocked where no alarm reaches)
    is killed, its case recorded as hung, and a new worker goes on with the rest."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1"}
    results: dict[str, dict] = {}
    warm_up = next(c["argv"] for c in cases if c["id"].startswith("colorize"))[:1] + [  # a run that loads a model, untimed
        str(root / "photo.png"), "-o", str(root / "warm-up"), "-m", str(root / "tiny.safetensors"), "-q", "--overwrite"]
    queues = [cases[k::WORKERS] for k in range(WORKERS)]
    running = {}

    def start(k: int) -> None:
        todo = [c for c in queues[k] if c["id"] not in results]
        if not todo:
            return
        case_file, out_file = root / f"cases{k}.json", root / f"results{k}.jsonl"
        case_file.write_text(json.dumps({"warm_up": warm_up, "cases": todo}))
        out_file.write_text("")
        proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "sweep_worker.py"), str(case_file), str(out_file)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        running[k] = (proc, out_file, todo, time.monotonic(), 0)

    for k in range(WORKERS):
        start(k)
    while running:
        time.sleep(0.5)
        for k, (proc, out_file, todo, since, seen) in list(running.items()):
            lines = [json.loads(line) for line in out_file.read_text().split("\n")[:-1] if line.strip()]  # whole lines only
            for row in lines[seen:]:
                results[row["id"]] = row
            if len(lines) > seen:
                since, seen = time.monotonic(), len(lines)
            running[k] = (proc, out_file, todo, since, seen)
            startup = 120 if seen == 0 else 0  # the worker's imports, on a busy machine
            if proc.poll() is not None or time.monotonic() - since > CASE_LIMIT_S + 20 + startup:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                if seen < len(todo):
                    stuck = todo[seen]
                    results[stuck["id"]] = {"id": stuck["id"], "code": None, "err": "", "seconds": None, "grew_mb": None,
                                            "error": f"the worker stopped or hung in this case ({proc.stderr.read()[-2000:]})"}
                del running[k]
                start(k)
    return results


def problems(case: dict, row: dict) -> list[str]:
    found = []
    if row.get("error"):
        return [row["error"].strip().splitlines()[-1] + "\n" + row["error"][-1500:]]
    if row["code"] not in (0, 2):
        found.append(f"exit {row['code']}")
    err = row["err"]
    if "Traceback" in err:
        found.append("a traceback on stderr")
    error_lines = [line for line in err.splitlines() if line.startswith("error:") or ": error:" in line]
    if len(error_lines) > 1 or (row["code"] == 2 and not error_lines):
        found.append(f"{len(error_lines)} error lines")
    if row["seconds"] is not None and row["seconds"] > CASE_LIMIT_S:
        found.append(f"{row['seconds']} s")
    if row["grew_mb"] is not None and row["grew_mb"] > 1024:
        found.append(f"grew {row['grew_mb']} MB")
    return [f"{', '.join(found)}: {err.strip()[-400:]!r}"] if found else []


@pytest.mark.slow
def test_every_option_of_every_command_with_hostile_values(tmp_path):
    cases = generate_cases(tmp_path)
    assert len(cases) > 400  # every command's numeric and path options (a parser that lost its options shows here)
    start = time.monotonic()
    results = run_cases(cases, tmp_path)
    took = time.monotonic() - start
    failures = {c["id"]: p for c in cases for p in [problems(c, results.get(c["id"], {"error": "no result"}))] if p}
    report = "\n".join(f"{k} ({' '.join(c['argv'])[:160]}):\n    {v[0]}" for c in cases for k, v in failures.items() if k == c["id"])
    print(f"{len(cases)} cases in {took:.0f} s on {WORKERS} workers")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n{report}"
