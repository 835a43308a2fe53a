"""The web page -- its handlers, then the page itself in headless Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tomau.errors import TomauError
from tomau.serve import Session, stop

SAMPLES = Path(__file__).resolve().parents[1] / "tomau" / "samples"


@pytest.fixture(autouse=True)
def private_temp(tmp_path_factory, monkeypatch):
    """Sessions made by the handler tests keep their folders in pytest's temp area, not the machine's."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmp")))


def chroma(path_or_array) -> float:
    a = np.asarray(Image.open(path_or_array).convert("RGB") if isinstance(path_or_array, (str, Path)) else path_or_array)
    return float(np.ptp(a.astype(int), axis=-1).mean())


@pytest.fixture
def grey_photo(tmp_path):
    y, x = np.mgrid[0:48, 0:64]
    g = (128 + 80 * np.sin(x / 7) * np.cos(y / 9)).astype(np.uint8)
    path = tmp_path / "old.png"
    Image.fromarray(g).save(path)
    return path


def test_photo_handler_colours_offers_download_and_keeps_the_input(tmp_path, grey_photo, tinted_model):
    session = Session()
    before_bytes = grey_photo.read_bytes()
    (before, after), gallery, download = session.colorize_photo(str(grey_photo), str(tinted_model))
    assert before.shape == after.shape == (48, 64, 3) and gallery == []
    assert chroma(after) > 10 and chroma(download) > 10 and Path(download).suffix == ".png"
    assert grey_photo.read_bytes() == before_bytes
    ref = tmp_path / "ref.png"
    Image.fromarray(np.tile(np.array([[[200, 40, 40], [40, 60, 200]]], np.uint8), (24, 32, 1))).save(ref)
    for method in ("stats", "welsh"):  # the handler takes the method names as well as the labels
        _, _, download = session.colorize_photo(str(grey_photo), str(tinted_model), str(ref), method)
        assert chroma(download) > 10


def test_photo_handler_gives_several_colourings_from_a_diverse_model(grey_photo):
    (_, after), gallery, _ = Session().colorize_photo(str(grey_photo), "faces", samples=3)  # bundled MDN
    assert len(gallery) == 3 and np.array_equal(gallery[0], after)
    assert any(np.abs(g.astype(int) - gallery[0]).mean() > 0.5 for g in gallery[1:])


def test_handlers_refuse_bad_input_in_one_sentence(tmp_path, grey_photo, tinted_model):
    session = Session(max_pixels=1000, max_video_seconds=0.5)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    cases = [
        (lambda: session.colorize_photo(None, "default"), "upload a photo"),
        (lambda: session.colorize_photo(str(bad), "default"), "notes.png"),
        (lambda: session.colorize_photo(str(grey_photo), str(tinted_model)), "megapixel|pixels"),
        (lambda: Session().colorize_photo(str(grey_photo), str(tinted_model), None, "welsh"), "reference photo"),
        (lambda: session.colour_hints(None, "default"), "upload a photo"),
        (lambda: Session().colour_hints({"background": np.zeros((8, 8, 3), np.uint8), "layers": []}, "default"), "draw some colour"),
        (lambda: session.colorize_film(None, "default"), "upload a film"),
        (lambda: session.colorize_film(str(grey_photo), "default"), "not a video file"),
    ]
    for call, message in cases:
        with pytest.raises(TomauError, match=message):
            call()


def test_serve_checks_the_models_it_is_given_at_start_up(tinted_model):
    from tomau.serve import colorizer_names

    names = colorizer_names([str(tinted_model)])
    from tomau.modelfile import DEFAULT_MODEL

    assert DEFAULT_MODEL in names and "flowers_gan" not in names and names[0] == str(tinted_model)
    with pytest.raises(TomauError, match="not a colourisation model"):
        colorizer_names(["flowers_gan"])
    with pytest.raises(TomauError, match="no such model"):
        colorizer_names(["/nonexistent/model.safetensors"])


def test_serve_without_gradio_says_how_to_get_it(monkeypatch, capsys):
    import importlib.util

    from tomau.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["serve"]) == 2
    assert "pip install 'tomau[serve]'" in capsys.readouterr().err


