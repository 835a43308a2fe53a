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
    from .files import shown

    print(shown(msg, lines=True), file=sys.stderr)


def failure(err: Exception, target: Path, source: Path | None = None, what: str = "colourised") -> str:
    """One line for a file that failed: the TomauError's sentence, why the result could not be written, or - for an
    error nobody foresaw - what it was, naming the input (the batch goes on)."""
    if isinstance(err, TomauError):
        return f"error: {err}"
    if isinstance(err, OSError):
        return f"error: {target}: cannot write the result ({getattr(err, 'strerror', None) or err})"
    return f"error: {source or target}: could not be {what} ({type(err).__name__}: {str(err).strip() or 'no message'})"


@dataclass
class Target:
    """Where one input's result goes, decided before any work (``plan_targets``)."""

    source: Path
    rel: Path
    path: Path  # the result (with ``samples``: NAME_00 ... are made from it by ``paths``)

    def paths(self, samples: int | None = None) -> list[Path]:
        p = self.path
        return [p.with_name(f"{p.stem}_{k:02d}{p.suffix}") for k in range(samples)] if samples else [p]


def _peek(path: Path) -> tuple[str | None, bool]:
    """(Pillow format, has alpha) from the header alone; the suffix's format where the file cannot be opened (its
    own error comes when it is read)."""
    from .images import _FORMAT_BY_SUFFIX, open_image

    try:
        with open_image(path, None) as im:
            alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)
            return im.format, alpha
    except Exception:  # noqa: BLE001 - unreadable: named by its suffix here, refused in one line when it is read
        return _FORMAT_BY_SUFFIX.get(path.suffix.lower()), False


def plan_targets(pairs: list[tuple[Path, Path]], outdir: Path, result_format: str | None = None,
                 samples: int | None = None) -> tuple[list[Target], list[str]]:
    """Every input's result path, decided before any work by the result's real name: the format read from the
    file's header (a GIF named ``a.jpg`` gives ``a.png``), PNG for every input with ``result_format="PNG"``
    (translate), ``output_name`` for films. Results never land on an input (``_color``); two inputs whose
    results would share a name (compared case-insensitively, as some disks do) - ``d1/a.jpg`` and ``d2/a.jpg``,
    ``a.gif`` and ``a.png`` - give the later one ``_2``, ``_3`` ...; one note each. Returns (targets, notes)."""
    from .images import output_path
    from .video import is_video, output_name

    protected = {f.resolve() for f, _ in pairs}
    taken: dict[str, Path] = {}
    targets, notes = [], []

    def keys(t: Target) -> list[str]:
        return [str(p.resolve()).lower() for p in t.paths(samples)]

    for f, rel in pairs:
        if is_video(f):
            path = outdir / output_name(rel)
            if path.resolve() in protected:
                path = path.with_name(f"{path.stem}_color{path.suffix}")
        else:
            fmt, alpha = (result_format, False) if result_format else _peek(f)
            path = output_path(outdir, rel, fmt, alpha, protected)
        target, n = Target(f, rel, path), 1
        while any(k in taken for k in keys(target)) or any(p.resolve() in protected for p in target.paths(samples)):
            n += 1
            target = Target(f, rel, path.with_name(f"{path.stem}_{n}{path.suffix}"))
        if n > 1:
            other = next((taken[k] for k in keys(Target(f, rel, path)) if k in taken), None)
            notes.append(f"note: {f} would be written under the same name as {other or 'an input'}; its result is named {target.path}")
        for k in keys(target):
            taken[k] = f
        targets.append(target)
    return targets, notes


def existing_results(targets: list[Target], samples: int | None = None) -> list[Path]:
    """Results that are already on disk (for --skip-existing, or to refuse a run that would replace them)."""
    return [p for t in targets for p in t.paths(samples) if p.exists()]


