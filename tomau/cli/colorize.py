"""``tomau colorize``: photos and films (the loops are tomau.batch's)."""
from __future__ import annotations

from pathlib import Path

from ..errors import TomauError
from .common import MAX_THREADS, at_least, between, command, quiet, say, seed


def add_parser(sub) -> None:
    from ..backends import BACKENDS, DEFAULT_BACKEND
    from ..images import DEFAULT_MAX_PIXELS
    from ..modelfile import DEFAULT_MODEL
    from ..reference import METHODS

    c = command(sub, "colorize", "tomau colorize old.jpg scans/ -o coloured/ --skip-existing", "colourise photos and films",
                aliases=["colourise", "colorise"])
    c.add_argument("inputs", nargs="*", help="image or video files, folders (recursive) or glob patterns")
    c.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    c.add_argument("-m", "--model", default=DEFAULT_MODEL, help=f"bundled model name, .safetensors file or run folder (default: {DEFAULT_MODEL})")
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default: cpu)")
    c.add_argument("--batch-size", type=at_least(1), default=8, help="images per model call (default: 8)")
    c.add_argument("--max-pixels", type=at_least(0, int, 10**12), default=DEFAULT_MAX_PIXELS,
                   help="refuse larger images; 0 = no limit (default: 100 MP)")
    c.add_argument("--threads", type=at_least(0, int, MAX_THREADS), default=0, help="CPU threads (default: one per core)")
    c.add_argument("--backend", choices=BACKENDS, default=None, help=f"where the network runs: torch, or onnxruntime on the CPU "
                   f"(the graph is exported and cached on first use); default: {DEFAULT_BACKEND} on the CPU, torch on a GPU")
    c.add_argument("--samples", type=at_least(1, int, 1000), help="diverse models: write N colourings per photo, NAME_00 (most likely) ... NAME_NN")
    c.add_argument("--seed", type=seed, default=0, help="random seed for sampled colourings (default: 0)")
    c.add_argument("--temporal-smoothing", type=between(0, 1, high_open=True), default=0.95, metavar="S",
                   help="films: weight of the motion-compensated previous frame's colours, 0 = off (default: 0.95)")
    c.add_argument("--mix", type=between(0, 1), help="fidelity-to-vividness dial of the default (effunet) models: share of "
                   "the 313-bin classification head's colours, 0 = regression only (faithful, muted) ... 1 (vivid); default: the model's")
    c.add_argument("--temperature", type=between(0.01, 10), help="annealed-mean temperature of that head: lower = more vivid "
                   "(Zhang et al. use 0.38); default: the model's")
    c.add_argument("--reference", metavar="REF", help="take the colours from this colour photo of a similar scene")
    c.add_argument("--reference-method", choices=METHODS, default="stats",
                   help="stats: the model colourises, then its palette is moved to the reference's (default); "
                        "welsh: match pixels by lightness and texture (Welsh et al. 2002), no model; "
                        "best when the reference is a coloured copy of the same picture (a hand-tinted print)")
    c.add_argument("--hints", metavar="CSV", help="a film's colour points: CSV with the header frame,x,y,color (frames from 0, "
                   "pixels of the frame, #rrggbb); each keyframe's points follow the shot by optical flow into the hints "
                   "network (an effunet model: the default)")
    c.add_argument("--keyframe", metavar="N=PNG", action="append", help="frame N coloured by hand (an image of the frame): "
                   "its colours, on a 12x12 grid of points, follow the shot as --hints do (repeatable)")
    c.add_argument("--skip-existing", action="store_true",
                   help="photos whose result is already in the output folder are skipped: a rerun finishes an interrupted batch")
    c.add_argument("--overwrite", action="store_true",
                   help="replace files already in the output folder under a result's name (else the run is refused before any work)")
    c.add_argument("--files-from", metavar="LIST", help="also the files listed in LIST, one path a line (relative ones "
                   "from LIST's folder; - = standard input); results keep their paths below the folder they share")
    c.add_argument("--shard", metavar="K/N", help="colourise only the K-th of N parts of the inputs (K from 0), for job "
                   "arrays: the parts never overlap, and each names its results as one run over all of them would")
    c.add_argument("--engine", choices=("local", "ray"), default="local", help="local: this process (default); ray: a Ray "
                   "Data pipeline on the cluster at $RAY_ADDRESS or on this machine, sources and -o may be s3://, gs:// "
                   "..., with a manifest in -o so a rerun resumes (pip install 'tomau[ray]')")
    c.add_argument("--workers", type=at_least(1), help="--engine ray: model copies (actors); default: one per GPU with "
                   "--device cuda, else one per CPU")
    quiet(c)
    c.add_argument("-v", "--verbose", action="store_true", help="--engine ray: also Ray's own start-up messages")
    c.set_defaults(func=cmd_colorize)


