"""`tomau serve`: a local web page (Gradio) for restorers.

Tabs: Photo (upload, pick a model, optional reference photo, before/after slider, several colourings from a
diverse model, download), Colour by points (click a point, pick one of the colours the hints network suggests
there or any colour, the result updates; undo, move, delete; save the result and the points, reopen the points),
Colour hints (paint on the photo with a brush and colour picker; Levin et al.'s method, alone or on a
model), Film (upload a video, colourise every frame, download). Bound to 127.0.0.1 unless told otherwise;
uploads above ``max_upload_mb`` are refused by the server, photos above ``max_pixels`` and films longer than
``max_video_seconds`` with one sentence. Every failure is shown as one sentence in the page.

The handlers are plain functions (``colorize_photo``, ``points_*``, ``colour_hints``, ``colorize_film``) so they are
tested without a browser; tests/test_serve.py also drives the page in headless Chromium.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .errors import TomauError
from .images import DEFAULT_MAX_PIXELS, load_image, save_image

BRUSH_COLOURS = ["#b5332e", "#d9822b", "#e8c547", "#4f8a3c", "#2f6db5", "#7a4fa0", "#8a5a3b", "#e0ac8f", "#6f8fa8"]
POINTS_PREVIEW = 640  # the longest side of the clickable copy and the result shown while points are placed
POINT_PICK_RADIUS = 0.03  # a click this close to a point (share of the preview's longer side) picks it instead of adding one
METHODS = {"model only": None, "model + reference palette (stats)": "stats",
           "reference only (Welsh et al.; best for a tinted copy of the same picture)": "welsh"}


def colorizer_names(extra: list[str] | None = None) -> list[str]:
    """The models given (-m: the first is the page's choice), then the bundled colourisers (not generators)."""
    from .modelfile import DEFAULT_MODEL, bundled_models
    from .pipeline import task_of

    names = []
    for e in extra or []:  # checked now, so a wrong path fails at start-up, not at the first request
        if task_of(str(e)) != "colorize":
            raise TomauError(f"{e}: not a colourisation model (tomau train pix2pix / resunet / effunet / cvae / mdn make those)")
        names.append(str(e))
    bundled = [n for n in bundled_models() if task_of(n) == "colorize"]
    bundled.sort(key=lambda n: n != DEFAULT_MODEL)  # the default first among the bundled ones
    return names + [n for n in bundled if n not in names]

_LIVE: set = set()  # sessions not yet cleaned up
_ROOT: list[Path] = []  # this process's folder (tomau_serve_PID_*), holding one folder per page, while a page exists
_ROOT_PREFIX = "tomau_serve_"
_LOCK_NAME = ".tomau-serve.lock"  # in each process's folder, locked (flock) while that process runs
_LOCK: list[tuple[int, Path]] = []  # (the open lock file, its folder) of this process


def _folder_in_use(folder: Path) -> bool:
    """True while the process whose folder this is runs: it holds an exclusive lock on the folder's lock file, which
    the kernel drops when the process ends however it ends (SIGKILL too). A lock works across PID namespaces that
    share /tmp, where a PID names another process or none. A folder without a lock file (an older tomau's, or one
    being made this instant) is judged by its PID, and only once it is a minute old."""
    import fcntl
    import re
    import time

    try:
        fd = os.open(folder / _LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        found = re.fullmatch(rf"{_ROOT_PREFIX}(\d+)_\w+", folder.name)
        if not found or time.time() - folder.stat().st_mtime < 60:
            return True
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False  # nobody holds it: the process is gone
    except OSError:
        return True
    finally:
        os.close(fd)


def _remove_orphans(temp: Path) -> int:
    """Delete the folders that pages of processes no longer running left behind (a SIGKILL runs no cleanup):
    ``tomau_serve_*`` of this user that no running process holds the lock of (:func:`_folder_in_use`). Returns how
    many went."""
    import shutil

    removed = 0
    for folder in temp.glob(f"{_ROOT_PREFIX}*_*"):
        try:
            if (folder in _ROOT or not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid()
                    or _folder_in_use(folder)):
                continue
        except OSError:  # gone meanwhile, or not ours to judge
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def _hold_lock(root: Path) -> None:
    """Hold the lock of this process's folder (again, if the folder or its lock file was removed and remade)."""
    import fcntl

    lock = root / _LOCK_NAME
    if _LOCK:
        fd, folder = _LOCK[0]
        try:
            if folder == root and os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False)):
                return
        except OSError:
            pass
        os.close(fd)
        _LOCK.clear()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _LOCK.append((fd, root))


