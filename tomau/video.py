"""Colourise films: every frame at full resolution, audio, frame rate and duration kept, flicker reduced.

Each frame is colourised like a photo (the model predicts ab at its resolution from the frame's L; ab is
upsampled and recombined with the frame's full-resolution L). Frame-by-frame colourisation flickers: small
changes in the input (grain, a shift of a pixel) change the predicted colours. :class:`TemporalSmoother`
reduces it by motion-guided temporal smoothing of ab at the model's resolution: the optical flow (OpenCV's
Farneback) from each frame back to the previous one carries the previous, already smoothed ab onto the current
frame, and the two are averaged where the motion-compensated previous frame looks like the current one. Where
it does not (occlusions, new content, flow errors, a cut) the current frame's own colours are used, so colours
follow moving content instead of smearing behind it. A scene cut resets the average.

Keyframe hints (``hints``: :class:`HintCarrier`): colour points given on some frames follow the shot - each frame's
points are moved by OpenCV's DIS optical flow from the previous frame, kept only where the flow is consistent
forwards and backwards, dropped at a cut - and are that frame's hints (tomau.guided.HintSession: spread where the
network's features are alike), so the rest of the picture, new objects included, keeps the automatic colour.
"""
from __future__ import annotations

import itertools
import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .errors import TomauError
from .images import VIDEO_EXTENSIONS, atomic_path

# audio codecs an .mp4 can carry as they are; others are re-encoded to AAC
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int  # as the container says, or estimated from the duration; 0 when unknown
    duration: float  # seconds
    has_audio: bool
    rotation: int = 0  # degrees counterclockwise that players turn the stored frames (phone videos), 0/90/180/270
    damaged: int = 0  # packets that could not be decoded and were skipped (set by colorize_video)
    path: Path | None = None  # the result's name (set by colorize_video)
    timed: bool = True  # False for a stream without timestamps (raw H.264 named .mp4): frames counted, fps kept

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) as the film is shown."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


