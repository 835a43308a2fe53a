#!/usr/bin/env python3
"""Build the colour training set and the unseen-source dev set from snapshots of public repositories.

    python scripts/build_training_set.py --mirrors /work/.mirror --out ~/tomau-data

Every source is a row of ``scripts/photo_sources.tsv`` (repository, commit, folders, licence, role). A
source is either all training (``train``) or all dev (``dev``): no source gives photos to both, so the dev set
measures colour on sources the model never saw. For each source the script reads the photos straight from
the repository's snapshot at the pinned commit (``git cat-file``, nothing is extracted), and keeps a photo only if

- it decodes (corrupt files dropped), EXIF rotation applied, and its shorter side is at least 144 px
  (256 for dev photos): smaller ones are "tiny";
- it is in colour: the colour spread of a 64-px thumbnail beyond a tone that follows the brightness is at least 5
  (greyscale and toned prints dropped);
- it looks like a photograph: drawings, clip art and product shots on a flat background have long runs of
  identical neighbouring pixels and few distinct colours (both measured on a 64-px thumbnail);
- its 256-bit difference hash (``../shared/data/exclude/README.md``) is more than 40 bits from every hash of
  the exclusion list, of ``photos/val``, ``imagenette/val`` and ``faces``, and (for training photos) of every
  dev photo; dev photos must also be more than 40 bits from every ``photos/train`` photo;
- it is not a near-duplicate (10 bits or fewer) of a photo kept before it, or of a ``photos/train`` photo.

Training photos are written at shorter side 160 px (JPEG q90, long side at most 2.5x the short), dev photos as
256x256 centre crops (JPEG q95, like ``photos/val``). Outputs, all under ``--out``:

- ``train/<source>/NNNNN.jpg`` and ``dev/<source>/NNNNN.jpg`` (with ``--with-shared-train`` also
  ``train/photos-train/...``, a copy of ``../shared/data/photos/train``, so that ``--data OUT/train`` is the whole set);
- ``MANIFEST.csv`` (split, file, source, repo, commit, path in the repository), ``SOURCES.md`` (counts and
  licences), ``build_stats.json`` (what each filter dropped, per source).

The build is deterministic: sources in table order, files in the repository's tree order, fixed thresholds,
and Pillow's encoder; the same snapshots give the same files.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import multiprocessing as mp
import pickle
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
SOURCES_TSV = HERE / "photo_sources.tsv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
EXCLUDE_DISTANCE = 40  # bits of 256: the exclusion list's own threshold
DUPLICATE_DISTANCE = 10  # bits of 256: near-duplicates inside the set (video frames, re-encodes, the same photo twice)
TRAIN_SHORT_SIDE, TRAIN_MIN_SIDE, MAX_ASPECT = 160, 144, 2.5
DEV_SIZE = 256
MIN_CHROMA_SPREAD = 5.0  # below: greyscale or a toned print (more than half of ../shared/data/historical's prints)
MAX_FLAT_SHARE, MIN_COLOURS = 0.45, 200  # drawings: share of identical neighbours, distinct colours of a 64-px thumbnail



@dataclass
class Source:
    name: str
    repo: str
    commit: str
    role: str  # "train" or "dev"
    paths: list[str]
    exclude: list[str]
    licence: str
    categories: str
    cap: int  # at most this many photos (0 = all); taken evenly over the source's tree order


def read_sources(path: Path = SOURCES_TSV) -> list[Source]:
    sources = []
    with open(path, newline="") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        for row in rows:
            paths = [p.strip() for p in row["paths"].split(",") if p.strip()]
            sources.append(Source(row["name"], row["repo"], row["commit"], row["role"],
                                  [p for p in paths if not p.startswith("!")], [p[1:] for p in paths if p.startswith("!")],
                                  row["licence"], row["categories"], int(row.get("cap") or 0)))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        sys.exit("photo_sources.tsv: two sources share a name")
    for s in sources:
        if s.role not in ("train", "dev"):
            sys.exit(f"photo_sources.tsv: {s.name}: role must be train or dev, not {s.role!r}")
    return sources


def git_dir(mirrors: Path, repo: str) -> Path:
    root = mirrors / repo.replace("/", "+") / "repo"
    return root / ".git" if (root / ".git").is_dir() else root


# ---------------------------------------------------------------------------------------------------- hashing

def dhash(im: Image.Image) -> np.ndarray:
    """The exclusion list's 256-bit difference hash of ``im`` as 32 bytes (see ../shared/data/exclude/README.md)."""
    g = np.asarray(im.convert("RGB").convert("L").resize((17, 16), Image.BILINEAR), dtype=np.int16)
    return np.packbits((g[:, 1:] > g[:, :-1]).ravel())