def test_hint_handler_uses_the_painted_strokes(tinted_model):
    h, w = 40, 60
    photo = np.full((h, w, 3), 90, np.uint8)
    photo[:, 30:] = 200
    strokes = np.zeros((h, w, 4), np.uint8)
    strokes[18:22, 5:20] = (40, 90, 220, 255)  # blue on the dark half
    strokes[18:22, 40:55] = (200, 200, 200, 255)  # a grey stroke keeps the light half neutral
    result, download = Session().colour_hints({"background": photo, "layers": [strokes], "composite": photo},
                                              str(tinted_model), on_model=False)
    assert result[:, :25, 2].mean() > result[:, :25, 0].mean() + 20  # the dark half is blue
    assert abs(int(result[:, 40:, 2].mean()) - int(result[:, 40:, 0].mean())) < 15  # the light half stays neutral
    assert Path(download).exists()


def test_film_handler(tmp_path, tinted_model):
    pytest.importorskip("av")
    from .test_video import grey_clip

    clip = grey_clip(tmp_path / "film.mp4", n=6)
    out = Session().colorize_film(str(clip), str(tinted_model), 0.9)
    assert Path(out).name == "film_colour.mp4" and Path(out).stat().st_size > 0


# ---- the page in a browser ------------------------------------------------------------------------------------
CHROMIUM = os.environ.get("TOMAU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url():
    pytest.importorskip("gradio")
    from tomau.serve import serve

    port = free_port()
    app = serve(port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    stop(app)


@pytest.fixture
def browser_page():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; or set TOMAU_CHROMIUM); `make test` installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900}, accept_downloads=True)
        page.set_default_timeout(180_000)  # a busy machine (a training run beside the suite) is slow, not broken
        yield page
        browser.close()


def upload(page, box: str, path: Path, shown: str, inside: bool = True, prepare=None) -> None:
    """Give ``path`` to the file input in ``box`` and wait until ``shown`` appears there (or anywhere, inside=False). The page can take a
    moment after it is drawn before its upload handlers listen; a file given too early is dropped, so try again
    (seen about once in ten runs, in the editor and in the file box alike). Under heavy load (full suites beside a
    training run) uploads seemed to stick for minutes: the file was in the box, but written as "face .png" to a
    text match (see below), until a reload drew it otherwise. A file not shown 90 s after its upload started still
    gets the page reloaded, up to twice; ``prepare()`` puts back what the test had set, and a warning says why, with
    the page's failed and unanswered requests."""
    file_input = page.locator(f"{box} input[type=file]").first
    target = (page.locator(box) if inside else page).locator(shown)
    if shown == f"text={path.name}":
        # Gradio's file box writes the name as <span>stem</span> <span>.ext</span>, which is "stem .ext" to a text
        # match in some renders (the cause of uploads that seemed stuck for minutes); the cell's aria-label is the name
        target = target.or_(page.locator(box).locator(f'[aria-label="{path.name}"]'))
    target = target.first
    why, failed, open_requests = "", [], {}
    name = lambda r: f"{r.method} /{'/'.join(r.url.split('?')[0].rsplit('/', 2)[-2:])}"  # noqa: E731
    page.on("request", lambda r: open_requests.__setitem__(id(r), name(r)))
    page.on("requestfinished", lambda r: open_requests.pop(id(r), None))
    page.on("requestfailed", lambda r: (open_requests.pop(id(r), None), failed.append(f"{name(r)} {r.failure}")))
    for load in range(3):
        if load:
            warnings.warn(f"{box}: {path.name} not taken by the page ({why}; failed requests: {failed[-3:] or 'none'}; "
                          f"unanswered: {sorted(set(open_requests.values()))[:4] or 'none'}); reloading the page")
            page.reload()
            page.wait_for_selector("#colourise")
            if prepare is not None:
                prepare()
        why = _give_file(file_input, target, path, wait_input_ms=45_000 if load == 0 else 120_000)
        if not why:
            return
    page.screenshot(path="/tmp/upload_fail.png")
    raise AssertionError(f"{box}: {path.name} was not taken by the page, before or after two reloads ({why}; "
                         f"failed requests: {failed[-3:] or 'none'}; /tmp/upload_fail.png)")


