"""Accelerate's multi-process path: 2 CPU processes (gloo) train a few steps and stay identical."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_process_replicas_stay_equal(tmp_path, colour_folder):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", "29533", str(ROOT / "tests" / "ddp_worker.py"), str(colour_folder), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["world"] == r1["world"] == 2 and "MULTI_CPU" in r0["type"]
    for k, v in r0["state"].items():
        if "running" in k or "num_batches" in k:
            continue  # BatchNorm statistics are per process between broadcasts
        assert torch.allclose(v, r1["state"][k], atol=1e-6), f"{k} differs between processes"
    from tomau.training.trainer import read_state

    ckpt = read_state(tmp_path / "run" / "state.safetensors")
    assert ckpt["step"] == 3  # written once, by the main process
    ranks = ckpt["rng_ranks"]  # but with every rank's RNG, which differ: each draws its own noise
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch"], ranks[1]["torch"])
    assert torch.equal(ranks[0]["torch"], ckpt["rng"]["torch"])
