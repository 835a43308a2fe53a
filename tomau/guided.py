"""Colour by hand, learned: point and scribble hints through the hints network (Zhang et al., "Real-Time User-Guided
Image Colorization with Learned Deep Priors", SIGGRAPH 2017).

A hint is a pixel of the photo and a colour; only the colour's ab is used (the photo keeps its own lightness). Hints
live on the model's 1/4 grid (the model size / 4 a side): each cell holds the mean ab of the hints that fall in it,
and a mask (tomau.models.effunet.HINT_CHANNELS). Where a hint's colour goes is decided in the network's learned
feature space: each cell takes the hints' corrections to the network's colour (hint - prediction at the hint's cell),
weighted by how alike the decoder's last features of the two cells are (cosine similarity, sharpened by
PROPAGATION["tau"]) and by distance (a Gaussian of PROPAGATION["sigma"] x the grid), and fading where no hint is
alike (PROPAGATION["kappa"]). A model with a trained hints decoder (``tomau train effunet --hints``) first predicts
with the hints, then the same propagation corrects what it left. ``HintSession`` holds one photo: the encoder and
decoder run once, each update is the propagation (the page's preview), and the result is made at full resolution
through the same strips as ``tomau colorize`` (tomau.fullres). Without hints the result is the model's own.

    session = HintSession(load_model(), pixels)
    rgb = session.colorize([Point(120, 80, "#c0302a")])       # uint8 RGB at the photo's size
    session.suggest(120, 80)                                  # [("#7a5a3c", 0.31), ...] most likely first

Points files are CSV with the header ``x,y,color``: pixels from the photo's top-left corner, colour ``#rrggbb``.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from . import color, fullres
from .errors import TomauError

HINTS_MODEL = "default"  # the model hints go through by default (the shipped effunet)
# the propagation's settings, chosen on 26 training photos (every 120th of ../shared/data/photos/train), not the dev set
PROPAGATION = {"tau": 0.05, "sigma": 0.25, "kappa": 0.05}  # (sigma 0.5, kappa 0.01: +0.27 dB at 10 hints there, but
# one hint then recolours the far side of the photo too)
MIN_SUGGESTION_DISTANCE = 15.0  # ab units between two suggested colours (bins are 10 apart: neighbours look alike)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#rrggbb' (the '#' optional) -> (r, g, b) in 0..255."""
    m = _HEX.fullmatch(str(text).strip())
    if m is None:
        raise TomauError(f"{text!r} is not a colour; write it as #rrggbb, e.g. #c0302a")
    v = int(m.group(1), 16)
    return v >> 16, (v >> 8) & 255, v & 255


def colours_ab(colours: list[str]) -> np.ndarray:
    """The Lab ab (n, 2) of '#rrggbb' colours."""
    if not colours:
        return np.zeros((0, 2))
    rgb = np.array([parse_colour(c) for c in colours], np.float32).reshape(1, -1, 3) / 255
    return color.rgb_to_lab_hwc(rgb)[0, :, 1:].astype(np.float64)


def lab_hex(l: float, a: float, b: float) -> str:
    """'#rrggbb' of a Lab colour (clipped into sRGB)."""
    r, g, bl = color.lab_to_rgb_u8_hwc(np.array([[[l, a, b]]], np.float32))[0, 0]
    return f"#{int(r):02x}{int(g):02x}{int(bl):02x}"


@dataclass(frozen=True)
class Point:
    """A colour hint: pixel (x, y) from the photo's top-left corner, colour '#rrggbb'."""

    x: float
    y: float
    color: str

    def __post_init__(self):
        parse_colour(self.color)


def parse_points(text: str, source: str = "points") -> list[Point]:
    """Points from CSV text with the header x,y,color (one sentence naming the line on anything else)."""
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0]] != ["x", "y", "color"]:
        raise TomauError(f"{source}: a points file starts with the header x,y,color")
    points = []
    for line, row in enumerate(rows[1:], 2):
        try:
            x, y, c = (v.strip() for v in row)
            points.append(Point(float(x), float(y), c))
        except (ValueError, TomauError) as err:
            raise TomauError(f"{source}, line {line}: {','.join(row)!r} is not x,y,#rrggbb ({err})") from None
    return points


POINTS_FILE_LIMIT = 16 * 2**20  # a points or hints CSV: millions of points is already more than a photo needs


def _read_csv_text(path: str | Path, what: str) -> str:
    """A small CSV file's text: a regular file (a FIFO or /dev/zero is refused, not read for ever), bounded in size."""
    from .files import read_bounded, shown

    data = read_bounded(path, POINTS_FILE_LIMIT, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TomauError(f"{shown(path)}: the {what} is not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_points(path: str | Path) -> list[Point]:
    return parse_points(_read_csv_text(path, "points file"), str(path))


def read_keyframe_points(path: str | Path) -> dict[int, list[Point]]:
    """A film's hints: CSV with the header frame,x,y,color (frame numbers from 0, pixels of the upright frame)."""
    text = _read_csv_text(path, "hints file")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0]] != ["frame", "x", "y", "color"]:
        raise TomauError(f"{path}: a film's hints file starts with the header frame,x,y,color")
    keyframes: dict[int, list[Point]] = {}
    for line, row in enumerate(rows[1:], 2):
        try:
            frame, x, y, c = (v.strip() for v in row)
            if int(frame) < 0:
                raise ValueError("frames count from 0")
            keyframes.setdefault(int(frame), []).append(Point(float(x), float(y), c))
        except (ValueError, TomauError) as err:
            raise TomauError(f"{path}, line {line}: {','.join(row)!r} is not frame,x,y,#rrggbb ({err})") from None
    return keyframes


