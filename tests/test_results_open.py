"""Every kind of photo tomau reads gives a result that Pillow, OpenCV and libvips open, upright, at the input's size,
depth and alpha - and whose metadata is the photo's (EXIF, ICC, DPI), never the input file's own TIFF layout."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms, TiffImagePlugin, features

from tomau.cli import main
from tomau.images import HEIF_ENCODER, IMAGE_EXTENSIONS

from .conftest import colour_image

W, H = 36, 24  # not square: a turn that is not applied, or applied twice, shows as a wrong size


def _ramp16() -> np.ndarray:
    return (np.linspace(0, 65535, H * W).reshape(H, W)).astype(np.uint16)


def _rgb() -> np.ndarray:
    return colour_image(5, 40)[:H, :W]


def _rgba() -> Image.Image:
    rgba = Image.fromarray(_rgb()).convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # not all opaque: an encoder keeps the alpha
    return rgba


def _grey() -> Image.Image:
    return Image.fromarray(_rgb()).convert("L")


def _exif(orientation: int | None = None, make: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if make:
        exif[0x010F] = make
    return exif


def _tiff_orientation(orientation: int) -> TiffImagePlugin.ImageFileDirectory_v2:
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[274] = orientation  # the TIFF's own IFD says how to turn it (no EXIF block)
    return ifd


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _multipage(path):
    pages = [_grey(), Image.fromarray(255 - np.asarray(_grey()))]
    pages[0].save(path, save_all=True, append_images=pages[1:])


def _cv2_write(path, array):
    import cv2

    assert cv2.imwrite(str(path), array)


# name -> (writer, (width, height) of the upright photo, alpha in the result, 16 bits in the result)
KINDS = {
    "grey.jpg": (lambda p: _grey().save(p, quality=90), (W, H), False, False),
    "turned6.jpg": (lambda p: Image.fromarray(_rgb()).save(p, exif=_exif(6, "Cam").tobytes()), (H, W), False, False),
    "turned3.jpg": (lambda p: _grey().save(p, exif=_exif(3).tobytes()), (W, H), False, False),
    "grey.png": (lambda p: _grey().save(p), (W, H), False, False),
    "rgba.png": (lambda p: _rgba().save(p), (W, H), True, False),
    "la.png": (lambda p: _rgba().convert("LA").save(p), (W, H), True, False),
    "grey16.png": (lambda p: Image.fromarray(_ramp16()).save(p), (W, H), False, True),
    "rgb16.png": (lambda p: _cv2_write(p, np.stack([_ramp16()] * 3, -1)), (W, H), False, True),
    "palette.png": (lambda p: _grey().convert("P").save(p, transparency=0), (W, H), True, False),
    "grey8.tif": (lambda p: _grey().save(p), (W, H), False, False),
    "grey8_meta.tif": (lambda p: _grey().save(p, dpi=(600, 600), icc_profile=SRGB), (W, H), False, False),
    "grey8_exif.tif": (lambda p: _grey().save(p, exif=_exif(None, "Scanner").tobytes()), (W, H), False, False),
    "bilevel.tif": (lambda p: _grey().convert("1").save(p), (W, H), False, False),
    "ccitt_g4.tif": (lambda p: _grey().convert("1").save(p, compression="group4"), (W, H), False, False),
    "ccitt_g3.tif": (lambda p: _grey().convert("1").save(p, compression="group3"), (W, H), False, False),
    "lzw.tif": (lambda p: _grey().save(p, compression="tiff_lzw"), (W, H), False, False),
    "deflate.tif": (lambda p: Image.fromarray(_rgb()).save(p, compression="tiff_adobe_deflate"), (W, H), False, False),
    "jpeg_in.tif": (lambda p: Image.fromarray(_rgb()).save(p, compression="jpeg"), (W, H), False, False),
    "grey16.tif": (lambda p: Image.fromarray(_ramp16()).save(p), (W, H), False, True),
    "rgb16.tif": (lambda p: _cv2_write(p, np.stack([_ramp16()] * 3, -1)), (W, H), False, True),
    "palette.tif": (lambda p: _grey().convert("P").save(p), (W, H), False, False),
    "cmyk.tif": (lambda p: Image.fromarray(_rgb()).convert("CMYK").save(p), (W, H), False, False),
    "float.tif": (lambda p: Image.fromarray(_ramp16().astype(np.float32) / 65535, "F").save(p), (W, H), False, False),
    "rgba.tif": (lambda p: _rgba().save(p), (W, H), True, False),
    "pages.tif": (_multipage, (W, H), False, False),
    "ifd6.tif": (lambda p: Image.fromarray(_rgb()).save(p, tiffinfo=_tiff_orientation(6)), (H, W), False, False),
    "ifd8_grey.tif": (lambda p: _grey().save(p, tiffinfo=_tiff_orientation(8)), (H, W), False, False),
    "exif6.tif": (lambda p: _grey().save(p, exif=_exif(6).tobytes()), (H, W), False, False),
    "rgb.webp": (lambda p: Image.fromarray(_rgb()).save(p), (W, H), False, False),
    "rgba.webp": (lambda p: _rgba().save(p, lossless=True), (W, H), True, False),
    "grey.bmp": (lambda p: _grey().save(p), (W, H), False, False),
    "grey.gif": (lambda p: _grey().save(p), (W, H), False, False),
    "turned6.png": (lambda p: _grey().save(p, exif=_exif(6).tobytes()), (H, W), False, False),
}
if ".heic" in IMAGE_EXTENSIONS and HEIF_ENCODER:
    KINDS["phone.heic"] = (lambda p: Image.fromarray(_rgb()).save(p, quality=90), (W, H), False, False)
if ".avif" in IMAGE_EXTENSIONS and features.check("avif"):
    KINDS["photo.avif"] = (lambda p: Image.fromarray(_rgb()).save(p, quality=90), (W, H), False, False)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """All kinds colourised in one run (one model load): {input name: result path}, and the inputs' folder."""
    import torch

    from tomau.modelfile import save_model_file
    from tomau.models.unet import UNetGenerator

    from .conftest import TINY_UNET

    root = tmp_path_factory.mktemp("kinds")
    inputs = root / "in"
    inputs.mkdir()
    for name, (write, *_) in KINDS.items():
        write(inputs / _file(name))
    torch.manual_seed(0)
    model = root / "tiny.safetensors"
    save_model_file(model, UNetGenerator(TINY_UNET).state_dict(),
                    {"task": "colorize", "family": "pix2pix", "generator": {"kind": "unet", "params": vars(TINY_UNET).copy()},
                     "image_size": 32, "normalization": {"l_cent": 50.0, "ab_norm": 110.0}})
    out = root / "out"
    assert main(["colorize", str(inputs), "-o", str(out), "-m", str(model), "-q"]) == 0
    by_stem = {p.stem: p for p in out.iterdir()}
    assert len(by_stem) == len(KINDS), sorted(by_stem)
    return {name: by_stem[_file(name).rsplit(".", 1)[0]] for name in KINDS}, inputs, model


