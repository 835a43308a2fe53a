"""What a checkpoint holds besides weights: RNG states as plain tensors, and the EMA's update rule."""
from __future__ import annotations

import random

import numpy as np
import torch


def ema_with_warmup(decay: float):
    """EMA update with the usual warm-up: after n updates the decay is min(decay, (1 + n) / (10 + n)), so the
    average forgets the random initial weights within a few hundred steps instead of ~1 / (1 - decay)."""

    def update(averaged: torch.Tensor, current: torch.Tensor, num_averaged) -> torch.Tensor:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return averaged + (current - averaged) * (1.0 - d)

    return update


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def rng_state() -> dict:
    """RNG states as tensors and plain numbers only, so the checkpoint loads with torch.load(weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    if isinstance(np_state, dict):
        np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    else:  # checkpoints written before tomau 0.2 (loaded only with --trust-checkpoint)
        np.random.set_state(np_state)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---- checkpoints without pickle: nested dicts / lists of tensors and plain values as safetensors + JSON ----------
def pack(obj, tensors: dict[str, torch.Tensor], key: str = "t"):
    """``obj`` as JSON-able data: each tensor moved into ``tensors`` under a fresh key and replaced by {"__tensor__": key};
    tuples and dicts with non-string keys are marked so :func:`unpack` gives back the same structure."""
    if isinstance(obj, torch.Tensor):
        name = f"{key}.{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: pack(v, tensors, key) for k, v in obj.items()}}
        return {"__items__": [[pack(k, tensors, key), pack(v, tensors, key)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, tensors, key) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, tensors, key) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def unpack_entry(data, key: str):
    """One top-level entry of a packed dict that holds no tensors (a checkpoint's config), without loading any."""
    return unpack(data["__dict__"][key], {})


def unpack(data, tensors: dict[str, torch.Tensor]):
    """The inverse of :func:`pack`."""
    if isinstance(data, list):
        return [unpack(v, tensors) for v in data]
    if isinstance(data, dict):
        if "__tensor__" in data:
            return tensors[data["__tensor__"]]
        if "__dict__" in data:
            return {k: unpack(v, tensors) for k, v in data["__dict__"].items()}
        if "__items__" in data:
            return {unpack(k, tensors): unpack(v, tensors) for k, v in data["__items__"]}
        if "__tuple__" in data:
            return tuple(unpack(v, tensors) for v in data["__tuple__"])
        raise ValueError(f"unknown entry {sorted(data)}")
    return data