def points_from_colour_frame(rgb: np.ndarray, across: int = 12) -> list[Point]:
    """Hints from a coloured keyframe (uint8 RGB): ``across`` x ``across`` points at the centres of a regular grid, each
    the mean colour of the 3x3 pixels there."""
    h, w = rgb.shape[:2]
    points = []
    for gy in range(across):
        for gx in range(across):
            x, y = int((gx + 0.5) * w / across), int((gy + 0.5) * h / across)
            patch = rgb[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2, :3].reshape(-1, 3).mean(0)
            r, g, b = (int(round(v)) for v in patch)
            points.append(Point(float(x), float(y), f"#{r:02x}{g:02x}{b:02x}"))
    return points


def points_csv(points: list[Point]) -> str:
    """CSV text of points, as read_points reads it."""
    return "x,y,color\n" + "".join(f"{p.x:g},{p.y:g},{p.color.lower() if p.color.startswith('#') else '#' + p.color.lower()}\n"
                                   for p in points)


def hint_grid(xs: np.ndarray, ys: np.ndarray, ab: np.ndarray, width: int, height: int, grid: int) -> torch.Tensor:
    """Hint pixels (x, y in the photo's pixels, ab (n, 2) Lab) -> the network's hints (1, HINT_CHANNELS, grid, grid):
    per cell the mean normalised ab of its hints times the mask, and the mask (1 where any hint fell)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    if not inside.all():
        raise TomauError(f"a hint lies outside the {width}x{height} photo (x {xs[~inside][0]:g}, y {ys[~inside][0]:g})")
    cells = (np.floor(ys * grid / height).astype(np.int64) * grid + np.floor(xs * grid / width).astype(np.int64))
    sums = np.zeros((grid * grid, 2))
    np.add.at(sums, cells, np.asarray(ab, np.float64).reshape(-1, 2))
    count = np.bincount(cells, minlength=grid * grid)
    hints = np.zeros((3, grid * grid), np.float32)
    given = count > 0
    hints[:2, given] = (sums[given] / count[given, None]).T / color.AB_NORM
    hints[2, given] = 1
    return torch.from_numpy(hints.reshape(1, 3, grid, grid))


def propagate_in_features(features: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor, tau: float = PROPAGATION["tau"],
                          sigma: float = PROPAGATION["sigma"], kappa: float = PROPAGATION["kappa"]) -> torch.Tensor:
    """ab (1, 2, g, g) corrected by the hints (1, HINT_CHANNELS, g, g): cell i gets sum_j w_ij r_j / (sum_j w_ij + kappa)
    over hinted cells j, r_j = hint_j - ab_j, w_ij = exp((cos(f_i, f_j) - 1) / tau) exp(-|i - j|^2 / (2 (sigma g)^2)), f the
    decoder's features (C, g * g), unit length per cell. A hinted cell alone gets r / (1 + kappa): the hint, nearly."""
    g = ab.shape[-1]
    hinted = (hints[0, 2].flatten() > 0).nonzero()[:, 0]
    if len(hinted) == 0:
        return ab
    sim = features.T @ features[:, hinted]  # (g * g, k)
    yy, xx = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
    cells = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    d2 = ((cells[:, None] - cells[hinted][None]) ** 2).sum(-1)
    w = torch.exp((sim - 1) / tau) * torch.exp(-d2 / (2 * (sigma * g) ** 2))
    r = hints[0, :2].flatten(1)[:, hinted].float() - ab[0].flatten(1)[:, hinted]  # (2, k)
    correction = (w @ r.T) / (w.sum(1, keepdim=True) + kappa)
    return ab + correction.T.reshape(1, 2, g, g)