def _file(name: str) -> str:
    """The input's file name: its kind's name with the format in the stem too, so no two results share a name."""
    stem, ext = name.rsplit(".", 1)
    return f"{stem}_{ext}.{ext}"


def assert_opens(path, size, alpha, deep):
    """``path`` opens in Pillow, OpenCV and libvips (each decodes every pixel) at ``size`` (w, h), RGB or RGBA
    as ``alpha`` says, 16 bits per channel where ``deep`` (PNG and TIFF)."""
    import cv2

    with Image.open(path) as im:
        im.load()
        assert im.size == size, (path.name, im.size)
        assert im.mode in (("RGBA",) if alpha else ("RGB",)) or (deep and im.mode in ("RGB", "I;16", "RGBA")), im.mode
        exif = im.getexif()
        assert exif.get(0x0112, 1) == 1  # upright: no reader turns it again
        assert not {256, 257, 258, 259, 262, 273, 279}.intersection(exif) or path.suffix == ".tif"
    if cv2.haveImageReader(str(path)):  # this OpenCV reads no HEIC
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert array is not None, f"OpenCV cannot read {path.name}"
        assert array.shape[:2] == (size[1], size[0]) and array.shape[2] == (4 if alpha else 3), (path.name, array.shape)
        assert array.dtype == (np.uint16 if deep else np.uint8), (path.name, array.dtype)
    try:
        import pyvips
    except Exception:  # noqa: BLE001 - pyvips or its libvips missing
        return
    if pyvips.vips_lib.vips_foreign_find_load(str(path).encode()) == pyvips.ffi.NULL:  # libvips reads no BMP
        return
    image = pyvips.Image.new_from_file(str(path), access="sequential", fail=True)
    assert (image.width, image.height, image.bands) == (*size, 4 if alpha else 3), path.name
    assert image.format == ("ushort" if deep else "uchar"), (path.name, image.format)
    try:
        image.avg()  # decodes every pixel
    except pyvips.Error as err:  # the libvips wheel's libheif has no HEVC decoder: HEIC is checked by Pillow alone
        if not (path.suffix == ".heic" and "HEVC" in str(err)):
            raise


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_of_photo_gives_a_result_that_opens(results, name):
    by_name, _, _ = results
    _, size, alpha, deep = KINDS[name]
    assert_opens(by_name[name], size, alpha, deep)


