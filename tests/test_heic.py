"""Phone photos: HEIC / HEIF files colourise from the CLI, the API and the page, and the result is HEIC again."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pillow_heif = pytest.importorskip("pillow_heif")

from tomau import images  # noqa: E402 - registers the HEIF opener
from tomau.cli import main  # noqa: E402

MAKE, ORIENTATION = 0x010F, 0x0112


def chroma(rgb) -> float:
    rgb = np.asarray(rgb, dtype=np.float32)
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean())


@pytest.fixture
def heic_photo(tmp_path):
    """A grey 48x32 phone photo saved as HEIC by pillow-heif, EXIF orientation 6 (shown rotated: 32x48) and a Make."""
    y, x = np.mgrid[0:32, 0:48]
    grey = (120 + 70 * np.sin(x / 6) * np.cos(y / 5)).astype(np.uint8)
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "PhoneCam", 6
    path = tmp_path / "in" / "IMG_0001.HEIC"
    path.parent.mkdir()
    Image.fromarray(grey).convert("RGB").save(path, format="HEIF", quality=95, exif=exif.tobytes())
    return path


def test_heic_is_read_with_orientation_applied_and_found_in_folders(heic_photo):
    img = images.load_image(heic_photo)
    assert img.format == "HEIF" and img.pixels.shape[:2] == (48, 32)  # rotated as the phone shows it
    exif = Image.Exif()
    exif.load(img.info["exif"])
    assert exif[MAKE] == "PhoneCam" and exif.get(ORIENTATION, 1) == 1
    pairs, errors = images.collect_inputs([str(heic_photo.parent)])
    assert [p for p, _ in pairs] == [heic_photo] and errors == []


def test_cli_colourises_a_heic_photo_into_heic_keeping_exif(tmp_path, heic_photo, tinted_model, capsys):
    before = heic_photo.read_bytes()
    assert main(["colorize", str(heic_photo), "-o", str(tmp_path / "out"), "-m", str(tinted_model), "-q"]) == 0
    out = tmp_path / "out" / "IMG_0001.HEIC"
    assert out.exists() and heic_photo.read_bytes() == before
    with Image.open(out) as im:
        assert im.format == "HEIF" and im.size == (32, 48) and im.mode == "RGB"
        assert im.getexif()[MAKE] == "PhoneCam" and im.getexif().get(ORIENTATION, 1) == 1
        assert chroma(im.convert("RGB")) > 8  # coloured by the tinted model


def test_without_a_heic_encoder_the_result_is_a_jpeg(tmp_path, heic_photo, tinted_model, monkeypatch):
    monkeypatch.delitem(images._WRITABLE, "HEIF", raising=False)  # as where libheif has no encoder
    assert main(["colorize", str(heic_photo), "-o", str(tmp_path / "out"), "-m", str(tinted_model), "-q"]) == 0
    out = tmp_path / "out" / "IMG_0001.jpg"
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (32, 48) and im.getexif()[MAKE] == "PhoneCam"


def test_api_colourises_a_heic_image(heic_photo, tinted_model):
    import tomau

    with Image.open(heic_photo) as photo:
        out = tomau.colorize(photo, tomau.load_model(str(tinted_model)))
    assert out.size == (32, 48) and out.mode == "RGB" and chroma(out) > 8


def test_page_colourises_an_uploaded_heic_photo(heic_photo, tinted_model):
    from tomau.serve import Session

    session = Session()
    try:
        (before, after), _, download = session.colorize_photo(str(heic_photo), str(tinted_model))
        assert before.shape == after.shape == (48, 32, 3) and chroma(after) > 8
        assert Image.open(download).size == (32, 48)
    finally:
        session.cleanup()


def test_heic_photos_in_a_training_folder_are_used(tmp_path):
    from tomau.data import scan_folder

    root = tmp_path / "train"
    root.mkdir()
    y, x = np.mgrid[0:40, 0:40]
    colour = np.stack([x * 6, y * 6, 255 - x * 3], -1).astype(np.uint8)
    Image.fromarray(colour).save(root / "phone.heic", format="HEIF", quality=90)
    Image.fromarray(colour).convert("L").convert("RGB").save(root / "grey.heif", format="HEIF", quality=90)
    report = scan_folder(root, progress=False)
    assert [p.name for p in report.usable] == ["phone.heic"] and [p.name for p in report.grey] == ["grey.heif"]
