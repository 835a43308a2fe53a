"""Archive scale: a million scans on a cluster, resumable, with the plain command line's results.

Two ways, one set of rules (``tomau.batch``'s names, clashes and atomic writes, done by the same
``colorize_photos``):

* job arrays on any scheduler: ``tomau colorize --files-from LIST --shard K/N -o DST --skip-existing``;
  :func:`files_from` reads the list, :func:`shard` keeps the K-th of N parts (photos whose results could share
  a name always land in the same part);
* Ray Data (``--engine ray`` / :func:`colorize_archive`): a stream of photos through a pool of actors that
  each load the model once; the driver records every photo's outcome in a manifest in DST
  (``tomau-manifest.jsonl``), so a rerun skips what is done, retries what failed, and Ctrl-C or a lost node
  costs only the photos in flight.

SRC and DST are local folders (a mounted NAS is one) or anything pyarrow's filesystems open (``s3://``,
``gs://``, ``hdfs://``, ``file://``); photos from object storage are copied to a local temporary file to be
read, results to object storage are written whole once complete (a PUT is atomic).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .batch import Counts, Target, colorize_photos, plan_targets, refuse_existing
from .errors import TomauError
from .files import MAX_LINE_CHARS, loads_json, shown

MANIFEST = "tomau-manifest.jsonl"
LIST_SUFFIXES = {".txt", ".lst", ".list"}
RAY_MISSING = "--engine ray needs Ray Data, which is not installed; install it with: pip install 'tomau[ray]'"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


# --------------------------------------------------------------------------- lists and shards (any scheduler)

def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (K from 0 to N-1, as ``$SLURM_ARRAY_TASK_ID`` with ``--array=0-<N-1>``) -> (K, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise TomauError(f"--shard {text!r}: give K/N with 0 <= K < N, e.g. --shard 0/4 ... --shard 3/4")
    return int(m[1]), int(m[2])


def _clash_key(rel: PurePosixPath | Path) -> str:
    """What results that could share a name have in common: the folder and the stem, lower case, without the
    ``_color`` / ``_2`` / ``_00`` that tomau.batch adds (``a.gif`` and ``a.png`` -> the same key)."""
    rel = PurePosixPath(str(rel).replace(os.sep, "/"))
    stem = re.sub(r"(_color)?(_\d+)*$", "", rel.stem.lower())
    return f"{str(rel.parent).lower()}/{stem}"


def shard(pairs: list, k: int, n: int) -> list:
    """The K-th of N parts of (file, relative path) pairs, by a hash of the result's name, so every part gets about
    1/N of the files, the parts never overlap, and photos whose results could clash are in the same part (so each
    part names its results as one run over all files would)."""
    return [p for p in pairs if zlib.crc32(_clash_key(p[1]).encode()) % n == k]


def read_list(list_file: str) -> list[str]:
    """Paths in a list file: one a line, blank lines and ``#`` comments skipped; ``-`` reads standard input."""
    try:
        if list_file == "-":
            lines = sys.stdin.read().splitlines()
        elif is_uri(list_file):
            fs, path = _filesystem(list_file)
            with fs.open_input_stream(path) as f:
                lines = f.read().decode("utf-8").splitlines()
        else:
            from .files import MAX_LIST_BYTES, read_bounded

            # a line that is not UTF-8 keeps its bytes (as os.fsdecode gives a file name), so it names its file
            lines = read_bounded(list_file, MAX_LIST_BYTES, "list of files").decode("utf-8", "surrogateescape").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise TomauError(f"{shown(list_file)}: cannot read the list of files ({getattr(err, 'strerror', None) or err})") from None
    too_long = next((k for k, line in enumerate(lines) if len(line) > MAX_LINE_CHARS or "\0" in line), None)
    if too_long is not None:
        raise TomauError(f"{shown(list_file)}: line {too_long + 1} is not a path (over {MAX_LINE_CHARS} characters, or a NUL byte); "
                         "is it a list of files, one path a line?")
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def files_from(list_file: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(file, relative path) pairs of a list file's local paths (relative ones are relative to the list's folder);
    results keep each file's path below the folder all listed files share, so equal names in different folders do
    not clash. Returns (pairs, error sentences for listed files that are missing)."""
    base = Path(".") if list_file == "-" else Path(list_file).parent
    files, errors = [], []
    for line in read_list(list_file):
        p = Path(line) if Path(line).is_absolute() else base / line
        (files if p.is_file() else errors).append(p if p.is_file() else f"{shown(p)}: no such file (listed in {shown(list_file)})")
    if not files:
        return [], errors
    common = Path(os.path.commonpath([str(f.absolute().parent) for f in files]))
    pairs, seen = [], set()
    for f in files:
        if f.resolve() not in seen:  # a file listed twice is done once
            seen.add(f.resolve())
            pairs.append((f, f.absolute().relative_to(common)))
    return pairs, errors


def with_list_and_shard(files: list, errors: list[str], list_file: str | None, shard_spec: str | None) -> tuple[list, list[str]]:
    """The command line's inputs plus ``--files-from``'s, then ``--shard``'s part of them."""
    if list_file:
        more, errs = files_from(list_file)
        known = {f.resolve() for f, _ in files}
        files = files + [(f, r) for f, r in more if f.resolve() not in known]
        errors = errors + errs
    if shard_spec:
        k, n = parse_shard(shard_spec)
        files = shard(files, k, n)
    return files, errors


