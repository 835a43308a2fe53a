"""Results never lost, numbers checked, one exit-code table."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main

from .conftest import colour_image
from .test_training import tiny_cfg


def _grey(path, seed=0, size=40):
    Image.fromarray(colour_image(seed, size)).convert("L").save(path)
    return path


def test_inputs_with_one_output_name_each_get_their_own_file(tmp_path, tiny_model_file, capsys):
    (tmp_path / "d1").mkdir(), (tmp_path / "d2").mkdir(), (tmp_path / "mix").mkdir()
    a1, a2 = _grey(tmp_path / "d1" / "a.jpg", 1), _grey(tmp_path / "d2" / "a.jpg", 2)
    for i, ext in enumerate(("gif", "png", "jpg")):
        _grey(tmp_path / "mix" / f"b.{ext}", 3 + i)
    out = tmp_path / "out"
    assert main(["colorize", str(a1), str(a2), str(tmp_path / "mix"), "-o", str(out), "-m", str(tiny_model_file)]) == 0
    err = capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a.jpg", "a_2.jpg", "b.jpg", "b.png", "b_2.png"], written
    assert "5 colourised" in err and err.count("same name") == 2


def test_unwritable_output_is_found_before_any_work(tmp_path, tiny_model_file, capsys, monkeypatch):
    if os.geteuid() == 0:  # root writes anywhere: make the folder a file's child instead of chmod-ing it
        target = tmp_path / "afile" / "out"
        (tmp_path / "afile").write_text("x")
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(stat.S_IRUSR | stat.S_IXUSR)
    calls = []
    import tomau.inference as inference

    real = inference.Colorizer.colorize_arrays
    monkeypatch.setattr(inference.Colorizer, "colorize_arrays", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    photo = _grey(tmp_path / "p.png")
    assert main(["colorize", str(photo), "-o", str(target), "-m", str(tiny_model_file)]) == 2
    assert calls == [] and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["colorize", "x.png", "-o", "o", "--batch-size", "0"], ["colorize", "x.png", "-o", "o", "--batch-size", "-1"],
    ["colorize", "x.png", "-o", "o", "--max-pixels", "-5"], ["colorize", "x.png", "-o", "o", "--samples", "0"],
    ["colorize", "x.png", "-o", "o", "--temporal-smoothing", "1.5"], ["generate", "-m", "flowers_gan", "--n", "0", "-o", "o"],
    ["train", "pix2pix", "--data", "d", "--steps", "0"], ["train", "pix2pix", "--data", "d", "--batch-size", "two"],
    ["evaluate", "--data", "d", "--size", "0"], ["serve", "--keep-minutes", "-1"], ["blend", "a", "b", "--alpha", "2", "-o", "x"]])
def test_numbers_are_checked_before_work_in_one_sentence(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tomau ") and "error: argument" in err[-1] and "Traceback" not in "".join(err)


def test_exit_codes_follow_the_table(tmp_path, tiny_model_file, capsys):
    photo = _grey(tmp_path / "p.png")
    bad = tmp_path / "bad.png"
    bad.write_text("no image")
    empty = tmp_path / "empty"
    empty.mkdir()
    m = ["-m", str(tiny_model_file)]
    assert main(["colorize", str(photo), "-o", str(tmp_path / "o1"), *m]) == 0            # all done
    assert main(["colorize", str(photo), str(bad), "-o", str(tmp_path / "o2"), *m]) == 3  # some failed
    assert main(["colorize", str(bad), "-o", str(tmp_path / "o3"), *m]) == 2              # none done
    assert main(["colorize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o4"), *m]) == 2  # nothing to do
    assert main(["colorize", str(empty), "-o", str(tmp_path / "o5"), *m]) == 2


def test_checkpoint_before_the_first_log_line(tmp_path, colour_folder):
    from tomau.training.trainer import train

    run = train(tiny_cfg(colour_folder, tmp_path / "r", steps=3, ckpt_every=1, log_every=50), quiet=True)
    assert (run / "state.safetensors").exists() and (run / "model.safetensors").exists()


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path, tiny_model_file):
    import time

    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.png.tomau-tmp-k3j4l5m6.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = out / ".b.png.tomau-tmp-abcdefgh.tmp"  # another run may be writing it right now
    fresh.write_bytes(b"half")
    mine = [out / ".notes.tmp", out / ".notes.20240101.tmp", out / ".film.mp4.abcdefgh.mp4"]  # not our naming: never touched
    for p in mine:
        p.write_bytes(b"keep")
        os.utime(p, (old, old))
    assert main(["colorize", str(_grey(tmp_path / "p.png")), "-o", str(out), "-m", str(tiny_model_file)]) == 0
    assert not stale.exists() and fresh.exists() and all(p.exists() for p in mine)
    assert np.asarray(Image.open(out / "p.png")).ndim == 3


def test_resume_removes_the_temp_file_of_a_killed_checkpoint_write(tmp_path, colour_folder):
    import json

    from tomau.training.trainer import TrainConfig, train

    run = train(tiny_cfg(colour_folder, tmp_path / "r", steps=2, ckpt_every=2), quiet=True)
    orphan = run / ".state.safetensors.tomau-tmp-a1b2c3d4.tmp"
    orphan.write_bytes(b"half a checkpoint")
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    cfg.steps = 3
    train(cfg, resume_dir=str(run), quiet=True)
    assert not orphan.exists()


def test_code_review_items(tmp_path, colour_folder, monkeypatch):
    """The GAN generator moves to the device asked for; ResUNetGANConfig() is the pretrain stage and
    preset("gan") the GAN stage, as on the CLI; an explicit --lr for mdn is kept; checkpoints hold the GradScaler."""
    import torch

    from tomau import generation
    from tomau.training.cvae import MDNColorization
    from tomau.training.pix2pix import STAGES, ResUNetGANConfig

    moved = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: moved.append(a) or self)
    generation.load_generator("flowers_gan", "cpu")
    assert moved and moved[-1] == ("cpu",)
    monkeypatch.undo()
    fresh, gan = ResUNetGANConfig(), ResUNetGANConfig.preset("gan")
    assert (fresh.stage, fresh.gan_weight, fresh.lr_g, fresh.beta1) == ("pretrain", 0.0, 1e-4, 0.9)
    assert (gan.stage, gan.gan_weight, gan.lr_g, gan.lr_d, gan.beta1) == ("gan", *STAGES["gan"].values())
    assert MDNColorization.config_class().lr == 1e-3 and MDNColorization.config_class(lr=3e-4).lr == 3e-4
    from tomau.training.trainer import FAMILIES

    assert FAMILIES["mdn"].resolve({"lr": 3e-4}).lr == 3e-4 and FAMILIES["mdn"].resolve({}).lr == 1e-3
    assert FAMILIES["resunet"].resolve({"stage": "gan"}) == ResUNetGANConfig.preset("gan")  # the CLI's --stage = the API's preset
    assert FAMILIES["resunet"].resolve({}) == ResUNetGANConfig()
    run = __import__("tomau.training.trainer", fromlist=["train"]).train(tiny_cfg(colour_folder, tmp_path / "r", steps=2, ckpt_every=2), quiet=True)
    from tomau.training.trainer import read_state

    assert "scaler" in read_state(run / "state.safetensors")


def test_folder_scans_follow_links_once_and_say_what_is_dropped(tmp_path, tiny_model_file, capsys):
    from PIL import features

    from tomau.images import collect_inputs

    root = tmp_path / "scans"
    (root / "real").mkdir(parents=True)
    _grey(root / "real" / "a.png", 1)
    (root / "link").symlink_to(root / "real", target_is_directory=True)  # a linked sub-folder
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)  # and a loop back up
    (root / "alias.png").symlink_to(root / "real" / "a.png")  # a second name for one file
    notes = []
    files, errors = collect_inputs([str(root)], notes)
    assert errors == [] and len(files) == 1 and notes and all("same file" in n for n in notes)
    if features.check("avif"):
        Image.fromarray(colour_image(2, 40)).save(root / "real" / "b.avif")
        assert any(f.suffix == ".avif" for f, _ in collect_inputs([str(root)])[0])
    pages = tmp_path / "pages.tif"
    frames = [Image.fromarray(colour_image(i, 40)).convert("L") for i in range(3)]
    frames[0].save(pages, save_all=True, append_images=frames[1:])
    assert main(["colorize", str(pages), "-o", str(tmp_path / "out"), "-m", str(tiny_model_file)]) == 0
    assert "has 3 pages; only the first is colourised" in capsys.readouterr().err


def test_reruns_skip_finished_work_and_never_eat_their_own_results(tmp_path, tiny_model_file, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(3):
        _grey(scans / f"p{i}.png", i)
    m = ["-m", str(tiny_model_file)]
    # -o inside the input folder, run twice: the second run does not take the first run's results as inputs
    assert main(["colorize", str(scans), "-o", str(scans / "out"), *m]) == 0
    assert main(["colorize", str(scans), "-o", str(scans / "out"), "--overwrite", *m]) == 0
    assert sorted(p.name for p in (scans / "out").rglob("*") if p.is_file()) == ["p0.png", "p1.png", "p2.png"]
    # -o = the input folder, run twice: no _color_color
    assert main(["colorize", str(scans), "-o", str(scans), *m]) == 0
    assert main(["colorize", str(scans), "-o", str(scans), "--overwrite", *m]) == 0
    assert sorted(p.name for p in scans.glob("*.png")) == ["p0.png", "p0_color.png", "p1.png", "p1_color.png", "p2.png", "p2_color.png"]
    # --skip-existing: a rerun after an interrupted batch only does what is missing
    out = tmp_path / "out"
    assert main(["colorize", str(scans / "p0.png"), "-o", str(out), *m]) == 0
    capsys.readouterr()
    assert main(["colorize", str(scans / "p0.png"), str(scans / "p1.png"), "-o", str(out), "--skip-existing", *m]) == 0
    assert "1 colourised, 0 failed, 1 already done" in capsys.readouterr().err


def test_archival_scans_keep_16_bits_icc_dpi_and_exif(tmp_path, tiny_model_file):
    import cv2
    from PIL import ImageCms

    m = ["-m", str(tiny_model_file)]
    ramp = (np.linspace(0, 65535, 48 * 64).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")  # 16-bit grey (Pillow mode I;16)
    cv2.imwrite(str(tmp_path / "rgb16.tif"), np.stack([ramp, ramp, ramp], -1))  # 48-bit TIFF
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Scanner Co."  # Make
    Image.fromarray(colour_image(0, 40)).convert("L").save(tmp_path / "meta.jpg", icc_profile=srgb, dpi=(600, 600), exif=exif.tobytes())
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "grey16.png"), str(tmp_path / "rgb16.tif"), str(tmp_path / "meta.jpg"), "-o", str(out), *m]) == 0
    for name in ("grey16.png", "rgb16.tif"):
        res = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert res.dtype == np.uint16 and res.shape == (48, 64, 3), name
        assert len(np.unique(res[..., 1])) > 300  # more levels than 8 bits could hold
    with Image.open(out / "meta.jpg") as im:
        assert im.info.get("icc_profile") == srgb and tuple(round(v) for v in im.info["dpi"]) == (600, 600)
        assert im.getexif().get(0x010F) == "Scanner Co."


def test_strip_recombination_equals_the_whole_image_one(monkeypatch):
    """L and the recombination run in strips of rows (memory bounded); the result is the same."""
    import torch
    from torch.nn import functional as F

    import tomau.inference as inference
    from tomau import color

    rng = np.random.default_rng(0)
    rgb = rng.random((301, 203, 3)).astype(np.float32)
    ab = torch.rand(2, 32, 32) * 2 - 1
    whole_l = color.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[:, :1]
    ab_full = F.interpolate(ab[None], size=(301, 203), mode="bilinear", align_corners=False)
    whole = (color.model_output_to_rgb(color.normalize_l(whole_l), ab_full)[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    monkeypatch.setattr(inference.fullres, "STRIP_PIXELS", 2000)  # ~10 rows a strip
    l = inference.full_res_l(rgb)
    assert torch.allclose(l, whole_l, atol=1e-4)
    got = inference.Colorizer.recombine(l, ab)
    # the compiled Lab -> sRGB of tomau.fullres is within 0.3 levels of tomau.color's, so a few values round the other way
    assert np.abs(got.astype(int) - whole).max() <= 1 and (got != whole).mean() < 5e-3


def test_one_cli_every_command_has_an_example_quiet_and_marked_required_options(capsys):
    from tomau.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, command in {n: p for n, p in sub.choices.items() if n not in ("colourise", "colorise")}.items():
        text = command.format_help()
        assert "example:" in text, name
        assert "-q, --quiet" in text, name
        for action in command._actions:
            if action.required and action.option_strings:
                assert "(required)" in (command._get_formatter()._get_help_string(action) or ""), (name, action.dest)
    assert "-n N, --num N, --n N" in sub.choices["generate"].format_help()
    assert "-m MODEL, --model MODEL" in sub.choices["translate"].format_help()


# ---- nothing lost: damaged inputs, interrupted runs, unwritable outputs -----------------------------------------------------
def test_one_bad_file_never_stops_a_batch(tmp_path, tiny_model_file, capsys, monkeypatch):
    """An error nobody foresaw in one photo's colouring is one line naming it; the batch goes on (exit 3)."""
    import tomau.reference as reference

    for i in range(3):
        _grey(tmp_path / f"p{i}.png", i, size=40 + i)
    ref = tmp_path / "ref.png"
    Image.fromarray(colour_image(9, 48)).save(ref)
    real = reference.colorize_from_reference

    def flaky(rgb, *args, **kwargs):
        if rgb.shape[1] == 41:
            raise RuntimeError("boom")
        return real(rgb, *args, **kwargs)

    monkeypatch.setattr(reference, "colorize_from_reference", flaky)
    code = main(["colorize", *(str(tmp_path / f"p{i}.png") for i in range(3)), "-o", str(tmp_path / "out"),
                 "--reference", str(ref), "-m", str(tiny_model_file)])
    err = capsys.readouterr().err
    assert code == 3 and "p1.png: could not be colourised (RuntimeError: boom)" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p2.png"]


