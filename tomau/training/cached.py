"""CPU-first training of the EfficientNet-Lite colouriser: the frozen encoder runs once, the decoder trains.

1. ``build_cache`` (tomau.training.feature_cache): every training photo is cut into ``views`` crops (view 0: centre crop; later views:
   random scale, crop and flip), the frozen encoder's skips (strides 4-32) are computed once and stored as
   fp16 memory-mapped arrays, with the crop's Lab at 1/4 resolution (the decoder's L input and ab target).
2. ``train_cached``: the decoder trains on random (image, view) rows of the cache - no image decoding and
   no encoder in the loop, several times faster than end-to-end training on a CPU.

Loss: Huber on the regression head's ab + ``cls_weight`` x Zhang et al.'s class-rebalanced cross-entropy
over the 313 bins (rare saturated colours weigh more), both at 1/4 resolution, under bf16 autocast.

The run folder holds ``state.safetensors`` (decoder, optimizer moments, EMA, RNG as tensors) and
``state.json`` (step, config, metrics position): no pickle, so a run folder from elsewhere cannot run code.
``--resume`` continues bit-exactly; ``model.safetensors`` is the inference model (encoder + decoder).
"""
from __future__ import annotations

import json
import math
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .. import color
from ..colorbins import ABBins
from ..errors import TomauError
from ..images import write_atomic
from ..modelfile import load_model_file, save_model_file
from ..models.effunet import EffUNetColorizer, EffUNetConfig
from .feature_cache import build_cache, open_cache  # noqa: F401  (the cache the trainer reads; build_cache for callers)

# ---- training -------------------------------------------------------------------------------------
@dataclass
class CachedTrainConfig:
    cache: str = ""
    out: str = ""
    steps: int = 20_000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    cls_weight: float = 0.1
    huber_beta: float = 0.05  # in normalised ab units (x 110 = 5.5 ab)
    rebalance_lambda: float = 0.5
    ema: float = 0.999
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 500
    val_data: str = ""
    val_images: int = 200
    bins_dir: str = ""  # pts_in_hull.npy + prior_probs.npy
    init: str = ""  # a model file whose decoder starts this run
    max_minutes: float = 0
    threads: int = 0
    bf16: bool = True  # autocast the decoder to bfloat16 (about 2x on CPUs with AVX-512 BF16)
    model: EffUNetConfig = field(default_factory=EffUNetConfig)

    def validate(self) -> None:
        for name in ("steps", "batch_size", "log_every", "ckpt_every", "val_images"):
            if getattr(self, name) <= 0:
                raise TomauError(f"--{name.replace('_', '-')} must be a positive whole number, not {getattr(self, name)}")
        for name in ("lr", "cls_weight", "huber_beta", "weight_decay", "max_minutes"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise TomauError(f"--{name.replace('_', '-')} must be a finite number >= 0, not {getattr(self, name)}")
        if not 0 <= self.ema < 1:
            raise TomauError(f"--ema must be in [0, 1), not {self.ema}")


def _rng_tensors() -> dict[str, torch.Tensor]:
    np_state = np.random.get_state()
    py = random.getstate()
    return {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64)),
            "rng.python": torch.tensor(py[1], dtype=torch.int64)}