def test_libvips_reads_the_results_or_the_check_is_skipped():
    pytest.importorskip("pyvips", reason="pyvips is not installed: results are checked with Pillow and OpenCV only")


def test_metadata_is_carried_as_metadata(results):
    by_name, _, _ = results
    with Image.open(by_name["grey8_meta.tif"]) as im:
        assert im.info.get("icc_profile") == SRGB and tuple(round(v) for v in im.info["dpi"]) == (600, 600)
    with Image.open(by_name["grey8_exif.tif"]) as im:
        assert im.getexif().get(0x010F) == "Scanner"
        assert im.getexif()[256] == W and im.getexif()[258] == (8, 8, 8)  # its own layout, not the grey input's
    with Image.open(by_name["turned6.jpg"]) as im:
        assert im.getexif().get(0x010F) == "Cam" and im.getexif().get(0x0112) == 1


@pytest.mark.parametrize("name", ["grey8.tif", "ccitt_g4.tif", "ifd6.tif", "cmyk.tif", "float.tif", "pages.tif", "grey16.tif"])
def test_hint_results_open(results, tmp_path, name):
    _, inputs, _ = results
    _, size, _, _ = KINDS[name]
    scribbles = Image.new("RGBA", size, (0, 0, 0, 0))
    scribbles.putpixel((2, 2), (200, 30, 30, 255))
    scribbles.save(tmp_path / "s.png")
    assert main(["hint", str(inputs / _file(name)), "--scribbles", str(tmp_path / "s.png"), "-o", str(tmp_path / "o"), "-q"]) == 0
    (result,) = (tmp_path / "o").iterdir()
    assert_opens(result, size, False, False)


def test_translate_results_open(results, tmp_path):
    import torch

    from tomau.modelfile import save_model_file
    from tomau.models.unet import UNetConfig, UNetGenerator

    _, inputs, _ = results
    cfg = UNetConfig(ngf=4, num_downs=5, in_channels=3, out_channels=3)
    torch.manual_seed(0)
    model = tmp_path / "translator.safetensors"
    save_model_file(model, UNetGenerator(cfg).state_dict(), {"task": "translate", "family": "translate", "direction": "AtoB",
                    "generator": {"kind": "unet", "params": vars(cfg).copy()}, "image_size": 32})
    names = ["grey8_exif.tif", "ifd6.tif", "cmyk.tif", "turned6.jpg"]
    assert main(["translate", "-m", str(model), *(str(inputs / _file(n)) for n in names), "-o", str(tmp_path / "o"), "-q"]) == 0
    for n in names:
        assert_opens(tmp_path / "o" / (_file(n).rsplit(".", 1)[0] + ".png"), KINDS[n][1], False, False)


@pytest.mark.parametrize("name", ["grey8_exif.tif", "ifd8_grey.tif", "cmyk.tif", "rgba.tif", "turned6.jpg", "grey16.png"])
def test_the_pages_results_open(results, name):
    """The web page's download (a PNG made by the same reader and writer) opens upright at the photo's size."""
    from pathlib import Path

    from tomau.serve import Session

    _, inputs, model = results
    _, size, alpha, _ = KINDS[name]
    session = Session()
    try:
        _, _, download = session.colorize_photo(str(inputs / _file(name)), str(model))
        assert_opens(Path(download), size, alpha, False)  # the page gives 8 bits per channel
    finally:
        session.cleanup()
