"""The EMA of G warms up: it forgets the random initial weights within a few hundred steps."""
from __future__ import annotations

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from tomau.training.trainer import ema_with_warmup


def test_ema_decay_warms_up_to_its_setting():
    update = ema_with_warmup(0.999)
    avg, cur = torch.zeros(1), torch.ones(1)
    assert update(avg, cur, torch.tensor(1)).item() == pytest.approx(1 - 2 / 11)  # n = 1: decay (1 + 1) / (10 + 1)
    assert update(avg, cur, torch.tensor(100_000)).item() == pytest.approx(0.001)  # late: the decay given


def test_averaged_generator_follows_training_quickly():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = AveragedModel(net, avg_fn=ema_with_warmup(0.999), use_buffers=True)
    with torch.no_grad():
        net.weight.fill_(-5.0)  # the "random init"
    ema.update_parameters(net)
    with torch.no_grad():
        net.weight.fill_(1.0)  # what training reached
    for _ in range(300):
        ema.update_parameters(net)
    # a plain 0.999 EMA would still hold 0.999^300 = 74% of the initial weight: -5 * 0.74 + 0.26 = -3.4
    assert ema.module.weight.item() == pytest.approx(1.0, abs=0.25)