def test_photos_one_pixel_high_or_wide_are_coloured_by_every_method(tmp_path, tiny_model_file, capsys):
    row, col, dot = (_grey(tmp_path / n, 1) for n in ("row.png", "col.png", "dot.png"))
    Image.fromarray(colour_image(1, 40)[:1]).convert("L").save(row)
    Image.fromarray(colour_image(2, 40)[:, :1]).convert("L").save(col)
    Image.fromarray(colour_image(3, 40)[:1, :1]).convert("L").save(dot)
    ref = tmp_path / "ref.png"
    Image.fromarray(colour_image(9, 48)).save(ref)
    assert main(["colorize", str(row), str(col), str(dot), "-o", str(tmp_path / "w"), "--reference", str(ref),
                 "--reference-method", "welsh"]) == 0
    marks = np.zeros((1, 40, 4), np.uint8)
    marks[0, 3:8] = (200, 30, 30, 255)
    Image.fromarray(marks).save(tmp_path / "marks.png")
    assert main(["hint", str(row), "--scribbles", str(tmp_path / "marks.png"), "-o", str(tmp_path / "h")]) == 0
    out = np.asarray(Image.open(tmp_path / "h" / "row.png")).astype(int)
    assert out.shape == (1, 40, 3) and (out[0, 3:8, 0] - out[0, 3:8, 2]).mean() > 20  # red where it was marked