def hex_to_hashes(lines) -> np.ndarray:
    rows = [bytes.fromhex(s.strip()) for s in lines if len(s.strip()) == 64]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32) if rows else np.zeros((0, 32), np.uint8)


def as_words(h: np.ndarray) -> np.ndarray:
    """(N, 32) uint8 hashes as (N, 4) uint64 words, for XOR and popcount."""
    return np.ascontiguousarray(h).view(np.uint64).reshape(-1, 4)


def min_distance(hashes: np.ndarray, reference: np.ndarray, chunk: int = 64) -> np.ndarray:
    """The Hamming distance from each of ``hashes`` (N, 32) to its nearest in ``reference`` (M, 32)."""
    out = np.full(len(hashes), 256, dtype=np.int32)
    if len(reference) == 0 or len(hashes) == 0:
        return out
    a, b = as_words(hashes), as_words(reference)
    for i in range(0, len(a), chunk):
        d = np.bitwise_count(a[i:i + chunk, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)
        out[i:i + chunk] = d.min(axis=1)
    return out


def near_duplicates(hashes: np.ndarray, known: np.ndarray, distance: int = DUPLICATE_DISTANCE) -> np.ndarray:
    """A mask of ``hashes`` (in order) that are within ``distance`` bits of an earlier one or of any of ``known``.

    Candidates come from 16 bands of 16 bits: two hashes at most 10 bits apart agree exactly on at least 6 bands,
    so every pair within the distance shares a band; candidates are then checked on the whole hash."""
    assert distance < 16
    allh = np.concatenate([known, hashes]) if len(known) else hashes
    bands = np.ascontiguousarray(allh).view(np.uint16).reshape(len(allh), 16)
    words = as_words(allh)
    dropped = np.zeros(len(allh), dtype=bool)
    buckets: list[dict[int, list[int]]] = [dict() for _ in range(16)]
    for i in range(len(allh)):
        cands = set()
        for k in range(16):
            cands.update(buckets[k].get(int(bands[i, k]), ()))
        if i >= len(known) and cands:
            c = np.fromiter(cands, dtype=np.int64)
            if (np.bitwise_count(words[c] ^ words[i]).sum(axis=1) <= distance).any():
                dropped[i] = True
                continue  # a dropped photo is not a reference for later ones
        for k in range(16):
            buckets[k].setdefault(int(bands[i, k]), []).append(i)
    return dropped[len(known):]


def hash_folder(folder: Path) -> np.ndarray:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    out = []
    for p in files:
        with Image.open(p) as im:
            out.append(dhash(ImageOps.exif_transpose(im)))
    return np.stack(out) if out else np.zeros((0, 32), np.uint8)


def reference_hashes(shared: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(hashes no photo may be near: exclusion list + photos/val + imagenette/val + faces, photos/train's hashes)."""
    if cache.exists():
        z = np.load(cache)
        return z["exclude"], z["shared_train"]
    excl = [hex_to_hashes((shared / "exclude" / "dhash.txt").read_text().split())]
    for sub in ("photos/val", "imagenette/val", "faces"):
        if (shared / sub).is_dir():
            print(f"hashing {sub}", flush=True)
            excl.append(hash_folder(shared / sub))
    print("hashing photos/train", flush=True)
    train = hash_folder(shared / "photos" / "train") if (shared / "photos" / "train").is_dir() else np.zeros((0, 32), np.uint8)
    exclude = np.concatenate(excl)
    np.savez(cache, exclude=exclude, shared_train=train)
    return exclude, train


# ---------------------------------------------------------------------------------------------------- one photo

def chroma_spread(thumb: np.ndarray) -> float:
    """How much colour varies independently of brightness: the spread part of Hasler and Suesstrunk's colourfulness,
    sqrt(var(R - G) + var((R + G) / 2 - B)), of what is left after fitting both opponent channels as a straight line
    in the brightness. Near 0 for greyscale and for toned prints (sepia, cyanotype: one cast, stronger where
    brighter); photos/val's 600 colour photos all score over 6 but one (6.4)."""
    t = thumb.reshape(-1, 3).astype(np.float64)
    y = np.stack([t.mean(axis=1), np.ones(len(t))], axis=1)
    opp = np.stack([t[:, 0] - t[:, 1], 0.5 * (t[:, 0] + t[:, 1]) - t[:, 2]], axis=1)
    coef = np.linalg.lstsq(y, opp, rcond=None)[0]
    return float(np.sqrt((opp - y @ coef).var(axis=0).sum()))


def looks_like_drawing(thumb: np.ndarray) -> bool:
    """Flat-coloured images (drawings, clip art, product shots on white) from a (64, 64, 3) uint8 thumbnail."""
    same = (thumb[:, 1:] == thumb[:, :-1]).all(axis=2).mean()
    colours = len(np.unique(thumb.reshape(-1, 3) // 4, axis=0))
    return bool(same > MAX_FLAT_SHARE or colours < MIN_COLOURS)


def process(job: tuple[bytes, str]) -> tuple[str, bytes, bytes]:
    """(verdict, JPEG bytes, hash) for one photo's file bytes; verdict is "ok" or the filter that dropped it."""
    data, role = job
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                im = ImageOps.exif_transpose(im)
                if im.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "L", "I;16", "I", "1", "PA"):
                    return "odd mode", b"", b""
                im = im.convert("RGB")
                im.load()
    except Exception:  # noqa: BLE001 - any decoding failure means "corrupt"
        return "corrupt", b"", b""
    w, h = im.size
    short = min(w, h)
    if short < (DEV_SIZE if role == "dev" else TRAIN_MIN_SIDE):
        return "tiny", b"", b""
    thumb = np.asarray(im.resize((64, 64), Image.BILINEAR), dtype=np.uint8)
    if chroma_spread(thumb) < MIN_CHROMA_SPREAD:
        return "grey", b"", b""
    if looks_like_drawing(thumb):
        return "drawing", b"", b""
    if role == "dev":
        scale = DEV_SIZE / short
        im = im.resize((max(DEV_SIZE, round(w * scale)), max(DEV_SIZE, round(h * scale))), Image.BICUBIC, reducing_gap=3.0)
        x, y = (im.width - DEV_SIZE) // 2, (im.height - DEV_SIZE) // 2
        im, quality = im.crop((x, y, x + DEV_SIZE, y + DEV_SIZE)), 95
    else:
        long_max = int(short * MAX_ASPECT)
        if max(w, h) > long_max:  # panoramas: the centre 2.5:1
            x, y = (w - min(w, long_max)) // 2, (h - min(h, long_max)) // 2
            im = im.crop((x, y, x + min(w, long_max), y + min(h, long_max)))
            w, h = im.size
        if short > TRAIN_SHORT_SIDE:
            scale = TRAIN_SHORT_SIDE / short
            im = im.resize((max(TRAIN_SHORT_SIDE, round(w * scale)), max(TRAIN_SHORT_SIDE, round(h * scale))), Image.BICUBIC,
                           reducing_gap=3.0)
        quality = 90
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return "ok", buf.getvalue(), dhash(im).tobytes()


# ---------------------------------------------------------------------------------------------------- one source

def wanted(name: str, source: Source) -> bool:
    if not name.lower().endswith(IMAGE_SUFFIXES):
        return False
    if any(name == p or name.startswith(p.rstrip("/") + "/") for p in source.exclude):
        return False
    return any(name == p or name.startswith(p.rstrip("/") + "/") for p in source.paths)


def read_source(source: Source, mirrors: Path) -> tuple[list[tuple[str, bytes]], int]:
    """(path in the repository, file bytes) of the source's photos at its commit, in tree order, and how many of its
    files the snapshot lacks (a snapshot may leave a repository's largest files out)."""
    gd = git_dir(mirrors, source.repo)
    if not gd.exists():
        sys.exit(f"{source.repo}: no snapshot under {mirrors} (bring it with the fetch tool first)")
    tree = subprocess.run(["git", "--git-dir", str(gd), "ls-tree", "-r", "-z", source.commit, "--", *source.paths],
                          capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
    entries = []
    for line in tree.split("\0"):
        if line:
            meta, name = line.split("\t", 1)
            _, kind, sha = meta.split()
            if kind == "blob" and wanted(name, source):
                entries.append((name, sha))
    entries.sort()
    if source.cap and len(entries) > source.cap:  # evenly spaced over the sorted list: every class keeps its share
        idx = np.linspace(0, len(entries) - 1, source.cap).round().astype(int)
        entries = [entries[i] for i in sorted(set(idx.tolist()))]
    files, missing = [], 0
    with subprocess.Popen(["git", "--git-dir", str(gd), "cat-file", "--batch"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE) as proc:
        for name, sha in entries:  # one object at a time: a pipe never fills up
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] == b"missing":
                missing += 1
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            files.append((name, data))
        proc.stdin.close()
    return files, missing


def processed_source(source: Source, mirrors: Path, cache: Path, pool) -> tuple[list, dict]:
    """The photos of one source that pass the per-photo filters, as (path, JPEG bytes, hash), and the counts of what
    each filter dropped. Kept in ``cache`` under the source's commit, role and this script's thresholds, so that
    adding a source to the table rebuilds the set in minutes."""
    key = hashlib.sha256(json.dumps([source.repo, source.commit, source.role, source.paths, source.exclude, source.cap,
                                     TRAIN_SHORT_SIDE, TRAIN_MIN_SIDE, MAX_ASPECT, DEV_SIZE, MIN_CHROMA_SPREAD,
                                     MAX_FLAT_SHARE, MIN_COLOURS]).encode()).hexdigest()[:16]
    path = cache / f"{source.name}-{key}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    files, missing = read_source(source, mirrors)
    st = {"files": len(files) + missing, **({"missing from the snapshot": missing} if missing else {})}
    results = pool.imap(process, [(data, source.role) for _, data in files], chunksize=8)
    cand = []
    for (name, _), (verdict, jpeg, h) in zip(files, results):
        if verdict == "ok":
            cand.append((name, jpeg, np.frombuffer(h, np.uint8)))
        else:
            st[verdict] = st.get(verdict, 0) + 1
    cache.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".tmp"), "wb") as f:
        pickle.dump((cand, st), f)
    path.with_suffix(".tmp").replace(path)
    return cand, st


def build(args) -> None:
    out = Path(args.out).expanduser()
    shared = Path(args.shared)
    mirrors = Path(args.mirrors)
    sources = read_sources(Path(args.sources))
    if args.only:
        sources = [s for s in sources if s.name in args.only.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    exclude, shared_train = reference_hashes(shared, out / "reference_hashes.npz")
    print(f"references: {len(exclude)} excluded hashes, {len(shared_train)} photos/train hashes", flush=True)

    kept: dict[str, list[tuple[str, bytes, np.ndarray]]] = {}
    stats: dict[str, dict[str, int]] = {}
    dev_hashes = np.zeros((0, 32), np.uint8)
    pool = mp.Pool(args.workers)
    # dev sources first: training photos are then checked against every dev photo
    for source in sorted(sources, key=lambda s: s.role != "dev"):
        cand, st = processed_source(source, mirrors, out / ".cache", pool)
        hashes = np.stack([c[2] for c in cand]) if cand else np.zeros((0, 32), np.uint8)
        far = EXCLUDE_DISTANCE
        bad = min_distance(hashes, exclude) <= far
        if source.role == "dev":
            bad |= min_distance(hashes, shared_train) <= far
            bad |= min_distance(hashes, np.concatenate([np.stack([k[2] for k in v]) for v in kept.values() if v] or
                                                       [np.zeros((0, 32), np.uint8)])) <= far
        else:
            bad |= min_distance(hashes, dev_hashes) <= far
        st["excluded (near an evaluation or dev photo)"] = int(bad.sum())
        cand = [c for c, b in zip(cand, bad) if not b]
        hashes = hashes[~bad]
        earlier = [np.stack([k[2] for k in v]) for v in kept.values() if v]
        known = np.concatenate(earlier + [shared_train]) if earlier else shared_train
        dup = near_duplicates(hashes, known)
        st["near-duplicate"] = int(dup.sum())
        cand = [c for c, d in zip(cand, dup) if not d]
        if source.role == "dev" and args.dev_per_source and len(cand) > args.dev_per_source:
            idx = np.linspace(0, len(cand) - 1, args.dev_per_source).round().astype(int)
            cand = [cand[i] for i in idx]
        st["kept"] = len(cand)
        kept[source.name] = cand
        stats[source.name] = st
        if source.role == "dev" and cand:
            dev_hashes = np.concatenate([dev_hashes, np.stack([c[2] for c in cand])])
        print(f"{source.role:5s} {source.name:28s} {json.dumps(st)}", flush=True)
    pool.close()
    write_outputs(out, sources, kept, stats, shared, args.with_shared_train)


def write_outputs(out: Path, sources: list[Source], kept, stats, shared: Path, with_shared_train: bool) -> None:
    manifest = []
    for s in sources:
        folder = out / s.role / s.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for i, (path, jpeg, _) in enumerate(kept[s.name]):
            name = f"{i:05d}.jpg"
            (folder / name).write_bytes(jpeg)
            manifest.append((s.role, f"{s.role}/{s.name}/{name}", s.name, s.repo, s.commit, path))
    if with_shared_train:
        dst = out / "train" / "photos-train"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(shared / "photos" / "train", dst)
        n = sum(1 for p in dst.rglob("*") if p.is_file())
        stats["photos-train"] = {"kept": n, "note": "a copy of ../shared/data/photos/train (its own SOURCES.md)"}
    with open(out / "MANIFEST.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "file", "source", "repo", "commit", "path"])
        w.writerows(manifest)
    (out / "build_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    lines = ["# tomau training and dev photos", "",
             "Built by `scripts/build_training_set.py` from `scripts/photo_sources.tsv`; every file's origin is in MANIFEST.csv.",
             "", "| source | role | repository | commit | photos kept | of files | categories | licence as stated |",
             "| --- | --- | --- | --- | ---: | ---: | --- | --- |"]
    totals = {"train": 0, "dev": 0}
    for s in sources:
        st = stats[s.name]
        totals[s.role] += st["kept"]
        lines.append(f"| {s.name} | {s.role} | {s.repo} | {s.commit[:12]} | {st['kept']} | {st['files']} | {s.categories} | {s.licence} |")
    if "photos-train" in stats:
        totals["train"] += stats["photos-train"]["kept"]
        lines.append(f"| photos-train | train | ../shared/data/photos/train | - | {stats['photos-train']['kept']} | - | "
                     "see its SOURCES.md | see its SOURCES.md |")
    lines += ["", f"Total: {totals['train']} training photos, {totals['dev']} dev photos.", ""]
    (out / "SOURCES.md").write_text("\n".join(lines))
    digest = hashlib.sha256("\n".join(",".join(m) for m in manifest).encode()).hexdigest()[:16]
    print(f"wrote {totals['train']} training and {totals['dev']} dev photos to {out} (manifest {digest})")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirrors", default="/work/.mirror", help="folder of fetched snapshots, one owner+name/repo each")
    p.add_argument("--out", default="~/tomau-data", help="where the set is written (outside the checkout)")
    p.add_argument("--shared", default=str(HERE.parent.parent / "shared" / "data"), help="../shared/data")
    p.add_argument("--sources", default=str(SOURCES_TSV), help="the table of sources")
    p.add_argument("--only", default="", help="comma-separated source names to build (a quick look at one source)")
    p.add_argument("--dev-per-source", type=int, default=400, help="at most this many dev photos from one dev source")
    p.add_argument("--with-shared-train", action="store_true", help="also copy ../shared/data/photos/train into train/")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    Image.MAX_IMAGE_PIXELS = 60_000_000  # set when run, not on import: importing the script changes nothing global
    build(args)


if __name__ == "__main__":
    main()
