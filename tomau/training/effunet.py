"""``tomau train effunet``: the EfficientNet-Lite colouriser (tomau.models.effunet) as a family of the one loop.

Two data paths, chosen by ``--train-encoder``:

``none``  the encoder is frozen: every photo's skips are computed once per cached view
          (tomau.training.feature_cache) and the decoder trains on those rows - several times faster on a CPU.
``top``   the encoder's stride-16 and stride-32 stages train too, at ``--encoder-lr-scale`` x the decoder's rate;
``all``   every stage trains (after ``--top-only-steps`` steps with the top ones alone). Photos are decoded and
          augmented on the fly: a random resized crop (``--crop-scale`` .. 1 of the area, aspect 3/4 .. 4/3) and a flip.
          The encoder's BatchNorm statistics stay at their ImageNet values (``--no-freeze-bn`` lets them move).

Loss (both paths, at 1/4 of the crop, where the heads predict): Huber on the regression head's ab
+ ``cls_weight`` x Zhang et al.'s class-rebalanced cross-entropy over the 313 ab bins ("Colorful Image
Colorization", ECCV 2016). AdamW, linear warm-up then cosine decay of every group's rate.
Optional, on the photo paths: ``perceptual_weight`` x an L1 between frozen ImageNet features of the regression head's
colouring and of the photo; ``gan_weight`` x pix2pix's cGAN loss from a 70x70 PatchGAN that judges (L, ab) - the second,
adversarial stage of the two-stage L1-then-GAN recipe, here on top of a trained regression model (``--init``). D sees the
true ab through the same 1/4-resolution bottleneck as the prediction (pooled, then widened alike), so it judges colour,
not the sharpness that the 1/4 resolution cannot give.

Hints (``--hints``, Zhang et al.'s user-guided network, SIGGRAPH 2017): the model grows a hints decoder (a copy of the
decoder whose hint weights start at zero, tomau.models.effunet) and only that trains, on the frozen encoder's cached
features, while the encoder and the decoder stay the ``--init`` model's (a photo without hints is coloured by them:
the shipped output, exactly). Each crop gets simulated hints (:func:`simulate_hints`): a geometric number of points
(``hint_p``: P(0 points) = hint_p, mean (1 - p) / p), each the mean true ab of a 1x1 or 2x2 patch of the 1/4 grid (4 or
8 px of the crop), and with ``stroke_share`` a stroke: a short line of cells, each with its own true ab.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from .. import color
from ..colorbins import ABBins
from ..data import _item, _to_tensor
from ..errors import TomauError
from ..images import open_image
from ..losses import TARGET_LOSSES, GANLoss
from ..modelfile import check_state_fits
from ..models import evaluating
from ..models.effunet import EffUNetColorizer, EffUNetConfig
from ..models.patchgan import PatchGANConfig, PatchGANDiscriminator
from .family import Family
from .options import at_least, between, option

ENCODER_MODES = ("none", "top", "all")
FEATURE_KEYS = ("f4", "f8", "f16", "f32")


@dataclass
class EffUNetTrainConfig:
    generator: EffUNetConfig = field(default_factory=EffUNetConfig)
    train_encoder: str = "none"  # none: frozen, cached features; top: stride-16/32 stages train; all: every stage
    top_only_steps: int = 0  # with "all": the first steps train only the top stages
    encoder_lr_scale: float = 0.1  # the encoder's learning rate, as a share of the decoder's
    freeze_bn: bool = True  # keep the encoder's BatchNorm statistics at their ImageNet values
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    cls_weight: float = 0.1
    perceptual_weight: float = 0.0  # L1 between frozen ImageNet-Lite features of the output and of the photo
    gan_weight: float = 0.0  # pix2pix's cGAN loss on the regression head's (L, ab); 0: no discriminator
    gan_mode: str = "vanilla"  # a name in tomau.losses.TARGET_LOSSES
    discriminator: PatchGANConfig = field(default_factory=lambda: PatchGANConfig(ndf=32))
    lr_d: float = 2e-4  # D's Adam rate (betas 0.5, 0.999 as pix2pix)
    huber_beta: float = 0.05  # in normalised ab units (x 110 = 5.5 ab)
    rebalance_lambda: float = 0.5
    bins_dir: str = ""  # pts_in_hull.npy + prior_probs.npy (Zhang et al.'s ab bins and prior)
    crop_scale: float = 0.35  # smallest share of the photo's area a random resized crop keeps
    cache: str = ""  # feature cache folder of the frozen-encoder path
    views: int = 2  # cached crops per photo (view 0 centred)
    cache_weights: str = ""  # the model whose encoder computes the cached features ("": ImageNet's); --init's by default
    hint_p: float = 0.125  # --hints: the geometric distribution of points per crop (P(none); Zhang et al.'s 1/8)
    stroke_share: float = 0.1  # --hints: share of crops that also get a stroke
    hint_lr_scale: float = 10.0  # --hints: the new hint convs' learning rate, as a multiple of the decoder's

    def validate(self) -> None:
        if self.train_encoder not in ENCODER_MODES:
            raise ValueError(f"train_encoder must be one of {', '.join(ENCODER_MODES)}")
        if not 0 < self.crop_scale <= 1:
            raise ValueError("crop_scale must be in (0, 1]")
        for name in ("lr", "weight_decay", "cls_weight", "perceptual_weight", "gan_weight", "lr_d", "huber_beta", "encoder_lr_scale"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0")
        if self.perceptual_weight and self.train_encoder == "none":
            raise ValueError("perceptual_weight needs the photos themselves: use it with --train-encoder top or all")
        if self.gan_weight and self.train_encoder == "none":
            raise ValueError("gan_weight needs the photos themselves: use it with --train-encoder top or all")
        if self.generator.ab_stride != 4 and self.train_encoder == "none":
            raise ValueError("ab at 1/2 needs the encoder's stride-2 features of each photo: use it with --train-encoder top or all")
        if self.gan_mode not in TARGET_LOSSES:
            raise ValueError(f"gan_mode must be one of {', '.join(sorted(TARGET_LOSSES))}")
        self.discriminator.validate()
        if self.generator.hints and (self.train_encoder != "none" or self.gan_weight or self.perceptual_weight):
            raise ValueError("--hints trains the hints decoder alone on cached features: use it with --train-encoder none, "
                             "without gan_weight or perceptual_weight")
        if not 0 < self.hint_p <= 1 or not 0 <= self.stroke_share <= 1:
            raise ValueError("hint_p must be in (0, 1], stroke_share in [0, 1]")
        if self.views < 1 or self.warmup < 0 or self.top_only_steps < 0:
            raise ValueError("views must be >= 1, warmup and top_only_steps >= 0")
        self.generator.validate()


class RandomResizedCrops(torch.utils.data.Dataset):
    """Colour photos as uint8 (3, S, S): a random crop of ``scale`` .. 1 of the area at aspect 3/4 .. 4/3, resized to S,
    flipped half the time (Inception-style, as every ImageNet-trained encoder saw); a plain index gives the centre
    square (sample grids). The augmentation depends only on the sampler's seed for the item (exact resume)."""

    def __init__(self, files: list[Path], size: int, scale: float = 0.35):
        if not files:
            raise TomauError("the dataset is empty")
        self.files, self.size, self.scale = list(files), size, scale

    def __len__(self) -> int:
        return len(self.files)

    def _box(self, w: int, h: int, rng: random.Random) -> tuple[int, int, int, int]:
        for _ in range(10):
            area = w * h * rng.uniform(self.scale, 1.0)
            aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
                return x, y, x + cw, y + ch
        side = min(w, h)  # fall back to the centre square
        return (w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2

    def __getitem__(self, item) -> torch.Tensor:
        index, rng, augment = _item(item)
        s = self.size
        with open_image(self.files[index]) as im:  # refused from its header when over 100 MP
            im.draft("RGB", (2 * s, 2 * s))  # JPEGs decode at the smallest scale still >= 2 S: cheap on big photos
            im = im.convert("RGB")
        w, h = im.size
        if augment:
            box = self._box(w, h, rng)
        else:
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2)
        im = im.resize((s, s), Image.BICUBIC, box=box)
        if augment and rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return _to_tensor(im)


