"""Diverse colourisation, trained in two stages (Deshpande et al., CVPR 2017, "Learning Diverse Image Colorization"):

``cvae``  the conditional VAE on (L, ab) at 64x64: KL * 1e-2 + per-image sqrt of the squared ab error weighted
          per pixel by the inverse prior of its ab bin (313 bins), Adam 5e-5.
``mdn``   the mixture density network on the frozen CVAE's grey features, trained so one of its 8 means lands
          near the CVAE posterior's z for the true colours (the paper's MDN loss), Adam 1e-3. Start it with --vae RUN.
Both train the same network class (tomau.models.cvae.DiverseColorizer) under the name "G", so the shared
trainer, checkpoints and model files serve them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .. import color
from ..colorbins import ABBins
from ..errors import TomauError
from ..modelfile import load_model_file, load_state_checked
from ..models import evaluating
from ..models.cvae import CVAEConfig, DiverseColorizer, mdn_loss, vae_loss
from .family import Family
from .options import at_least, option

CVAE_OPTIONS = (
    option("width", type=at_least(0, float, 64), help="channel multiplier of the CVAE and MDN (1 = the paper's; default 1)"),
    option("hidden", type=at_least(1, int, 65536), help="size of the colour code z (default: 64)"),
    option("nmix", type=at_least(1, int, 1024), help="MDN mixture components = colourings offered (default: 8)"),
    option("kl_weight", type=at_least(0, float), help="weight of the KL term (default: 1e-2)"),
    option("lr", type=at_least(0, float), help="Adam learning rate (default: the family's: cvae 5e-5, mdn 1e-3, effunet 1e-3)"),
    option("bins", metavar="DIR", help="pts_in_hull.npy + prior_probs.npy: weight each pixel by its ab bin's inverse prior"),
)


@dataclass
class CVAETrainConfig:
    generator: CVAEConfig = field(default_factory=lambda: CVAEConfig(use_mdn=False))
    lr: float = 5e-5
    kl_weight: float = 1e-2
    bins: str = ""  # folder with pts_in_hull.npy + prior_probs.npy; "" = unweighted L2
    vae: str = ""  # mdn stage: the cvae run or model file whose CVAE is frozen under the MDN

    def validate(self) -> None:
        if self.lr <= 0 or self.kl_weight < 0:
            raise ValueError("lr must be positive and kl_weight >= 0")
        self.generator.validate()


class CVAEColorization(Family):
    name = "cvae"
    generator_kind = "cvae"
    summary = "diverse colourings, stage 1: the conditional VAE (64x64)"
    config_class = CVAETrainConfig
    options = CVAE_OPTIONS
    use_mdn = False

    def __init__(self, cfg: CVAETrainConfig):
        cfg.generator.use_mdn = self.use_mdn
        cfg.validate()
        self.cfg = cfg
        self.nets: dict[str, nn.Module] = {"G": DiverseColorizer(cfg.generator)}
        self.optimizers = {"G": torch.optim.Adam(self.trainable(self.nets["G"]).parameters(), lr=cfg.lr)}
        self.bins = ABBins.from_folder(cfg.bins) if cfg.bins else None
        # Deshpande et al. weigh each pixel by the inverse prior of its ab bin
        self.bin_weights = 1.0 / self.bins.prior if self.bins is not None else None

    @staticmethod
    def trainable(g: DiverseColorizer) -> nn.Module:
        return g.vae

    @staticmethod
    def batch_to_inputs(batch_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return color.rgb_to_model_input(batch_u8.float() / 255.0)

    def pixel_weights(self, ab_norm: torch.Tensor) -> torch.Tensor:
        if self.bins is None:
            return torch.ones_like(ab_norm[:, :1])
        return self.bins.pixel_weights(color.denormalize_ab(ab_norm), self.bin_weights)

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        l, ab = self.batch_to_inputs(batch_u8)
        opt = self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        with accelerator.autocast():
            pred, mu, logvar = self.nets["G"](l, ab)
        loss, kl, recon = vae_loss(mu.float(), logvar.float(), pred.float(), ab, self.pixel_weights(ab), self.cfg.kl_weight)
        accelerator.backward(loss)
        opt.step()
        return {"KL": kl.detach(), "recon": recon.detach()}

    @torch.no_grad()
    def visuals(self, batch_u8: torch.Tensor, generator: nn.Module) -> list[torch.Tensor]:
        """Rows: grey | truth | 8 colourings (one row per sample, heaviest mixture component first)."""
        l, ab = self.batch_to_inputs(batch_u8)
        with evaluating(generator):
            samples = generator.sample(l, min(8, generator.config.nmix), torch.Generator().manual_seed(0))
        rows = [color.model_output_to_rgb(l, torch.zeros_like(ab)), batch_u8.float() / 255.0]
        rows += [color.model_output_to_rgb(l, samples[:, k]) for k in range(samples.shape[1])]
        return rows

    def export_extras(self) -> dict:
        return {"losses": {"kl_weight": self.cfg.kl_weight, "bins": bool(self.cfg.bins)}}


@dataclass
class MDNTrainConfig(CVAETrainConfig):
    lr: float = 1e-3  # Deshpande et al.'s MDN learning rate (an explicit --lr is kept as given)


class MDNColorization(CVAEColorization):
    name = "mdn"
    summary = "diverse colourings, stage 2: the mixture density network on a frozen CVAE"
    use_mdn = True
    config_class = MDNTrainConfig
    options = (*CVAE_OPTIONS, option("vae", metavar="RUN", help="the cvae run (or model file) to freeze under the MDN"))

    def __init__(self, cfg: CVAETrainConfig):
        if cfg.vae:  # the CVAE's shape comes from its own file, so the two always fit
            vae_cfg = load_model_file(cfg.vae)[0].get("generator", {})
            if vae_cfg.get("kind") != "cvae":
                raise TomauError(f"{cfg.vae}: not a CVAE model (its generator is {vae_cfg.get('kind')!r})")
            for k in ("hidden", "width", "image_size"):
                setattr(cfg.generator, k, vae_cfg["params"][k])
        super().__init__(cfg)
        self.nets["G"].vae.requires_grad_(False)

    @staticmethod
    def trainable(g: DiverseColorizer) -> nn.Module:
        return g.mdn

    def init_fresh(self) -> list[str]:
        if not self.cfg.vae:
            raise TomauError("the mdn stage trains on a frozen CVAE: pass --vae RUN (a `tomau train cvae` run or its model file)")
        _, state = load_model_file(self.cfg.vae)
        vae_state = {k[len("vae."):]: v for k, v in state.items() if k.startswith("vae.")}
        load_state_checked(self.nets["G"].vae, vae_state, self.cfg.vae)
        return [f"CVAE loaded from {self.cfg.vae} and frozen"]

    def training_step(self, batch_u8: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        l, ab = self.batch_to_inputs(batch_u8)
        accelerator.unwrap_model(self.nets["G"]).vae.eval()  # frozen: BatchNorm statistics and dropout stay fixed
        opt = self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        with accelerator.autocast():
            gmm_mu, gmm_pi, mu, logvar = self.nets["G"](l, ab)
        loss = mdn_loss(gmm_mu.float(), gmm_pi.float(), mu.float(), logvar.float())
        accelerator.backward(loss)
        opt.step()
        return {"MDN": loss.detach()}
