"""Run by test_distributed.py under torch.distributed.run: a few steps on 2 CPU processes (gloo)."""
import sys
from pathlib import Path

import torch

from tests.test_training import tiny_cfg
from tomau.training.trainer import Trainer

data, out = sys.argv[1], Path(sys.argv[2])
cfg = tiny_cfg(data, out, steps=3, ckpt_every=3, cpu=True)
trainer = Trainer(cfg, out / "run", quiet=True)
trainer.run()
acc = trainer.accelerator
state = {f"{n}.{k}": v for n in ("G", "D") for k, v in trainer._unwrapped(n).state_dict().items()}
torch.save({"world": acc.num_processes, "type": str(acc.distributed_type), "state": state}, out / f"rank{acc.process_index}.pt")
