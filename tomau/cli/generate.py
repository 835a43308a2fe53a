"""``tomau generate``, ``fid``, ``swd``, ``translate``: the generators, their scores, the translators."""
from __future__ import annotations

from ..errors import TomauError
from .common import MAX_THREADS, at_least, command, quiet, say, seed

# how tomau.data.SquareImageFolder makes an image square (its FITS; tests/test_startup.py keeps the two equal)
FIT_WORDS = {"pad": "padded with black to a square", "stretch": "stretched to a square", "crop": "cropped to the centre square"}


def add_parser(sub) -> None:
    g = command(sub, "generate", "tomau generate -m flowers_gan -n 64 -o flowers/",
                "sample images from an unconditional GAN (tomau train gan)")
    g.add_argument("--model", "-m", required=True, help="model file or run folder")
    g.add_argument("-n", "--num", "--n", dest="n", type=at_least(1, int, 10_000_000), default=64, help="number of images (default: 64)")
    g.add_argument("-o", "--output", required=True, help="output folder: 00000.png, 00001.png, ...")
    g.add_argument("--seed", type=seed, default=0, help="image i of a seed is always the same picture (default: 0)")
    g.add_argument("--batch-size", type=at_least(1), default=256)
    g.add_argument("--device", default="cpu")
    g.add_argument("--overwrite", action="store_true", help="replace files already in the output folder under an image's name")
    quiet(g)
    g.set_defaults(func=cmd_generate)

    f = command(sub, "fid", "tomau fid real/ fakes/ --weights pt_inception-2015-12-05-6726825d.pth",
                "Frechet Inception distance between two image folders (needs the published Inception weights)")
    f.add_argument("a", help="folder of images or .npz statistics")
    f.add_argument("b", nargs="?", help="folder of images or .npz statistics")
    f.add_argument("--weights", help="pt_inception-2015-12-05-6726825d.pth: a file or URL (default: the cached file)")
    f.add_argument("--download", action="store_true", help="without --weights and no cached file: download the official file once (92 MB)")
    f.add_argument("--save-stats", metavar="FILE.npz", help="write the statistics of A to this file")
    f.add_argument("--batch-size", type=at_least(1), default=50)
    f.add_argument("--device", default="cpu")
    f.add_argument("--threads", type=at_least(0, int, MAX_THREADS), default=0)
    quiet(f)
    f.set_defaults(func=cmd_fid)

    w = command(sub, "swd", "tomau swd flowers/ fakes/ -m flowers_gan",
                "sliced Wasserstein distance between two image folders (no downloaded weights)",
                description="Both folders' images are made squares of one side first, as a GAN's training images were: "
                            "padded with black to a square (pad, tomau train gan's default), stretched, or cropped to "
                            "the centre square. With -m, the side and the fit are the model's own (its image_size and "
                            "data_fit); the result line says which were used.")
    w.add_argument("a", help="folder of real images")
    w.add_argument("b", help="folder of generated images (tomau generate)")
    w.add_argument("-m", "--model", help="the generator the images come from: its image size and fit are used")
    w.add_argument("--size", type=at_least(8, int, 1024), help="the squares' side (default: the model's image size, else 64)")
    w.add_argument("--fit", choices=list(FIT_WORDS), help="how an image becomes a square (default: the model's "
                   "data_fit, else pad)")
    w.add_argument("--max-images", type=at_least(0), default=0, help="at most this many images per folder, spread over "
                   "the sorted listing (default: all)")
    w.add_argument("--seed", type=seed, default=0)
    quiet(w)
    w.set_defaults(func=cmd_swd)

    x = command(sub, "translate", "tomau translate -m runs/maps ../shared/data/maps/val --paired -o maps_out/",
                "translate images with a paired model (tomau train translate)")
    x.add_argument("-m", "--model", help="the translator: bundled name, model file or run folder (required)")
    x.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    x.add_argument("-o", "--output", required=True, help="output folder (PNG files)")
    x.add_argument("--paired", action="store_true", help="inputs are A|B pair files: translate their input half")
    x.add_argument("--device", default="cpu")
    x.add_argument("--overwrite", action="store_true", help="replace files already in the output folder under a result's name")
    quiet(x)
    x.set_defaults(func=cmd_translate)


def cmd_generate(args) -> int:
    from ..generation import write_generated

    paths = write_generated(args.model, args.n, args.output, args.seed, args.device, args.batch_size, progress=not args.quiet,
                            overwrite=args.overwrite)
    say(f"wrote {len(paths)} images to {args.output}")
    return 0


