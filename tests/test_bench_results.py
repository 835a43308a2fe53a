"""Every benchmark figure says where it comes from: each JSON under bench/results/ records the commit, the date,
PyTorch's version and the CPU, and bench/common.write_result (which every bench script writes through) adds them."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RUN_KEYS = {"commit", "date", "torch", "cpu"}


@pytest.mark.parametrize("path", sorted((ROOT / "bench" / "results").glob("*.json")), ids=lambda p: p.name)
def test_every_result_file_records_its_run(path):
    run = json.loads(path.read_text())["run"]
    assert RUN_KEYS <= set(run) and all(isinstance(run[k], str) and run[k] for k in RUN_KEYS)


def test_write_result_adds_the_run_first(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    common = runpy.run_path(str(ROOT / "bench" / "common.py"))
    out = common["write_result"](tmp_path / "r" / "x.json", {"rows": [1, 2]})
    d = json.loads(out.read_text())
    assert list(d) == ["run", "rows"] and d["rows"] == [1, 2]
    assert d["run"]["torch"] == torch.__version__ and d["run"]["cpu"] and d["run"]["date"][:2] == "20"
    assert len(d["run"]["commit"]) == 40 or d["run"]["commit"].startswith("unknown")


def _scripts():
    for p in sorted((ROOT / "bench").glob("*.py")):
        if p.name == "common.py":
            continue
        yield p


@pytest.mark.parametrize("script", list(_scripts()), ids=lambda p: getattr(p, "name", None))
def test_every_bench_script_writes_through_write_result(script):
    text = script.read_text()
    assert "write_result(" in text and ".write_text(json.dumps" not in text