# --------------------------------------------------------------------------- local folders or pyarrow filesystems

def is_uri(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", str(text)))


def _filesystem(uri: str):
    try:
        from pyarrow import fs as pafs
    except ImportError:
        raise TomauError(f"{uri}: reading or writing URIs needs pyarrow; install it with: pip install 'tomau[ray]'") from None
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as err:  # noqa: BLE001 - pyarrow's own sentence, named by the URI
        raise TomauError(f"{uri}: pyarrow cannot open it ({str(err).strip().splitlines()[0]})") from None


class Place:
    """A folder: local (a path; a mounted NAS too) or on a pyarrow filesystem (``s3://bucket/prefix``)."""

    def __init__(self, where: str):
        self.where = str(where)
        self.remote = is_uri(where)
        if self.remote:
            self.fs, self.root = _filesystem(where)
            self.root = self.root.rstrip("/")
        else:
            self.fs, self.root = None, str(where)

    def join(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.remote else str(Path(self.root) / rel)

    def uri(self, rel: str) -> str:
        return f"{self.where.rstrip('/')}/{rel}"

    def uri_of(self, path: str) -> str:
        """The URI of a path of this filesystem below the folder."""
        return self.uri(path[len(self.root) + 1:]) if self.remote and path.startswith(self.root + "/") else path

    def write(self, path: str, local: Path) -> None:
        """Copy a finished local file to ``path``, never leaving a part-written file under its name: object stores
        (S3, GCS) show an object only once its upload completes; other filesystems (HDFS, file://) get a temp name
        then a rename."""
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        direct = self.fs.type_name in ("s3", "gcs")
        tmp = path if direct else f"{parent}/.{path.rsplit('/', 1)[1]}.{os.getpid()}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as out, open(local, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            if not direct:
                self.fs.move(tmp, path)
        except BaseException:
            if not direct:
                try:
                    self.fs.delete_file(tmp)
                except Exception:  # noqa: BLE001 - never written
                    pass
            raise

    def exists(self, path: str) -> bool:
        if not self.remote:
            return Path(path).exists()
        from pyarrow import fs as pafs

        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def listing(self, extensions: set[str]) -> list[str]:
        """Relative paths of the files below, with these suffixes, sorted."""
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True, allow_not_found=True))
        return sorted(i.path[len(self.root) + 1:] for i in infos
                      if i.type == pafs.FileType.File and PurePosixPath(i.path).suffix.lower() in extensions)


# --------------------------------------------------------------------------- the manifest

