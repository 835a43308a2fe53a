"""Use and score paired image-to-image translators (tomau train translate), e.g. satellite photo -> map.

An input of any size is resized to the model's square resolution, translated, and the output resized
back to the input's size. Pair files (A | B side by side, as in the training data) can be given
directly: the input half is cut out according to the model's direction.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import PairedImageFolder
from .errors import TomauError
from .images import open_image
from .metrics import TRANSLATION_METRICS, Shared, score
from .modelfile import load_network
from .pipeline_base import Pipeline


class Translator(Pipeline):
    """The translate pipeline: ``p(images) -> images``, uint8 RGB of any size in and out."""

    task = "translate"

    def __init__(self, generator: torch.nn.Module, image_size: int, direction: str = "AtoB", device="cpu", name: str = "",
                 config: dict | None = None):
        self.device = torch.device(device)
        self.net = generator.to(self.device).eval()
        self.image_size, self.direction, self.name = image_size, direction, name
        self.config = config or {}

    def __call__(self, images: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        return self.translate_arrays(images, batch_size)

    @torch.inference_mode()
    def translate_arrays(self, images: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """uint8 RGB (H, W, 3), any sizes -> uint8 RGB of the same sizes."""
        s, out = self.image_size, []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            x = torch.stack([torch.from_numpy(np.array(Image.fromarray(a).resize((s, s), Image.BICUBIC))).permute(2, 0, 1)
                             for a in chunk]).float() / 127.5 - 1
            y = ((self.net(x.to(self.device)).float().cpu() + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
            for src, res in zip(chunk, y):
                h, w = src.shape[:2]
                out.append(res if (h, w) == (s, s) else np.asarray(Image.fromarray(res).resize((w, h), Image.BICUBIC)))
        return out

    def split_pair(self, im: Image.Image, path: Path | str = "") -> tuple[np.ndarray, np.ndarray]:
        """A pair file -> (input half, target half) as uint8 arrays, by the model's direction."""
        a, b = PairedImageFolder.split(im.convert("RGB"), path)
        if self.direction == "BtoA":
            a, b = b, a
        return np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)


def load_translator(model: str, device: str = "cpu") -> Translator:
    net, config = load_network(model, "translate", "an image-to-image translator (tomau train translate)", device)
    return Translator(net, int(config["image_size"]), config.get("direction", "AtoB"), device, name=str(model), config=config)


def translate(image: Image.Image, model: Translator | str) -> Image.Image:
    """Translate one PIL image (RGB, any size) with a translator or a model name/file/run folder."""
    if not isinstance(model, Translator):
        model = load_translator(model)
    return Image.fromarray(model.translate_arrays([np.asarray(image.convert("RGB"), dtype=np.uint8)])[0])


def evaluate_pairs(translator: Translator, files: list[Path], batch_size: int = 8, progress: bool = False,
                   metrics=TRANSLATION_METRICS) -> dict:
    """The named metrics (tomau.metrics.METRICS; default L1, RMSE, PSNR, pixel accuracy) of the model against the true
    targets of pair files, beside two trivial baselines: the input itself ("identity") and the single colour closest
    in L2 to all targets, i.e. their mean colour ("best constant colour", an oracle: it is fitted on these targets)."""
    from .progress import progress_bar

    inputs, truths = [], []
    for f in files:
        with open_image(f) as im:  # refused from its header when over 100 MP
            a, b = translator.split_pair(im, f)
        inputs.append(a)
        truths.append(b)
    if not truths:
        raise TomauError("no pair files to evaluate")
    preds = []
    for i in progress_bar(range(0, len(inputs), batch_size), desc="translating", show=progress, leave=False):
        preds += translator.translate_arrays(inputs[i : i + batch_size], batch_size)
    mean_colour = np.mean([t.reshape(-1, 3).mean(0) for t in truths], axis=0)
    constant = [np.broadcast_to(np.round(mean_colour).astype(np.uint8), t.shape) for t in truths]
    shared = Shared()
    return {"model": score(metrics, preds, truths, shared), "identity": score(metrics, inputs, truths, shared),
            "constant": score(metrics, constant, truths, shared), "constant_rgb": [round(float(c), 1) for c in mean_colour], "n": len(files)}