class HintSession:
    """One photo coloured by hand through an effunet model (the default; its classification head suggests colours)."""

    def __init__(self, model, pixels: np.ndarray):
        net = model.net
        if not hasattr(net, "decoder") or not hasattr(net, "combine") or not getattr(net.config, "bins", 0):
            raise TomauError(f"{model.name or 'this model'} is not an effunet with a classification head; colour hints go through "
                             f"the '{HINTS_MODEL}' model (or --method levin, which works with any model)")
        self.model, self.pixels = model, pixels
        self.height, self.width = pixels.shape[:2]
        self.size = model.image_size
        self.grid = self.size // 4
        captured: list[torch.Tensor] = []
        with torch.inference_mode():
            self.l_norm = fullres.model_input(pixels, self.size).to(model.device)
            self.feats = net.encode(self.l_norm)
            hook = net.decoder.up4.register_forward_hook(lambda module, inputs, output: captured.append(output))
            try:
                self.base_heads = net.heads(self.feats, self.l_norm)
            finally:
                hook.remove()
            self.base_ab = net.combine(*self.base_heads).float()
            self.features = F.normalize(captured[0][0].float().flatten(1), dim=0).cpu()  # (C, g * g), unit length per cell

    def hints(self, points: list[Point] = (), mask: np.ndarray | None = None, ab: np.ndarray | None = None) -> torch.Tensor:
        """The network's hints from points and/or a scribble mask (H, W) with its ab (H, W, 2)."""
        xs, ys, abs_ = [p.x for p in points], [p.y for p in points], colours_ab([p.color for p in points])
        if mask is not None:
            my, mx = np.nonzero(mask)
            xs, ys = np.concatenate([xs, mx + 0.5]), np.concatenate([ys, my + 0.5])
            abs_ = np.concatenate([abs_, ab[my, mx]])
        return hint_grid(np.asarray(xs), np.asarray(ys), abs_, self.width, self.height, self.grid)

    @torch.inference_mode()
    def heads(self, hints: torch.Tensor | None):
        """The two heads' raw outputs; no hints (or an empty map) go through the shipped decoder."""
        net = self.model.net
        if hints is None or not bool(hints[:, 2].any()) or getattr(net, "hint_decoder", None) is None:
            return self.base_heads
        return net.heads(self.feats, self.l_norm, hints.to(self.l_norm.device))

    @torch.inference_mode()
    def predict_ab(self, hints: torch.Tensor | None) -> torch.Tensor:
        """Normalised ab (2, S, S) at the model's size: the network's (with no hints, exactly its forward's), then the
        hints propagated in its feature space (:func:`propagate_in_features`)."""
        ab = self.base_ab
        if hints is not None and bool(hints[:, 2].any()):
            if getattr(self.model.net, "hint_decoder", None) is not None:
                ab = self.model.net.combine(*self.heads(hints)).float()
            ab = propagate_in_features(self.features, ab.cpu(), hints.cpu())
        ab = F.interpolate(ab.cpu(), size=self.l_norm.shape[-2:], mode="bilinear", align_corners=False)
        cfg = self.model.net.config
        if getattr(cfg, "guided_radius", 0):  # the model's own decoding, as its forward does it
            from .models.effunet import guided_filter

            ab = guided_filter(self.l_norm.cpu(), ab, cfg.guided_radius, cfg.guided_eps)
        return ab[0].float()

    def colorize(self, points: list[Point] = (), mask: np.ndarray | None = None, ab: np.ndarray | None = None,
                 dtype=np.uint8) -> np.ndarray:
        """RGB (H, W, 3) at the photo's full resolution with these hints (none: the shipped default's colouring)."""
        return fullres.recombine(self.pixels, self.predict_ab(self.hints(points, mask, ab)), dtype)

    def preview(self, points: list[Point], preview_pixels: np.ndarray) -> np.ndarray:
        """The result on a smaller copy of the photo (the page's preview): the same ab on fewer pixels."""
        return fullres.recombine(preview_pixels, self.predict_ab(self.hints(points)))

    @torch.inference_mode()
    def suggest(self, x: float, y: float, points: list[Point] = (), k: int = 6) -> list[tuple[str, float]]:
        """The ``k`` most likely colours at pixel (x, y) given the other hints, from the classification head's
        distribution over the 313 ab bins there (Zhang et al.'s palette): ('#rrggbb' at the pixel's lightness, probability),
        most likely first, no two within MIN_SUGGESTION_DISTANCE in ab."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise TomauError(f"({x:g}, {y:g}) lies outside the {self.width}x{self.height} photo")
        _, logits = self.heads(self.hints(points))
        if logits is None:
            raise TomauError("this model has no classification head, so it has no colour distribution to suggest from")
        gy, gx = int(y * self.grid / self.height), int(x * self.grid / self.width)
        probs = torch.softmax(logits[0, :, gy, gx].float(), 0)
        centres = self.model.net.bin_centres.float().cpu() * color.AB_NORM
        l_value = float(color.denormalize_l(F.avg_pool2d(self.l_norm, 4))[0, 0, gy, gx])
        chosen: list[int] = []
        for q in torch.argsort(probs, descending=True).tolist():
            if all(float(torch.dist(centres[q], centres[c])) >= MIN_SUGGESTION_DISTANCE for c in chosen):
                chosen.append(q)
            if len(chosen) == k:
                break
        return [(lab_hex(l_value, *centres[q].tolist()), float(probs[q])) for q in chosen]


def colorize_with_points(image, points: list[Point], model=None) -> np.ndarray:
    """Colour a photo (a path, or pixels: float RGB in [0, 1], uint8 / uint16 grey or RGB) with point hints through the
    hints network; returns uint8 RGB at the photo's size. ``model``: a loaded hints Colorizer or a name (default 'hints')."""
    from .images import load_image
    from .inference import load_model

    pixels = load_image(image).pixels if isinstance(image, (str, Path)) else image
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model or HINTS_MODEL, backend="torch")
    return HintSession(model, pixels).colorize(list(points))
