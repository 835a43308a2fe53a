"""Run by test_option_sweep.py: many command-line cases in one process, each through tomau.cli.main in a folder of
its own, with a 10-second alarm and the process's address space capped at its size after the imports plus 1 GB.

    python tests/sweep_worker.py CASES.json RESULTS.jsonl

CASES.json: {"warm_up": argv run first, untimed (lazy imports, a model's first load), "cases": a list of
{"id", "argv", "cwd"}}; one JSON line per finished case is appended to RESULTS.jsonl:
{"id", "code" (exit code, or null), "err" (stderr), "error" (an exception main let out, with its traceback),
"seconds", "grew_mb" (how much the process's peak memory grew during the case)}. A case that blocks in C code where
no alarm can reach it stops the worker: the test sees the case without a result and starts a new worker after it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback

LIMIT_S = 10
HEADROOM = 1 << 30


class CaseTimeout(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in tomau can swallow it."""


def _timeout(signum, frame):
    raise CaseTimeout(f"still running after {LIMIT_S} s")


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve_without_listening():
    """`tomau serve` would listen until stopped: here it builds its page (models checked, folders made) and stops."""
    import gradio  # noqa: F401 - imported before the memory cap: its libraries map more address space than they use

    import tomau.serve as serve

    def build_and_stop(host, port, models, max_upload_mb, max_pixels, max_video_seconds, device="cpu", keep_minutes=10, **_):
        app = serve.build_app(models, max_pixels, max_video_seconds, device, keep_minutes)
        app.session.cleanup()
        return app

    serve.serve = build_and_stop


def main() -> None:
    todo = json.load(open(sys.argv[1]))
    cases = todo["cases"]
    results = open(sys.argv[2], "a")
    import torch

    torch.set_num_threads(1)
    import tomau.cli  # noqa: F401 - every command's module, imported before the memory cap is set
    import tomau.cli.colorize  # noqa: F401
    import tomau.cli.train  # noqa: F401
    from tomau.cli import build_parser
    from tomau.cli import main as tomau_main

    build_parser()  # imports what the commands import
    _serve_without_listening()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        tomau_main(todo["warm_up"])
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    signal.signal(signal.SIGALRM, _timeout)
    home = os.getcwd()
    for case in cases:
        err, error, code = io.StringIO(), None, None
        os.chdir(case["cwd"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.monotonic()
        signal.alarm(LIMIT_S)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = tomau_main(case["argv"])  # a non-UTF-8 name is a str with surrogate escapes, as sys.argv has it
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        except BaseException:  # noqa: BLE001 - what main let out is what the sweep is looking for
            error = traceback.format_exc()
        finally:
            signal.alarm(0)
            os.chdir(home)
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
        results.write(json.dumps({"id": case["id"], "code": code, "err": err.getvalue(), "error": error,
                                  "seconds": round(time.monotonic() - start, 2), "grew_mb": round(grew)}) + "\n")
        results.flush()


if __name__ == "__main__":
    main()
