"""Results never lost, numbers checked, one exit-code table (issue 12, items 1, 2, 4, 9, 10)."""
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
    stale = out / ".a.png.k3j4l5m6.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = out / ".b.png.abcdefgh.tmp"  # another run may be writing it right now
    fresh.write_bytes(b"half")
    mine = out / ".notes.tmp"  # not our naming: never touched
    mine.write_bytes(b"keep")
    assert main(["colorize", str(_grey(tmp_path / "p.png")), "-o", str(out), "-m", str(tiny_model_file)]) == 0
    assert not stale.exists() and fresh.exists() and mine.exists()
    assert np.asarray(Image.open(out / "p.png")).ndim == 3


def test_resume_removes_the_temp_file_of_a_killed_checkpoint_write(tmp_path, colour_folder):
    import json

    from tomau.training.trainer import TrainConfig, train

    run = train(tiny_cfg(colour_folder, tmp_path / "r", steps=2, ckpt_every=2), quiet=True)
    orphan = run / ".state.safetensors.a1b2c3d4.tmp"
    orphan.write_bytes(b"half a checkpoint")
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    cfg.steps = 3
    train(cfg, resume_dir=str(run), quiet=True)
    assert not orphan.exists()


def test_code_review_items(tmp_path, colour_folder, monkeypatch):
    """Item 13: the GAN generator moves to the device asked for; ResUNetGANConfig() is the pretrain stage and
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
    """Item 7: L and the recombination run in strips of rows (memory bounded); the result is the same."""
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
    # OpenCV's Lab -> sRGB (tomau.fullres) is within 0.3 levels of tomau.color's, so a few values round the other way
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
