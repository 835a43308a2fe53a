"""The full-resolution path (tomau.fullres, tomau.images.Strips): the same L, model input and colours as tomau.color's
maths on the whole image, in strips, and results encoded as their rows are made with the input's metadata."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from torch.nn import functional as F

from tomau import color, fullres, images
from tomau.images import Strips, save_image


def pixels_of(kind: str, shape=(157, 203), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "grey8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "grey16":
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    if kind == "rgb8":
        return rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    if kind == "rgb16":
        return rng.integers(0, 65536, (*shape, 3), dtype=np.uint16)
    return rng.random((*shape, 3), dtype=np.float32)


def whole_l(pixels: np.ndarray) -> torch.Tensor:
    """tomau.color's L (1, 1, H, W) of the whole image, as before this path existed."""
    return color.rgb_to_lab(torch.from_numpy(images.as_float_rgb(pixels)).permute(2, 0, 1)[None])[:, :1]


@pytest.mark.parametrize("kind", ["grey8", "grey16", "rgb8", "rgb16", "float"])
def test_l_and_the_model_input_equal_tomau_colors_on_the_whole_image(kind, monkeypatch):
    monkeypatch.setattr(fullres, "STRIP_PIXELS", 3000)  # ~15 rows a strip
    px = pixels_of(kind)
    exact = whole_l(px)
    l = fullres.full_res_l(px)
    assert l.shape == exact.shape and (l - exact).abs().max() < (1e-3 if kind in ("grey8", "float") else 0.02)
    for size in (32, 256):  # down and up
        want = color.normalize_l(F.interpolate(exact, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
        assert (fullres.model_input(px, size) - want).abs().max() < 1e-3


def test_lab_to_srgb_agrees_with_tomau_color_over_the_whole_lab_cube():
    l, a, b = np.meshgrid(np.linspace(0, 100, 41), np.linspace(-110, 110, 45), np.linspace(-110, 110, 45), indexing="ij")
    lab = torch.from_numpy(np.stack([l, a, b]).reshape(3, 1, -1).astype(np.float32))
    want = color.lab_to_rgb(lab)[:, 0].T.numpy()  # (N, 3)
    # one strip whose L is the grid's L and whose ab is constant per pixel: upsampling a 1 x N ab image to 1 x N
    got = fullres.recombine(lab[:1][None], color.normalize_ab(lab[1:]), np.uint16)[0] / 65535
    assert np.abs(got - want).max() * 255 < 0.3  # levels, including out-of-gamut colours (b clamped as color does)
    got8 = fullres.recombine(lab[:1][None], color.normalize_ab(lab[1:]), np.uint8)[0].astype(np.float64)
    assert np.abs(got8 - want * 255).max() < 0.5 + 0.3  # rounded to the nearest level, but for the same 0.3


def test_the_srgb_polynomial_is_tomau_colors_curve_within_three_thousandths_of_a_level():
    lin = np.linspace(color._SRGB_KNEE, 1, 200_001)
    want = color._linear_to_srgb(torch.from_numpy(lin)).numpy()
    u, got = (lin**0.25).astype(np.float32), np.zeros(len(lin), np.float32)
    for c in fullres._srgb_curve().astype(np.float32):  # Horner, in float32 as the kernel
        got = got * u + c
    assert np.abs(got - want).max() * 255 < 0.003 and np.abs(got - want).max() * 65535 < 1


@pytest.mark.parametrize("kind", ["grey8", "grey16", "rgb8", "float"])
def test_every_compiled_instruction_set_gives_the_same_colours_and_input(kind):
    """The loops are compiled for several instruction sets (AVX-512, AVX2 + FMA, SSE2) and the CPU's best is
    chosen at import: each one this CPU runs gives the same model input and, within a level, the same colours."""
    from tomau import _kernels

    px, ab = pixels_of(kind, (61, 1100)), torch.rand(2, 16, 16) * 2 - 1  # rows wider than one block of 512
    first = _kernels.current()
    try:
        got = {}
        for isa in _kernels.available():
            _kernels.use(isa)
            got[isa] = fullres.model_input(px, 32), fullres.recombine(px, ab), fullres.recombine(px, ab, np.uint16)
    finally:
        _kernels.use(first)
    want = got["baseline"]
    for isa, (x, rgb8, rgb16) in got.items():
        assert (x - want[0]).abs().max() < 1e-5, isa
        assert np.abs(rgb8.astype(int) - want[1]).max() <= 1 and (rgb8 != want[1]).mean() < 1e-3, isa
        assert np.abs(rgb16.astype(int) - want[2]).max() <= 2, isa
    with pytest.raises(ValueError, match="not compiled in|cannot run"):
        _kernels.use("x86-64-v9")


@pytest.mark.parametrize("kind", ["grey8", "rgb8", "float"])
def test_several_threads_give_the_same_results_as_one(kind, monkeypatch):
    """A whole image's recombination split over threads equals one thread's (and strips, and the input, are the same)."""
    px, ab = pixels_of(kind, (97, 130)), torch.rand(2, 16, 16) * 2 - 1
    monkeypatch.setattr(fullres, "STRIP_PIXELS", 2000)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want = fullres.model_input(px, 32), fullres.recombine(px, ab), [r.copy() for _, r in fullres.rgb_strips(px, ab)]
        torch.set_num_threads(3)
        monkeypatch.setattr(fullres, "PARALLEL_PIXELS", 100)
        assert fullres._workers(97 * 130) == 3
        got = fullres.model_input(px, 32), fullres.recombine(px, ab), [r.copy() for _, r in fullres.rgb_strips(px, ab)]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got[0], want[0])
    assert np.array_equal(got[1], want[1]) and len(got[2]) == len(want[2]) > 3
    assert all(np.array_equal(g, w) for g, w in zip(got[2], want[2]))


def test_the_kernels_check_every_buffer_before_touching_it():
    """A buffer smaller than its dimensions say, or an index outside one, is a ValueError, never a write past it."""
    from tomau import _kernels

    px, ab = pixels_of("grey8", (8, 10)), torch.zeros(2, 4, 4)
    with pytest.raises(ValueError, match="C-contiguous"):
        fullres.recombine(px, ab, out=np.zeros((8, 10, 2), np.uint8))
    table, wide = fullres._grey8_l(), np.zeros((4, 10), np.float32)
    y0, y1, fy = fullres._linear_taps(8, 4)
    consts, small = fullres._lab_maths(False), np.zeros((7, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="out"):
        _kernels.lab_rows(px, 1, table, wide, wide, y0, y1, fy, consts, small, 8, 10, 4, 30, 3, 0)
    with pytest.raises(ValueError, match="outside"):
        _kernels.lab_rows(px, 1, table, wide, wide, y0 + 4, y1, fy, consts, np.zeros((8, 10, 3), np.uint8), 8, 10, 4, 30, 3, 0)
    with pytest.raises(ValueError, match="table"):
        _kernels.lab_rows(px, 1, table[:100], wide, wide, y0, y1, fy, consts, np.zeros((8, 10, 3), np.uint8), 8, 10, 4, 30, 3, 0)
    weights, lo, hi = fullres._aa_weights(8, 4)
    with pytest.raises(ValueError, match="rows"):
        _kernels.add_rows(np.zeros((4, 10), np.float32), weights, lo, hi, px[:3], 1, table, 0, 4, 8, 5, 10,
                          np.zeros(10, np.float32))


def test_rgbx_results_are_the_rgb_ones_and_encode_to_the_same_jpeg(tmp_path, monkeypatch):
    """The whole-image JPEG path makes RGBX (Pillow maps it without a copy): the same pixels and the same file."""
    px, ab = pixels_of("grey8", (90, 120)), torch.rand(2, 16, 16) * 1.2 - 0.6
    rgbx = fullres.recombine(px, ab, out=np.empty((90, 120, 4), np.uint8))
    rgb = fullres.recombine(px, ab)
    assert np.array_equal(rgbx[..., :3], rgb) and (rgbx[..., 3] == 255).all()
    strips = Strips((90, 120), np.uint8, lambda: fullres.rgb_strips(px, ab), lambda out: fullres.recombine(px, ab, out=out))
    assert np.array_equal(strips.whole(4), rgbx) and np.array_equal(np.asarray(strips), rgb)
    no_fill = Strips((90, 120), np.uint8, lambda: fullres.rgb_strips(px, ab))
    assert np.array_equal(no_fill.whole(4), rgbx)
    monkeypatch.setattr(images, "STREAM_PIXELS", 10**9)  # written whole, as a photo under 4 MP is
    save_image(tmp_path / "strips.jpg", strips, info={"dpi": (300, 300)})
    save_image(tmp_path / "array.jpg", rgb, info={"dpi": (300, 300)})
    assert (tmp_path / "strips.jpg").read_bytes() == (tmp_path / "array.jpg").read_bytes()


def test_the_model_input_s_weights_are_pytorch_s_for_any_pair_of_sizes():
    l = torch.rand(1, 1, 97, 211) * 100
    for size in [(1, 1), (7, 300), (97, 211), (128, 13), (400, 500)]:
        want = F.interpolate(l, size=size, mode="bilinear", antialias=True, align_corners=False)
        down, across = fullres._Resize(97, size[0]), fullres._Resize(211, size[1])
        tall = np.zeros((size[0], 211), np.float32)
        down.add(tall, l[0, 0].numpy())
        got_t = np.zeros((size[1], size[0]), np.float32)
        across.add(got_t, np.ascontiguousarray(tall.T))
        assert np.abs(got_t.T - want[0, 0].numpy()).max() < 0.01, size  # L units: PyTorch makes its weights in float32


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_strips_equal_the_whole_image_recombination_within_one_level(dtype, monkeypatch):
    monkeypatch.setattr(fullres, "STRIP_PIXELS", 2000)
    px = pixels_of("grey8", (301, 203))
    ab = torch.rand(2, 32, 32) * 2 - 1
    ab_full = F.interpolate(ab[None], size=px.shape, mode="bilinear", align_corners=False)
    top = 65535 if dtype == np.uint16 else 255
    whole = (color.model_output_to_rgb(color.normalize_l(whole_l(px)), ab_full)[0].permute(1, 2, 0).numpy() * top + 0.5)
    got = fullres.recombine(px, ab, dtype)
    strips = [(r0, rows.copy()) for r0, rows in fullres.rgb_strips(px, ab, dtype)]  # one buffer, written again
    assert got.dtype == dtype and len(strips) > 10 and np.array_equal(np.concatenate([s for _, s in strips]), got)
    assert np.abs(got.astype(np.float64) - whole.astype(np.int64)).max() <= top / 255 + 0.5


@pytest.fixture(autouse=True)
def stream_small_results(monkeypatch):
    monkeypatch.setattr(images, "STREAM_PIXELS", 0)  # the tests' small results are streamed as big ones are


def photo_strips(dtype=np.uint8, shape=(90, 120)) -> Strips:
    px = pixels_of("grey8", shape, seed=3)
    ab = torch.rand(2, 16, 16) * 1.2 - 0.6
    return Strips(shape, dtype, lambda: fullres.rgb_strips(px, ab, dtype))


@pytest.mark.skipif(images._vips() is None, reason="libvips (pyvips) not installed")
@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
def test_streamed_results_equal_those_written_whole_and_keep_the_metadata(tmp_path, ext, monkeypatch):
    strips = photo_strips()
    exif = Image.Exif()
    exif[0x010F] = "ScanCo"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = {"dpi": (600, 600), "exif": exif.tobytes(), "icc_profile": icc}
    save_image(tmp_path / f"streamed{ext}", strips, info=info)
    monkeypatch.setattr(images, "_vips", lambda: None)  # as without libvips: made whole, written by Pillow
    save_image(tmp_path / f"whole{ext}", strips, info=info)
    with Image.open(tmp_path / f"streamed{ext}") as got, Image.open(tmp_path / f"whole{ext}") as want:
        diff = np.abs(np.asarray(got.convert("RGB"), dtype=int) - np.asarray(want.convert("RGB"), dtype=int))
        assert got.size == (120, 90) and diff.max() <= (1 if ext == ".jpg" else 0)
        assert got.info.get("icc_profile") == icc and got.getexif()[0x010F] == "ScanCo"
        assert [round(float(v)) for v in got.info["dpi"]] == [600, 600]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"streamed{ext}", f"whole{ext}"]  # no temp files left


@pytest.mark.skipif(images._vips() is None, reason="libvips (pyvips) not installed")
def test_streamed_16_bit_png_keeps_16_bits_and_no_invented_resolution(tmp_path):
    import cv2

    strips = photo_strips(np.uint16)
    save_image(tmp_path / "deep.png", strips)
    got = cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and np.array_equal(got[..., ::-1], np.asarray(strips))
    save_image(tmp_path / "plain.jpg", photo_strips())
    for name in ("deep.png", "plain.jpg"):
        with Image.open(tmp_path / name) as im:
            assert "dpi" not in im.info  # libvips' default 1 pixel/mm is not passed off as the photo's


@pytest.mark.skipif(images._vips() is None, reason="libvips (pyvips) not installed")
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_streamed_rows_wider_than_a_stored_block_from_one_reused_buffer(tmp_path, dtype):
    """Rows of 12000 pixels (36 / 72 KB: more than one 64 KB stored deflate block each), all strips in one buffer
    written again each time (as rgb_strips does): the file holds every row as it was when made."""
    import cv2

    rng = np.random.default_rng(5)
    want = rng.integers(0, 256 if dtype == np.uint8 else 65536, (23, 12000, 3)).astype(dtype)

    def make():
        buf = np.empty((5, 12000, 3), dtype)
        for r0 in range(0, 23, 5):
            n = min(5, 23 - r0)
            buf[:n] = want[r0 : r0 + n]
            yield r0, buf[:n]

    save_image(tmp_path / "wide.png", Strips((23, 12000), dtype, make))
    assert np.array_equal(cv2.imread(str(tmp_path / "wide.png"), cv2.IMREAD_UNCHANGED)[..., ::-1], want)


def test_a_failure_while_the_rows_are_made_leaves_no_file(tmp_path):
    from tomau.errors import TomauError

    def make():
        yield 0, np.zeros((10, 20, 3), np.uint8)
        raise TomauError("the model broke halfway")

    with pytest.raises(TomauError, match="halfway"):
        save_image(tmp_path / "out.jpg", Strips((40, 20), np.uint8, make))
    assert list(tmp_path.iterdir()) == []


def test_cli_result_of_a_big_grey_jpeg_equals_tomau_colors_maths(tmp_path, tinted_model):
    """End to end through the CLI (decoded pixels, strips, streamed encode) against the whole-image maths."""
    from tomau.cli import main
    from tomau.inference import load_model

    y, x = np.mgrid[0:700, 0:900]
    grey = (128 + 90 * np.sin(x / 37) * np.cos(y / 23)).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "scan.png")
    assert main(["colorize", str(tmp_path / "scan.png"), "-o", str(tmp_path / "out"), "-m", str(tinted_model), "-q"]) == 0
    got = np.asarray(Image.open(tmp_path / "out" / "scan.png"), dtype=int)
    model = load_model(str(tinted_model))
    l_full = whole_l(grey)
    ab = model.predict_ab(color.normalize_l(F.interpolate(l_full, size=(model.image_size,) * 2, mode="bilinear",
                                                          antialias=True, align_corners=False)))
    ab_full = F.interpolate(ab, size=grey.shape, mode="bilinear", align_corners=False)
    want = (color.model_output_to_rgb(color.normalize_l(l_full), ab_full)[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(int)
    assert np.abs(got - want).max() <= 1 and (got != want).mean() < 5e-3


@pytest.mark.parametrize("name, make", [
    ("grey.jpg", lambda rng: Image.fromarray(rng.integers(0, 256, (60, 80), dtype=np.uint8))),
    ("grey16.png", lambda rng: Image.fromarray(rng.integers(0, 65536, (60, 80), dtype=np.uint16))),
    ("rgb.jpg", lambda rng: Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))),
])
@pytest.mark.parametrize("orientation", [1, 6])
def test_grey_photos_decoded_in_place_equal_pillow_s_pixels(tmp_path, name, make, orientation):
    """8- and 16-bit grey photos are decoded into the array itself (no copy); the pixels are Pillow's, also where
    EXIF turns the photo (then the turned image is copied out, as for colour photos)."""
    from PIL import ImageOps

    im = make(np.random.default_rng(1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / name, exif=exif.tobytes())
    got = images.load_image(tmp_path / name)
    with Image.open(tmp_path / name) as want:
        want_pixels, _ = images.pil_to_pixels(ImageOps.exif_transpose(want))
    assert got.pixels.dtype == want_pixels.dtype and np.array_equal(got.pixels, want_pixels)
    assert got.pixels.shape[:2] == ((80, 60) if orientation == 6 else (60, 80)) and got.pixels.flags.writeable


@pytest.mark.skipif(images._vips() is None, reason="libvips (pyvips) not installed")
def test_a_result_libvips_cannot_write_stops_the_rows_and_leaves_no_file(tmp_path, monkeypatch):
    """libvips failing half-way (here: the encoder) ends the thread that makes the rows, and nothing is left."""
    made = []

    def make():
        for r0 in range(0, 400, 10):
            made.append(r0)
            yield r0, np.zeros((10, 300, 3), np.uint8)

    pyvips = images._vips()

    def broken_save(self, *args, **kwargs):
        self.crop(0, 0, 300, 50).avg()  # libvips has read part of the rows, then fails
        raise pyvips.Error("disk full")

    monkeypatch.setattr(pyvips.Image, "jpegsave", broken_save)
    with pytest.raises(images.TomauError, match="libvips could not write"):
        save_image(tmp_path / "out.jpg", Strips((400, 300), np.uint8, make))
    assert list(tmp_path.iterdir()) == [] and len(made) < 40


@pytest.mark.parametrize("kind", ["grey8", "grey16", "rgb8", "rgb16", "float"])
def test_the_numpy_passes_give_the_compiled_ones_results(kind, monkeypatch):
    """Without the compiled module (no C compiler at install), tomau._kernels_numpy runs the same passes: the same
    model input (float32 rounding apart) and colours within a level, for every kind of pixels, whole or in strips,
    in RGB and RGBX, 8 and 16 bits."""
    from tomau import _kernels, _kernels_numpy

    px, ab = pixels_of(kind, (61, 1100), seed=3), torch.rand(2, 16, 16) * 2.4 - 1.2  # wide rows; ab beyond the gamut too
    monkeypatch.setattr(fullres, "STRIP_PIXELS", 20000)  # several strips

    def results():
        rgbx = np.empty((*px.shape[:2], 4), np.uint8)
        return (fullres.model_input_array(px, 32), fullres.recombine(px, ab), fullres.recombine(px, ab, np.uint16),
                fullres.recombine(px, ab, out=rgbx), np.concatenate([r.copy() for _, r in fullres.rgb_strips(px, ab)]))

    want = results()
    monkeypatch.setattr(fullres, "_kernels", _kernels_numpy)
    got = results()
    assert fullres._kernels is not _kernels and np.abs(got[0] - want[0]).max() < 1e-5
    assert np.abs(got[1].astype(int) - want[1]).max() <= 1 and (got[1] != want[1]).mean() < 1e-3
    assert np.abs(got[2].astype(int) - want[2]).max() <= 2
    assert np.abs(got[3].astype(int) - want[3]).max() <= 1 and (got[3][..., 3] == 255).all()
    assert np.array_equal(got[4], got[1])


@pytest.mark.slow
def test_without_the_compiled_module_tomau_colourises_in_numpy_and_says_so_once(tmp_path):
    """An installation without a C compiler has no tomau._kernels: tomau still colourises (the NumPy passes), and one
    note per process says how to get the compiled ones - not an ImportError."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['tomau._kernels'] = None\n"
            "import numpy as np\nfrom tomau import fullres\n"
            "assert fullres._kernels.current() == 'numpy'\n"
            "px = np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)\n"
            "ab = np.zeros((2, 8, 8), np.float32)\n"
            "for _ in range(3):\n    rgb = fullres.recombine(px, ab)\n"
            "x = fullres.model_input_array(px, 16)\n"
            "assert rgb.shape == (40, 50, 3) and (rgb.max(-1) - rgb.min(-1)).max() <= 1 and x.shape == (1, 1, 16, 16)\n"
            "assert 'torch' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("note: tomau's compiled module is not installed") == 1 and "pip install" in run.stderr
