"""Every model family by name: the `tomau train` choices. Adding a family = its module + one line here."""
from __future__ import annotations

from .cvae import CVAEColorization, MDNColorization
from .effunet import EffUNetFamily
from .gan import UnconditionalGAN
from .pix2pix import Pix2PixColorization, ResUNetColorization
from .projected_gan import ProjectedGAN
from .translate import LiteTranslation, PairedTranslation

# every model family by name: the `tomau train` choices, in this order
FAMILIES = {f.name: f for f in (Pix2PixColorization, ResUNetColorization, EffUNetFamily, CVAEColorization, MDNColorization,
                                UnconditionalGAN, ProjectedGAN, PairedTranslation, LiteTranslation)}