def test_a_users_own_files_are_never_replaced(tmp_path, tiny_model_file, capsys):
    m = ["-m", str(tiny_model_file)]
    s = tmp_path / "s"
    s.mkdir()
    _grey(s / "family.gif", 1)
    _grey(s / "family.png", 2)  # the user's own photo, where family.gif's result would go
    before = (s / "family.png").read_bytes()
    assert main(["colorize", str(s / "family.gif"), "-o", str(s), *m]) == 2
    err = capsys.readouterr().err
    assert "family.png already exists" in err and "--overwrite" in err and (s / "family.png").read_bytes() == before
    assert main(["colorize", str(s / "family.gif"), "-o", str(s), "--overwrite", *m]) == 0  # asked for
    # hint: the result would land on the scribbles (photo.gif -> photo.png), or on a file already there
    _grey(tmp_path / "photo.gif", 3)
    strokes = np.zeros((40, 40, 4), np.uint8)
    strokes[10:14, 5:30] = (200, 30, 30, 255)
    Image.fromarray(strokes).save(tmp_path / "photo.png")
    marks = (tmp_path / "photo.png").read_bytes()
    hint = ["hint", str(tmp_path / "photo.gif"), "--scribbles", str(tmp_path / "photo.png"), "-o", str(tmp_path)]
    assert main(hint) == 0 and (tmp_path / "photo.png").read_bytes() == marks and (tmp_path / "photo_color.png").exists()
    capsys.readouterr()
    assert main(hint) == 2 and "photo_color.png already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*hint, "--overwrite"]) == 0 and (tmp_path / "photo.png").read_bytes() == marks
    # the stale-temp sweep touches only tomau's own temp names in the output folder itself, not below it
    out = tmp_path / "o"
    (out / "sub").mkdir(parents=True)
    old = [out / ".a.png.tomau-tmp-abcdefgh.tmp", out / "sub" / ".b.png.tomau-tmp-abcdefgh.tmp", out / ".notes.tmp"]
    for p in old:
        p.write_text("x")
        os.utime(p, (1, 1))
    _grey(tmp_path / "x.png", 4)
    assert main(["colorize", str(tmp_path / "x.png"), "-o", str(out), *m]) == 0
    assert [p.exists() for p in old] == [False, True, True]


