"""`tomau colorize`: outputs, full resolution, alpha, EXIF, and every kind of bad input."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from tomau.cli import main
from tomau.images import load_image

from .conftest import colour_image


def run(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


@pytest.fixture
def grey_jpg(tmp_path):
    p = tmp_path / "in" / "grey.jpg"
    p.parent.mkdir()
    Image.fromarray(colour_image(3, 96)).convert("L").resize((120, 80)).save(p, quality=95)
    return p


def test_colorize_file_full_resolution_same_format(tmp_path, grey_jpg, tiny_model_file, capsys):
    code, err = run(["colorize", str(grey_jpg), "-o", str(tmp_path / "out"), "-m", str(tiny_model_file)], capsys)
    assert code == 0, err
    out = tmp_path / "out" / "grey.jpg"
    with Image.open(out) as im:
        assert im.size == (120, 80) and im.mode == "RGB" and im.format == "JPEG"
    assert "1 colourised, 0 failed" in err


def test_luminance_is_kept(tmp_path, tiny_model_file, capsys):
    src = tmp_path / "g.png"
    grey = colour_image(5, 100)[..., 0]
    Image.fromarray(grey).save(src)
    assert run(["colorize", str(src), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file)], capsys)[0] == 0
    out = np.asarray(Image.open(tmp_path / "o" / "g.png").convert("L"), dtype=float)
    assert np.abs(out - grey).mean() < 3  # same L, so nearly the same grey value


def test_folder_glob_and_bad_files_continue_with_summary(tmp_path, colour_folder, tiny_model_file, capsys):
    (colour_folder / "notes.txt").write_text("not an image")
    (colour_folder / "fake.jpg").write_bytes(b"this is not a jpeg")
    (colour_folder / "empty.png").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(colour_image(1)).save(buf, "JPEG")
    (colour_folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    out = tmp_path / "out"
    code, err = run(["colorize", str(colour_folder), str(tmp_path / "missing.png"), "-o", str(out), "-m", str(tiny_model_file), "-q"], capsys)
    assert code == 3  # some done, some failed
    assert "missing.png: no such file or folder" in err
    assert "fake.jpg: not an image" in err
    assert "empty.png: the file is empty" in err
    assert "truncated.jpg: the image is corrupt or truncated" in err
    assert "24 colourised, 4 failed" in err
    assert len(list(out.rglob("*.png"))) == 24
    assert (out / "a" / "img01.png").exists()  # sub-folders kept: equal names cannot collide
    code, err = run(["colorize", str(colour_folder / "a" / "*.png"), "-o", str(tmp_path / "g"), "-m", str(tiny_model_file), "-q"], capsys)
    assert code == 0 and len(list((tmp_path / "g").iterdir())) == 12


def test_already_colour_said_once(tmp_path, colour_folder, tiny_model_file, capsys):
    code, err = run(["colorize", str(colour_folder / "a"), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file)], capsys)
    assert code == 0 and err.count("already has colour") == 1
    code, err = run(["colorize", str(colour_folder / "a"), "-o", str(tmp_path / "q"), "-m", str(tiny_model_file), "-q"], capsys)
    assert code == 0 and err == ""  # -q: errors only


def test_inputs_never_overwritten_when_outdir_is_input_folder(tmp_path, tiny_model_file, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(colour_image(2)).convert("L").save(folder / "a.png")
    before = (folder / "a.png").read_bytes()
    assert run(["colorize", str(folder), "-o", str(folder), "-m", str(tiny_model_file)], capsys)[0] == 0
    assert (folder / "a.png").read_bytes() == before
    assert (folder / "a_color.png").exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp files


def test_unwritable_output(tmp_path, grey_jpg, tiny_model_file, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run(["colorize", str(grey_jpg), "-o", str(blocker), "-m", str(tiny_model_file)], capsys)
    assert code == 2 and "is not a folder" in err
    code, err = run(["colorize", str(grey_jpg), "-o", str(blocker / "sub"), "-m", str(tiny_model_file)], capsys)
    assert code == 2 and "cannot create the output folder" in err
    assert err.count("\n") == 1  # one clear sentence, no traceback


def test_decompression_bomb_refused_unless_allowed(tmp_path, tiny_model_file, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (11000, 10000)).save(bomb)  # 110 MP, a few kB on disk
    code, err = run(["colorize", str(bomb), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file)], capsys)
    assert code == 2 and "110 megapixels, over the 100 MP limit" in err
    small = tmp_path / "small.png"
    Image.new("L", (64, 64)).save(small)
    code, err = run(["colorize", str(small), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file), "--max-pixels", "1000"], capsys)
    assert code == 2 and "over the 0 MP limit" in err


def test_cmyk_16bit_palette_alpha_inputs(tmp_path, tiny_model_file, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rgb = Image.fromarray(colour_image(7))
    rgb.convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)).save(src / "deep.png")
    pal = rgb.convert("P")
    pal.info["transparency"] = 0
    pal.save(src / "pal.png", transparency=0)
    rgba = rgb.convert("RGBA")
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, 32:] = 255
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(src / "alpha.png")
    Image.fromarray(colour_image(8)).convert("LA").save(src / "la.png")
    rgb.convert("L").save(src / "grey.gif")
    out = tmp_path / "out"
    code, err = run(["colorize", str(src), "-o", str(out), "-m", str(tiny_model_file), "-q"], capsys)
    assert code == 0, err
    with Image.open(out / "cmyk.jpg") as im:
        assert im.mode == "RGB"
    assert load_image(src / "deep.png").rgb.max() == pytest.approx(1.0, abs=1e-3)  # 16-bit scaled, not clipped
    with Image.open(out / "alpha.png") as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im.getchannel("A")), alpha)
    with Image.open(out / "pal.png") as im:
        assert im.mode == "RGBA"
    with Image.open(out / "la.png") as im:
        assert im.mode == "RGBA"
    assert (out / "grey.png").exists()  # GIF cannot hold the result: PNG instead


def test_exif_orientation_respected(tmp_path, tiny_model_file, capsys):
    src = tmp_path / "rot.jpg"
    im = Image.fromarray(colour_image(4, 64)).convert("L").resize((80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(src, exif=exif)
    assert run(["colorize", str(src), "-o", str(tmp_path / "o"), "-m", str(tiny_model_file)], capsys)[0] == 0
    with Image.open(tmp_path / "o" / "rot.jpg") as out:
        assert out.size == (40, 80)


def test_bad_model_errors(tmp_path, grey_jpg, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(64))
    code, err = run(["colorize", str(grey_jpg), "-o", str(tmp_path / "o"), "-m", str(junk)], capsys)
    assert code == 2 and "not a readable safetensors model file" in err
    code, err = run(["colorize", str(grey_jpg), "-o", str(tmp_path / "o"), "-m", "no-such-model"], capsys)
    assert code == 2 and "bundled:" in err and "pix2pix" in err
