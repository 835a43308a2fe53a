"""Folders of photos and films in, colourised files out: the batch loops the command line and the web page share.

``colorings`` turns a list of photos into their colourings (one, N diverse ones, or a reference photo's palette);
``colorize_photos`` and ``colorize_films`` add reading, writing, skipping and per-file errors. Messages go to
``say`` (one line each); the functions return counts, the caller decides what they mean.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TomauError


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def failure(err: Exception, target: Path) -> str:
    """One line for a file that failed: the TomauError's sentence, or why the result could not be written."""
    if isinstance(err, TomauError):
        return f"error: {err}"
    return f"error: {target}: cannot write the result ({getattr(err, 'strerror', None) or err})"


@dataclass
class Counts:
    done: int = 0
    failed: int = 0
    skipped: int = 0

    def exit_code(self) -> int:
        """0 = all done, 3 = some failed, 2 = none done."""
        return 0 if self.failed == 0 else (2 if self.done + self.skipped == 0 else 3)


def colorings(model, images: list, samples: int | None = None, seed: int = 0, reference: np.ndarray | None = None,
              reference_method: str = "stats", batch_size: int = 8, say=_stderr, keep_16_bits: bool = True,
              streamed: bool = False) -> list[list[np.ndarray]]:
    """uint8 results for tomau.images.LoadedImage-like objects (``.pixels``, ``.bits``): per image a list of one
    colouring, or of ``samples`` diverse ones (most likely first), or one with ``reference``'s colours. 16-bit scans
    give 16-bit results (``keep_16_bits``). With ``streamed``, a plain colouring is a tomau.images.Strips (made
    as save_image writes it)."""
    pixels = [img.pixels for img in images]
    if samples:
        return model.sample_arrays(pixels, samples, seed, batch_size=batch_size)
    if reference is not None:
        from .reference import colorize_from_reference, needs_model

        model_rgbs = model.colorize_arrays(pixels, batch_size) if needs_model(reference_method) else [None] * len(images)
        return [[colorize_from_reference(img.rgb, reference, reference_method, m)] for img, m in zip(images, model_rgbs)]
    deep = [keep_16_bits and getattr(img, "bits", 8) == 16 for img in images]
    streaming = streamed and hasattr(model, "strips")
    make = model.strips if streaming else model.colorize_arrays
    results = [[None] for _ in images]
    for dtype in (np.uint8, np.uint16):  # 16-bit scans keep 16 bits per channel
        todo = [k for k in range(len(images)) if deep[k] == (dtype == np.uint16)]
        if todo:
            outs = make([pixels[k] for k in todo], batch_size=batch_size, **({"dtype": dtype} if dtype == np.uint16 else {}))
            for k, out in zip(todo, outs):
                results[k] = [out]
    for k, img in enumerate(images):
        if deep[k] and not (streaming and _streams_16_bits()):
            if (img.info or {}).keys() & {"icc_profile", "exif"}:
                say(f"note: {img.path}: the 16-bit result keeps 16 bits per channel but not the input's ICC profile "
                    "or EXIF (OpenCV writes neither); its values stay in the input's colour space")
    return results


def _streams_16_bits() -> bool:
    """True where libvips writes the results (16-bit PNG / TIFF then keep the ICC profile and EXIF)."""
    from .images import _vips

    return _vips() is not None


def colorize_photos(files: list[tuple[Path, Path]], outdir: Path, model, batch_size: int = 8, max_pixels: int | None = None,
                    samples: int | None = None, seed: int = 0, reference: np.ndarray | None = None,
                    reference_method: str = "stats", skip_existing: bool = False, quiet: bool = False,
                    say=_stderr) -> Counts:
    """Colourise (path, relative path) photos into ``outdir``; results of the same format, NAME_00 ... with ``samples``."""
    from tqdm import tqdm

    from .images import expected_output, load_image, output_path, save_image

    protected = {f.resolve() for f, _ in files}
    counts, colour_seen = Counts(), False
    bar = tqdm(total=len(files), unit="img", desc="colourising", disable=len(files) < 2 or quiet)
    pending = []

    def report(msg: str) -> None:  # through the bar when it is shown, so lines do not tear it
        if bar.disable:
            say(msg)
        else:
            bar.write(msg, file=sys.stderr)

    def flush():
        if not pending:
            return
        results = colorings(model, [img for _, img in pending], samples, seed, reference, reference_method, batch_size, report,
                            streamed=True)
        for (rel, img), outs in zip(pending, results):
            target = output_path(outdir, rel, img.format, img.alpha is not None, protected)
            try:
                for k, out in enumerate(outs):  # name_00, name_01 ... most likely first
                    path = target.with_name(f"{target.stem}_{k:02d}{target.suffix}") if samples else target
                    save_image(path, out, img.alpha, info=img.info)
                counts.done += 1
                if not quiet and len(files) < 2:
                    say(f"{img.path} -> {target if not samples else target.parent / (target.stem + '_NN' + target.suffix)}")
            except (TomauError, OSError) as err:
                report(failure(err, target))
                counts.failed += 1
        bar.update(len(pending))
        pending.clear()

    for path, rel in files:
        if skip_existing and expected_output(outdir, rel, protected).exists():
            counts.skipped += 1  # written atomically by an earlier run, so complete
            bar.update(1)
            continue
        try:
            img = load_image(path, max_pixels)
        except TomauError as err:
            report(f"error: {err}")
            counts.failed += 1
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
        if len(pending) >= batch_size or img.pixels.shape[0] * img.pixels.shape[1] > 4_000_000:
            flush()
    flush()
    bar.close()
    return counts


def colorize_films(videos: list[tuple[Path, Path]], outdir: Path, model, smoothing: float = 0.95, batch_size: int = 8,
                   quiet: bool = False, say=_stderr) -> Counts:
    """Colourise (path, relative path) films into ``outdir``: audio, frame rate and duration kept."""
    from tqdm import tqdm

    from .video import colorize_video, output_name

    protected = {f.resolve() for f, _ in videos}
    counts = Counts()
    for path, rel in videos:
        target = outdir / output_name(rel)
        if target.resolve() in protected:
            target = target.with_name(f"{target.stem}_color{target.suffix}")
        try:
            bars = []  # made at the first frame, once the film has been opened and its length is known

            def progress(n, total):
                if not bars:
                    bars.append(tqdm(total=total, unit="frame", desc=path.name, disable=quiet))
                bars[0].total = total
                bars[0].update(n - bars[0].n)

            try:
                info = colorize_video(path, target, model, smoothing=smoothing, batch_size=batch_size, progress=progress)
            finally:
                for bar in bars:
                    bar.close()
            if info.damaged:
                say(f"note: {path}: {info.damaged} damaged packets could not be decoded and were skipped")
            counts.done += 1
            if not quiet:
                say(f"{path} -> {target} ({info.width}x{info.height}, {float(info.fps):.3g} fps, {info.duration:.1f} s"
                    f"{', audio kept' if info.has_audio else ''})")
        except (TomauError, OSError) as err:
            say(failure(err, target))
            counts.failed += 1
    return counts
