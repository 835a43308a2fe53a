"""One training loop for every model family, through Hugging Face Accelerate.

A run folder holds:
    config.json          the resolved TrainConfig (family config included)
    state.safetensors    {config, step, nets, optimizers, ema, scaler, rng, rng_ranks}: every tensor as a safetensors
                         tensor, the structure and plain values as JSON in its header (no pickle: a run folder from
                         elsewhere cannot run code); every process's RNG state; --resume continues bit-exactly.
                         Run folders of tomau <= 0.3 hold checkpoint.pt instead, which still resumes.
    model.safetensors    the inference model (fp16 weights + JSON config), refreshed at each checkpoint
    metrics.jsonl        one JSON object per log step (losses, throughput, validation metrics)
    samples/step_*.png   grids of grey | output | truth on fixed images
    loss.png             loss curves

``accelerate launch -m tomau train ...`` runs the same code on several GPUs or nodes: the sampler
shards the data by process, gradients are averaged by Accelerate's DDP wrapper, and only the main
process writes files. The checkpoint is the trainer's own rather than ``Accelerator.save_state``: Accelerate
1.16 reloads registered objects (the EMA) with ``weights_only=False``, i.e. unpickles whatever the file holds,
and skips an RNG state it cannot read with only a log line, which would silently end exact resumes.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, default_collate

from ..data import ResumableSampler, scan_folder
from ..errors import TomauError
from ..images import write_atomic
from ..modelfile import load_model_file, load_state_checked, save_model_file
from .config import TrainConfig, fresh_train_config, load_run_config, next_run_dir, resumed_train_config  # noqa: F401
from .outputs import plot_losses, read_metrics, save_grid
from .registry import FAMILIES
from .state import ema_with_warmup, pack, rng_state, seed_all, set_rng_state, unpack


class _StopRequest:
    """Ctrl-C and SIGTERM during training: the first asks the loop to stop after the step it is in (so the checkpoint
    is of whole steps and --resume continues bit-exactly); a second one stops at once."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum


STATE_FILE = "state.safetensors"  # the run's training state (see the module docstring)
LEGACY_CHECKPOINT = "checkpoint.pt"  # tomau <= 0.3


