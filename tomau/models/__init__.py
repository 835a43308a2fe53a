"""Networks by name. One file per network family; this registry is what the CLI and model files use.

Generators (GENERATORS, what a model file rebuilds): unet, resunet, effunet (on efficientnet_lite), liteunet,
cvae, dcgan, fastgan. Discriminators and feature networks, used in training and scoring only: patchgan,
dcgan's, projected (on efficientnet_lite), inception (FID).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import MISSING, fields, is_dataclass

from torch import nn

from ..errors import TomauError
from .cvae import CVAEConfig, DiverseColorizer
from .dcgan import DCGANConfig, DCGANGenerator
from .effunet import EffUNetColorizer, EffUNetConfig
from .fastgan import FastGANConfig, FastGANGenerator
from .liteunet import LiteUNet, LiteUNetConfig
from .resunet import ResUNetConfig, ResUNetGenerator
from .unet import UNetConfig, UNetGenerator

# name -> (config dataclass, network class)
GENERATORS = {
    "unet": (UNetConfig, UNetGenerator),
    "resunet": (ResUNetConfig, ResUNetGenerator),
    "effunet": (EffUNetConfig, EffUNetColorizer),
    "liteunet": (LiteUNetConfig, LiteUNet),
    "cvae": (CVAEConfig, DiverseColorizer),
    "dcgan": (DCGANConfig, DCGANGenerator),
    "fastgan": (FastGANConfig, FastGANGenerator),
}


def config_from_dict(cls, params: dict):
    """Build a config dataclass (nested ones too) from a dict, refusing keys it does not know."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(params) - set(known)
    if unknown:
        raise TomauError(f"unknown {cls.__name__} settings {sorted(unknown)}: the file was written by another version of tomau")
    kwargs = {}
    for name, value in params.items():
        factory = known[name].default_factory  # nested configs are declared with field(default_factory=...)
        if isinstance(value, dict) and factory is not MISSING:
            default = factory()
            if is_dataclass(default):
                value = config_from_dict(type(default), value)
        kwargs[name] = value
    return cls(**kwargs)


@contextmanager
def evaluating(net: nn.Module):
    """Run ``net`` in eval mode (dropout off, BatchNorm on running statistics) and restore its mode after."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def build_network(registry: dict, kind: str, params: dict) -> nn.Module:
    if kind not in registry:
        raise TomauError(f"unknown network {kind!r}; known: {', '.join(sorted(registry))}")
    config_cls, net_cls = registry[kind]
    return net_cls(config_from_dict(config_cls, params))