def _give_file(file_input, target, path: Path, wait_input_ms: int) -> str:
    """Up to four tries on one drawn page: "" once the file shows, else why not."""
    for _ in range(4):
        try:
            file_input.wait_for(state="attached", timeout=wait_input_ms)
        except Exception:
            return f"no file input in the box after {wait_input_ms // 1000} s"
        try:
            file_input.set_input_files([], timeout=30_000)  # the same file given twice is no change, and no upload; clear first
            file_input.set_input_files(str(path), timeout=30_000)
        except Exception as err:
            return f"the file input refused it: {type(err).__name__}"
        taken = _taken(file_input, target)
        if taken == "shown":
            return ""
        if taken == "stuck":
            return "its file input left the box and the file did not show within 90 s"
    return "dropped four times"


def _taken(file_input, target, dropped_ms: int = 20_000, stuck_ms: int = 90_000) -> str:
    """What became of a file just given: "shown" in the box; "dropped" (the box kept its empty file input for
    ``dropped_ms``: given too early, or its upload ended without it; give it again); "stuck" (not shown within
    ``stuck_ms``). While the file uploads the box has no file input, so that time counts only to ``stuck_ms``."""
    empty_for = 0
    for _ in range(stuck_ms // 250):
        if target.count():
            return "shown"
        empty_for = empty_for + 250 if file_input.count() else 0
        if empty_for >= dropped_ms:
            return "dropped"
        target.page.wait_for_timeout(250)
    return "stuck"


def download(page, file_box: str, target: Path) -> Path:
    """Wait for the result's link in a File box, click it as a user would, save what the browser receives."""
    link = page.locator(f"{file_box} a").first
    link.wait_for(timeout=180_000)
    with page.expect_download() as info:
        link.click()
    info.value.save_as(target)
    return target


@pytest.mark.slow
def test_page_upload_colorize_download(browser_page, page_url, tmp_path):
    page = browser_page
    page.goto(page_url)
    page.wait_for_selector("#colourise")
    photo = tmp_path / "girls_grey.jpg"
    Image.open(SAMPLES / "1860_girls.jpg").convert("L").save(photo)  # truly grey: any colour comes from the model
    upload(page, "#photo-input", photo, "text=girls_grey.jpg")
    page.click("#colourise")
    target = download(page, "#photo-download", tmp_path / "downloaded.png")
    result = Image.open(target)
    assert result.size == Image.open(photo).size
    assert chroma(photo) == 0 and chroma(target) > 4  # coloured
    page.screenshot(path=str(tmp_path / "page.png"))


@pytest.mark.slow
def test_page_shows_a_clear_message_for_a_bad_file(browser_page, page_url, tmp_path):
    page = browser_page
    page.goto(page_url)
    page.wait_for_selector("#colourise")
    bad = tmp_path / "letter.jpg"
    bad.write_text("this is not a photo")
    upload(page, "#photo-input", bad, "text=letter.jpg")
    page.click("#colourise")
    page.wait_for_selector("text=not an image Pillow can read", timeout=180_000)
    time.sleep(0.2)


@pytest.mark.slow
def test_page_colour_hints_painted_with_the_brush(browser_page, page_url, tmp_path):
    page = browser_page
    page.goto(page_url)
    page.get_by_role("tab", name="Colour hints").click()
    photo = tmp_path / "street.png"
    Image.fromarray(np.tile(np.linspace(60, 200, 400).astype(np.uint8), (300, 1))).save(photo)
    upload(page, "#hint-editor", photo, "button[aria-label=Color]")
    time.sleep(1)  # the editor draws the photo
    page.locator("#hint-editor button[aria-label=Color]").click()
    page.locator('#hint-editor button.color[style*="rgb(47, 109, 181)"]').click()  # blue from the palette
    page.get_by_text("Upload the photo, pick a colour").click()  # close the palette
    box = page.locator("#hint-editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 10, steps=12)
    page.mouse.up()
    page.get_by_label("Start from the model's colours (else: strokes alone)").uncheck()
    page.click("#apply-hints")
    target = download(page, "#hint-download", tmp_path / "hinted.png")
    result = np.asarray(Image.open(target).convert("RGB")).astype(int)
    assert result.shape == (300, 400, 3)
    assert (result[..., 2] - result[..., 0]).mean() > 15  # blue, from the one blue stroke


@pytest.mark.slow
def test_page_refuses_uploads_over_the_limit(browser_page):
    from tomau.serve import serve

    port = free_port()
    app = serve(port=port, block=False, max_upload_mb=0.05)
    try:
        page = browser_page
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#colourise")
        upload(page, "#photo-input", SAMPLES / "1860_girls.jpg", "text=exceed the maximum allowed size", inside=False)  # 79 kB
    finally:
        stop(app)


@pytest.mark.slow
def test_page_several_colourings_from_a_diverse_model(browser_page, page_url, tmp_path):
    page = browser_page
    page.goto(page_url)
    page.wait_for_selector("#colourise")
    assert not page.locator("#samples").is_visible()  # the default model gives one colouring

    def three_colourings_of_faces():
        page.locator("#photo-model input").click()
        page.get_by_role("option", name="faces").click()
        page.locator("#samples").wait_for(state="visible")
        page.locator("#samples input[type=number]").fill("3")
        page.locator("#samples input[type=number]").press("Enter")

    three_colourings_of_faces()
    photo = tmp_path / "face.png"
    Image.open(SAMPLES / "1860_girls.jpg").convert("L").resize((128, 128)).save(photo)
    upload(page, "#photo-input", photo, "text=face.png", prepare=three_colourings_of_faces)
    page.click("#colourise")
    page.wait_for_function("document.querySelectorAll('#colourings img').length >= 3", timeout=180_000)
    assert page.locator("#colourings img").count() == 3


def test_session_sweeps_old_files_and_cleans_up(grey_photo, tinted_model):
    other = Session(keep_minutes=1)  # another page of this process, with an old upload of its own
    theirs = other.upload_dir / "old" / "y.png"
    theirs.parent.mkdir()
    theirs.write_bytes(b"y")
    session = Session(keep_minutes=1)
    assert session.upload_dir != other.upload_dir
    _, _, download = session.colorize_photo(str(grey_photo), str(tinted_model))
    upload = session.upload_dir / "abcsweep" / "x.png"
    upload.parent.mkdir()
    upload.write_bytes(b"x")
    assert session.sweep(now=time.time()) == 0  # young files stay
    assert session.sweep(now=time.time() + 61) >= 2 and not Path(download).exists() and not upload.exists()
    assert session.outdir.is_dir() and not any(session.outdir.iterdir()) and not upload.parent.exists()
    assert theirs.exists()  # one page's sweep never touches another page's uploads
    session.cleanup()
    assert not session.root.exists() and theirs.exists()
    other.cleanup()
    assert not other.root.exists()


def test_a_new_page_removes_what_a_killed_server_left(tmp_path):
    import subprocess
    import sys
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    temp = Path(tempfile.gettempdir())
    left = temp / f"tomau_serve_{dead.pid}_abc123"  # as a SIGKILLed `tomau serve` leaves it: its lock held by no one
    (left / "page_x" / "uploads").mkdir(parents=True)
    (left / "page_x" / "uploads" / "photo.png").write_bytes(b"x")
    (left / ".tomau-serve.lock").write_bytes(b"")
    alive = temp / f"tomau_serve_{os.getpid()}_zzz999"  # a running server's folder stays (a new one, no lock yet)
    alive.mkdir()
    session = Session()
    try:
        assert not left.exists() and alive.exists()
    finally:
        session.cleanup()
        shutil.rmtree(alive)


def test_the_hints_tab_refuses_a_bomb_before_decoding_it(tmp_path):
    gr = pytest.importorskip("gradio")
    from gradio.data_classes import FileData

    from tomau.serve import build_app

    from .conftest import header_only_png

    app = build_app(max_pixels=1_000_000)
    try:
        editor = next(b for b in app.blocks.values() if isinstance(b, gr.ImageEditor))
        bomb = header_only_png(tmp_path / "bomb.png", 12_000, 12_000)  # 144 MP by its header, 100 bytes on disk
        with pytest.raises(gr.Error, match="144 megapixels"):
            editor.convert_and_format_image(FileData(path=str(bomb), orig_name="bomb.png"))
    finally:
        app.session.cleanup()


@pytest.mark.slow
def test_a_served_page_leaves_nothing_behind_after_sigterm(tmp_path, grey_photo):
    """Run `tomau serve` for real, colourise an uploaded photo through its API, stop it with SIGTERM: every
    upload and result is gone (and nothing went to Gradio's shared temp folder)."""
    import re
    import signal
    import subprocess
    import sys

    from tomau.modelfile import DEFAULT_MODEL

    client_mod = pytest.importorskip("gradio_client")
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), GRADIO_ANALYTICS_ENABLED="False")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tomau", "serve", "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"kept in (\S+) and (\S+) for", line)
        root, uploads = Path(found.group(1)), Path(found.group(2))
        assert root.is_dir() and uploads.is_dir() and str(root).startswith(str(tmp_path / "tmp"))
        for _ in range(240):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        client = client_mod.Client(f"http://127.0.0.1:{port}/", download_files=str(tmp_path / "client"), verbose=False)
        result = client.predict(client_mod.handle_file(str(grey_photo)), DEFAULT_MODEL, None, "model only", 1, api_name="/colourise")
        assert Path(result[2]).exists()  # the client's copy of the PNG
        assert any(p.suffix == ".png" for p in (root / "results").rglob("*")) and any(p.is_file() for p in uploads.rglob("*"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 130  # as after Ctrl-C: interrupted
    said = proc.stderr.read()
    assert "share=True" not in said and "Traceback" not in said
    assert not root.exists() and not uploads.exists()
    # onnxruntime (the CPU backend) writes a 51-byte session id, $TMPDIR/.ses, on its first session: not a user's file
    left = [p for p in (tmp_path / "tmp").rglob("*") if p.is_file() and p.name != ".ses"]
    assert left == [], left


def test_page_errors_name_the_users_file_not_the_servers_temp_path(tmp_path):
    session = Session()
    upload = session.upload_dir / "0f3a9c" / "grandma.png"
    upload.parent.mkdir()
    upload.write_text("not an image")
    with pytest.raises(TomauError) as err:
        session.colorize_photo(str(upload), "default")
    shown = session.user_message(str(err.value))
    assert shown.startswith("grandma.png:") and str(session.root) not in shown
    import tempfile

    assert session.user_message(f"{tempfile.gettempdir()}/gradio/abc123/x.png: bad") == "x.png: bad"


def test_points_handlers_add_choose_colour_move_delete_undo_save_and_reopen(tmp_path):
    """Colour by points without a browser: a click adds a point with the most likely colour there and offers the
    suggestions; a click near it chooses it; move, delete, undo; the saved points reopen the same result."""
    from tomau.guided import read_points

    session = Session()
    photo = SAMPLES / "1860_girls.jpg"
    state, canvas, result, suggested, table = session.points_start(str(photo))
    width = Image.open(photo).size[0]
    scale = width / canvas.shape[1]
    assert canvas.shape == result.shape and max(canvas.shape[:2]) <= 640 and suggested == [] and table == []
    plain = result
    state, canvas, result, suggested, table = session.points_click(state, 100, 120)
    assert len(state["points"]) == 1 and state["selected"] == 0 and len(suggested) >= 3
    assert state["points"][0][2] == suggested[0][0]  # the most likely colour first
    assert table == [[round(100 * scale, 1), round(120 * scale, 1), suggested[0][0]]]
    state, _, result, _, _ = session.points_colour(state, "rgba(30, 60, 200, 1)")  # the picker's spelling
    assert state["points"][0][2] == "#1e3cc8"
    assert np.abs(result.astype(int) - plain).max() > 20  # the blue shows
    state, *_ = session.points_click(state, 400, 300)  # far from it: a second point
    state, *_ = session.points_click(state, 101, 121)  # near the first: chooses it
    assert len(state["points"]) == 2 and state["selected"] == 0
    state, *_ = session.points_click(state, 200, 50, move=True)
    assert state["points"][0][:2] == [200 * scale, 50 * scale] and state["points"][0][2] == "#1e3cc8"
    state, *_ = session.points_delete(state)
    assert len(state["points"]) == 1 and state["selected"] is None
    state, *_ = session.points_undo(state)
    assert len(state["points"]) == 2
    png, csv = session.points_save(state)
    assert Image.open(png).size == Image.open(photo).size
    assert [[p.x, p.y, p.color] for p in read_points(csv)] == [[round(x, 4), round(y, 4), c] for x, y, c in state["points"]]
    fresh, *_ = session.points_start(str(photo))
    reopened, *_ = session.points_reopen(fresh, csv)
    assert np.array_equal(np.asarray(Image.open(session.points_save(reopened)[0])), np.asarray(Image.open(png)))
    for bad, says in ((lambda: session.points_colour(fresh, "#ff0000"), "place a point"),
                      (lambda: session.points_undo(fresh), "nothing to undo"),
                      (lambda: session.points_delete(fresh), "choose it"),
                      (lambda: session.points_start(None), "upload a photo")):
        with pytest.raises(TomauError, match=says):
            bad()
    far = tmp_path / "far.csv"
    far.write_text("x,y,color\n99999,5,#ff0000\n")
    with pytest.raises(TomauError, match="outside"):
        session.points_reopen(fresh, str(far))


@pytest.mark.slow
def test_page_colour_by_points_clicks_a_suggestion_and_the_result_changes_there_only(browser_page, page_url, tmp_path):
    from tomau.inference import load_model

    page = browser_page
    page.goto(page_url)
    page.get_by_role("tab", name="Colour by points").click()
    photo = tmp_path / "girls_grey.png"
    Image.open(SAMPLES / "1860_girls.jpg").convert("L").save(photo)
    upload(page, "#points-photo", photo, "#points-canvas img", inside=False)
    canvas = page.locator("#points-canvas img").first
    canvas.wait_for()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    options = page.locator("#points-suggestions label")
    page.wait_for_function("document.querySelectorAll('#points-suggestions label').length >= 3", timeout=180_000)
    assert page.locator("#points-table tbody tr").count() == 1
    before = page.locator("#points-result img").first.get_attribute("src")
    options.last.click()  # the least likely suggestion: the most unlike the model's own colour
    page.wait_for_function(f"document.querySelector('#points-result img').getAttribute('src') !== {before!r}", timeout=180_000)
    page.click("#points-save")
    result = np.asarray(Image.open(download(page, "#points-download", tmp_path / "result.png")).convert("RGB")).astype(int)
    points_csv = download(page, "#points-csv", tmp_path / "points.csv").read_text().splitlines()
    assert points_csv[0] == "x,y,color" and len(points_csv) == 2
    x, y = (float(v) for v in points_csv[1].split(",")[:2])
    plain = load_model("default", backend="torch").colorize_arrays([np.asarray(Image.open(photo))])[0].astype(int)
    h, w = plain.shape[:2]
    assert abs(x - w * 0.5) < w * 0.02 and abs(y - h * 0.45) < h * 0.02  # where it was clicked
    near = (slice(int(y) - h // 40, int(y) + h // 40), slice(int(x) - w // 40, int(x) + w // 40))
    assert np.abs(result[near] - plain[near]).mean() > 4  # changed where clicked
    assert np.abs(result[: h // 8, : w // 8] - plain[: h // 8, : w // 8]).mean() < 2  # and not far away
    page.click("#points-undo")  # the colour chosen, then the point placed
    page.wait_for_function(f"document.querySelector('#points-result img').getAttribute('src') !== {before!r}", timeout=180_000)
    page.click("#points-undo")
    page.wait_for_function("document.querySelectorAll('#points-table tbody tr').length === 0 || "
                           "document.querySelector('#points-table tbody td')?.innerText.trim() === ''", timeout=180_000)
    page.screenshot(path=str(tmp_path / "points_page.png"))