def refuse_existing(targets: list[Target], samples: int | None, overwrite: bool, skip_existing: bool) -> None:
    """One sentence, before any work, when results would replace files already there that this run did not write."""
    if overwrite or skip_existing:  # --skip-existing keeps every result that is there and writes the missing ones
        return
    there = existing_results(targets, samples)
    if there:
        first = ", ".join(str(p) for p in there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
        raise TomauError(f"{first} already exist{'s' if len(there) == 1 else ''} and would be replaced; pass --overwrite "
                         "to replace, --skip-existing to keep them (or choose another -o folder)")


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
        lost = sorted((img.info or {}).keys() & {"icc_profile", "exif", "dpi"}) if deep[k] else []
        if lost and not (streaming and _streams_16_bits(img, results[k][0])):
            names = {"icc_profile": "ICC profile", "exif": "EXIF", "dpi": "DPI"}
            say(f"note: {img.path}: the 16-bit result keeps 16 bits per channel but not the input's "
                f"{' or '.join(names[n] for n in lost)} (OpenCV writes none of them); its values stay in the input's colour space")
    return results


def _streams_16_bits(img, result) -> bool:
    """True where libvips writes this 16-bit result (it then keeps the ICC profile, DPI and EXIF): as save_image
    decides - libvips installed, a result above STREAM_PIXELS, no alpha, and no EXIF for a TIFF."""
    from .images import STREAM_PIXELS, _vips

    h, w = result.shape[:2]
    tiff_exif = img.format == "TIFF" and (img.info or {}).get("exif")
    return img.alpha is None and h * w > STREAM_PIXELS and not tiff_exif and _vips() is not None


def colorize_photos(files: list[tuple[Path, Path]] | list[Target], outdir: Path, model, batch_size: int = 8,
                    max_pixels: int | None = None, samples: int | None = None, seed: int = 0,
                    reference: np.ndarray | None = None, reference_method: str = "stats", skip_existing: bool = False,
                    quiet: bool = False, say=_stderr, on_result=None, overwrite: bool = False) -> Counts:
    """Colourise photos into ``outdir``: (path, relative path) pairs, or the :class:`Target` s of ``plan_targets``;
    results of the same format, NAME_00 ... with ``samples``. Every step of a file (reading, colouring, writing)
    is guarded: a file that fails is one line naming it, and the batch goes on. ``on_result(target, status, line)``
    (optional) hears each file's outcome: "done", "skipped", or "failed" with its error line (tomau.archive's manifest).
    A result never replaces a file that is already there unless ``overwrite`` (one that appeared while the run worked,
    another run's, say: the result takes the next free name, with a note)."""
    from .images import load_image, save_image
    from .progress import progress_bar

    if files and not isinstance(files[0], Target):
        files, notes = plan_targets(files, outdir, samples=samples)
        for note in notes:
            say(note)
    counts, colour_seen = Counts(), False
    bar = progress_bar(total=len(files), unit="img", desc="colourising", show=len(files) >= 2 and not quiet)
    pending: list[tuple[Target, object]] = []

    def report(msg: str) -> None:  # through the bar when it is shown, so lines do not tear it
        if quiet and msg.startswith("note:"):  # -q: errors only
            return
        if bar.disable:
            say(msg)
        else:
            from .files import shown

            bar.write(shown(msg, lines=True), file=sys.stderr)

    def colour(batch):
        """Colourings of a batch; if the batch fails, each image alone, so one bad image fails only itself."""
        try:
            return colorings(model, [img for _, img in batch], samples, seed, reference, reference_method, batch_size,
                             report, streamed=True)
        except Exception:  # noqa: BLE001 - found again, and named, below
            if len(batch) == 1:
                raise
        results = []
        for item in batch:
            try:
                results.append(colour([item])[0])
            except Exception as err:  # noqa: BLE001 - one line naming the file, the batch goes on
                results.append(err)
        return results

    def flush():
        if not pending:
            return
        try:
            results = colour(pending)
        except Exception as err:  # noqa: BLE001 - a batch of one that failed
            results = [err]
        for (target, img), outs in zip(pending, results):
            try:
                if isinstance(outs, Exception):
                    raise outs
                shown = None
                for path, out in zip(target.paths(samples), outs):  # name_00, name_01 ... most likely first
                    if not (skip_existing and path.exists()):
                        written = save_image(path, out, img.alpha, info=img.info, replace=overwrite)
                        shown = shown or written
                        if written != path:
                            report(f"note: {path} appeared while this run worked (another run's?); this result is named {written}")
                counts.done += 1
                if on_result:
                    on_result(target, "done", None)
                if not quiet and len(files) < 2:
                    shown = (shown or target.path) if not samples else target.path.with_name(f"{target.path.stem}_NN{target.path.suffix}")
                    say(f"{img.path} -> {shown}")
            except Exception as err:  # noqa: BLE001 - TomauError, a write error, or one nobody foresaw: one line
                report(failure(err, target.path, target.source))
                counts.failed += 1
                if on_result:
                    on_result(target, "failed", failure(err, target.path, target.source))
        bar.update(len(pending))
        pending.clear()

    for target in files:
        path = target.source
        if skip_existing and all(p.exists() for p in target.paths(samples)):
            counts.skipped += 1  # written atomically by an earlier run, so complete
            if on_result:
                on_result(target, "skipped", None)
            bar.update(1)
            continue
        try:
            img = load_image(path, max_pixels)
        except Exception as err:  # noqa: BLE001 - TomauError's sentence, or an unforeseen error named by file
            report(failure(err, target.path, path) if not isinstance(err, OSError)
                   else f"error: {path}: cannot read the file ({err.strerror or err})")
            counts.failed += 1
            if on_result:
                on_result(target, "failed", failure(err, target.path, path) if not isinstance(err, OSError)
                          else f"error: {path}: cannot read the file ({err.strerror or err})")
            bar.update(1)
            continue
        if img.frames > 1:
            kind = "pages" if img.format == "TIFF" else "frames"
            report(f"note: {path} has {img.frames} {kind}; only the first is colourised (the other {img.frames - 1} are not in the result)")
        if img.is_colour and not colour_seen:
            colour_seen = True
            report(f"note: {path} already has colour (a tint or a colour photo); it is colourised from its lightness (L) alone")
        pending.append((target, img))
        # big images are done one at a time to bound memory; small ones in batches
        if len(pending) >= batch_size or img.pixels.shape[0] * img.pixels.shape[1] > 4_000_000:
            flush()
    flush()
    bar.close()
    return counts


def colorize_films(videos: list[tuple[Path, Path]] | list[Target], outdir: Path, model, smoothing: float = 0.95,
                   batch_size: int = 8, quiet: bool = False, say=_stderr, skip_existing: bool = False,
                   overwrite: bool = False, hints: dict | None = None) -> Counts:
    """Colourise films into ``outdir`` ((path, relative path) pairs or :class:`Target` s): audio, frame rate and
    duration kept. A film that fails, for any reason, is one line naming it; the others go on. A result never
    replaces a file already there unless ``overwrite`` (as :func:`colorize_photos`). ``hints``: keyframe points
    carried through the shots (tomau.video.colorize_video)."""
    from .progress import progress_bar
    from .video import colorize_video

    if videos and not isinstance(videos[0], Target):
        videos, _ = plan_targets(videos, outdir)
    counts = Counts()
    for t in videos:
        path, target = t.source, t.path
        if skip_existing and target.exists():
            counts.skipped += 1
            continue
        try:
            bars = []  # made at the first frame, once the film has been opened and its length is known

            def progress(n, total):
                if not bars:
                    from .files import shown

                    bars.append(progress_bar(total=total, unit="frame", desc=shown(path.name), show=not quiet))
                bars[0].total = total
                bars[0].update(n - bars[0].n)

            try:
                info = colorize_video(path, target, model, smoothing=smoothing, batch_size=batch_size, progress=progress,
                                      replace=overwrite, hints=hints)
            finally:
                for bar in bars:
                    bar.close()
            if info.path is not None and info.path != target:
                say(f"note: {target} appeared while this run worked (another run's?); this film is named {info.path}")
                target = info.path
            if info.damaged:
                say(f"note: {path}: {info.damaged} damaged packets could not be decoded and were skipped")
            counts.done += 1
            if not quiet:
                say(f"{path} -> {target} ({info.width}x{info.height}, {float(info.fps):.3g} fps, {info.duration:.1f} s"
                    f"{', audio kept' if info.has_audio else ''})")
        except Exception as err:  # noqa: BLE001 - TomauError, a write error, or one nobody foresaw: one line
            say(failure(err, target, path))
            counts.failed += 1
    return counts
