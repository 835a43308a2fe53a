"""Where a result comes from: the commit, the date, the versions and the machine, written beside every benchmark's
figures (bench/common.write_result) and every ``tomau evaluate --json`` file."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_info() -> dict:
    """The commit of tomau's checkout (and whether its tracked files had uncommitted changes), the date (UTC), the
    versions of tomau, Python and PyTorch, the CPU, its core count and PyTorch's threads."""
    import torch

    from . import __version__

    commit = _git("rev-parse", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit or "unknown (not run from a git checkout)", "uncommitted_changes": bool(changed) if commit else None,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tomau": __version__,
            "python": platform.python_version(), "torch": torch.__version__,
            "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