class Manifest:
    """The record of a run in DST, one JSON object a line: source, result, status (done / failed / skipped), error
    (the failed file's sentence), model, seconds (model and writing, per photo), time (UTC). The last row of a
    source wins. Local: one file, each row flushed as it comes. On object storage (no appends): a new part
    ``tomau-manifest-<run>-<n>.jsonl`` every 500 rows or 30 s, and at the end."""

    def __init__(self, place: Place):
        self.place = place
        self.rows: list[dict] = []
        self.run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
        self.parts, self.last_flush, self.file = 0, time.monotonic(), None

    def _names(self) -> list[str]:
        if not self.place.remote:
            return [str(Path(self.place.root) / MANIFEST)] if (Path(self.place.root) / MANIFEST).exists() else []
        from pyarrow import fs as pafs

        infos = self.place.fs.get_file_info(pafs.FileSelector(self.place.root, recursive=False, allow_not_found=True))
        return sorted(i.path for i in infos if re.fullmatch(r"tomau-manifest(-.+)?\.jsonl", PurePosixPath(i.path).name))

    def read(self) -> dict[str, dict]:
        """source -> its last row, from every earlier run into this DST (a torn last line is left out)."""
        last: dict[str, dict] = {}
        for name in self._names():
            if self.place.remote:
                with self.place.fs.open_input_stream(name) as f:
                    text = f.read().decode("utf-8", "replace")
            else:
                from .files import MAX_LIST_BYTES, read_bounded

                text = read_bounded(name, MAX_LIST_BYTES, "manifest").decode("utf-8", "replace")
            for line in text.splitlines():
                try:
                    row = loads_json(line, name, max_depth=4)
                    last[row["source"]] = row
                except (ValueError, KeyError, TypeError, TomauError):
                    continue  # a line cut short by a killed run
        return last

    def exists(self) -> bool:
        return bool(self._names())

    def add(self, row: dict) -> None:
        if not self.place.remote:
            if self.file is None:
                Path(self.place.root).mkdir(parents=True, exist_ok=True)
                self.file = open(Path(self.place.root) / MANIFEST, "a", encoding="utf-8")
            self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.file.flush()
            return
        self.rows.append(row)
        if len(self.rows) >= 500 or time.monotonic() - self.last_flush > 30:
            self.flush()

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
        if self.place.remote and self.rows:
            name = f"{self.place.root}/tomau-manifest-{self.run}-{self.parts:05d}.jsonl"
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows).encode()
            with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
                f.write(data)
                f.flush()
                self.place.write(name, Path(f.name))
            self.parts, self.rows = self.parts + 1, []
        self.last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
            self.file = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- the Ray actor