def _open(path: str | os.PathLike):
    import av

    from .files import check_regular

    check_regular(path, "film")  # a FIFO would block FFmpeg's open for ever
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:  # FFmpegError covers invalid data, unknown formats, missing files
        raise TomauError(f"{path}: cannot read this file as a video ({getattr(err, 'strerror', None) or err})") from None
    if not container.streams.video:
        container.close()
        raise TomauError(f"{path}: the file has no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, rate, length, audio and display rotation (read from the first frame) of a film."""
    import av

    with _open(path) as container:
        info = _info(container)
        try:
            first = next(container.decode(video=0), None)
        except av.error.FFmpegError:
            first = None
        info.rotation = int(round((first.rotation if first is not None else 0) / 90)) % 4 * 90
    if info.duration <= 0:  # no duration in the container (a raw stream): count the frames, at the stream's rate
        info.frames, info.timed = _count_frames(path), False
        info.duration = info.frames / float(info.fps)
    return info


def _count_frames(path: str | os.PathLike) -> int:
    """Video packets of a film (one frame each), read without decoding."""
    import av

    with _open(path) as container:
        try:
            return sum(1 for packet in container.demux(video=0) if packet.size)
        except av.error.FFmpegError:
            return 0


def _info(container) -> VideoInfo:
    stream = container.streams.video[0]
    fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = (container.duration or 0) / 1_000_000
    frames = stream.frames or int(round(duration * fps))
    return VideoInfo(stream.codec_context.width, stream.codec_context.height, Fraction(fps), frames, duration,
                     bool(container.streams.audio))


class TemporalSmoother:
    """Motion-guided exponential smoothing of ab over frames, at the model's resolution.

    strength: weight of the motion-compensated past where it matches (0 = off; 0.95: new colours come in over ~20 frames, 0.8 s).
    tolerance: how different (in standard deviations of the frame's L) a motion-compensated pixel may be before
    it stops counting as the same surface. cut: below this mean match, the frame is a new shot and starts afresh.
    """

    def __init__(self, strength: float = 0.95, tolerance: float = 0.25, cut: float = 0.3):
        if not 0 <= strength < 1:
            raise TomauError("temporal smoothing strength must be in [0, 1)")
        self.strength, self.tolerance, self.cut = strength, tolerance, cut
        self.reset()

    def reset(self) -> None:
        self.prev_l: np.ndarray | None = None
        self.prev_ab: np.ndarray | None = None

    @staticmethod
    def _standardise(l: np.ndarray) -> np.ndarray:
        return (l - l.mean()) / (l.std() + 1e-3)  # old film's brightness flicker is not a change of surface

    def __call__(self, l: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """l: (S, S) lightness in [0, 1]; ab: (2, S, S) predicted for this frame -> smoothed ab (2, S, S)."""
        import cv2

        l = np.asarray(l, np.float32)
        ab = np.asarray(ab, np.float32)
        if self.prev_l is None or self.strength == 0:
            self.prev_l, self.prev_ab = l, ab
            return ab
        cur8, prev8 = (np.clip(x * 255, 0, 255).astype(np.uint8) for x in (l, self.prev_l))
        # flow from the current frame to the previous one: where each current pixel was
        flow = cv2.calcOpticalFlowFarneback(cur8, prev8, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        h, w = l.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        warp = lambda img: cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # noqa: E731
        prev_l = warp(self._standardise(self.prev_l))
        diff = prev_l - self._standardise(l)
        match = np.exp(-0.5 * (diff / self.tolerance) ** 2) * inside
        if match.mean() < self.cut:  # a new shot
            self.prev_l, self.prev_ab = l, ab
            return ab
        prev_ab = np.stack([warp(c) for c in self.prev_ab])
        out = ab + self.strength * match * (prev_ab - ab)
        self.prev_l, self.prev_ab = l, out
        return out


class HintCarrier:
    """Keyframe hints carried frame to frame: ``keyframes`` maps a frame number to its points (tomau.guided.Point, pixels
    of the frame). Call it with each frame's L (H, W) in [0, 1], in order: it returns that frame's points - a
    keyframe's own, else the previous frame's moved by the optical flow (DIS, on a copy at most ``track_side`` a side).
    A point is dropped where the flow back from its new place misses its old one by more than ``tolerance`` pixels
    of that copy (occlusion, a flow failure), where it leaves the frame, and all are dropped at a cut (the previous
    frame, moved by the flow, matches less than ``cut`` of the current one: TemporalSmoother's test)."""

    def __init__(self, keyframes: dict, track_side: int = 320, tolerance: float = 1.0, cut: float = 0.3):
        self.keyframes = {int(k): list(v) for k, v in keyframes.items()}
        self.track_side, self.tolerance, self.cut = track_side, tolerance, cut
        self.index, self.prev8, self.points = 0, None, []
        self.dropped = 0  # points lost to the flow checks (for the user's note)

    def _small(self, l: np.ndarray) -> np.ndarray:
        import cv2

        h, w = l.shape
        scale = min(1.0, self.track_side / max(h, w))
        small = cv2.resize(l.astype(np.float32), (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return np.clip(small * 255, 0, 255).astype(np.uint8)

    def __call__(self, l: np.ndarray) -> list:
        import cv2

        from .guided import Point

        cur8 = self._small(l)
        index, self.index = self.index, self.index + 1
        if index in self.keyframes:
            self.points = list(self.keyframes[index])
        elif self.points and self.prev8 is not None:
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            forward = dis.calc(self.prev8, cur8, None)
            backward = dis.calc(cur8, self.prev8, None)
            sh, sw = cur8.shape
            gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
            warped = cv2.remap(TemporalSmoother._standardise(self.prev8.astype(np.float32)), gx + backward[..., 0],
                               gy + backward[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            match = np.exp(-0.5 * ((warped - TemporalSmoother._standardise(cur8.astype(np.float32))) / 0.25) ** 2)
            if match.mean() < self.cut:  # a new shot: the hints belonged to the last one
                self.dropped += len(self.points)
                self.points = []
            else:
                s = sw / l.shape[1]
                x0 = np.array([[p.x * s for p in self.points]], np.float32)
                y0 = np.array([[p.y * s for p in self.points]], np.float32)
                at = lambda flow, x, y: cv2.remap(flow, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # noqa: E731
                f = at(forward, x0, y0)
                x1, y1 = x0 + f[..., 0], y0 + f[..., 1]
                b = at(backward, x1, y1)
                back = np.hypot(x1 + b[..., 0] - x0, y1 + b[..., 1] - y0)[0]
                keep = (x1[0] >= 0) & (x1[0] < sw) & (y1[0] >= 0) & (y1[0] < sh) & (back <= self.tolerance)
                kept = [Point(float(x / s), float(y / s), p.color) for p, x, y, k in zip(self.points, x1[0], y1[0], keep) if k]
                self.dropped += len(self.points) - len(kept)
                self.points = kept
        self.prev8 = cur8
        return list(self.points)


def colorize_frames(colorizer, frames: Iterable[np.ndarray], smoother: TemporalSmoother | None = None,
                    batch_size: int = 8, hints: HintCarrier | None = None) -> Iterator[np.ndarray]:
    """uint8 RGB frames (H, W, 3) -> colourised uint8 RGB frames, in order. ``colorizer``: inference.Colorizer (a hints
    model's, with ``hints``)."""
    import torch  # films take each frame's L as a tensor (tomau.inference.Colorizer.grey_inputs)

    batch: list[np.ndarray] = []

    def hinted_ab(frames: list[np.ndarray], tens_l: list[torch.Tensor]) -> torch.Tensor:
        from .guided import HintSession

        out = []
        for frame, l_full in zip(frames, tens_l):
            session = HintSession(colorizer, frame)
            out.append(session.predict_ab(session.hints(hints(l_full[0, 0].numpy() / 100))))
        return torch.stack(out)

    def run(batch):
        tens_l, l_rs = colorizer.grey_inputs([f.astype(np.float32) / 255 for f in batch])
        ab = colorizer.predict_ab(l_rs).cpu() if hints is None else hinted_ab(batch, tens_l)
        for i, l_full in enumerate(tens_l):
            ab_i = ab[i]
            if smoother is not None:
                l_small = (l_rs[i, 0].numpy() + 1) / 2  # normalised L in [-1, 1] -> [0, 1]
                ab_i = torch.from_numpy(smoother(l_small, ab_i.numpy()))
            yield colorizer.recombine(l_full, ab_i)

    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield from run(batch)
            batch = []
    if batch:
        yield from run(batch)


def _output_settings(target: Path) -> tuple[str, str, dict]:
    """(container format, video codec, codec options) from the output's extension."""
    ext = target.suffix.lower()
    if ext == ".webm":
        return "webm", "libvpx-vp9", {"crf": "30", "b": "0"}
    return ("matroska" if ext == ".mkv" else "mp4"), "libx264", {"crf": "18", "preset": "veryfast"}


def _audio_output(out, ain, fmt: str):
    """(output audio stream, copied?) for the input audio stream ``ain``: a copy of the packets where the
    container can hold the codec, else re-encoded (AAC; Opus in WebM)."""
    if fmt == "matroska" or (fmt == "mp4" and ain.codec_context.name in _MP4_AUDIO):
        return out.add_stream_from_template(ain), True
    aout = out.add_stream("libopus" if fmt == "webm" else "aac", rate=ain.codec_context.sample_rate or 48000)
    aout.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
    return aout, False


def output_name(source: Path) -> Path:
    """The result's file name: .mkv and .webm stay, everything else becomes .mp4 (H.264)."""
    return source.with_suffix(source.suffix.lower() if source.suffix.lower() in (".mkv", ".webm", ".mp4") else ".mp4")


def colorize_video(source: str | os.PathLike, target: str | os.PathLike, colorizer, smoothing: float = 0.95,
                   batch_size: int = 8, progress: Callable[[int, int], None] | None = None, replace: bool = True,
                   hints: dict | None = None) -> VideoInfo:
    """Colourise ``source`` into ``target`` (written atomically; never the source). Keeps the frame timing,
    so the frame rate and duration, and the first audio track (copied, or re-encoded to AAC where the
    output container cannot hold it). ``progress(done, total)`` is called after every frame. With ``replace``
    False a file already at ``target`` is never replaced: the film takes the next free name, which the returned
    info's ``path`` holds. ``hints``: frame number -> points (tomau.guided.Point) carried through the shot
    (:class:`HintCarrier`)."""
    import av

    source, target = Path(source), Path(target)
    if target.resolve() == source.resolve():
        raise TomauError(f"{target}: that is the input film; inputs are never overwritten")
    fmt, codec, options = _output_settings(target)
    smoother = TemporalSmoother(smoothing) if smoothing > 0 else None
    info = probe(source)
    if min(info.upright_size) < 2:
        raise TomauError(f"{source}: {info.upright_size[0]}x{info.upright_size[1]} pixels is too small to colourise "
                         "(a film needs at least 2x2)")
    try:
        landed: list[Path] = []
        with atomic_path(target, target.suffix, replace=replace, landed=landed) as tmp, _open(source) as inp:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            ain = inp.streams.audio[0] if inp.streams.audio else None
            # frames are turned upright (the model was trained on upright photos) and written without a rotation;
            # x264 with 4:2:0 chroma needs even sizes: an odd last row or column is dropped
            turns = info.rotation // 90
            w, h = info.upright_size
            w, h = w - w % 2, h - h % 2
            batch_size = max(1, min(batch_size, 16_000_000 // max(w * h, 1)))  # bounded memory: 7 frames of 1080p, 1 of 4K
            with av.open(str(tmp), "w", format=fmt) as out:
                vout = out.add_stream(codec, rate=info.fps, options=options)
                vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
                vout.time_base = vin.time_base
                aout, copy_audio = _audio_output(out, ain, fmt) if ain is not None else (None, False)
                timestamps: deque[int | None] = deque()  # pts of decoded frames not yet encoded
                done, last_pts = 0, None

                def decoded(packet):
                    try:
                        return packet.decode()
                    except av.error.InvalidDataError:  # a damaged packet: skipped, as players do
                        info.damaged += 1
                        return []

                def video_frames():
                    for packet in inp.demux(*([vin, ain] if ain is not None else [vin])):
                        if packet.stream is ain:
                            if copy_audio:
                                if packet.dts is not None:
                                    packet.stream = aout
                                    out.mux(packet)
                            else:
                                for frame in decoded(packet):
                                    frame.pts = None
                                    out.mux(aout.encode(frame))
                            continue
                        for frame in decoded(packet):
                            timestamps.append(frame.pts)
                            yield np.rot90(frame.to_ndarray(format="rgb24"), turns)[:h, :w]

                carrier = HintCarrier(hints) if hints else None
                for rgb in colorize_frames(colorizer, video_frames(), smoother, batch_size, carrier):
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    pts = timestamps.popleft()
                    if not info.timed:  # a raw stream has no timestamps: frame n is at n / fps, the stream's own rate
                        pts = int(round(done / (info.fps * vin.time_base)))
                    if last_pts is not None and (pts is None or pts <= last_pts):
                        pts = last_pts + 1  # damage can leave a frame a missing or repeated time; the encoder needs them rising
                    frame.pts, frame.time_base, last_pts = pts, vin.time_base, pts
                    out.mux(vout.encode(frame))
                    done += 1
                    if progress:
                        progress(done, max(info.frames, done))
                if done == 0:
                    raise TomauError(f"{source}: the video has no frames that can be decoded")
                out.mux(vout.encode(None))
                if aout is not None and not copy_audio:
                    out.mux(aout.encode(None))
    except av.error.FFmpegError as err:  # anything else FFmpeg refuses, in one sentence
        raise TomauError(f"{source}: the film could not be colourised ({err.strerror or err})") from None
    info.path = landed[0]
    return info


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int | Fraction = 25,
                audio: tuple[np.ndarray, int] | None = None, crf: int = 18) -> None:
    """Write uint8 RGB frames (H, W, 3; even sizes) as H.264 in .mp4 or .mkv, with an optional mono audio
    track (float samples in [-1, 1], sample rate) encoded as AAC. Used to build test and benchmark clips."""
    import av

    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as out:  # every stream is added before the first packet is written
        vout = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        vout.pix_fmt = "yuv420p"
        vout.height, vout.width = first.shape[:2]
        if audio is not None:
            samples, rate = audio
            aout = out.add_stream("aac", rate=rate)
            aout.layout = "mono"
        for rgb in itertools.chain([first], frames):
            out.mux(vout.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        out.mux(vout.encode(None))
        if audio is not None:
            chunk = 1024
            for start in range(0, len(samples), chunk):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + chunk].astype(np.float32), format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                out.mux(aout.encode(frame))
            out.mux(aout.encode(None))


def make_test_film(path: str | os.PathLike, n: int = 100, w: int = 64, h: int = 48, audio: bool = True, fps: int = 25) -> Path:
    """A small grey test film to try ``tomau colorize`` on (no film at hand): ``n`` frames of ``w`` x ``h`` moving
    grey waves at ``fps``, with a 440-Hz tone where ``audio``; 100 frames at 25 fps = 4 seconds. Returns the path."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        g = 128 + 60 * np.sin((x + 2 * t) / 6) * np.cos(y / 5) + rng.normal(0, 3, (h, w))
        frames.append(np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, -1))
    rate = 16000
    sound = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(n / fps * rate)) / rate), rate) if audio else None
    write_video(path, frames, fps, sound)
    return Path(path)