def _release_lock() -> None:
    while _LOCK:
        os.close(_LOCK.pop()[0])


def _process_root() -> Path:
    """The folder of this process's pages. Gradio accepts an upload only below the folder named by GRADIO_TEMP_DIR,
    read at every request: it names this folder, and each page uploads into its own folder below it. Made again
    at the same place if it was removed (a cleaner of /tmp, another program)."""
    _remove_orphans(Path(tempfile.gettempdir()))  # at every page's start: what killed servers left is gone
    if not _ROOT:
        _ROOT[:] = [Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{os.getpid()}_"))]
    elif not _ROOT[0].is_dir():
        try:
            _ROOT[0].mkdir(mode=0o700)
        except FileExistsError:  # something else has the name now (a link, a file): a new folder
            _ROOT[:] = [Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{os.getpid()}_"))]
    _hold_lock(_ROOT[0])
    os.environ["GRADIO_TEMP_DIR"] = str(_ROOT[0])
    return _ROOT[0]


class Session:
    """Loaded models (kept between requests) and the limits; one per app."""

    def __init__(self, max_pixels: int | None = DEFAULT_MAX_PIXELS, max_video_seconds: float = 300, device: str = "cpu",
                 keep_minutes: float = 10):
        self.max_pixels, self.max_video_seconds, self.device = max_pixels, max_video_seconds, device
        self.keep_seconds = keep_minutes * 60
        self._models: dict[str, object] = {}
        self._hint_sessions: dict[str, object] = {}  # photo path -> tomau.guided.HintSession (the encoder ran once)
        self._lock = threading.Lock()
        # everything this page stores - Gradio's copies of uploads and our results - lives under its own folder,
        # swept of files older than keep_minutes while the server runs and removed when it stops; another page
        # of the same process has its own folder, so one page's sweep never touches another's uploads
        self.root = Path(tempfile.mkdtemp(prefix="page_", dir=_process_root()))
        self.outdir = self.root / "results"
        self.outdir.mkdir()
        self.upload_dir = self.root / "uploads"
        self.upload_dir.mkdir()
        _LIVE.add(self)

    def ensure_folders(self) -> None:
        """Make this page's folders again where they were removed while it runs (at each sweep and request)."""
        if self.outdir.is_dir() and self.upload_dir.is_dir() and _ROOT and (_ROOT[0] / _LOCK_NAME).exists():
            return
        if not _ROOT or _ROOT[0] != self.root.parent or not self.root.parent.is_dir():
            _ROOT[:] = [self.root.parent]
        _process_root()
        for folder in (self.root, self.outdir, self.upload_dir):
            folder.mkdir(mode=0o700, exist_ok=True)

    def sweep(self, now: float | None = None) -> int:
        """Delete stored files older than keep_minutes (and folders left empty); returns how many files went."""
        import time

        now = time.time() if now is None else now
        self.ensure_folders()
        removed = 0
        paths = list(self.root.rglob("*"))  # this page's folder only: another page's files are its own
        for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
            try:
                if path.is_file() and now - path.stat().st_mtime > self.keep_seconds:
                    path.unlink()
                    removed += 1
                elif path.is_dir() and path not in (self.outdir, self.upload_dir) and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                pass  # in use or already gone
        return removed

    def user_message(self, message: str) -> str:
        """A message as the user should read it: the server's temp paths become the file's own name."""
        import re

        roots = [re.escape(str(p)) for p in (self.root, self.upload_dir, Path(tempfile.gettempdir()) / "gradio")]
        return re.sub(rf"(?:{'|'.join(roots)})/(?:[^\s:/]+/)*([^\s:/]+)", r"\1", message)

    def cleanup(self) -> None:
        """Remove every upload and result of this page, and the process's folder when no other page runs."""
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE.discard(self)
        if not _LIVE and _ROOT:
            shutil.rmtree(_ROOT.pop(), ignore_errors=True)
            _release_lock()
            os.environ.pop("GRADIO_TEMP_DIR", None)

    def model(self, name: str):
        from .pipeline import load

        with self._lock:
            if name not in self._models:
                self._models[name] = load(name, "colorize", self.device)
            return self._models[name]

    def _out(self, source: str | os.PathLike, suffix: str) -> Path:
        self.ensure_folders()
        folder = Path(tempfile.mkdtemp(dir=self.outdir))
        return folder / f"{Path(source).stem}_colour{suffix}"

    # ---- handlers: inputs as the page gives them, outputs as the page shows them ----------------------------
    def colorize_photo(self, photo: str | None, model_name: str, reference: str | None = None,
                        method: str = "model only", samples: int = 1):
        """-> ((before, after) uint8 arrays, [extra colourings], path of the PNG to download)."""
        from .batch import colorings
        from .reference import needs_model

        if not photo:
            raise TomauError("upload a photo first")
        img = load_image(photo, self.max_pixels)
        how = METHODS.get(method, method)
        if reference and how is None:
            how = "stats"
        if how and not reference:
            raise TomauError("this method needs a reference photo: upload a colour photo of a similar scene")
        model = self.model(model_name) if how is None or needs_model(how) else None
        several = not how and samples > 1 and model.can_sample
        ref = load_image(reference, self.max_pixels).rgb if how else None
        outs = colorings(model, [img], int(samples) if several else None, reference=ref, reference_method=how or "stats",
                          keep_16_bits=False)[0]
        gallery: list[np.ndarray] = outs if several else []
        result = outs[0]
        target = self._out(photo, ".png")
        save_image(target, result, img.alpha)
        before = (img.rgb * 255 + 0.5).astype(np.uint8)
        return (before, result), gallery, str(target)

    # ---- colour by points: the hints network (tomau.guided) ---------------------------------------------------
    # The page's state is a dict: photo (path), points (list of [x, y, '#rrggbb'] in the photo's pixels), history
    # (earlier points lists, for undo), selected (index or None), suggestions (list of (colour, probability)).
    def _hint_session(self, photo: str):
        from .guided import HINTS_MODEL, HintSession

        with self._lock:
            if photo not in self._hint_sessions:
                model = self._models.get(HINTS_MODEL)
                if model is None:
                    from .inference import load_model

                    model = self._models[HINTS_MODEL] = load_model(HINTS_MODEL, self.device, backend="torch")
                img = load_image(photo, self.max_pixels)
                session = HintSession(model, img.pixels)
                session.preview_pixels = _preview_pixels(img.pixels)
                self._hint_sessions = {photo: session}  # one photo at a time per page
            return self._hint_sessions[photo]

    def points_start(self, photo: str | None):
        """A new photo: -> (state, canvas, result, suggestions, table)."""
        if not photo:
            raise TomauError("upload a photo first")
        state = {"photo": str(photo), "points": [], "history": [], "selected": None, "suggestions": []}
        return state, *self.points_view(state)

    def points_view(self, state: dict):
        """(canvas: the grey preview with the points drawn, result preview, suggestions, points table)."""
        from .guided import Point

        session = self._hint_session(state["photo"])
        points = [Point(*p) for p in state["points"]]
        result = session.preview(points, session.preview_pixels)
        canvas = _draw_points(session.preview_pixels, state["points"], state["selected"], session.width)
        table = [[round(x, 1), round(y, 1), c] for x, y, c in state["points"]]
        return canvas, result, list(state["suggestions"]), table

    def _changed(self, state: dict, points: list) -> dict:
        return {**state, "points": points, "history": [*state["history"], state["points"]]}

    def points_click(self, state: dict | None, x: float, y: float, move: bool = False):
        """A click at (x, y) of the preview: with ``move`` the selected point goes there; near a point it picks that
        point; elsewhere a point is added there with the most likely colour. The suggestions are the chosen point's."""
        from .guided import Point

        if not state or not state.get("photo"):
            raise TomauError("upload a photo first")
        session = self._hint_session(state["photo"])
        scale = session.width / session.preview_pixels.shape[1]
        px, py = min(x * scale, session.width - 0.5), min(y * scale, session.height - 0.5)
        points, selected = [list(p) for p in state["points"]], state["selected"]
        near = [i for i, (qx, qy, _) in enumerate(points)
                if np.hypot(qx - px, qy - py) <= POINT_PICK_RADIUS * max(session.width, session.height)]
        if move and selected is not None:
            state = self._changed(state, [*points[:selected], [px, py, points[selected][2]], *points[selected + 1:]])
        elif near:
            selected = near[0]
            state = {**state, "selected": selected}
        else:
            others = [Point(*p) for p in points]
            colour = session.suggest(px, py, others, k=1)[0][0]
            state = {**self._changed(state, [*points, [px, py, colour]]), "selected": len(points)}
        qx, qy, _ = state["points"][state["selected"]]
        others = [Point(*p) for i, p in enumerate(state["points"]) if i != state["selected"]]
        state["suggestions"] = [(c, round(p, 3)) for c, p in session.suggest(qx, qy, others)]
        return state, *self.points_view(state)

    def points_colour(self, state: dict | None, colour: str | None):
        """The selected point takes ``colour`` ('#rrggbb', a suggestion or the picker's)."""
        from .guided import parse_colour

        if not state or state.get("selected") is None or not colour:
            raise TomauError("click the photo to place a point first")
        r, g, b = parse_colour(_hex_of(colour))
        points = [list(p) for p in state["points"]]
        points[state["selected"]][2] = f"#{r:02x}{g:02x}{b:02x}"
        state = self._changed(state, points)
        return state, *self.points_view(state)

    def points_undo(self, state: dict | None):
        if not state or not state.get("history"):
            raise TomauError("nothing to undo")
        points = state["history"][-1]
        selected = state["selected"] if state["selected"] is not None and state["selected"] < len(points) else None
        state = {**state, "points": points, "history": state["history"][:-1], "selected": selected,
                 "suggestions": state["suggestions"] if selected is not None else []}
        return state, *self.points_view(state)

    def points_delete(self, state: dict | None):
        if not state or state.get("selected") is None:
            raise TomauError("click a point to choose it first")
        i = state["selected"]
        state = {**self._changed(state, state["points"][:i] + state["points"][i + 1:]), "selected": None, "suggestions": []}
        return state, *self.points_view(state)

    def points_reopen(self, state: dict | None, points_file: str | None):
        """Points saved earlier (a CSV x,y,color) replace the current ones."""
        from .guided import read_points

        if not state or not state.get("photo"):
            raise TomauError("upload the photo first, then its points")
        if not points_file:
            raise TomauError("choose a points file (CSV with the header x,y,color)")
        session = self._hint_session(state["photo"])
        points = read_points(points_file)
        outside = [p for p in points if not (0 <= p.x < session.width and 0 <= p.y < session.height)]
        if outside:
            raise TomauError(f"{Path(points_file).name}: point ({outside[0].x:g}, {outside[0].y:g}) lies outside the "
                             f"{session.width}x{session.height} photo; are these this photo's points?")
        state = {**self._changed(state, [[p.x, p.y, p.color] for p in points]), "selected": None, "suggestions": []}
        return state, *self.points_view(state)

    def points_save(self, state: dict | None):
        """-> (path of the full-resolution PNG, path of the points CSV)."""
        from .guided import Point, points_csv

        if not state or not state.get("photo"):
            raise TomauError("upload a photo first")
        session = self._hint_session(state["photo"])
        points = [Point(*p) for p in state["points"]]
        target = self._out(state["photo"], ".png")
        save_image(target, session.colorize(points))
        csv_path = target.with_name(f"{Path(state['photo']).stem}_points.csv")
        csv_path.write_text(points_csv(points))
        return str(target), str(csv_path)

    def colour_hints(self, editor: dict | None, model_name: str, on_model: bool = False):
        """ImageEditor value (background = the photo, layers = the strokes) -> (result, path to download)."""
        from .hints import colorize_with_hints, read_scribbles

        if not editor or editor.get("background") is None:
            raise TomauError("upload a photo into the editor first")
        background = np.asarray(editor["background"])
        if background.ndim == 2:
            background = np.repeat(background[..., None], 3, -1)
        h, w = background.shape[:2]
        if self.max_pixels and h * w > self.max_pixels:
            raise TomauError(f"the photo has {h * w / 1e6:.0f} megapixels; the limit is {self.max_pixels / 1e6:.0f}")
        rgb = background[..., :3].astype(np.float32) / 255
        mask = np.zeros((h, w), bool)
        ab = np.zeros((h, w, 2))
        for layer in editor.get("layers") or []:
            layer = np.asarray(layer)
            if layer.ndim != 3 or layer.shape[2] != 4 or layer.shape[:2] != (h, w):
                continue
            m, a = read_scribbles(layer[..., :3].astype(np.float32) / 255, layer[..., 3])
            ab[m] = a[m]
            mask |= m
        if not mask.any() and not on_model:
            raise TomauError("draw some colour on the photo first (pick a colour, then paint with the brush)")
        model_rgb = self.model(model_name).colorize_arrays([rgb])[0] if on_model else None
        result = model_rgb if not mask.any() else colorize_with_hints(rgb, mask, ab, model_rgb)
        target = self._out("hints", ".png")
        save_image(target, result)
        return result, str(target)

    def colorize_film(self, film: str | None, model_name: str, smoothing: float = 0.95, progress=None):
        """-> path of the colourised film (also offered for download)."""
        from .images import VIDEO_EXTENSIONS
        from .video import colorize_video, is_video, output_name, probe

        if not film:
            raise TomauError("upload a film first")
        if not is_video(film):
            raise TomauError(f"{Path(film).name}: not a video file ({', '.join(sorted(VIDEO_EXTENSIONS))})")
        info = probe(film)
        if self.max_video_seconds and info.duration > self.max_video_seconds:
            raise TomauError(f"the film lasts {info.duration:.0f} s; this page takes up to {self.max_video_seconds:.0f} s "
                             f"(use `tomau colorize FILM -o OUT/` for longer ones)")
        target = self._out(film, output_name(Path(film)).suffix)
        callback = (lambda done, total: progress(done / max(total, 1), desc=f"frame {done} of {total}")) if progress else None
        colorize_video(film, target, self.model(model_name), smoothing=smoothing, progress=callback)
        return str(target)


def _preview_pixels(pixels: np.ndarray) -> np.ndarray:
    """The photo's pixels as uint8 RGB, longest side at most POINTS_PREVIEW (what the page shows and is clicked on)."""
    from PIL import Image

    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(pixels).convert("RGB")
    im.thumbnail((POINTS_PREVIEW, POINTS_PREVIEW), Image.BICUBIC)
    return np.asarray(im)


def _draw_points(preview: np.ndarray, points: list, selected: int | None, width: int) -> np.ndarray:
    """The grey preview with each point as a dot of its colour in a white and black ring (the chosen one larger)."""
    from PIL import Image, ImageDraw

    grey = Image.fromarray(preview).convert("L").convert("RGB")
    draw = ImageDraw.Draw(grey)
    scale = preview.shape[1] / width
    base = max(4, round(max(preview.shape[:2]) / 90))
    for i, (x, y, colour) in enumerate(points):
        r = base * (1.6 if i == selected else 1)
        cx, cy = x * scale, y * scale
        draw.ellipse((cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2), fill="black")
        draw.ellipse((cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1), fill="white")
        draw.ellipse((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), fill=colour)
    return np.asarray(grey)


def _hex_of(colour: str) -> str:
    """'#rrggbb' from what the page sends: a suggestion's value or the colour picker's ('#rrggbb' or 'rgba(r, g, b, a)')."""
    import re

    text = str(colour).strip()
    m = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)", text)
    if m:
        return "#" + "".join(f"{min(255, round(float(v))):02x}" for v in m.groups())
    return text.split()[0]


def build_app(models: list[str] | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS, max_video_seconds: float = 300,
              device: str = "cpu", keep_minutes: float = 10):
    """The Gradio Blocks app (not started). ``app.session.cleanup()`` removes what it stored (``stop`` does both)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    names = colorizer_names(models)
    if not names:
        raise TomauError("no colourisation model found: give one with --model")
    session = Session(max_pixels, max_video_seconds, device, keep_minutes)
    import gradio as gr

    def guarded(fn):
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except TomauError as err:
                message = str(err)
            except OSError as err:
                message = f"could not process the file ({err.strerror or err})"
            message = session.user_message(message)
            print(f"tomau serve: {message}", file=sys.stderr, flush=True)  # one line in the server's log, no traceback
            raise gr.Error(message, print_exception=False) from None
        return run

    def film_handler(film, model_name, smoothing, progress=gr.Progress()):
        path = guarded(session.colorize_film)(film, model_name, smoothing, progress)
        return path, path

    keep = max(1, int(session.keep_seconds))
    # components keep their files (results shown, copies of uploads) in the folder GRADIO_TEMP_DIR names when they
    # are made: this page's own; then it names the process's folder again, which holds every page's (see _process_root)
    os.environ["GRADIO_TEMP_DIR"] = str(session.upload_dir)
    try:
        app = _page(gr, session, names, guarded, film_handler, keep)
    finally:
        os.environ["GRADIO_TEMP_DIR"] = str(_process_root())
    app.session = session
    return app


def _checked_editor(editor, session: Session, gr):
    """The hints editor refuses a photo over the page's pixel limit from its header, before Gradio decodes it."""
    from .images import open_image

    convert = editor.convert_and_format_image

    def checked(file, *args, **kwargs):
        path = getattr(file, "path", None)
        if path:
            try:
                with open_image(path, session.max_pixels):
                    pass
            except TomauError as err:
                message = session.user_message(str(err).replace("pass --max-pixels 0 (no limit) if you trust the file",
                                                                "start the page with --max-pixels 0 to lift it"))
                print(f"tomau serve: {message}", file=sys.stderr, flush=True)
                raise gr.Error(message, print_exception=False) from None
        return convert(file, *args, **kwargs)

    editor.convert_and_format_image = checked
    return editor


def _page(gr, session: Session, names: list[str], guarded, film_handler, keep: int):
    with gr.Blocks(title="tomau", delete_cache=(min(60, keep), keep)) as app:
        gr.Markdown("# tomau\nColourise black-and-white photos and films. Everything runs on this computer.")
        with gr.Tab("Photo"):
            with gr.Row():
                with gr.Column():
                    photo = gr.File(label="Black-and-white photo (JPEG, PNG, TIFF, ...)", elem_id="photo-input")
                    model = gr.Dropdown(names, value=names[0], label="Model", elem_id="photo-model")
                    with gr.Accordion("Reference photo (optional)", open=False):
                        reference = gr.File(label="Colour photo of a similar scene", elem_id="reference-input")
                        method = gr.Radio(list(METHODS), value="model only", label="Colours from")
                    diverse = session.model(names[0]).can_sample
                    samples = gr.Slider(1, 8, value=1, step=1, label="Colourings", visible=diverse, elem_id="samples")
                    go = gr.Button("Colourise", variant="primary", elem_id="colourise")
                with gr.Column():
                    slider = gr.ImageSlider(label="Before / after", type="numpy", elem_id="before-after")
                    gallery = gr.Gallery(label="Colourings, most likely first", columns=4, height=200, visible=diverse, elem_id="colourings")
                    download = gr.File(label="Download", elem_id="photo-download")
            go.click(guarded(session.colorize_photo), [photo, model, reference, method, samples], [slider, gallery, download],
                     api_name="colourise")

            def show_samples(name):  # the colourings slider and gallery only for diverse models (faces, scenes)
                diverse = guarded(session.model)(name).can_sample
                return gr.update(visible=diverse), gr.update(visible=diverse)

            model.change(show_samples, model, [samples, gallery])
        _points_tab(gr, session, guarded)
        with gr.Tab("Colour hints"):
            gr.Markdown("Upload the photo, pick a colour, paint a few strokes on the things to colour, then press Apply.")
            with gr.Row():
                with gr.Column():
                    editor = gr.ImageEditor(type="numpy", label="Photo and colour strokes", elem_id="hint-editor",
                                            brush=gr.Brush(colors=BRUSH_COLOURS, color_mode="defaults", default_size=8),
                                            eraser=gr.Eraser(), layers=False, transforms=())
                    _checked_editor(editor, session, gr)
                    hint_model = gr.Dropdown(names, value=names[0], label="Model")
                    on_model = gr.Checkbox(value=True, label="Start from the model's colours (else: strokes alone)")
                    apply = gr.Button("Apply hints", variant="primary", elem_id="apply-hints")
                with gr.Column():
                    hint_out = gr.Image(label="Result", type="numpy", elem_id="hint-result")
                    hint_download = gr.File(label="Download", elem_id="hint-download")
            apply.click(guarded(session.colour_hints), [editor, hint_model, on_model], [hint_out, hint_download])
        with gr.Tab("Film"):
            with gr.Row():
                with gr.Column():
                    film = gr.File(label="Black-and-white film (MP4, MOV, MKV, AVI, ...)", elem_id="film-input")
                    film_model = gr.Dropdown(names, value=names[0], label="Model")
                    smoothing = gr.Slider(0, 0.99, value=0.95, step=0.01, label="Temporal smoothing (0 = off)")
                    run_film = gr.Button("Colourise film", variant="primary", elem_id="colourise-film")
                with gr.Column():
                    film_out = gr.Video(label="Result", elem_id="film-result")
                    film_download = gr.File(label="Download")
            run_film.click(film_handler, [film, film_model, smoothing], [film_out, film_download])
    return app


def _swatches(suggestions: list) -> str:
    """The suggested colours as swatches (the radio buttons above them carry the same names)."""
    boxes = "".join(f'<span title="{c}" style="display:inline-block;width:2.2em;height:1.4em;margin-right:4px;'
                    f'border:1px solid #444;background:{c}"></span>' for c, _ in suggestions)
    return f'<div class="tomau-swatches">{boxes}</div>'


def _points_tab(gr, session: Session, guarded) -> None:
    """The Colour by points tab: the hints network, driven by clicks (handlers: Session.points_*)."""
    with gr.Tab("Colour by points"):
        gr.Markdown("Upload a photo and click where a colour belongs: the point takes the most likely colour there; pick "
                    "another from the suggestions or any colour. Click a point to choose it, then delete it, or tick Move "
                    "and click where it goes. Save the result and the points; a saved points file reopens the work.")
        state = gr.State(None)
        with gr.Row():
            with gr.Column():
                photo = gr.File(label="Black-and-white photo", elem_id="points-photo")
                canvas = gr.Image(label="Click to place or choose a point", type="numpy", interactive=False,
                                  elem_id="points-canvas")
                with gr.Row():
                    undo = gr.Button("Undo", elem_id="points-undo")
                    delete = gr.Button("Delete point", elem_id="points-delete")
                    move = gr.Checkbox(False, label="Next click moves the chosen point", elem_id="points-move")
            with gr.Column():
                result = gr.Image(label="Result", type="numpy", interactive=False, elem_id="points-result")
                suggestions = gr.Radio([], label="Suggested colours for the chosen point (most likely first)",
                                       elem_id="points-suggestions")
                swatches = gr.HTML(elem_id="points-swatches")
                picker = gr.ColorPicker(label="Or any colour", elem_id="points-picker")
                table = gr.Dataframe(headers=["x", "y", "color"], label="Points (pixels of the photo)", interactive=False,
                                     elem_id="points-table")
                save = gr.Button("Save result and points", variant="primary", elem_id="points-save")
                with gr.Row():
                    result_file = gr.File(label="Result (PNG)", elem_id="points-download")
                    points_file = gr.File(label="Points (CSV)", elem_id="points-csv")
                reopen = gr.File(label="Reopen points (CSV)", elem_id="points-reopen")
        shown = [state, canvas, result, suggestions, swatches, table]

        def view(handler):
            def run(*args):
                new_state, canvas_px, result_px, suggested, rows = guarded(handler)(*args)
                choices = [(f"{c}  {p:.0%}", c) for c, p in suggested]
                return new_state, canvas_px, result_px, gr.update(choices=choices, value=None), _swatches(suggested), rows
            return run

        def click(current, moving, evt: gr.SelectData):
            x, y = evt.index
            return *view(session.points_click)(current, x, y, moving), gr.update(value=False)

        click.__annotations__["evt"] = gr.SelectData  # the class itself: Gradio finds the click's data by it (this module's
        # annotations are strings, and `gr` is not a module name here)

        photo.upload(view(session.points_start), photo, shown)
        canvas.select(click, [state, move], [*shown, move])
        suggestions.input(view(session.points_colour), [state, suggestions], shown)
        picker.input(view(session.points_colour), [state, picker], shown)
        undo.click(view(session.points_undo), state, shown)
        delete.click(view(session.points_delete), state, shown)
        reopen.upload(view(session.points_reopen), [state, reopen], shown)
        save.click(guarded(session.points_save), state, [result_file, points_file])


def stop(app) -> None:
    """Close the server and delete every upload and result it stored."""
    try:
        app.close()
    finally:
        app.session.cleanup()


def serve(host: str = "127.0.0.1", port: int = 7860, models: list[str] | None = None, max_upload_mb: float = 200,
          max_pixels: int | None = DEFAULT_MAX_PIXELS, max_video_seconds: float = 300, block: bool = True,
          device: str = "cpu", keep_minutes: float = 10):
    """Start the page; returns the app (with block=False, the server runs in a background thread: end it with
    ``stop(app)``). Uploads and results older than ``keep_minutes`` are deleted while it runs, all of them when it
    stops (Ctrl-C, SIGTERM, or ``stop``)."""
    import atexit
    import signal
    import time

    import gradio as gr

    app = build_app(models, max_pixels, max_video_seconds, device, keep_minutes)
    session = app.session
    atexit.register(session.cleanup)
    ticker = threading.Event()

    def sweeper():
        while not ticker.wait(min(60.0, max(1.0, session.keep_seconds / 2))):
            session.sweep()

    threading.Thread(target=sweeper, daemon=True, name="tomau-sweeper").start()
    app.queue(default_concurrency_limit=1)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    if block and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))  # SIGTERM ends like Ctrl-C
    print(f"uploads and results are kept in {session.root} and {session.upload_dir} for {keep_minutes:g} minutes, "
          "and deleted when the server stops",
          file=sys.stderr, flush=True)
    try:
        # quiet: Gradio's own banner advises share=True, which this page does not offer; the address is said below
        app.launch(server_name=host, server_port=port, max_file_size=int(max_upload_mb * 1024 * 1024), prevent_thread_lock=True,
                   theme=theme, show_error=True, quiet=True, allowed_paths=[str(session.outdir)])
        app.server_app.uploaded_file_dir = str(session.upload_dir)  # this page's uploads go to its own folder
        if block:
            print(f"tomau serve: the page is at {app.local_url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
            while True:  # until Ctrl-C or SIGTERM: KeyboardInterrupt, and `tomau serve` exits 130
                time.sleep(0.5)
    finally:
        if block:
            ticker.set()
            stop(app)
    return app