class CachedFeatures(torch.utils.data.Dataset):
    """Rows (photo x view) of a feature cache: the encoder's skips and the crop's Lab at 1/4, as fp16 tensors."""

    def __init__(self, cache_dir: str | Path):
        from .feature_cache import open_cache

        self.meta, self.arrays = open_cache(cache_dir)
        self.rows = len(self.meta["files"]) * self.meta["views"]

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, item) -> dict[str, torch.Tensor]:
        index = item[0] if isinstance(item, tuple) else item
        return {k: torch.from_numpy(np.array(a[index])) for k, a in self.arrays.items()}  # a copy: the memory map is read-only


class EffUNetFamily(Family):
    name = "effunet"
    generator_kind = "effunet"
    summary = "pretrained EfficientNet-Lite encoder U-Net (the default colouriser): frozen with cached features, or fine-tuned"
    config_class = EffUNetTrainConfig
    options = (
        option("encoder", path="generator.encoder"),
        option("train_encoder", choices=ENCODER_MODES, help="none: frozen encoder, features cached once (fastest on a CPU); "
               "top: its stride-16/32 stages train too; all: every stage (photos decoded and augmented on the fly) (default: none)"),
        option("top_only_steps", type=at_least(0), help="with --train-encoder all: train only the top stages for this many steps first"),
        option("encoder_lr_scale", type=at_least(0, float), help="encoder learning rate as a share of --lr (default: 0.1)"),
        option("freeze_bn", flag="--no-freeze-bn", action="store_false", default=None,
               help="let the encoder's BatchNorm statistics move (default: kept at ImageNet's)"),
        option("crop_scale", type=between(0.05, 1), help="smallest share of a photo's area in a random resized crop (default: 0.35)"),
        option("cache", metavar="DIR", help="frozen encoder: feature cache folder (default: OUT/cache-ENCODER-SIZExVIEWS); built on first use"),
        option("views", type=at_least(1), help="frozen encoder: crops cached per photo, view 0 centred (default: 2)"),
        option("cls_weight", type=at_least(0, float), help="weight of the rebalanced 313-bin cross-entropy beside the Huber ab loss (default: 0.1)"),
        option("perceptual_weight", type=at_least(0, float),
               help="weight of a perceptual loss: L1 between frozen ImageNet EfficientNet-Lite features (strides 2-16) of the "
                    "regression head's colouring and of the photo; needs --train-encoder top or all (default: 0, off)"),
        option("gan_weight", type=at_least(0, float),
               help="weight of a cGAN loss from a PatchGAN on (L, ab) of the regression head (pix2pix's second stage; 0.01 is "
                    "pix2pix's 1:100 against the L1); needs --train-encoder top or all (default: 0, off)"),
        option("gan_mode", choices=TARGET_LOSSES, help="the PatchGAN's adversarial loss (default: vanilla)"),
        option("ndf", type=at_least(1), path="discriminator.ndf", help="PatchGAN width (default: 32)"),
        option("lr_d", type=at_least(0, float), help="D's Adam learning rate (default: 2e-4)"),
        option("ab_stride", type=int, choices=(2, 4), path="generator.ab_stride",
               help="resolution of the regression ab: 1/4 of the input, or 1/2 (a refinement block on the stride-2 features; "
                    "with --init from a 1/4 model it starts at zero, as that model) (default: 4)"),
        option("regression_only", action="store_true", default=None, path="", help="no classification head (then --bins is not needed)"),
        option("mix", type=between(0, 1), path="generator.mix", help="share of the classification head's annealed mean in the output ab"),
        option("temperature", type=between(0.01, 10), path="generator.temperature", help="annealed-mean temperature; lower is more vivid"),
        option("lr", type=at_least(0, float), help="AdamW learning rate of the decoder (default: 1e-3)"),
        option("warmup", type=at_least(0), help="steps of linear learning-rate warm-up before the cosine decay (default: 200)"),
        option("bins", metavar="DIR", path="bins_dir", help="Zhang et al.'s ab bins: pts_in_hull.npy and prior_probs.npy"),
        option("hints", action="store_true", default=None, path="generator.hints",
               help="grow and train a hints decoder (sparse ab hints, the user-guided network) from --init; the rest stays frozen"),
        option("hint_p", type=between(0.01, 1), help="--hints: P(no points) of the geometric number of simulated points (default: 0.125)"),
        option("stroke_share", type=between(0, 1), help="--hints: share of crops that also get a simulated stroke (default: 0.1)"),
        option("hint_lr_scale", type=at_least(0, float), help="--hints: learning rate of the new hint convs as a multiple of --lr "
               "(they start at zero and see small inputs; the copied decoder should move little) (default: 10)"),
    )

    @classmethod
    def resolve(cls, given: dict) -> EffUNetTrainConfig:
        config = super().resolve(given)
        g = config.generator
        if given.get("regression_only"):
            g.bins, g.mix, g.bin_centres = 0, 0.0, []
        elif g.bins and not g.bin_centres:
            if not config.bins_dir:
                raise TomauError("the classification head needs Zhang et al.'s ab bins: --bins DIR (pts_in_hull.npy, prior_probs.npy), "
                                 "or --regression-only")
            bins = ABBins.from_folder(config.bins_dir)
            g.bins, g.bin_centres = len(bins), bins.centres.tolist()
        if config.train_encoder == "none" and given.get("init") and not config.cache_weights:
            config.cache_weights = str(given["init"])  # the decoder must see the features of the encoder it will run with
        if config.train_encoder == "none" and not config.cache:
            size = given.get("image_size") or 128
            tag = f"-{Path(config.cache_weights).stem}" if config.cache_weights else ""
            config.cache = str(Path(given.get("out") or "runs") / f"cache-{g.encoder.removeprefix('efficientnet_')}-{size}x{config.views}{tag}")
        return config

    run_defaults = {"image_size": 128, "batch_size": 32, "steps": 4500, "ema": 0.999, "mixed_precision": "bf16", "workers": 1}

    def __init__(self, cfg: EffUNetTrainConfig):
        cfg.validate()
        self.cfg = cfg
        net = EffUNetColorizer(cfg.generator)
        self.nets: dict[str, nn.Module] = {"G": net}
        self.bins = ABBins.from_folder(cfg.bins_dir) if cfg.generator.bins and cfg.bins_dir else None
        if cfg.generator.bins and self.bins is None:
            raise TomauError("the classification head needs its ab bins to train: --bins DIR")
        self.class_weights = self.bins.rebalance_weights(cfg.rebalance_lambda) if self.bins is not None else None
        top, bottom = self.encoder_groups(net)
        trains = {"none": (), "top": (top,), "all": (top, bottom)}[cfg.train_encoder]
        net.encoder.requires_grad_(False)
        for params in trains:
            for p in params:
                p.requires_grad_(True)
        self.bottom = bottom
        groups = [{"params": list(net.decoder.parameters()), "base_lr": cfg.lr, "name": "decoder"}]
        if cfg.generator.hints:  # the hints decoder alone trains: its copied layers, and its new hint convs faster
            net.decoder.requires_grad_(False)
            new = list(net.hint_decoder.hint_in.parameters())
            ids = {id(p) for p in new}
            groups = [{"params": [p for p in net.hint_decoder.parameters() if id(p) not in ids], "base_lr": cfg.lr, "name": "decoder"},
                      {"params": new, "base_lr": cfg.lr * cfg.hint_lr_scale, "name": "hint_in"}]
        for label, params in zip(("encoder_top", "encoder_bottom"), trains):
            groups.append({"params": params, "base_lr": cfg.lr * cfg.encoder_lr_scale, "name": label})
        self.optimizers = {"G": torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)}
        net.freeze_encoder_bn = cfg.freeze_bn or cfg.train_encoder == "none"
        self.feature_net = None  # the perceptual loss's frozen ImageNet network, made on first use (not checkpointed)
        if cfg.gan_weight:
            self.nets["D"] = PatchGANDiscriminator(cfg.discriminator)
            self.optimizers["D"] = torch.optim.Adam(self.nets["D"].parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        self.gan_loss = GANLoss(cfg.gan_mode)

    @staticmethod
    def encoder_groups(net: EffUNetColorizer) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """The encoder's parameters in two groups: its stride-16 and stride-32 stages (top), and the rest (bottom)."""
        enc = net.encoder
        first_top = enc.feature_blocks[2] + 1  # the first block after the stride-8 features
        top = [p for i, b in enumerate(enc._blocks) if i >= first_top for p in b.parameters()]
        ids = {id(p) for p in top}
        return top, [p for p in enc.parameters() if id(p) not in ids]

    def init_from(self, state: dict[str, torch.Tensor], source: str) -> list[str]:
        """--init; a 1/4 model grows to ab at 1/2: the refinement's layers are new (its output conv starts at zero)."""
        net = self.nets["G"]
        if self.cfg.generator.hints and not any(k.startswith("hint_decoder.") for k in state):
            from ..models.effunet import grow_hint_decoder

            state = grow_hint_decoder(state, net)
            super().init_from(state, source)
            return ["hints: the hints decoder is new, a copy of the decoder with its hint weights at zero (it starts as the decoder)"]
        new = [k for k in net.state_dict() if k.startswith(("decoder.up2.", "decoder.refine."))]
        if not new or any(k in state for k in new):
            return super().init_from(state, source)
        check_state_fits({k: v for k, v in net.state_dict().items() if k not in new}, state, source)
        net.load_state_dict(state, strict=False)
        return ["ab at 1/2: the refinement block is new (it starts at zero: the output is the 1/4 model's, widened)"]

    def init_fresh(self) -> list[str]:
        self.nets["G"].load_pretrained_encoder()
        return [f"encoder initialised with {self.cfg.generator.encoder}'s ImageNet weights"]

    # ---- data ---------------------------------------------------------------------------------
    def make_dataset(self, files: list[Path], image_size: int, load_size: int | None) -> torch.utils.data.Dataset:
        if self.cfg.train_encoder != "none":
            return RandomResizedCrops(files, image_size, self.cfg.crop_scale)
        from .feature_cache import build_cache

        build_cache(files, self.cfg.cache, self.cfg.generator.encoder, image_size, self.cfg.views, progress=True,
                    weights=self.cfg.cache_weights)
        dataset = CachedFeatures(self.cfg.cache)
        if dataset.meta["size"] != image_size or dataset.meta["encoder"] != self.cfg.generator.encoder:
            raise TomauError(f"{self.cfg.cache}: the cache holds {dataset.meta['encoder']} features of {dataset.meta['size']} px crops, "
                             f"the run asks for {self.cfg.generator.encoder} at {image_size}; use another --cache")
        return dataset

    # ---- training -----------------------------------------------------------------------------
    def adjust_lr(self, step: int, steps: int) -> None:
        """Linear warm-up, then cosine decay to 0 at ``steps``; the bottom encoder stages wait ``top_only_steps``."""
        cfg = self.cfg
        if step < cfg.warmup:
            factor = (step + 1) / cfg.warmup
        else:
            factor = 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup) / max(1, steps - cfg.warmup))))
        waiting = cfg.train_encoder == "all" and step < cfg.top_only_steps
        for p in self.bottom if cfg.train_encoder == "all" else ():
            p.requires_grad_(not waiting)
        for g in self.optimizers["G"].param_groups:
            g["lr"] = g["base_lr"] * factor

    def _targets(self, batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """(normalised L at S, or None on the cached path; normalised L at S/4; Lab at S/4; Lab at S, or None)."""
        if isinstance(batch, dict):
            lab_small = batch["lab"].float()
            return None, color.normalize_l(lab_small[:, :1]), lab_small, None
        lab = color.rgb_to_lab(batch.float() / 255.0)
        lab_small = F.avg_pool2d(lab, 4)
        return color.normalize_l(lab[:, :1]), color.normalize_l(lab_small[:, :1]), lab_small, lab

    @staticmethod
    def _true_ab(reg: torch.Tensor, lab_small: torch.Tensor, lab: torch.Tensor | None) -> torch.Tensor:
        """The photo's normalised ab at the regression head's resolution (1/4, or 1/2 with the refinement), pooled."""
        if reg.shape[-1] == lab_small.shape[-1]:
            return color.normalize_ab(lab_small[:, 1:])
        return color.normalize_ab(F.avg_pool2d(lab[:, 1:], lab.shape[-1] // reg.shape[-1]))

    def _heads(self, G: nn.Module, batch, l_norm, l_small, hints: torch.Tensor | None = None):
        if isinstance(batch, dict):  # cached skips straight into the decoder (the hints decoder with hints)
            feats = [batch[k].float() for k in FEATURE_KEYS]
            return G.decoder(feats, l_small) if hints is None else G.hint_decoder(feats, l_small, None, hints)
        return G(l_norm, heads=True, hints=hints)

    def _hints(self, lab_small: torch.Tensor) -> torch.Tensor | None:
        if not self.cfg.generator.hints:
            return None
        return simulate_hints(color.normalize_ab(lab_small[:, 1:]), self.cfg.hint_p, self.cfg.stroke_share)

    def perceptual(self, reg: torch.Tensor, l_norm: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """Mean L1 between the frozen ImageNet EfficientNet-Lite's maps (strides 2-16) of the regression head's colouring
        (ab widened to the crop, with its own L) and of the photo, both as sRGB in [-1, 1] (the network's input range)."""
        if self.feature_net is None:
            from ..models.efficientnet_lite import pretrained

            self.feature_net = pretrained(self.cfg.generator.encoder).requires_grad_(False)
        self.feature_net.to(reg.device)
        ab = F.interpolate(reg.float(), size=l_norm.shape[-2:], mode="bilinear", align_corners=False)
        pred = color.model_output_to_rgb(l_norm, ab) * 2 - 1
        with torch.no_grad():
            want = self.feature_net.features(rgb * 2 - 1, strides=4)
        got = self.feature_net.features(pred, strides=4)
        return sum(F.l1_loss(g.float(), w.float()) for g, w in zip(got, want)) / len(got)

    def losses(self, reg: torch.Tensor, logits: torch.Tensor | None, lab_small: torch.Tensor,
               true_ab: torch.Tensor) -> dict[str, torch.Tensor]:
        """Huber on the regression head against ``true_ab`` (its resolution, :meth:`_true_ab`) + the rebalanced CE at 1/4."""
        out = {"huber": F.smooth_l1_loss(reg.float(), true_ab, beta=self.cfg.huber_beta)}
        loss = out["huber"]
        if logits is not None and self.bins is not None:
            target = self.bins.nearest(lab_small[:, 1:])
            w = self.class_weights[target]
            out["ce"] = (F.cross_entropy(logits.float(), target, reduction="none") * w).sum() / w.sum()  # rebalanced
            loss = loss + self.cfg.cls_weight * out["ce"]
        out["loss"] = loss
        return out

    def training_step(self, batch, accelerator) -> dict[str, torch.Tensor]:
        G = self.nets["G"]
        opt = self.optimizers["G"]
        l_norm, l_small, lab_small, lab = self._targets(batch)
        hints = self._hints(lab_small)
        with accelerator.autocast():
            reg, logits = self._heads(accelerator.unwrap_model(G) if l_norm is None else G, batch, l_norm, l_small, hints)
        true_ab = self._true_ab(reg, lab_small, lab)
        out = self.losses(reg, logits, lab_small, true_ab)
        if self.cfg.perceptual_weight:
            with accelerator.autocast():
                out["perceptual"] = self.perceptual(reg, l_norm, batch.float() / 255.0)
            out["loss"] = out["loss"] + self.cfg.perceptual_weight * out["perceptual"]
        if self.cfg.gan_weight:
            out.update(self.adversarial(reg, l_norm, true_ab, accelerator))
            out["loss"] = out["loss"] + self.cfg.gan_weight * out["G_GAN"]
        opt.zero_grad(set_to_none=True)
        accelerator.backward(out["loss"])
        opt.step()
        return {k: v.detach() for k, v in out.items()}

    def adversarial(self, reg: torch.Tensor, l_norm: torch.Tensor, true_ab: torch.Tensor, accelerator) -> dict[str, torch.Tensor]:
        """D's step on the true and the predicted (L, ab) at the crop's size - both ab widened from the head's resolution
        the same way - then G's adversarial loss through D with D frozen (unwrapped: a distributed wrapper would wait for
        its gradients)."""
        size = l_norm.shape[-2:]
        real_ab = F.interpolate(true_ab, size=size, mode="bilinear", align_corners=False)
        fake_ab = F.interpolate(reg.float(), size=size, mode="bilinear", align_corners=False)
        D, opt_d = self.nets["D"], self.optimizers["D"]
        opt_d.zero_grad(set_to_none=True)
        with accelerator.autocast():
            d_real = self.gan_loss(D(torch.cat([l_norm, real_ab], 1)), True)
            d_fake = self.gan_loss(D(torch.cat([l_norm, fake_ab.detach()], 1)), False)
        accelerator.backward(0.5 * (d_real + d_fake))
        opt_d.step()
        d_plain = accelerator.unwrap_model(D)
        d_plain.requires_grad_(False)
        with accelerator.autocast():
            g_gan = self.gan_loss(d_plain(torch.cat([l_norm, fake_ab], 1)), True)
        d_plain.requires_grad_(True)
        return {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "G_GAN": g_gan}

    # ---- outputs ------------------------------------------------------------------------------
    @torch.no_grad()
    def visuals(self, batch, generator: nn.Module) -> list[torch.Tensor]:
        """grey | output | truth; on the cached path at the cache's 1/4 resolution (what the decoder sees). With
        --hints the output is given simulated hints (drawn from a fixed seed: the same at every checkpoint)."""
        l_norm, l_small, lab_small, _ = self._targets(batch)
        with evaluating(generator), torch.random.fork_rng():
            torch.manual_seed(0)
            hints = self._hints(lab_small)
            reg, logits = self._heads(generator, batch, l_norm, l_small, hints)
            ab = generator.combine(reg, logits).float()
        l_in = l_small if l_norm is None else l_norm
        ab = F.interpolate(ab, size=l_in.shape[-2:], mode="bilinear", align_corners=False)
        truth = color.model_output_to_rgb(l_in, color.normalize_ab(lab_small[:, 1:])) if l_norm is None else batch.float() / 255.0
        return [color.model_output_to_rgb(l_in, torch.zeros_like(ab)), color.model_output_to_rgb(l_in, ab), truth]

    def export_extras(self) -> dict:
        return {"recipe": {"train_encoder": self.cfg.train_encoder, "encoder_lr_scale": self.cfg.encoder_lr_scale,
                           "freeze_bn": self.cfg.freeze_bn, "crop_scale": self.cfg.crop_scale, "cls_weight": self.cfg.cls_weight,
                           "perceptual_weight": self.cfg.perceptual_weight, "gan_weight": self.cfg.gan_weight}
                | ({"hint_p": self.cfg.hint_p, "stroke_share": self.cfg.stroke_share, "cache_weights": self.cfg.cache_weights,
                    "hint_lr_scale": self.cfg.hint_lr_scale}
                   if self.cfg.generator.hints else {})}


def simulate_hints(true_ab: torch.Tensor, p: float = 0.125, stroke_share: float = 0.1, max_side: int = 2) -> torch.Tensor:
    """Simulated user hints (N, HINT_CHANNELS, h, w) for crops whose true ab (normalised) at 1/4 is ``true_ab`` (N, 2, h, w):
    per crop a geometric number of points (P(k) = p (1 - p)^k, k >= 0), each a square patch of 1..``max_side`` cells
    holding the patch's mean true ab; with probability ``stroke_share`` also a stroke (a random line of 3-12 cells, each
    with its own true ab). Drawn from torch's global generator (the trainer seeds and checkpoints it)."""
    from ..models.effunet import HINT_CHANNELS

    n, _, h, w = true_ab.shape
    ab = true_ab.float()
    hints = torch.zeros(n, HINT_CHANNELS, h, w)
    counts = (torch.log(torch.rand(n).clamp_min(1e-12)) / math.log(1 - p)).floor().long() if p < 1 else torch.zeros(n, dtype=torch.long)
    for i in range(n):
        for _ in range(min(int(counts[i]), h * w)):
            side = int(torch.randint(1, max_side + 1, ()))
            y, x = int(torch.randint(0, h - side + 1, ())), int(torch.randint(0, w - side + 1, ()))
            hints[i, :2, y : y + side, x : x + side] = ab[i, :, y : y + side, x : x + side].mean((1, 2))[:, None, None]
            hints[i, 2, y : y + side, x : x + side] = 1
        if float(torch.rand(())) < stroke_share:
            y0, x0 = float(torch.rand(())) * h, float(torch.rand(())) * w
            angle, length = float(torch.rand(())) * 2 * math.pi, int(torch.randint(3, 13, ()))
            t = torch.arange(length, dtype=torch.float32)
            ys = (y0 + t * math.sin(angle)).long().clamp(0, h - 1)
            xs = (x0 + t * math.cos(angle)).long().clamp(0, w - 1)
            hints[i, :2, ys, xs] = ab[i, :, ys, xs]
            hints[i, 2, ys, xs] = 1
    return hints.to(true_ab.device)