def _set_rng(tensors: dict[str, torch.Tensor], json_state: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    np.random.set_state(("MT19937", tensors["rng.numpy"].numpy().astype(np.uint32), *json_state["numpy_rest"]))
    random.setstate((3, tuple(int(x) for x in tensors["rng.python"]), None))


class CachedTrainer:
    def __init__(self, cfg: CachedTrainConfig, resume: bool = False, quiet: bool = False):
        cfg.validate()
        self.cfg = cfg
        self.quiet = quiet
        self.run_dir = Path(cfg.out)
        self.meta, self.cache = open_cache(cfg.cache)
        if self.meta["encoder"] != cfg.model.encoder:
            raise TomauError(f"the cache holds {self.meta['encoder']} features, the model asks for {cfg.model.encoder}")
        self.rows = len(self.meta["files"]) * self.meta["views"]
        self.bins = ABBins.from_folder(cfg.bins_dir) if cfg.model.bins else None
        if self.bins is not None and not cfg.model.bin_centres:
            cfg.model.bin_centres = self.bins.centres.tolist()
            cfg.model.bins = len(self.bins)
        self.weights = self.bins.rebalance_weights(cfg.rebalance_lambda) if self.bins is not None else None
        torch.manual_seed(cfg.seed)  # the decoder's initialisation
        self.net = EffUNetColorizer(cfg.model)
        self.net.load_pretrained_encoder()
        self.net.encoder.requires_grad_(False).eval()
        self.decoder = self.net.decoder
        self.opt = torch.optim.AdamW(self.decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.ema = {k: v.detach().clone() for k, v in self.decoder.state_dict().items()} if cfg.ema else None
        self.step = 0
        if resume:
            from ..images import remove_stale_temps

            remove_stale_temps(self.run_dir, recursive=False)  # a kill during a state write leaves its temp file
            self._load_state()
        else:
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise TomauError(f"{self.run_dir}: the run folder is not empty; use --resume to continue it or another --name")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if cfg.init:
                self._init_from(cfg.init)
            (self.run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
        self.val_files = self._val_files()

    # ---- state ----
    def _init_from(self, source: str) -> None:
        config, state = load_model_file(source)
        dec = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
        own = self.decoder.state_dict()
        if set(dec) != set(own) or any(dec[k].shape != own[k].shape for k in own):
            raise TomauError(f"{source}: its decoder does not match this model's (--init needs the same decoder widths and bins)")
        self.decoder.load_state_dict(dec)
        if self.ema is not None:
            self.ema = {k: v.detach().clone() for k, v in self.decoder.state_dict().items()}
        self.log(f"decoder initialised from {source}")

    def _state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"decoder.{k}": v for k, v in self.decoder.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.items()})
        opt = self.opt.state_dict()
        for pid, st in opt["state"].items():
            for name, value in st.items():
                tensors[f"opt.{pid}.{name}"] = torch.as_tensor(value)
        tensors.update(_rng_tensors())
        np_state = np.random.get_state()
        meta = {"step": self.step, "opt_param_groups": opt["param_groups"], "opt_state_keys": {str(k): sorted(v) for k, v in opt["state"].items()},
                "numpy_rest": [int(np_state[2]), int(np_state[3]), float(np_state[4])], "config": asdict(self.cfg)}
        return tensors, meta

    def save_state(self) -> None:
        from safetensors.torch import save as st_save

        tensors, meta = self._state_tensors()
        data = st_save({k: v.contiguous() for k, v in tensors.items()})
        write_atomic(self.run_dir / "state.safetensors", lambda f: f.write(data))
        write_atomic(self.run_dir / "state.json", lambda f: f.write(json.dumps(meta).encode()))
        self.export(self.run_dir / "model.safetensors")

    def _load_state(self) -> None:
        from safetensors.torch import load_file

        try:
            meta = json.loads((self.run_dir / "state.json").read_text())
            tensors = load_file(self.run_dir / "state.safetensors")
        except (OSError, ValueError) as err:
            raise TomauError(f"{self.run_dir}: no training state to resume ({err})") from None
        self.decoder.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("decoder.")})
        if self.ema is not None:
            self.ema = {k[4:]: v.clone() for k, v in tensors.items() if k.startswith("ema.")}
        opt_state = {"param_groups": meta["opt_param_groups"],
                     "state": {int(pid): {n: tensors[f"opt.{pid}.{n}"] for n in names} for pid, names in meta["opt_state_keys"].items()}}
        self.opt.load_state_dict(opt_state)
        self.step = int(meta["step"])
        _set_rng(tensors, meta)
        self.log(f"resumed {self.run_dir} at step {self.step}")

    # ---- model ----
    def _output_decoder_state(self) -> dict[str, torch.Tensor]:
        return self.ema if self.ema is not None else self.decoder.state_dict()

    def inference_network(self) -> EffUNetColorizer:
        net = EffUNetColorizer(self.cfg.model)
        net.encoder.load_state_dict(self.net.encoder.state_dict())
        net.decoder.load_state_dict(self._output_decoder_state())
        return net.eval()

    def export(self, path: Path) -> None:
        net = self.inference_network()
        params = asdict(self.cfg.model)
        config = {"task": "colorize", "family": "effunet", "generator": {"kind": "effunet", "params": params},
                  "image_size": self.meta["size"], "normalization": {"l_cent": color.L_CENT, "ab_norm": color.AB_NORM},
                  "training": {"step": self.step, "images_seen": self.step * self.cfg.batch_size, "cache_views": self.meta["views"],
                               "train_images": len(self.meta["files"]), "recipe": "frozen encoder, cached features"}}
        save_model_file(path, net.state_dict(), config)

    # ---- loop ----
    def log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def _val_files(self) -> list[Path]:
        if not self.cfg.val_data:
            return []
        from ..data import scan_folder

        files = scan_folder(self.cfg.val_data, colour_only=True, progress=False).usable
        return random.Random(0).sample(files, min(len(files), self.cfg.val_images))

    def validate(self) -> dict[str, float]:
        if not self.val_files:
            return {}
        from ..evaluate import evaluate_files
        from ..inference import Colorizer

        scores = evaluate_files(Colorizer(self.inference_network(), self.meta["size"]), self.val_files, 256, progress=False)["model"]
        return {f"val_{k}": v for k, v in scores.items()}

    def batch(self, rows: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
        rows = np.sort(rows)  # memory-mapped reads in order
        feats = [torch.from_numpy(np.ascontiguousarray(self.cache[k][rows])).float() for k in ("f4", "f8", "f16", "f32")]
        lab = torch.from_numpy(np.ascontiguousarray(self.cache["lab"][rows])).float()
        return feats, lab

    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))))

    def losses(self, feats: list[torch.Tensor], lab: torch.Tensor) -> dict[str, torch.Tensor]:
        l_small = color.normalize_l(lab[:, :1])
        ab = color.normalize_ab(lab[:, 1:])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16):
            reg, logits = self.decoder(feats, l_small)
        reg = reg.float()
        out = {"huber": F.smooth_l1_loss(reg, ab, beta=self.cfg.huber_beta)}
        if logits is not None:
            target = self.bins.nearest(lab[:, 1:])
            ce = F.cross_entropy(logits.float(), target, reduction="none")
            w = self.weights[target]
            out["ce"] = (ce * w).sum() / w.sum()  # rebalanced, normalised per batch
        out["loss"] = out["huber"] + self.cfg.cls_weight * out.get("ce", 0.0)
        return out

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.cfg.seed, epoch]).permutation(self.rows)

    def run(self) -> Path:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        from tqdm import tqdm

        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        metrics = open(self.run_dir / "metrics.jsonl", "a")
        per_epoch = self.rows // cfg.batch_size
        t0 = time.time()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="training decoder", unit="step", disable=self.quiet)
        self.decoder.train()
        running: dict[str, float] = {}
        seen, t_log = 0, time.time()
        try:
            while self.step < cfg.steps:
                epoch, pos = divmod(self.step, per_epoch)
                rows = self._order(epoch)[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]
                feats, lab = self.batch(rows)
                for g in self.opt.param_groups:
                    g["lr"] = self.lr_at(self.step)
                out = self.losses(feats, lab)
                if not torch.isfinite(out["loss"]):
                    raise TomauError(f"the loss became {out['loss'].item()} at step {self.step}; the last good state is kept in {self.run_dir} (try a lower --lr)")
                self.opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                self.opt.step()
                if self.ema is not None:
                    with torch.no_grad():
                        for k, v in self.decoder.state_dict().items():
                            if v.is_floating_point():
                                self.ema[k].mul_(cfg.ema).add_(v.detach(), alpha=1 - cfg.ema)
                            else:
                                self.ema[k].copy_(v)
                self.step += 1
                seen += len(rows)
                bar.update(1)
                for k, v in out.items():
                    running[k] = running.get(k, 0.0) + float(v.detach())
                if self.step % cfg.log_every == 0:
                    rec = {"step": self.step, **{k: v / cfg.log_every for k, v in running.items()},
                           "images_per_s": seen / (time.time() - t_log), "lr": self.lr_at(self.step)}
                    running, seen, t_log = {}, 0, time.time()
                    if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                        rec.update(self.validate())
                        self.save_state()
                    metrics.write(json.dumps(rec) + "\n")
                    metrics.flush()
                    bar.set_postfix(loss=f"{rec['loss']:.3f}", **({"psnr": f"{rec['val_psnr']:.2f}"} if "val_psnr" in rec else {}))
                elif self.step % cfg.ckpt_every == 0:
                    self.save_state()
                if stop["now"] or (cfg.max_minutes and time.time() - t0 > cfg.max_minutes * 60):
                    break
        finally:
            bar.close()
            metrics.close()
            for s, h in old.items():
                signal.signal(s, h)
        self.save_state()
        self.log(f"stopped at step {self.step}; state in {self.run_dir}")
        return self.run_dir
