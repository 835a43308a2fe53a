"""Colourise images with a trained model at any resolution.

The model predicts ab at its own resolution from the resized L; ab is upsampled to the input's full
resolution and recombined with the original full-resolution L (richzhang/colorization's recipe), so
the output keeps every detail of the input's luminance.
"""
from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from . import fullres
from .errors import TomauError
from .images import LoadedImage, Strips, from_pil, load_image
from .modelfile import DEFAULT_MODEL
from .pipeline_base import Pipeline

if TYPE_CHECKING:
    import torch

# generator kinds whose network samples diverse colourings (tomau.models.cvae.DiverseColorizer.sample): known from
# the model file's config, so an onnxruntime colouriser says it can sample without building its PyTorch network
SAMPLING_KINDS = frozenset({"cvae"})


def full_res_l(pixels: np.ndarray) -> torch.Tensor:
    """Lab L (1, 1, H, W) of a photo's pixels (float RGB in [0, 1], or uint8 / uint16 grey or RGB), in strips."""
    return fullres.full_res_l(pixels)


class Colorizer(Pipeline):
    """A generator mapping normalised L (N, 1, S, S) to normalised ab (N, 2, S, S), plus its resolution.

    The colorize pipeline (``p(images)``), or for diverse models the sample one (``p(images, n=8)``).

    The network runs in PyTorch (``net``), or where ``runner`` is set (tomau.backends) in another backend: then
    ``net`` is made by ``build`` only when something needs PyTorch's (sampling, a GPU), so colourising with
    onnxruntime never imports PyTorch."""

    def __init__(self, generator: torch.nn.Module | None, image_size: int, device: str | torch.device = "cpu",
                 config: dict | None = None, name: str = "", build: Callable[[], torch.nn.Module] | None = None):
        self._net, self._build = generator, build
        self._device = device
        if generator is not None:
            self._net = generator.to(self.device).eval()
        self.image_size = image_size
        self.config = config or {}
        self.name = name

    runner = None  # another backend's network call (tomau.backends), or None for PyTorch's
    backend = "torch"

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device(self._device)

    @device.setter
    def device(self, device) -> None:
        self._device = device

    @property
    def net(self) -> torch.nn.Module:
        """The PyTorch network (built on first use where another backend runs it)."""
        if self._net is None:
            if self._build is None:
                raise TomauError(f"{self.name or 'this model'}: no PyTorch network to run")
            self._net = self._build().to(self.device).eval()
        return self._net

    @net.setter
    def net(self, net) -> None:
        self._net = net

    def predict_ab(self, l_norm: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Normalised ab of normalised L: a float32 array for an array, a tensor for a tensor."""
        if self.runner is not None:
            return self.runner(l_norm)
        import torch

        tensor = isinstance(l_norm, torch.Tensor)
        with torch.inference_mode():
            ab = self.net(torch.as_tensor(l_norm).to(self.device)).float()
        return ab if tensor else ab.cpu().numpy()

    def to(self, device: str | torch.device) -> "Colorizer":
        if str(device) != "cpu":  # onnxruntime runs on the CPU; on a GPU PyTorch does
            self.runner, self.backend = None, "torch"
        self._device = device
        if self._net is not None or self.runner is None:  # onnxruntime on the CPU: no PyTorch network to move (or build)
            self.net.to(self.device)
        return self

    def grey_inputs(self, images: list[np.ndarray]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Full-resolution L of each image (1, 1, H, W) and the batch of normalised L at the model's size (tensors)."""
        import torch

        tens_l_orig = [full_res_l(a) for a in images]
        return tens_l_orig, torch.cat([fullres.model_input(l, self.image_size) for l in tens_l_orig])

    def model_inputs(self, images: list[np.ndarray]) -> np.ndarray:
        """The batch of normalised L (N, 1, S, S) float32 of photos' pixels, without their full-size L (tomau.fullres)."""
        return np.concatenate([fullres.model_input_array(a, self.image_size) for a in images])

    def strips(self, images: list[np.ndarray], batch_size: int = 8, dtype=np.uint8) -> list[Strips]:
        """Like :meth:`colorize_arrays`, but each result is made in strips of rows when it is read or written
        (tomau.images.Strips: ``save_image`` encodes them as they come, ``np.asarray`` makes the whole array), so
        a big scan costs its own pixels plus one strip."""
        out: list[Strips] = []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            out_ab = self.predict_ab(self.model_inputs(chunk))
            out += [Strips(a.shape[:2], dtype, partial(fullres.rgb_strips, a, ab, dtype),
                           partial(fullres.recombine, a, ab, dtype)) for a, ab in zip(chunk, out_ab)]
        return out

    @staticmethod
    def recombine(l_orig: np.ndarray | torch.Tensor, ab: np.ndarray | torch.Tensor, dtype=np.uint8) -> np.ndarray:
        """Upsample ab (2, s, s) to the size of L (1, 1, H, W) and return RGB (H, W, 3) as uint8 (or uint16:
        16-bit scans keep their 16 bits of lightness). L may also be the photo's pixels.

        Done in strips of rows (tomau.fullres.rgb_strips): memory beyond the output stays that of one strip,
        whatever the photo's size."""
        return fullres.recombine(l_orig, ab, dtype)

    def colorize_arrays(self, images: list[np.ndarray], batch_size: int = 8, dtype=np.uint8) -> list[np.ndarray]:
        """float RGB (H, W, 3) in [0, 1] (or uint8 / uint16 grey or RGB pixels), any sizes -> RGB (H, W, 3) of the
        same sizes, uint8 (or ``dtype=np.uint16``)."""
        out: list[np.ndarray] = []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            out_ab = self.predict_ab(self.model_inputs(chunk))
            out += [self.recombine(a, ab, dtype) for a, ab in zip(chunk, out_ab)]
        return out

    @property
    def can_sample(self) -> bool:
        if self._net is None:
            return self.config.get("generator", {}).get("kind") in SAMPLING_KINDS
        return hasattr(self._net, "sample")

    @property
    def task(self) -> str:
        return "sample" if self.can_sample else "colorize"

    def __call__(self, images: list[np.ndarray], n: int | None = None, seed: int = 0, batch_size: int = 8):
        """Colourings of float RGB images: one each, or with ``n`` a list of n each (diverse models)."""
        if n is None:
            return self.colorize_arrays(images, batch_size)
        return self.sample_arrays(images, n, seed, batch_size)

    def check_samples(self, n: int) -> None:
        """Refuse, in one sentence, a number of samples this model cannot give."""
        if not self.can_sample:
            raise TomauError(f"{self.name or 'this model'} gives one colouring per photo; --samples needs a diverse model: "
                             "the bundled -m faces or -m scenes, or one of yours (tomau train cvae / mdn)")
        if n < 1:
            raise TomauError("--samples must be at least 1")

    def sample_arrays(self, images: list[np.ndarray], n: int, seed: int = 0, batch_size: int = 8) -> list[list[np.ndarray]]:
        """n different colourings of each image (most likely first), each at the image's full resolution (PyTorch)."""
        import torch

        self.check_samples(n)
        generator = torch.Generator().manual_seed(seed)
        out: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                chunk = images[i : i + batch_size]
                try:
                    samples = self.net.sample(torch.from_numpy(self.model_inputs(chunk)).to(self.device), n,
                                              generator=generator).float().cpu()
                except ValueError as err:
                    raise TomauError(f"{self.name}: {err}") from None
                out += [[self.recombine(a, ab) for ab in per_image] for a, per_image in zip(chunk, samples)]
        return out


def load_model(model: str = DEFAULT_MODEL, device: str = "cpu", mix: float | None = None,
               temperature: float | None = None, backend: str | None = None, say: Callable[[str], None] | None = None) -> Colorizer:
    """Load a bundled model by name, a .safetensors model file, or a training run folder.

    ``backend`` "onnxruntime" runs the network through onnxruntime on the CPU (exported and cached on first use,
    tomau.backends); "torch" through PyTorch; None = tomau.backends.DEFAULT_BACKEND on the CPU, PyTorch elsewhere.
    With onnxruntime and a graph already made, PyTorch is not imported: the model file is checked from its header
    (tomau.modelfile.read_header), its graph found by the hash of its bytes. ``say`` hears a note when a graph is
    made.

    ``mix`` and ``temperature`` turn the fidelity-to-vividness dial of models with a classification head
    (effunet, the default): the share of the annealed mean of the 313 colour bins in the output, and its
    temperature (lower = more vivid). None keeps the model file's own setting."""
    from .backends import choose_backend, onnx_colour_net
    from .graphs import ONNX_KINDS
    from .modelfile import check_config, read_header

    asked = backend
    backend = choose_backend(backend, device)
    config, _ = read_header(model)
    check_config(config, "colorize", "a colouriser", str(model))
    if backend == "onnxruntime" and asked is None and config["generator"].get("kind") not in ONNX_KINDS:
        backend = "torch"  # by default, a network with no ONNX declaration (a new family's) runs in PyTorch
    if mix is not None or temperature is not None:
        _check_dial(config, str(model), mix, temperature)
    build = partial(_network, model, device, mix, temperature)
    size = int(config.get("image_size", 64))
    if backend == "onnxruntime":
        runner = onnx_colour_net(model, mix, temperature, required=asked is not None, say=say)
        if runner is not None:
            colorizer = Colorizer(None, size, device, config, name=str(model), build=build)
            colorizer.runner, colorizer.backend = runner, "onnxruntime"
            return colorizer
    return Colorizer(build(), size, device, config, name=str(model))


def _check_dial(config: dict, source: str, mix: float | None, temperature: float | None) -> None:
    """The mix / temperature dial of a model file's config, checked without building its network (the checks of
    tomau.models.effunet.EffUNetConfig.validate, which the PyTorch network runs again)."""
    params = config.get("generator", {}).get("params", {})
    if config.get("generator", {}).get("kind") != "effunet" or not params.get("bins", 313):
        raise TomauError(f"{source}: this model has no classification head, so it has no mix / temperature dial "
                         "(tomau blend makes a dial between two models)")
    if mix is not None and not 0.0 <= mix <= 1.0:
        raise TomauError("mix must be between 0 and 1, and 0 without a classification head")
    if temperature is not None and not 0.01 <= temperature <= 10:
        raise TomauError("temperature must be between 0.01 and 10")


def _network(model: str, device: str, mix: float | None, temperature: float | None) -> torch.nn.Module:
    """The model file's PyTorch network, fully checked (tomau.modelfile.load_network), with the dial set."""
    from .modelfile import load_network

    net, _ = load_network(model, "colorize", "a colouriser", device)
    if mix is not None or temperature is not None:
        cfg = net.config
        cfg.mix = cfg.mix if mix is None else mix
        cfg.temperature = cfg.temperature if temperature is None else temperature
        cfg.validate()
    return net


def colorize(image: Image.Image | str | os.PathLike, model: Colorizer | str | None = None, samples: int | None = None,
             seed: int = 0, reference: Image.Image | str | os.PathLike | None = None,
             reference_method: str = "stats") -> Image.Image | list[Image.Image]:
    """Colourise a photo at its full resolution: a PIL image, or a file read as ``tomau colorize`` reads it
    (tomau.images.load_image: 16-bit scans at 16 bits, the pixel limit, one sentence on a bad file). EXIF orientation is
    applied, alpha kept, and the 8-bit RGB(A) result carries the input's ICC profile, DPI and EXIF in its ``info``,
    as the command's result files do.

    With ``samples=N`` (diverse models) returns a list of N colourings, the most likely first. With a
    ``reference`` colour photo of a similar scene, the colours come from it (tomau.reference: ``stats`` moves
    the model's palette to the reference's; ``welsh`` matches pixels by lightness and texture, no model used)."""
    if reference is not None and samples is not None:
        raise TomauError("a reference photo gives one colouring; use either samples or reference")
    photo = _as_loaded(image)
    use_model = True
    if reference is not None:
        from .reference import colorize_from_reference, needs_model

        use_model = needs_model(reference_method)
    if use_model and not isinstance(model, Colorizer):
        model = load_model(model or DEFAULT_MODEL)
    if reference is not None:
        model_rgb = model.colorize_arrays([photo.pixels])[0] if use_model else None
        arrays = [colorize_from_reference(photo.rgb, _as_loaded(reference).rgb, reference_method, model_rgb)]
    elif samples is not None:
        arrays = model.sample_arrays([photo.pixels], samples, seed)[0]
    else:
        arrays = model.colorize_arrays([photo.pixels])
    outs = []
    for arr in arrays:
        out = Image.fromarray(arr, "RGB")
        if photo.alpha is not None:
            out.putalpha(Image.fromarray(photo.alpha, "L"))
        out.info.update(photo.info or {})
        outs.append(out)
    return outs if samples is not None else outs[0]


def _as_loaded(image) -> LoadedImage:
    """A PIL image or a path as the command line's reader makes it."""
    return load_image(image) if isinstance(image, (str, os.PathLike)) else from_pil(image)