def cmd_fid(args) -> int:
    import torch

    from ..metrics.fid import fid, folder_statistics, load_fid_inception, save_statistics

    if args.threads:
        torch.set_num_threads(args.threads)
    from pathlib import Path

    stats_only = Path(args.a).suffix == ".npz" and args.b is not None and Path(args.b).suffix == ".npz" and not args.save_stats
    net = None if stats_only else load_fid_inception(args.weights, args.device, download=args.download)
    if args.save_stats:
        mu, sigma = folder_statistics(args.a, net, args.batch_size, args.device, progress=not args.quiet)
        save_statistics(args.save_stats, mu, sigma)
        say(f"wrote {args.save_stats}")
        if args.b is None:
            return 0
    if args.b is None:
        raise TomauError("give two folders (or .npz statistics) to compare, or --save-stats FILE with one")
    print(f"FID: {fid(args.a, args.b, batch_size=args.batch_size, device=args.device, progress=not args.quiet, net=net):.3f}")
    return 0


def cmd_swd(args) -> int:
    from ..data import SquareImageFolder, scan_folder
    from ..metrics.swd import sliced_wasserstein_distance

    config = {}
    if args.model:
        from ..modelfile import read_header

        config = read_header(args.model)[0]
    size = args.size or config.get("image_size") or 64
    fit = args.fit or config.get("data_fit") or "pad"
    if fit not in SquareImageFolder.FITS:
        raise TomauError(f"{args.model}: its data_fit {fit!r} is not one tomau knows; give --fit")
    sets = []
    for folder in (args.a, args.b):
        files = scan_folder(folder, None, progress=False, colour_only=False).usable
        if args.max_images and len(files) > args.max_images:  # spread over the listing, not its first (often one class)
            files = [files[i * len(files) // args.max_images] for i in range(args.max_images)]
        sets.append(SquareImageFolder(files, size, fit, augment=False).stack())
    levels = sliced_wasserstein_distance(sets[0], sets[1], seed=args.seed, per_level=True)
    n = min(len(s) for s in sets)
    source = f"as {args.model} was trained" if args.model and not args.fit else f"--fit {fit}"
    print(f"SWD x 1e3 ({n} images per set, {FIT_WORDS[fit]} of {size}x{size}, {source}; "
          f"levels {', '.join(f'{v:.2f}' for v in levels)}): {sum(levels) / len(levels):.2f}")
    return 0


def cmd_translate(args) -> int:
    import sys

    import numpy as np
    from PIL import ImageOps

    from ..batch import failure, plan_targets, refuse_existing
    from ..images import collect_inputs, make_output_dir, open_image, save_image
    from ..pipeline import load
    from ..progress import progress_bar

    if not args.model:  # tomau 0.1 took the model as the first positional argument
        from ..modelfile import resolve_model_path

        try:
            resolve_model_path(args.inputs[0])
        except TomauError:
            raise TomauError("give the translator with -m MODEL (a model file or run folder)") from None
        if len(args.inputs) < 2:
            raise TomauError("give the translator with -m MODEL and the images to translate")
        args.model, args.inputs = args.inputs[0], args.inputs[1:]
        if not args.quiet:
            say(f"note: the model as first argument is deprecated; write tomau translate -m {args.model} ...")
    files, errors = collect_inputs(args.inputs)
    for e in errors:
        say(f"error: {e}")
    if not files:
        raise TomauError("nothing to translate")
    outdir = make_output_dir(args.output)
    targets, notes = plan_targets(files, outdir, result_format="PNG")  # one clash rule with colorize
    refuse_existing(targets, None, args.overwrite, False)
    for note in notes:
        say(note)
    translator = load(args.model, "translate", args.device)
    done, failed = 0, len(errors)
    bar = progress_bar(targets, unit="img", desc="translating", show=not args.quiet and len(targets) >= 2)
    for t in bar:
        try:
            with open_image(t.source) as im:  # refused from its header when over 100 MP
                upright = ImageOps.exif_transpose(im)  # turned as its EXIF (or a TIFF's own IFD) says, as colorize does
                src = translator.split_pair(upright, t.source)[0] if args.paired else np.asarray(upright.convert("RGB"), dtype=np.uint8)
            save_image(t.path, translator([src])[0], replace=args.overwrite)
            done += 1
        except Exception as err:  # noqa: BLE001 - one line naming the file; the others go on
            bar.write(failure(err, t.path, t.source, 'translated') if isinstance(err, TomauError) or not isinstance(err, OSError)
                      else f"error: {t.source}: {err.strerror or err}", file=sys.stderr)
            failed += 1
    if not args.quiet or failed:
        say(f"{done} translated, {failed} failed" + (f"; results in {outdir}" if done else ""))
    return 0 if failed == 0 else (2 if done == 0 else 3)