class _Colorizer:
    """One Ray actor: loads the model once, then colourises batches of rows with tomau.batch.colorize_photos (so
    names, formats, 16 bits, metadata, strips and atomic writes are the command line's). Rows in: source, rel,
    result (where the driver planned the result). Rows out: source, result, status, error, seconds, notes."""

    def __init__(self, model: str, device: str, backend, mix, temperature, threads: int, max_pixels, batch_size: int,
                 src: str, dst: str):
        from .fullres import set_cpu_threads
        from .pipeline import load

        if threads:
            set_cpu_threads(threads)  # onnxruntime's and tomau's passes (and PyTorch's, where it runs the model)
        self.model_name = model
        self.model = load(model, "colorize", device=device, mix=mix, temperature=temperature, backend=backend)
        self.max_pixels, self.batch_size = max_pixels, batch_size
        self.src, self.dst = Place(src), Place(dst)
        self.tmp = Path(tempfile.mkdtemp(prefix="tomau-ray-")) if self.src.remote or self.dst.remote else None

    def __del__(self):
        if getattr(self, "tmp", None) is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __call__(self, batch: dict) -> dict:
        sources, rels, results = list(batch["source"]), list(batch["rel"]), list(batch["result"])
        work = (self.tmp / f"{time.monotonic_ns()}") if self.tmp else None
        targets, names, outcome, notes = [], {}, {}, []
        for k, (source, rel, result) in enumerate(zip(sources, rels, results)):
            local_src, local_out = source, result
            try:
                if self.src.remote:  # read through a local copy, named as the original (suffix and all)
                    local_src = str(work / "in" / str(k) / PurePosixPath(rel).name)
                    Path(local_src).parent.mkdir(parents=True, exist_ok=True)
                    with self.src.fs.open_input_stream(self.src.join(rel)) as f, open(local_src, "wb") as out:
                        shutil.copyfileobj(f, out, 1 << 20)
                if self.dst.remote:
                    local_out = str(work / "out" / str(k) / PurePosixPath(result).name)
            except Exception as err:  # noqa: BLE001 - one row, the batch goes on
                outcome[k] = ("failed", f"error: {self.src.uri(rel)}: cannot read the file ({err})", 0.0)
                continue
            targets.append(Target(Path(local_src), Path(rel), Path(local_out)))
            names[str(Path(local_src))] = (k, source)

        def heard(target, status, line):
            k, _ = names[str(target.source)]
            outcome[k] = (status, line, 0.0)

        def say(msg: str) -> None:
            if msg.startswith("error: "):
                return  # the row's error, below
            for local, (_, source) in names.items():
                msg = msg.replace(local, source)
            notes.append(msg)

        start = time.perf_counter()
        if targets:
            colorize_photos(targets, Path(self.dst.root), self.model, batch_size=self.batch_size,
                            max_pixels=self.max_pixels, quiet=True, say=say, on_result=heard,
                            overwrite=True)  # the manifest names each result: replacing was decided before the run
        seconds = (time.perf_counter() - start) / max(1, len(targets))
        for t in targets:
            k, source = names[str(t.source)]
            status, line, _ = outcome.get(k, ("failed", f"error: {source}: no outcome was reported", 0.0))
            if status == "done" and self.dst.remote:
                try:
                    self.dst.write(results[k], t.path)
                except Exception as err:  # noqa: BLE001 - one row
                    status, line = "failed", f"error: {self.dst.uri_of(results[k])}: cannot write the result ({err})"
            if line:
                for local, (_, src) in names.items():
                    line = line.replace(local, src)
            outcome[k] = (status, line, seconds)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        rows = [outcome[k] for k in range(len(sources))]
        return {"source": sources, "result": results,
                "status": [s for s, _, _ in rows],
                "error": [(e or "").removeprefix("error: ") for _, e, _ in rows],
                "seconds": [round(t, 4) for _, _, t in rows],
                "notes": ["\n".join(n for n in notes if source in n) for source in sources]}


# --------------------------------------------------------------------------- the run

@dataclass
class ArchiveCounts(Counts):
    already: int = 0  # done by an earlier run (the manifest says so and the result is there)

    def exit_code(self) -> int:
        """0 = all done, 3 = some failed, 2 = none done."""
        return 0 if self.failed == 0 else (2 if self.done + self.skipped + self.already == 0 else 3)


