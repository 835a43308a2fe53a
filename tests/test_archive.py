"""Archive scale (tomau.archive): --files-from and --shard for job arrays, and --engine ray on a local Ray cluster
started here (results equal to the plain command line's, a manifest, failures recorded, resumable)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from tomau.archive import MANIFEST, RAY_MISSING, _clash_key, colorize_archive, parse_shard, shard
from tomau.cli import main
from tomau.errors import TomauError

from .conftest import colour_image

try:
    import ray  # noqa: F401
    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'tomau[ray]'; make test installs it)")


def make_photos(root, n=30, bad="broken.jpg"):
    """n small grey photos (JPEG and PNG, a few sizes, in two folders) and one corrupt file among them."""
    for i in range(n - 1):
        sub = root / ("a" if i % 3 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        grey = Image.fromarray(colour_image(i, 48 + 8 * (i % 4))).convert("L")
        if i % 2:
            grey.save(sub / f"p{i:02d}.jpg", quality=92)
        else:
            grey.save(sub / f"p{i:02d}.png")
    (root / "a" / bad).write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return root


def results(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def manifest(folder):
    return [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


# --------------------------------------------------------------------------- lists and shards (no Ray needed)

def test_parse_shard():
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(TomauError, match="K/N"):
            parse_shard(bad)


def test_shards_cover_everything_once_and_keep_clashing_names_together(tmp_path):
    from pathlib import Path

    pairs = [(Path(f"x{i}.jpg"), Path(f"d{i % 7}/x{i}.jpg")) for i in range(1000)]
    parts = [shard(pairs, k, 4) for k in range(4)]
    assert sorted(sum(parts, []), key=str) == sorted(pairs, key=str)
    assert all(150 < len(p) < 350 for p in parts)  # about a quarter each
    # results that could share a name (a.gif -> a.png beside a.png, a_2.jpg, a_color.jpg, case) share a part
    keys = {_clash_key(Path(r)) for r in ("d/a.gif", "d/a.png", "d/A_2.jpg", "d/a_color.jpg", "D/a.tif")}
    assert len(keys) == 1


def test_files_from_and_shards_give_the_plain_runs_results(tmp_path, capsys):
    src = make_photos(tmp_path / "src", n=12)
    listed = sorted(p for p in src.rglob("*") if p.is_file())
    (tmp_path / "list.txt").write_text("# the scans\n" + "\n".join(str(p.relative_to(tmp_path)) for p in listed) + "\n\n")
    assert main(["colorize", str(src), "-o", str(tmp_path / "all"), "-q"]) == 3  # the broken file fails
    for k in range(3):  # a job array of three
        code = main(["colorize", "--files-from", str(tmp_path / "list.txt"), "--shard", f"{k}/3",
                     "-o", str(tmp_path / "parts"), "-q", "--skip-existing"])
        assert code in (0, 3)
    err = capsys.readouterr().err
    assert err.count("broken.jpg") == 2  # the broken file: once in the plain run, once in its shard
    assert results(tmp_path / "parts") == results(tmp_path / "all") and len(results(tmp_path / "all")) == 11
    for rel in results(tmp_path / "all"):
        assert (tmp_path / "parts" / rel).read_bytes() == (tmp_path / "all" / rel).read_bytes()


def test_files_from_names_missing_files_and_bad_shard(tmp_path, capsys):
    (tmp_path / "list.txt").write_text("nowhere.jpg\n")
    assert main(["colorize", "--files-from", str(tmp_path / "list.txt"), "-o", str(tmp_path / "o")]) == 2
    assert "nowhere.jpg: no such file (listed in" in capsys.readouterr().err
    assert main(["colorize", "--files-from", str(tmp_path / "list.txt"), "--shard", "5/2", "-o", str(tmp_path / "o")]) == 2
    assert "--shard '5/2': give K/N" in capsys.readouterr().err


def test_engine_ray_without_ray_is_one_sentence(tmp_path, capsys, monkeypatch):
    make_photos(tmp_path / "src", n=3)
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    assert main(["colorize", str(tmp_path / "src"), "-o", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {RAY_MISSING}" and "pip install 'tomau[ray]'" in err


# --------------------------------------------------------------------------- Ray Data on a local cluster

@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@needs_ray
@pytest.mark.slow
def test_ray_engine_equals_the_cli_records_the_bad_file_and_resumes(tmp_path, local_ray, capsys):
    src = make_photos(tmp_path / "src")
    assert main(["colorize", str(src), "-o", str(tmp_path / "cli"), "-q"]) == 3
    cli_error = next(line for line in capsys.readouterr().err.splitlines() if "broken.jpg" in line)
    code = main(["colorize", str(src), "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 3, err  # some failed
    assert "broken.jpg" in err and "Traceback" not in err
    assert results(tmp_path / "ray") == results(tmp_path / "cli") and len(results(tmp_path / "cli")) == 29
    same_bytes = 0
    for rel in results(tmp_path / "cli"):
        a, b = tmp_path / "cli" / rel, tmp_path / "ray" / rel
        same_bytes += a.read_bytes() == b.read_bytes()
        assert np.abs(pixels(a) - pixels(b)).max() <= 1, rel
    assert same_bytes >= 25  # the codecs are deterministic: byte for byte (within 1 level where threads differ)
    rows = manifest(tmp_path / "ray")
    assert len(rows) == 30 and {r["model"] for r in rows} == {"effunet"}
    bad = [r for r in rows if r["status"] == "failed"]
    assert len(bad) == 1 and bad[0]["source"].endswith("broken.jpg")
    assert cli_error.endswith(bad[0]["error"]) and "corrupt" in cli_error  # the plain engine's sentence
    assert all(r["status"] == "done" and r["result"] and r["time"] for r in rows if r is not bad[0])

    # a rerun redoes nothing that is done and retries the failed one (still broken: one more row)
    counts = colorize_archive([str(src)], str(tmp_path / "ray"), workers=1, quiet=True)
    assert (counts.already, counts.done, counts.failed) == (29, 0, 1)
    assert len(manifest(tmp_path / "ray")) == 31


@needs_ray
@pytest.mark.slow
def test_ray_run_stopped_halfway_finishes_without_redoing(tmp_path, local_ray):
    src = make_photos(tmp_path / "src")
    (src / "a" / "broken.jpg").unlink()  # 29 good photos
    out = tmp_path / "out"
    seen = []

    def stop_after_ten(row):
        seen.append(row)
        if len(seen) == 10:
            raise KeyboardInterrupt  # as Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        colorize_archive(str(src), str(out), workers=2, batch_size=2, quiet=True, progress=stop_after_ten)
    first = {r["source"]: r for r in manifest(out)}
    assert len(first) == 10 and all(r["status"] == "done" for r in first.values())
    stamps = {s: (out / r["result"]).stat().st_mtime_ns for s, r in first.items()}

    counts = colorize_archive(str(src), str(out), workers=2, quiet=True)
    assert counts.failed == 0 and counts.already == 10
    assert counts.done + counts.skipped == 19  # skipped: written by the stopped run after its last record
    assert len(results(out)) == 29
    again = manifest(out)[10:]
    assert not {r["source"] for r in again if r["status"] == "done"} & set(first)
    assert all((out / first[s]["result"]).stat().st_mtime_ns == t for s, t in stamps.items())


@needs_ray
@pytest.mark.slow
def test_ray_engine_reads_and_writes_through_pyarrow_filesystems(tmp_path, local_ray):
    """file:// goes through the same pyarrow code as s3:// or gs:// (copy in, colourise, write whole)."""
    src = make_photos(tmp_path / "src", n=6)
    assert main(["colorize", str(src), "-o", str(tmp_path / "cli"), "-q"]) == 3
    counts = colorize_archive(f"file://{src}", f"file://{tmp_path / 'remote'}", workers=1, quiet=True)
    assert (counts.done, counts.failed) == (5, 1)
    produced = sorted(p.relative_to(tmp_path / "remote").as_posix() for p in (tmp_path / "remote").rglob("*")
                      if p.is_file() and not p.name.startswith("tomau-manifest"))
    assert produced == results(tmp_path / "cli")
    for rel in produced:
        assert np.abs(pixels(tmp_path / "cli" / rel) - pixels(tmp_path / "remote" / rel)).max() <= 1
    parts = list((tmp_path / "remote").glob("tomau-manifest-*.jsonl"))
    rows = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert len(rows) == 6 and all(r["source"].startswith("file://") and r["result"].startswith("file://") for r in rows)
    again = colorize_archive(f"file://{src}", f"file://{tmp_path / 'remote'}", workers=1, quiet=True)
    assert (again.already, again.done) == (5, 0)