def to_device(batch, device):
    """A batch (a tensor, or a dict / list of them) on the training device."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return [to_device(v, device) for v in batch]


def write_state(path: Path, ckpt: dict) -> None:
    """A checkpoint dict as one safetensors file, its structure as JSON in the header, written atomically."""
    from safetensors.torch import save as st_save

    tensors: dict[str, torch.Tensor] = {}
    skeleton = pack(ckpt, tensors)
    data = st_save(tensors, metadata={"tomau_state": json.dumps(skeleton)})
    write_atomic(path, lambda f: f.write(data))


def read_state(path: Path) -> dict:
    """The checkpoint dict :func:`write_state` wrote; one sentence if the file is damaged."""
    from safetensors import safe_open

    from ..files import check_regular, loads_json

    check_regular(path, "training state")  # a FIFO would block safetensors' open for ever
    try:
        with safe_open(str(path), "pt") as f:
            skeleton = loads_json(f.metadata()["tomau_state"], path)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return unpack(skeleton, tensors)
    except TomauError:
        raise
    except Exception as err:  # noqa: BLE001 - safetensors, JSON and key errors alike mean a damaged file
        raise TomauError(f"{path}: the training state is damaged or not a tomau state file ({type(err).__name__}: {err}); "
                         "start a new run with --init from the run's model.safetensors") from None


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False, quiet: bool = False, trust_checkpoint: bool = False):
        from accelerate import Accelerator

        self.cfg, self.run_dir, self.quiet, self.trust_checkpoint = cfg, run_dir, quiet, trust_checkpoint
        try:
            self.accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu)
        except ValueError:  # Accelerate keeps one state per process: a second run in the same process with another
            from accelerate.state import AcceleratorState  # --mixed-precision may replace it when it is alone

            if AcceleratorState().num_processes > 1:
                raise
            AcceleratorState._reset_state()
            self.accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu)
        acc = self.accelerator
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
        seed_all(cfg.seed)

        self.family = FAMILIES[cfg.family](cfg.model)
        report = scan_folder(cfg.data, cfg.max_images or None, progress=acc.is_main_process and not quiet,
                             colour_only=self.family.colour_only)
        self.log(f"data: {cfg.data}: {report.summary()}")
        self.dataset = self.family.make_dataset(report.usable, cfg.image_size, cfg.load_size or None)
        self.sampler = ResumableSampler(len(self.dataset), cfg.batch_size, cfg.seed, acc.num_processes, acc.process_index)
        self.loader = DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=self.sampler, num_workers=cfg.workers,
                                 drop_last=True, pin_memory=acc.device.type == "cuda", persistent_workers=False,
                                 generator=torch.Generator())  # its own seed draws must not shift the global RNG (exact resume)
        # fixed images for sample grids: the first 8, centre-cropped
        self.sample_batch = default_collate([self.dataset[i] for i in range(min(8, len(self.dataset)))])
        self.val_files = []
        if cfg.val_data:
            self.val_files = scan_folder(cfg.val_data, None, progress=False, colour_only=False).usable
            self.val_files = self.val_files[:: max(1, len(self.val_files) // cfg.val_images)][: cfg.val_images]

        self.step = 0
        self._saved_step = None  # the step of the last checkpoint this process wrote
        self._in_step = False  # between the start of a step and its end
        self._updated = False  # an optimizer stepped in this step: a checkpoint now would be of half a step
        self._stop = _StopRequest()
        self._ema_state = None
        self._scaler_state = None
        self.ckpt_path = run_dir / STATE_FILE
        if resume:
            from ..images import remove_stale_temps

            remove_stale_temps(run_dir, recursive=False)  # a kill during a checkpoint write leaves its temp file
            self._load_checkpoint()
        elif cfg.init:
            config, state = load_model_file(cfg.init)
            messages = self.family.init_from(state, cfg.init)
            steps = config.get("training", {}).get("steps")
            self.log(f"generator initialised from {cfg.init} ({config.get('family')}" + (f", trained {steps} steps)" if steps else ")"))
            for msg in messages:
                self.log(msg)
        else:
            for msg in self.family.init_fresh():
                self.log(msg)
        if not resume and acc.num_processes > 1:  # the replicas were built alike; from here each rank draws its own
            seed_all(cfg.seed + acc.process_index)  # noise (GAN z, dropout, cutouts). One process: unchanged

        self.ema = None
        if cfg.ema > 0:
            from torch.optim.swa_utils import AveragedModel

            self.ema = AveragedModel(self.family.nets["G"], avg_fn=ema_with_warmup(cfg.ema), use_buffers=True)
            if self._ema_state is not None:
                self.ema.load_state_dict(self._ema_state)
            self.ema.to(acc.device)

        if self._scaler_state is not None and getattr(acc, "scaler", None) is not None:
            acc.scaler.load_state_dict(self._scaler_state)  # fp16 runs resume with their loss scale
        names = list(self.family.nets)
        for opt in self.family.optimizers.values():  # the real optimizers, which Accelerate's wrappers call
            opt.register_step_post_hook(lambda *_: setattr(self, "_updated", True))
        prepared = acc.prepare(*[self.family.nets[n] for n in names], *[self.family.optimizers[n] for n in names])
        for i, n in enumerate(names):
            self.family.nets[n] = prepared[i]
            self.family.optimizers[n] = prepared[len(names) + i]

    # ---- logging ------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        """Messages for the user (kept with --quiet, which hides only the progress bar)."""
        if self.accelerator.is_main_process:
            from tqdm import tqdm

            from ..files import shown

            tqdm.write(shown(msg, lines=True))

    # ---- checkpoints --------------------------------------------------------------------------
    def _unwrapped(self, name: str) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.family.nets[name])

    def generator_for_output(self) -> torch.nn.Module:
        """The generator that samples, validation and the exported model use: the EMA one when enabled."""
        return self.ema.module if self.ema is not None else self._unwrapped("G")

    def _load_checkpoint(self) -> None:
        if self.ckpt_path.exists():
            ckpt = read_state(self.ckpt_path)
        else:
            ckpt = self._load_legacy_checkpoint(self.run_dir / LEGACY_CHECKPOINT)
            self.ckpt_path = self.run_dir / STATE_FILE  # the next checkpoint is written in today's format
        if not isinstance(ckpt, dict) or not {"nets", "optimizers", "step"} <= set(ckpt):
            raise TomauError(f"{self.run_dir}: the checkpoint lacks networks, optimizers or step; it was not written by this trainer")
        for name, net in self.family.nets.items():
            if name not in ckpt["nets"]:
                raise TomauError(f"{self.ckpt_path}: the checkpoint has no {name} network; it belongs to another kind of run")
            load_state_checked(net, ckpt["nets"][name], str(self.ckpt_path))
        try:
            for name, opt in self.family.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
            if not isinstance(ckpt["step"], int) or ckpt["step"] < 0:
                raise ValueError(f"step {ckpt['step']!r}")
        except (KeyError, TypeError, ValueError) as err:
            raise TomauError(f"{self.ckpt_path}: the optimizer state does not fit this run ({type(err).__name__}: {err}); "
                             f"start a new run with --init {self.run_dir / 'model.safetensors'}") from None
        self.step = ckpt["step"]
        self._ema_state = ckpt.get("ema")
        self._scaler_state = ckpt.get("scaler")
        ranks = ckpt.get("rng_ranks")  # one state per process (checkpoints before 0.3: the main process's only)
        acc = self.accelerator
        set_rng_state(ranks[acc.process_index] if ranks and len(ranks) == acc.num_processes else ckpt["rng"])
        self.log(f"resumed {self.run_dir} at step {self.step}")

    def _load_legacy_checkpoint(self, path: Path) -> dict:
        """A checkpoint.pt of tomau <= 0.3: tensors and plain values only (torch.load weights_only), unless trusted."""
        import pickle

        try:
            # weights_only: tensors, numbers, strings, lists and dicts only; a pickled object (which could run code) is refused
            from ..files import check_regular

            check_regular(path, "checkpoint")  # a FIFO would block the read for ever
            return torch.load(path, map_location="cpu", weights_only=not self.trust_checkpoint)
        except pickle.UnpicklingError:
            raise TomauError(f"{path}: the checkpoint holds pickled Python objects, which could run code, so it was not loaded; "
                             "if you made it yourself with an older tomau, resume with --trust-checkpoint") from None
        except Exception as err:  # noqa: BLE001
            raise TomauError(f"{path}: cannot read the checkpoint ({err})") from None

    def save_checkpoint(self) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.num_processes > 1:
            from accelerate.utils import gather_object

            rng_ranks = gather_object([rng_state()])  # every rank's, in rank order
        else:
            rng_ranks = [rng_state()]
        if not acc.is_main_process:
            return
        for name in self.family.nets:
            if not all(torch.isfinite(p).all() for p in self._unwrapped(name).parameters()):
                kept = self.ckpt_path if self.ckpt_path.exists() else "(none written yet)"
                raise TomauError(f"the {name} weights became NaN/inf at step {self.step}; the last good checkpoint {kept} is kept")
        ckpt = {
            "format": 1,
            "config": self.cfg.to_dict(),
            "step": self.step,
            "nets": {n: self._unwrapped(n).state_dict() for n in self.family.nets},
            "optimizers": {n: o.state_dict() for n, o in self.family.optimizers.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng_ranks[0],
            "rng_ranks": rng_ranks,
            "scaler": acc.scaler.state_dict() if getattr(acc, "scaler", None) is not None else None,  # fp16 loss scale
        }
        try:
            write_state(self.ckpt_path, ckpt)
        except (OSError, TomauError) as err:  # a full disk, a folder gone read-only: the last checkpoint is still whole
            kept = f"the last checkpoint ({self.ckpt_path}) is kept" if self.ckpt_path.exists() else "no checkpoint was written"
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise TomauError(f"the checkpoint of step {self.step} could not be written ({reason}); {kept}; "
                             "free some space (or make the run folder writable) and --resume") from None
        self._saved_step = self.step
        export = self.family.export_config(self.cfg.predict_size or self.cfg.image_size)
        export["training"] = {"steps": self.step, "data": self.cfg.data, "batch_size": self.cfg.batch_size * acc.num_processes}
        export["training"]["ema"] = self.cfg.ema
        save_model_file(self.run_dir / "model.safetensors", self.generator_for_output().state_dict(), export)

    # ---- the loop -----------------------------------------------------------------------------
    def validate(self) -> dict:
        g = self.generator_for_output()
        was_training = g.training
        scores = self.family.validate(g, self.val_files, self.cfg.predict_size or self.cfg.image_size, self.accelerator.device,
                                      self.cfg.val_metrics or None)
        g.train(was_training)
        return {f"val_{k}": round(v, 4) for k, v in scores.items()}

    def run(self) -> Path:
        # Ctrl-C, and the SIGTERM of `kill`, schedulers and containers, both stop with a checkpoint. SIGINT is
        # restored too: shells start background jobs with it ignored.
        previous = {}
        self._stop = _StopRequest()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._stop)
        try:
            return self._run()
        except KeyboardInterrupt:
            # no lost work: keep what the finished steps learned. After the first signal the loop stops between two
            # steps, so the checkpoint resumes bit-exactly. A second signal stops at once: after an optimizer of the
            # step has updated its network (some updated, others not) nothing is saved - the last checkpoint of whole
            # steps is kept; before any has, the finished steps are saved
            if self._in_step and self._updated:
                kept = f"the last checkpoint ({self.ckpt_path})" if self.ckpt_path.exists() else "no checkpoint (none was written yet)"
                self.log(f"interrupted in the middle of step {self.step + 1}: {kept} is kept; continue with --resume {self.run_dir}")
            elif self.step > 0:
                if self._saved_step != self.step:
                    self.save_checkpoint()
                self.log(f"interrupted: checkpoint saved at step {self.step}; continue with --resume {self.run_dir}")
            raise
        except RuntimeError as err:
            # a signal sent to the whole process group (kill -- -PGID, a container stop, pkill -f) can reach a
            # data-loading process first: PyTorch then raises here before the main process sees its own signal
            if "DataLoader worker" not in str(err):
                raise
            if self.step > 0:
                self.save_checkpoint()
            raise TomauError(f"a data-loading process stopped ({err}); "
                             + (f"checkpoint saved at step {self.step}; continue with --resume {self.run_dir}" if self.step > 0
                                else "no step had finished yet")) from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> Path:
        cfg, acc = self.cfg, self.accelerator
        per_epoch = self.sampler.batches_per_epoch
        metrics_path = self.run_dir / "metrics.jsonl"
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "samples").mkdir(exist_ok=True)
            write_atomic(self.run_dir / "config.json", lambda f: f.write(json.dumps(cfg.to_dict(), indent=2).encode()))
            if metrics_path.exists():  # drop lines logged after the checkpoint we resume from
                # (a half-written line from a kill is dropped too)
                keep = [r for r in read_metrics(metrics_path) if isinstance(r.get("step", 0), (int, float)) and r.get("step", 0) <= self.step]
                write_atomic(metrics_path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in keep).encode()))
        from ..progress import progress_bar

        bar = progress_bar(total=cfg.steps, initial=self.step, desc=f"train {cfg.family}", unit="step",
                           show=acc.is_main_process and not self.quiet, dynamic_ncols=True)
        sums: dict[str, torch.Tensor] = {}
        summed = 0
        t0, n0 = time.time(), self.step
        for net in self.family.nets.values():
            net.train()
        out_of_time = False
        while self.step < cfg.steps:
            epoch, start = divmod(self.step, per_epoch)
            self.sampler.set_position(epoch, start)
            for batch in self.loader:
                self._in_step, self._updated = True, False
                batch = to_device(batch, acc.device)
                self.family.adjust_lr(self.step, cfg.steps)
                losses = self.family.training_step(batch, acc)
                if self.ema is not None:
                    self.ema.update_parameters(self._unwrapped("G"))
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0) + v.float()
                summed += 1
                self.step += 1
                self._in_step = False
                bar.update(1)
                out_of_time = cfg.max_minutes > 0 and time.time() - t0 > cfg.max_minutes * 60
                last = self.step >= cfg.steps or out_of_time
                if self.step % cfg.log_every == 0 or last:
                    count = max(1, summed)  # the steps since the last log line (fewer right after a resume)
                    means = {k: float(v) / count for k, v in sums.items()}
                    sums, summed = {}, 0
                    bad = [k for k, v in means.items() if not math.isfinite(v)]
                    if bad:
                        kept = (f"the last good checkpoint {self.ckpt_path} is kept" if self.ckpt_path.exists()
                                else "no checkpoint had been written yet")
                        raise TomauError(f"the {', '.join(bad)} loss became NaN/inf near step {self.step}; training stopped and "
                                         f"{kept}; lower the learning rate or check the data")
                    rate = (self.step - n0) * cfg.batch_size * acc.num_processes / max(1e-9, time.time() - t0)
                    row = {"step": self.step, "epoch": round(self.step / per_epoch, 3), **{k: round(v, 5) for k, v in means.items()},
                           "img_per_s": round(rate, 1)}
                    bar.set_postfix({k: f"{v:.3f}" for k, v in means.items()})
                    if acc.is_main_process:
                        with open(metrics_path, "a") as f:
                            f.write(json.dumps(row) + "\n")
                if acc.is_main_process and (self.step % cfg.sample_every == 0 or last):
                    rows = self.family.visuals(to_device(self.sample_batch, acc.device), self.generator_for_output())
                    save_grid(rows, self.run_dir / "samples" / f"step_{self.step:07d}.png")
                if self.step % cfg.ckpt_every == 0 or last:
                    self.save_checkpoint()
                    if acc.is_main_process:
                        if self.val_files:
                            val = self.validate()
                            self.log(f"step {self.step}: " + ", ".join(f"{k} {v:.3f}" for k, v in val.items()))
                            with open(metrics_path, "a") as f:
                                f.write(json.dumps({"step": self.step, **val}) + "\n")
                        plot_losses(metrics_path, self.run_dir / "loss.png")
                if last:
                    break
                if self._stop.signal is not None:  # Ctrl-C or SIGTERM came during this step: stop between steps
                    raise KeyboardInterrupt
                if out_of_time:
                    self.log(f"stopped at step {self.step} after --max-minutes {cfg.max_minutes}; resume with --resume {self.run_dir}")
            if out_of_time:
                break
        bar.close()
        acc.wait_for_everyone()
        return self.run_dir


def train(cfg: TrainConfig, resume_dir: str | None = None, quiet: bool = False, trust_checkpoint: bool = False) -> Path:
    """Train (or resume) a run; returns the run folder. ``trust_checkpoint`` lets an old checkpoint with pickled
    objects load (only for run folders the user made: unpickling can run code)."""
    if resume_dir:
        run_dir = Path(resume_dir)
        if not (run_dir / STATE_FILE).exists() and not (run_dir / LEGACY_CHECKPOINT).exists():
            raise TomauError(f"{run_dir}: no {STATE_FILE} to resume from (is it a tomau run folder that reached its first checkpoint?)")
    else:
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list

        cfg.validate()
        state = PartialState(cpu=cfg.cpu)
        # the main process picks the run number; the others must use the same folder
        chosen = [str(next_run_dir(Path(cfg.out), cfg.family, cfg.name)) if state.is_main_process else None]
        if state.num_processes > 1:
            broadcast_object_list(chosen)
        run_dir = Path(chosen[0])
        if (run_dir / STATE_FILE).exists() or (run_dir / LEGACY_CHECKPOINT).exists():
            raise TomauError(f"{run_dir}: already holds a run; pass --resume {run_dir} to continue it or choose another --name")
    try:
        trainer = Trainer(cfg, run_dir, resume=bool(resume_dir), quiet=quiet, trust_checkpoint=trust_checkpoint)
    except BaseException:
        if not resume_dir and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # the numbered folder reserved for a run that could not start
        raise
    return trainer.run()


def train_from_flags(family, given: dict, quiet: bool = False, say=print) -> Path:
    """Train a new run of ``family`` (or resume ``given["resume"]``) from flag values; returns the run folder."""
    if given.get("resume"):
        cfg = resumed_train_config(family, given, say)
        return train(cfg, resume_dir=given["resume"], quiet=quiet, trust_checkpoint=bool(given.get("trust_checkpoint")))
    return train(fresh_train_config(family, given), quiet=quiet)