def _plan(src: list[str] | str, dst: Place, say, lists: list[str] = ()) -> tuple[list[tuple[str, str, str]], Place | None, list[str]]:
    """(source as recorded, rel, planned result path) for every photo, by tomau.batch.plan_targets' rules.
    Local inputs are the command line's (folders, files, globs, list files); a URI is one folder on a pyarrow
    filesystem (names then follow each file's suffix: its header is read when the photo is)."""
    from .images import IMAGE_EXTENSIONS, collect_inputs, without_own_outputs
    from .video import is_video

    items = [src] if isinstance(src, str) else list(src)
    lists = list(lists) + [i for i in items if not is_uri(i) and Path(i).suffix.lower() in LIST_SUFFIXES and Path(i).is_file()]
    items = [i for i in items if i not in lists]
    remote = [i for i in items if is_uri(i)]
    if remote and (len(items) > 1 or lists):
        raise TomauError("give one URI (s3://..., gs://...) as the source, or local files and folders, not both")
    errors: list[str] = []
    if remote:
        place = Place(remote[0])
        if PurePosixPath(place.root).suffix.lower() in LIST_SUFFIXES:
            raise TomauError(f"{remote[0]}: a list of object-storage paths is not supported yet; give their folder")
        rels = place.listing(IMAGE_EXTENSIONS)
        if not rels:
            raise TomauError(f"{remote[0]}: the folder holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        pairs = [(Path(place.join(r)), Path(r)) for r in rels]
    else:
        place, pairs, notes = None, [], []
        if items:
            pairs, errors = collect_inputs(items, notes)
        for item in lists:
            pairs, errors = with_list_and_shard(pairs, errors, item, None)
        for note in notes:
            say(note)
        if not dst.remote:
            pairs, _ = without_own_outputs(pairs, Path(dst.root))
        films = [f for f, _ in pairs if is_video(f)]
        if films:
            say(f"note: {len(films)} films are left out; colourise films with the plain engine (without --engine ray)")
            pairs = [(f, r) for f, r in pairs if not is_video(f)]
    targets, notes = plan_targets(pairs, Path(dst.root))
    for note in notes:
        say(note)
    rows = []
    for t in targets:
        result = str(t.path).replace(os.sep, "/") if dst.remote else str(t.path.absolute())
        source = place.uri(str(t.rel).replace(os.sep, "/")) if place else str(t.source.absolute())
        rows.append((source, str(t.rel).replace(os.sep, "/"), result))
    return rows, place, errors


def colorize_archive(src: list[str] | str, dst: str, model: str | None = None, device: str = "cpu",
                     workers: int | None = None, cpus_per_worker: float | None = None, batch_size: int = 8,
                     max_pixels: int | None = None, backend: str | None = None, mix: float | None = None,
                     temperature: float | None = None, overwrite: bool = False, skip_existing: bool = False,
                     shard_spec: str | None = None, address: str | None = None, quiet: bool = False, say=_stderr,
                     progress=None, files_from: str | None = None, threads: int | None = None,
                     verbose: bool = False) -> ArchiveCounts:
    """Colourise photos into ``dst`` on Ray Data, with the command line's results (tomau.batch.colorize_photos in
    each actor). ``src``: folders, files, globs or list files (``.txt``), or one ``s3://`` / ``gs://`` / ...
    folder; ``dst`` a folder or URI. A manifest in ``dst`` records each photo; a rerun skips the done ones and
    retries the failed ones. ``workers`` actors (default: one per GPU with ``device="cuda"``, else one per CPU),
    each holding ``cpus_per_worker`` CPUs (default: a fraction below 1, so Ray's own tasks always find a CPU).
    ``threads``: the model's CPU threads in each actor (default: its share of CPUs, at least 1). Ray is joined at
    ``address`` / ``$RAY_ADDRESS`` where given, else started on this machine (and stopped after).
    ``progress(row)`` hears each recorded row. Returns counts (``already``: done by an earlier run). Ray's own
    start-up messages (its token note, its core's log lines) are shown with ``verbose`` only."""
    try:
        import ray
        from ray.data import ActorPoolStrategy
    except ImportError:
        raise TomauError(RAY_MISSING) from None
    if not verbose:
        logging.getLogger("ray").setLevel(logging.ERROR)  # its notes (the token one) below errors; after Ray set its own
    from .images import DEFAULT_MAX_PIXELS
    from .modelfile import DEFAULT_MODEL
    from .progress import progress_bar

    model = model or DEFAULT_MODEL
    max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None)
    out = Place(dst)
    if not out.remote:
        from .images import make_output_dir

        make_output_dir(out.root)
    rows, place, errors = _plan(src, out, say, [files_from] if files_from else [])
    for e in errors:
        say(f"error: {e}")
    if shard_spec:
        k, n = parse_shard(shard_spec)
        rows = [r for r in rows if zlib.crc32(_clash_key(PurePosixPath(r[1])).encode()) % n == k]
    counts = ArchiveCounts(failed=len(errors))
    if not rows:
        raise TomauError("nothing to colourise")

    manifest = Manifest(out)
    resuming = manifest.exists()
    before = manifest.read()
    todo, there = [], []
    for source, rel, result in rows:
        old = before.get(source)
        if old and old.get("status") in ("done", "skipped") and old.get("result") == out.uri_of(result) and out.exists(result):
            counts.already += 1
        elif out.exists(result) and (resuming or skip_existing) and not overwrite:
            there.append((source, result))  # written whole by a run stopped before it was recorded
        else:
            todo.append((source, rel, result))
    if not resuming and not overwrite and not skip_existing:
        refuse_existing([Target(Path(s), Path(r), Path(p)) for s, r, p in todo if not out.remote], None, False, False)
        if out.remote and any(out.exists(p) for _, _, p in todo[:1000]):
            raise TomauError(f"{dst} already holds results of these photos; pass --overwrite to replace them, "
                             "--skip-existing to keep them (or choose another -o)")
    for source, result in there:
        manifest.add({"source": source, "result": out.uri_of(result), "status": "skipped", "error": "", "model": model,
                      "seconds": 0.0, "time": _now()})
        counts.skipped += 1
    if counts.already and not quiet:
        say(f"note: {counts.already} photos were done by an earlier run into {dst} (its manifest); they are skipped")
    if not todo:
        manifest.close()
        say(f"0 colourised, 0 failed, {counts.already + counts.skipped} already done; results in {dst}")
        return counts

    started = False
    address = address or os.environ.get("RAY_ADDRESS")
    core_lines = None if verbose else RayCoreLinesDropped()
    try:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            started = True
    except BaseException:
        if core_lines is not None:
            core_lines.stop()
        raise
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if device.startswith("cuda") else 0
        cpus = float(resources.get("CPU", 1))
        if device.startswith("cuda") and not gpus:
            raise TomauError(f"--device {device}: the Ray cluster has no GPUs; use --device cpu")
        workers = workers or (gpus if gpus else max(1, int(cpus)))
        per = cpus_per_worker or (1.0 if gpus else max(0.1, min(1.0, 0.95 * cpus / workers)))
        threads = threads or (max(1, int(per)) if not gpus else 0)  # the model's CPU threads in each actor
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # one bar of photos below, not Ray's per operator
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ds = ray.data.from_items([{"source": s, "rel": r, "result": p} for s, r, p in todo],
                                 override_num_blocks=max(1, -(-len(todo) // (2 * batch_size))))
        # blocks of two batches: a block's rows reach the manifest when its task ends, so few are ever unrecorded
        ds = ds.map_batches(_Colorizer, batch_size=batch_size, batch_format="numpy",
                            fn_constructor_args=(model, device, backend, mix, temperature, threads, max_pixels,
                                                 batch_size, place.where if place else ".", dst),
                            compute=ActorPoolStrategy(size=workers), num_cpus=per, num_gpus=1 if gpus else 0)
        # Ray Data restarts a lost actor and retries its batch (a killed node costs only the photos in flight)
        t0 = time.perf_counter()
        bar = progress_bar(total=len(todo), unit="img", desc=f"colourising ({workers} Ray workers)", show=not quiet)
        shown: set[str] = set()
        try:
            for row in ds.iter_rows():
                bar.update(1)
                rec = {"source": str(row["source"]), "result": out.uri_of(str(row["result"])), "status": str(row["status"]),
                       "error": str(row["error"]), "model": model, "seconds": float(row["seconds"]), "time": _now()}
                manifest.add(rec)
                if rec["status"] == "done":
                    counts.done += 1
                else:
                    counts.failed += 1
                    bar.write(f"error: {rec['error']}", file=sys.stderr)
                for note in str(row["notes"]).splitlines() if not quiet else []:
                    if note.replace(rec["source"], "") not in shown:  # each kind of note once, as the plain engine
                        shown.add(note.replace(rec["source"], ""))
                        bar.write(note, file=sys.stderr)
                if progress:
                    progress(rec)
        except KeyboardInterrupt:
            manifest.close()
            recorded = out.uri("tomau-manifest-*.jsonl") if out.remote else Path(out.root) / MANIFEST
            say(f"stopped: {counts.done} colourised this run, recorded in {recorded}; rerun the same command to finish")
            raise
        except TomauError:
            raise
        except Exception as err:  # noqa: BLE001 - a cluster that went away, Ctrl-C reaching the workers first ...
            first = (str(err).strip().splitlines() or ["no message"])[0][:300]
            raise TomauError(f"the Ray pipeline stopped ({type(err).__name__}: {first}); the {counts.done} photos "
                             "colourised this run are recorded in the manifest: rerun the same command to finish") from None
        wall = time.perf_counter() - t0
    finally:
        bar.close() if "bar" in locals() else None
        manifest.close()
        if started:
            ray.shutdown()
        if core_lines is not None:
            core_lines.stop()
    if not quiet or counts.failed:
        say(f"{counts.done} colourised, {counts.failed} failed"
            + (f", {counts.already + counts.skipped} already done" if counts.already + counts.skipped else "")
            + f" in {wall:.1f} s ({counts.done / max(wall, 1e-9):.1f} photos/s, {workers} workers); results in {dst}")
    return counts


class RayCoreLinesDropped:
    """Until stop(), this process's stderr (file descriptor 2, which Ray's C++ core writes to) passes through a
    thread that drops Ray's core log lines - ``[2026-12-08 00:02:03,139 E 18430 18430] core_worker.cc:2465: ...``,
    notes that read like errors (real failures end the run with one sentence) - and passes everything else on as
    it comes (progress bars, tomau's messages). ``tomau colorize --engine ray -v`` keeps them."""

    LINE = re.compile(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] [^\n]*\n")

    def __init__(self):
        sys.stderr.flush()
        read_end, write_end = os.pipe()
        self.saved = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.pump = threading.Thread(target=self._pump, args=(read_end,), name="tomau-ray-stderr", daemon=True)
        self.pump.start()

    @classmethod
    def filter(cls, pending: bytes) -> tuple[bytes, bytes]:
        """(what to pass on now, what to keep until more comes): complete core lines removed; a tail that may be
        the start of one ("[20...") kept back."""
        out = cls.LINE.sub(b"", pending)
        start = out.rfind(b"[")
        tail = out[start:] if start >= 0 else b""
        if tail and b"\n" not in tail and len(tail) < 4096 and (b"[20".startswith(tail[:3]) or tail.startswith(b"[20")):
            return out[:start], tail
        return out, b""

    def _pump(self, read_end: int) -> None:
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            now, pending = self.filter(pending + chunk)
            if now:
                os.write(self.saved, now)
        if pending:
            os.write(self.saved, pending)

    def stop(self) -> None:
        """stderr back as it was (processes Ray started and left running keep writing through the thread)."""
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        self.pump.join(timeout=0.5)


def cmd_ray(args, say=_stderr) -> int:
    """``tomau colorize --engine ray``."""
    if args.samples is not None or args.reference:
        raise TomauError("--engine ray colourises one result per photo; --samples and --reference need the plain engine")
    if args.files_from == "-":
        raise TomauError("--engine ray reads --files-from from a file, not standard input")
    counts = colorize_archive(list(args.inputs), args.output, files_from=args.files_from, model=args.model, device=args.device, workers=args.workers,
                              batch_size=args.batch_size, max_pixels=args.max_pixels, backend=args.backend,
                              mix=args.mix, temperature=args.temperature, overwrite=args.overwrite,
                              skip_existing=args.skip_existing, shard_spec=args.shard, quiet=args.quiet, say=say,
                              threads=args.threads or None, verbose=getattr(args, "verbose", False))
    return counts.exit_code()
