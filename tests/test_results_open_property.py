"""Property: any image Pillow can write - every mode, size, orientation and format, named with the wrong suffix or cut
short - either gives a result that Pillow, OpenCV and libvips open, upright and at the input's size, or is refused
in one line and leaves no file."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed: pip install 'tomau[test]'")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .test_results_open import assert_opens  # noqa: E402

# the formats that can hold each mode, as Pillow writes them
FORMATS = {"1": ["PNG", "TIFF", "BMP", "GIF"], "L": ["PNG", "TIFF", "JPEG", "BMP", "GIF", "WEBP"], "LA": ["PNG", "TIFF"],
           "P": ["PNG", "TIFF", "BMP", "GIF"], "RGB": ["PNG", "TIFF", "JPEG", "BMP", "WEBP"], "RGBA": ["PNG", "TIFF", "WEBP"],
           "I;16": ["PNG", "TIFF"], "I": ["PNG", "TIFF"], "F": ["TIFF"], "CMYK": ["TIFF", "JPEG"]}
SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "WEBP": ".webp"}
EXIF_FORMATS = {"PNG", "TIFF", "JPEG", "WEBP"}


@st.composite
def images(draw):
    mode = draw(st.sampled_from(sorted(FORMATS)))
    fmt = draw(st.sampled_from(FORMATS[mode]))
    w, h = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    if mode in ("I;16", "I"):
        values = rng.integers(256, 65536, (h, w))  # over 255: a 32-bit grey image of small values is read as 8 bits
        im = Image.fromarray(values.astype(np.uint16), "I;16") if mode == "I;16" else Image.fromarray(values.astype(np.int32))
    elif mode == "F":
        im = Image.fromarray(rng.random((h, w), dtype=np.float32))
    elif mode == "P":
        im = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    else:
        im = base.convert(mode)
    if mode in ("LA", "RGBA"):
        im.putpixel((0, 0), (0, 0) if mode == "LA" else (0, 0, 0, 0))  # not all opaque: every encoder keeps the alpha
    orientation = draw(st.integers(1, 8)) if fmt in EXIF_FORMATS else 1
    lie = draw(st.sampled_from(["none", "suffix", "truncated"]))
    suffix = SUFFIX[fmt] if lie != "suffix" else draw(st.sampled_from([s for s in SUFFIX.values() if s != SUFFIX[fmt]]))
    buf = io.BytesIO()
    kwargs = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    if fmt == "WEBP" and mode == "RGBA":
        kwargs["lossless"] = True
    im.save(buf, format=fmt, **kwargs)
    data = buf.getvalue()
    if lie == "truncated":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    upright = (h, w) if orientation >= 5 else (w, h)  # 5-8 swap the axes
    return f"{mode}-{fmt}-{w}x{h}-o{orientation}-{lie}", suffix, data, upright, mode in ("LA", "RGBA")


@pytest.fixture(scope="module")
def tiny_colorizer(tmp_path_factory):
    import torch

    from tomau.modelfile import save_model_file
    from tomau.models.unet import UNetGenerator
    from tomau.pipeline import load

    from .conftest import TINY_UNET

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model_file(path, UNetGenerator(TINY_UNET).state_dict(),
                    {"task": "colorize", "family": "pix2pix", "generator": {"kind": "unet", "params": vars(TINY_UNET).copy()},
                     "image_size": 32, "normalization": {"l_cent": 50.0, "ab_norm": 110.0}})
    return load(str(path), "colorize")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=images())
def test_any_image_gives_a_result_that_opens_or_one_line(tiny_colorizer, case):
    from tomau.batch import colorize_photos

    name, suffix, data, size, alpha = case
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"photo{suffix}"
        source.write_bytes(data)
        lines: list[str] = []
        counts = colorize_photos([(source, Path(source.name))], Path(tmp) / "out", tiny_colorizer, quiet=True, say=lines.append)
        written = sorted((Path(tmp) / "out").iterdir()) if (Path(tmp) / "out").exists() else []
        if counts.done == 0:
            assert counts.failed == 1 and written == [], (name, lines, written)
            assert len([line for line in lines if line.startswith("error:")]) == 1 and "Traceback" not in "".join(lines), (name, lines)
            return
        assert len(written) == 1, (name, written)
        # 16 bits per channel from a 16-bit input into PNG or TIFF (its real format, whatever its suffix said)
        deep = name.split("-")[0] in ("I;16", "I") and written[0].suffix in (".png", ".tif")
        assert_opens(written[0], size, alpha, deep)