def test_one_clash_rule_by_the_results_real_name(tmp_path, tiny_model_file, capsys, maps_like_model):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(colour_image(1, 40)).convert("L").save(d / "a.jpg", format="GIF")  # a GIF named a.jpg
    _grey(d / "a.png", 2)
    assert main(["colorize", str(d), "-o", str(tmp_path / "out"), "-m", str(tiny_model_file)]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "a_2.png"] and "2 colourised" in err
    (tmp_path / "d1").mkdir(), (tmp_path / "d2").mkdir()
    Image.fromarray(colour_image(3, 32)).save(tmp_path / "d1" / "m.jpg")
    Image.fromarray(colour_image(4, 32)).save(tmp_path / "d2" / "m.jpg")
    assert main(["translate", "-m", str(maps_like_model), str(tmp_path / "d1" / "m.jpg"), str(tmp_path / "d2" / "m.jpg"),
                 "-o", str(tmp_path / "t")]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["m.png", "m_2.png"]
    assert "same name" in capsys.readouterr().err


@pytest.fixture
def maps_like_model(tmp_path):
    """A tiny translator (3 channels in and out, 32 px)."""
    import torch

    from tomau.modelfile import save_model_file
    from tomau.models.unet import UNetConfig, UNetGenerator

    cfg = UNetConfig(ngf=4, num_downs=5, in_channels=3, out_channels=3)
    torch.manual_seed(0)
    path = tmp_path / "translator.safetensors"
    save_model_file(path, UNetGenerator(cfg).state_dict(), {"task": "translate", "family": "translate", "direction": "AtoB",
                    "generator": {"kind": "unet", "params": vars(cfg).copy()}, "image_size": 32})
    return path


def test_every_reader_checks_the_size_from_the_header(tmp_path, tiny_model_file, capsys, maps_like_model):
    import subprocess
    import sys

    from tomau.data import scan_folder
    from tomau.evaluate import load_truth

    from .conftest import header_only_png

    # importing tomau changes no global setting (Pillow's own bomb limit stays)
    code = ("import PIL.Image as I; before = I.MAX_IMAGE_PIXELS; import tomau, tomau.images, tomau.cli, tomau.serve; "
            "assert I.MAX_IMAGE_PIXELS == before, I.MAX_IMAGE_PIXELS")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    bomb = header_only_png(data / "bomb.png", 12_000, 12_000)  # 144 MP by its header, about 100 bytes
    Image.fromarray(colour_image(1, 40)).save(data / "ok.png")
    report = scan_folder(data, progress=False)
    assert report.too_big == [bomb] and len(report.usable) == 1 and "1 over 100 MP" in report.summary()
    with pytest.raises(Exception, match="144 megapixels"):
        load_truth(bomb, 64)
    assert main(["translate", "-m", str(maps_like_model), str(bomb), str(data / "ok.png"), "-o", str(tmp_path / "t")]) == 3
    assert "bomb.png: 12000x12000 is 144 megapixels" in capsys.readouterr().err
    marks = tmp_path / "marks.png"
    Image.new("RGBA", (40, 40)).save(marks)
    assert main(["hint", str(bomb), "--scribbles", str(marks), "-o", str(tmp_path / "h")]) == 2
    assert main(["colorize", str(data / "ok.png"), "-o", str(tmp_path / "r"), "--reference", str(bomb), "-m", str(tiny_model_file)]) == 2
    assert capsys.readouterr().err.count("144 megapixels") == 2


def test_a_rotated_16_bit_scan_stays_16_bit_and_says_what_it_loses(tmp_path, tiny_model_file, capsys):
    import cv2

    pyvips = pytest.importorskip("pyvips")
    ramp = (np.linspace(0, 65535, 30 * 50).reshape(30, 50)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "plain.png"), np.stack([ramp, ramp, ramp], -1))
    image = pyvips.Image.new_from_file(str(tmp_path / "plain.png")).copy(xres=600 / 25.4, yres=600 / 25.4)
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    image.set_type(pyvips.GValue.blob_type, "exif-data", exif.tobytes())
    image.pngsave(str(tmp_path / "scan.png"))
    assert main(["colorize", str(tmp_path / "scan.png"), "-o", str(tmp_path / "out"), "-m", str(tiny_model_file)]) == 0
    res = cv2.imread(str(tmp_path / "out" / "scan.png"), cv2.IMREAD_UNCHANGED)
    assert res.dtype == np.uint16 and res.shape == (50, 30, 3)  # upright and 16 bits
    with Image.open(tmp_path / "out" / "scan.png") as im:
        kept = "dpi" in im.info
    err = capsys.readouterr().err
    assert kept or "not the input's DPI or EXIF" in err  # kept, or the note says what is lost


