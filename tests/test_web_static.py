"""The static page (web/) colourises a dropped photo inside Chromium, with no request beyond its own files."""
from __future__ import annotations

import base64
import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # builds the page, starts a server and a browser

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
SAMPLES = ROOT / "tomau" / "samples"
CHROMIUM = os.environ.get("TOMAU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def build(model: Path, out: Path) -> Path:
    node = shutil.which("node")
    if not node or not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("the page's runtime is not installed: `make web` (npm ci in web/) needs node and npm")
    done = subprocess.run([node, str(WEB / "build.mjs"), "--model", str(model), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from tomau.export import export_model

    path = tmp_path_factory.mktemp("model") / "default.onnx"
    export_model("default", path, check=False)
    return path


@pytest.fixture(scope="module")
def site(exported, tmp_path_factory):
    """The built page served from its folder by Python's plain static file server (what the README says to run)."""
    dist = build(exported, tmp_path_factory.mktemp("site") / "dist")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(dist)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(site):
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; or set TOMAU_CHROMIUM); `make test` installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(accept_downloads=True)
        page.requested = []
        page.on("request", lambda r: page.requested.append(r.url))
        page.goto(site + "/")
        page.wait_for_selector("text=Ready", timeout=60_000)
        yield page
        browser.close()


def drop(page, path: Path, mime: str) -> None:
    """Drop a file on the page's drop zone as a user's drag and drop does (a DataTransfer holding a File)."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate("""([name, data, mime]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: mime }));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""", [path.name, data, mime])


def test_page_colourises_a_dropped_photo_like_python_and_stays_on_its_origin(page, site, tmp_path):
    from tomau.images import pil_to_float_rgb
    from tomau.inference import load_model

    photo = tmp_path / "girls_grey.png"  # PNG: both sides decode the same pixels (JPEG decoders differ by a level or two)
    Image.open(SAMPLES / "1860_girls.jpg").convert("L").resize((500, 367), Image.BICUBIC).save(photo)
    drop(page, photo, "image/png")
    page.wait_for_selector("text=colourised in", timeout=120_000)
    result = page.evaluate("window.tomauResult")
    assert (result["width"], result["height"]) == (500, 367) and result["modelMs"] > 0
    with page.expect_download() as info:
        page.click("#download")
    info.value.save_as(tmp_path / "browser.png")
    browser = np.asarray(Image.open(tmp_path / "browser.png").convert("RGB")).astype(int)
    python = load_model("default", backend="onnxruntime").colorize_arrays([pil_to_float_rgb(Image.open(photo))[0]])[0].astype(int)
    assert browser.shape == python.shape == (367, 500, 3)
    assert np.ptp(python, axis=-1).mean() > 3  # there is colour to compare, not two grey images
    diff = np.abs(browser - python)
    print(f"browser vs Python onnxruntime: mean {diff.mean():.3f}, 99.9th percentile {np.percentile(diff, 99.9)}, max {diff.max()} levels;"
          f" page {result['totalMs']:.0f} ms (model {result['modelMs']:.0f} ms)")
    assert diff.mean() < 0.5 and diff.max() <= 3  # measured here: mean 0.002, max 1
    outside = [u for u in page.requested if not u.startswith((site + "/", "blob:", "data:"))]
    assert outside == [] and any(u.endswith("/model.onnx") for u in page.requested)


def test_page_says_so_for_a_file_that_is_not_a_photo(page, tmp_path):
    bad = tmp_path / "letter.jpg"
    bad.write_text("this is not a photo")
    drop(page, bad, "image/jpeg")
    page.wait_for_selector("text=letter.jpg: not an image this browser can read", timeout=30_000)


def test_the_build_is_reproducible(exported, tmp_path):
    a, b = build(exported, tmp_path / "a"), build(exported, tmp_path / "b")
    sums = (a / "SHA256SUMS").read_text()
    assert sums == (b / "SHA256SUMS").read_text() and "model.onnx" in sums and "ort-wasm-simd-threaded.wasm" in sums
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