def cmd_colorize(args) -> int:
    """Photos, then films; exit code 0 = all done, 3 = some failed, 2 = nothing done (or nothing to do, bad usage)."""
    from ..batch import plan_targets, refuse_existing
    from ..fullres import set_cpu_threads
    from ..images import collect_inputs, make_output_dir, without_own_outputs
    from ..video import is_video

    if args.threads:
        set_cpu_threads(args.threads)
    if args.engine == "ray":  # tomau.archive: the same rules, on Ray Data
        from ..archive import cmd_ray

        return cmd_ray(args, say)
    notes: list[str] = []
    files, errors = collect_inputs(args.inputs, notes)
    if args.files_from or args.shard:
        from ..archive import with_list_and_shard

        files, errors = with_list_and_shard(files, errors, args.files_from, args.shard)
    for e in errors:
        say(f"error: {e}")
    for note in notes:
        say(note)
    if not files:
        say("nothing to colourise" if errors else "error: nothing to colourise")  # the errors above said why
        return 2
    make_output_dir(args.output)  # writable? checked before the first image
    files, dropped = without_own_outputs(files, Path(args.output))
    if dropped and not args.quiet:
        say(f"note: {dropped} files in {args.output} are results of an earlier run (not inputs); left alone")
    if not files:
        say("error: nothing to colourise")
        return 2
    targets, notes = plan_targets(files, Path(args.output), samples=args.samples)
    videos = [t for t in targets if is_video(t.source)]
    photos = [t for t in targets if not is_video(t.source)]
    if videos and (args.samples is not None or args.reference):
        raise TomauError("--samples and --reference apply to photos, not films; colourise the films in another command")
    if (args.hints or args.keyframe) and (photos or len(videos) != 1):
        raise TomauError("--hints and --keyframe belong to one film: give that film alone")
    refuse_existing(photos, args.samples, args.overwrite, args.skip_existing)
    refuse_existing(videos, None, args.overwrite, args.skip_existing)
    for note in notes:
        say(note)
    codes = [_photos(args, photos, len(errors))] if photos else []
    codes += [_films(args, videos, 0 if photos else len(errors))] if videos else []
    return codes[0] if len(set(codes)) == 1 else 3


def _model(args):
    from ..pipeline import load

    return load(args.model, "colorize", device=args.device, mix=args.mix, temperature=args.temperature, backend=args.backend,
                say=None if args.quiet else say)


def _photos(args, files, failed_before: int) -> int:
    from ..batch import colorize_photos
    from ..images import load_image, make_output_dir

    max_pixels = args.max_pixels or None
    reference = None
    if args.reference:
        if args.samples is not None:
            raise TomauError("--reference gives one colouring per photo; use either --samples or --reference")
        reference = load_image(args.reference, max_pixels).rgb
    outdir = make_output_dir(args.output)
    model = _model(args)
    if args.samples is not None:
        model.check_samples(args.samples)  # before any image is read
    counts = colorize_photos(files, outdir, model, batch_size=args.batch_size, max_pixels=max_pixels, samples=args.samples,
                             seed=args.seed, reference=reference, reference_method=args.reference_method,
                             skip_existing=args.skip_existing, quiet=args.quiet, say=say, overwrite=args.overwrite)
    counts.failed += failed_before
    if not args.quiet or counts.failed:
        say(f"{counts.done} colourised, {counts.failed} failed"
            + (f", {counts.skipped} already done (--skip-existing)" if counts.skipped else "")
            + (f"; results in {outdir}" if counts.done else ""))
    return counts.exit_code()


def _keyframes(args, film: Path) -> dict:
    """--hints and --keyframe: frame number -> points in the frame's pixels."""
    from ..guided import Point, points_from_colour_frame, read_keyframe_points
    from ..images import load_image
    from ..video import probe

    keyframes = read_keyframe_points(args.hints) if args.hints else {}
    width, height = probe(film).upright_size
    for given in args.keyframe or []:
        frame, _, image = given.partition("=")
        if not frame.strip().isdigit() or not image:
            raise TomauError(f"--keyframe {given!r}: write it as N=coloured.png, N the frame's number from 0")
        rgb = (load_image(image).rgb * 255 + 0.5).astype("uint8")
        sx, sy = width / rgb.shape[1], height / rgb.shape[0]  # a keyframe coloured at another size: its places scaled
        keyframes.setdefault(int(frame), []).extend(Point(p.x * sx, p.y * sy, p.color) for p in points_from_colour_frame(rgb))
    return keyframes


def _films(args, videos, failed_before: int) -> int:
    from ..batch import colorize_films
    from ..images import make_output_dir

    outdir = make_output_dir(args.output)
    hints = _keyframes(args, videos[0].source) if args.hints or args.keyframe else None
    if hints is not None:
        from ..inference import load_model

        model = load_model(args.model, args.device, backend="torch")  # the hints go through the PyTorch network's features
    else:
        model = _model(args)
    counts = colorize_films(videos, outdir, model, smoothing=args.temporal_smoothing, batch_size=args.batch_size,
                            quiet=args.quiet, say=say, skip_existing=args.skip_existing, overwrite=args.overwrite,
                            hints=hints)
    counts.failed += failed_before
    films = "film" if counts.done == 1 else "films"
    say(f"{counts.done} {films} colourised, {counts.failed} failed" + (f"; results in {outdir}" if counts.done else ""))
    return counts.exit_code()