def test_skip_existing_samples_real_color_names_and_unreadable_paths(tmp_path, tiny_model_file, capsys, monkeypatch):
    scans = tmp_path / "scans"
    scans.mkdir()
    _grey(scans / "a.png", 1)
    _grey(scans / "a_color.png", 2)  # a real input of that name, not a result: -o is elsewhere
    out = tmp_path / "out"
    assert main(["colorize", str(scans), "-o", str(out), "-m", str(tiny_model_file)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_color.png"] and "earlier run" not in capsys.readouterr().err
    # --skip-existing skips --samples results that are all there
    s_out = tmp_path / "samples"
    assert main(["colorize", str(scans / "a.png"), "-o", str(s_out), "-m", "faces", "--samples", "2"]) == 0
    capsys.readouterr()
    assert main(["colorize", str(scans / "a.png"), "-o", str(s_out), "-m", "faces", "--samples", "2", "--skip-existing"]) == 0
    assert "0 colourised, 0 failed, 1 already done" in capsys.readouterr().err
    # an unreadable folder is said; an unreadable file is not called corrupt
    (scans / "locked").mkdir()
    _grey(scans / "locked" / "b.png", 3)
    real_scandir, real_open = os.scandir, Image.open

    def scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def image_open(fp, *args, **kwargs):
        if str(fp).endswith("a_color.png"):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(Image, "open", image_open)
    assert main(["colorize", str(scans), "-o", str(tmp_path / "o2"), "-m", str(tiny_model_file)]) == 3
    err = capsys.readouterr().err
    assert "locked: cannot read the folder (Permission denied)" in err
    assert "a_color.png: cannot read the file (Permission denied)" in err and "corrupt" not in err


def test_help_and_version_do_not_import_pytorch_and_the_light_help_matches_the_commands():
    import subprocess
    import sys

    from tomau.cli import ALIASES, COMMANDS, build_parser

    code = ("import sys\nfrom tomau.cli import main\nfor argv in (['--version'], ['--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nimport tomau\nassert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    sub = next(a for a in build_parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    assert {c.dest: c.help for c in sub._choices_actions} == COMMANDS  # the table says what each command says
    assert {n for n in sub.choices if n not in COMMANDS} == {a for names in ALIASES.values() for a in names}


def test_long_steps_show_a_bar_on_a_terminal(tmp_path, tiny_model_file, monkeypatch):
    """evaluate's Frechet features have a bar of their own (minutes of silence after the first bar before)."""
    import io
    import sys

    import torch

    from tomau.evaluate import evaluate_files
    from tomau.inference import load_model
    from tomau.metrics.frechet import FeatureNet

    class Pool(torch.nn.Module):
        def pooled(self, x):
            return x.mean((2, 3))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    files = []
    for i in range(4):
        Image.fromarray(colour_image(i, 32)).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    res = evaluate_files(load_model(str(tiny_model_file)), files, size=32, metrics=["psnr", "fd"], features=FeatureNet(net=Pool(), size=16))
    assert "fd" in res["model"] and "Frechet features:   0%|          | 0/4" in screen.getvalue()


def test_a_bogus_device_is_one_sentence(tmp_path, tiny_model_file, capsys):
    _grey(tmp_path / "a.png")
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file), "--device", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "error: unknown device 'bogus'; use cpu, cuda, cuda:1 ... or mps"


def test_models_names_the_default(capsys):
    assert main(["models"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("effunet ") and "the default" in first


def test_models_says_what_each_model_does_in_words(capsys):
    """`tomau models` once printed `effunet effunet`, `mdn cvae`: each bundled model's line now says what it does,
    its network, size and file size, and one of them is the default."""
    from tomau.modelfile import BUNDLED_ABOUT, bundled_models

    assert main(["models", "-q"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == len(bundled_models())
    for line in lines:
        name, text = line.split(maxsplit=1)
        assert text.startswith(BUNDLED_ABOUT[name][0]) and " M parameters, " in text and text.endswith(" MB"), line
        assert f"{name} {name}" not in line and "effunet effunet" not in line and "mdn cvae" not in line
    assert sum("the default" in line for line in lines) == 1


def test_output_to_a_closed_pipe_stops_quietly(monkeypatch, capsys):
    import os
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # like `tomau models | head -1` after head has gone
    closed = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert main(["models"]) == 141
    finally:
        closed.close()
    assert "Traceback" not in capsys.readouterr().err
