"""Model files: one safetensors file whose metadata holds the JSON config that rebuilds the network.

    metadata["tomau"] = {"format": 1, "task": "colorize", "family": "pix2pix",
                         "generator": {"kind": "unet", "params": {...}},
                         "image_size": 256, "training": {...}}

The Lab scaling of colour models is tomau.color's (L_CENT, AB_NORM) for every file. Files written before it was
dropped from the config carry it as "normalization": {"l_cent": 50, "ab_norm": 110}; they load, and one naming other
values is refused (tomau cannot colourise with another scaling).

Bundled models live in tomau/weights/NAME.safetensors and are loaded by NAME.

:func:`read_header` checks a file from its safetensors header alone, without PyTorch and without reading the
weights (names, shapes, dtypes, where each tensor lies in the file, the config and its bounds): what the
onnxruntime path needs, whose graph was exported (tomau.backends) from the very same bytes after the full check
(:func:`load_network`: the weights finite, every tensor fitting the network its config builds).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TomauError
from .files import check_regular, loads_json, read_bounded, shown
from .images import write_atomic

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).parent / "weights"
SAMPLES_DIR = Path(__file__).parent / "samples"  # small public-domain photos for the demo and tests
DEFAULT_MODEL = "effunet"  # what `tomau colorize` and load_model() use; the name "default" is an alias for it
DEFAULT_ALIAS = "default"
MAX_MODEL_BYTES = 4 << 30  # a model file over 4 GB is not one of tomau's (the largest family is ~0.2 GB)


# what each bundled model does and is, in a user's words (`tomau models`); a file of your own is described from its config
BUNDLED_ABOUT = {
    "effunet": ("colours photos; best on people and faces", "EfficientNet-Lite0 encoder + U-Net decoder"),
    "pix2pix": ("colours photos (the old default, trained on imagenette)", "pix2pix U-Net"),
    "faces": ("several colourings per photo (--samples N), trained on faces", "CVAE + mixture density network"),
    "scenes": ("several colourings per photo (--samples N), trained on imagenette scenes", "CVAE + mixture density network"),
    "maps": ("turns satellite photos into maps (tomau translate)", "translator on an EfficientNet-Lite0 encoder"),
    "flowers_gan": ("makes new flower pictures (tomau generate)", "projected GAN, FastGAN generator"),
    "flowers_dcgan": ("makes new flower pictures (tomau generate)", "DCGAN generator"),
}
TASK_WORDS = {"colorize": "colours photos", "translate": "translates images (tomau translate)",
              "generate": "makes new images (tomau generate)"}


def describe(name_or_path: str | Path) -> str:
    """One line on a model for a user: what it does, its network, parameters, resolution and file size, and
    whether it is the default; from the file's header alone (no PyTorch)."""
    path = resolve_model_path(name_or_path)
    config, tensors = read_header(name_or_path)
    params = 0
    for _, shape in tensors.values():
        count = 1
        for d in shape:
            count *= d
        params += count
    bundled = path.parent == WEIGHTS_DIR and path.stem in BUNDLED_ABOUT
    what, network = BUNDLED_ABOUT[path.stem] if bundled else (
        TASK_WORDS.get(config.get("task"), f"a {config.get('task')!r} model"),
        f"{config.get('family', '?')} ({config.get('generator', {}).get('kind', '?')} network)")
    default = " - the default (also -m default)" if bundled and path.stem == DEFAULT_MODEL else ""
    return (f"{what}{default}; {network}, {params / 1e6:.1f} M parameters, {config.get('image_size', '?')} px, "
            f"{path.stat().st_size / 1e6:.0f} MB")


def bundled_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A bundled name, a model file, or a training run folder (its model.safetensors)."""
    p = Path(name_or_path)
    if p.is_dir():
        p = p / "model.safetensors"
        if not os.path.lexists(p):
            raise TomauError(f"{shown(name_or_path)}: the run folder has no model.safetensors yet (it is written at each checkpoint)")
        return check_regular(p, "model file")  # a FIFO would block the read for ever, /dev/zero never end
    if os.path.lexists(p):
        return check_regular(p, "model file")
    if str(name_or_path) == DEFAULT_ALIAS:
        name_or_path = DEFAULT_MODEL
    bundled = WEIGHTS_DIR / f"{name_or_path}.safetensors"
    if bundled.is_file():
        return bundled
    raise TomauError(f"{shown(name_or_path)}: no such model file, run folder or bundled model (bundled: {', '.join(bundled_models()) or 'none'})")


def save_model_file(path: str | Path, state_dict: dict[str, torch.Tensor], config: dict, half: bool = True,
                    replace: bool = True) -> Path:
    """Write weights (fp16 for float tensors when ``half``) and config atomically; with ``replace`` False a file
    already there is never replaced (the next free name is taken, see tomau.images.atomic_path). Returns the name."""
    from safetensors.torch import save as st_save

    tensors = {}
    for k, v in state_dict.items():
        if k.endswith("num_batches_tracked"):
            continue  # a training counter, not part of the model
        v = v.detach().cpu().contiguous()
        tensors[k] = v.half() if half and v.is_floating_point() else v
    meta = {"tomau": json.dumps({"format": FORMAT_VERSION, **config})}
    data = st_save(tensors, metadata=meta)
    return write_atomic(Path(path), lambda f: f.write(data), replace)


# safetensors' dtypes and their bytes per value
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header


def read_header(name_or_path: str | Path) -> tuple[dict, dict[str, tuple[str, tuple[int, ...]]]]:
    """(config, {tensor name: (dtype, shape)}) of a model file from its safetensors header alone: no PyTorch, no
    weights read. Refused in one sentence: a header that is not safetensors', a dtype tomau does not write, a shape
    whose size does not match its byte range, ranges outside the file or overlapping, and a config that is not a
    tomau config of this format (see :func:`check_config` for its bounds)."""
    path = resolve_model_path(name_or_path)
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            header_len = int.from_bytes(f.read(8), "little")
            if not 2 <= header_len <= min(MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"a header of {header_len} bytes in a file of {size}")
            header = json.loads(f.read(header_len))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (OSError, ValueError) as err:
        raise TomauError(f"{path}: not a readable safetensors model file ({err})") from None
    meta = header.pop("__metadata__", None) or {}
    tensors, spans, data_len = {}, [], size - 8 - header_len
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            if dtype not in DTYPE_BYTES or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError
            count = 1
            for d in shape:
                count *= d
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_len
                    and end - start == count * DTYPE_BYTES[dtype]):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise TomauError(f"{path}: tensor {name!r} has a bad entry in the safetensors header (dtype, shape or byte "
                             "range); the file is damaged or was not written by tomau") from None
        tensors[name] = (dtype, shape)
        spans.append((start, end))
    spans.sort()
    if any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])):
        raise TomauError(f"{path}: two tensors share bytes in the safetensors header; the file is damaged or edited")
    if not isinstance(meta, dict) or "tomau" not in meta:
        raise TomauError(f"{path}: a safetensors file without a tomau config; it was not written by tomau")
    return _parse_config(meta["tomau"], path), tensors


def _parse_config(text, path: Path) -> dict:
    try:
        config = loads_json(text, path)  # bounded in size and depth (tomau.files)
    except (TypeError, ValueError):
        raise TomauError(f"{path}: the model's config is not valid JSON; the file is damaged or was not written by tomau") from None
    if not isinstance(config, dict):
        raise TomauError(f"{path}: the model's config is a JSON {type(config).__name__}, not an object; the file is damaged "
                         "or was not written by tomau")
    if config.get("format") != FORMAT_VERSION:
        raise TomauError(f"{path}: model format {config.get('format')} is not supported (this tomau reads format {FORMAT_VERSION})")
    return config


def check_config(config: dict, task: str, what: str, source: str) -> None:
    """A model file's config, before anything is built from it: its task (``what`` names the expected kind), the Lab
    scaling of old files, the generator's mapping, an image_size of 8 ... 4096 and no number in the network's
    config beyond MAX_CONFIG_NUMBER."""
    if config.get("task") != task:
        raise TomauError(f"{source}: a {config.get('task')!r} model, not {what}")
    _check_normalization(config.get("normalization"), source)
    spec = config.get("generator", {})
    if not isinstance(spec, dict) or not isinstance(spec.get("params", {}), dict):
        raise TomauError(f"{source}: the file's generator config is not a mapping; the file is damaged or was not written by tomau")
    size = config.get("image_size", 64)
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise TomauError(f"{source}: the file's image_size {size!r} is not a whole number between 8 and 4096; the file is damaged or edited")
    for key, value in _numbers(spec.get("params", {})):  # a depth of 10**6 would take minutes to build, even on meta
        if abs(value) > MAX_CONFIG_NUMBER:
            raise TomauError(f"{source}: the file's network config has {key} = {value}, beyond any network tomau builds "
                             f"(at most {MAX_CONFIG_NUMBER}); the file is damaged or edited")


def load_model_file(name_or_path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return (config, float32 state dict). Raises TomauError for anything that is not a tomau model."""
    import torch
    from safetensors.torch import load as st_load

    path = resolve_model_path(name_or_path)
    try:
        raw = read_bounded(path, MAX_MODEL_BYTES, "model file")
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {})
    except TomauError:
        raise
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise TomauError(f"{shown(path)}: not a readable safetensors model file ({shown(err)})") from None
    if "tomau" not in meta:
        raise TomauError(f"{path}: a safetensors file without a tomau config; it was not written by tomau")
    config = _parse_config(meta["tomau"], path)
    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise TomauError(f"{path}: the weights hold NaN or infinite values ({bad}); the training diverged or the file is "
                         "damaged - use an earlier checkpoint")
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    return config, state


def load_state_checked(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with one clear sentence when the file does not fit the network its config describes."""
    check_state_fits(net.state_dict(), state, source)
    net.load_state_dict(state, strict=False)


def check_state_fits(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str) -> None:
    """One sentence naming the missing, unexpected and wrongly shaped tensors, if any."""
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise TomauError(f"{source}: the weights do not match the network in its config ({detail})")


def interpolate_models(a: str | Path, b: str | Path, alpha: float) -> tuple[dict, dict[str, torch.Tensor]]:
    """Network interpolation (Wang et al., ESRGAN 2018): weights (1 - alpha) * A + alpha * B.

    A and B must share an architecture and, to interpolate well, a common ancestor (a GAN model
    fine-tuned from the L1 model it is blended with). alpha = 0 gives A, alpha = 1 gives B."""
    if not 0.0 <= alpha <= 1.0:
        raise TomauError(f"alpha must be between 0 and 1, not {alpha}")
    config_a, state_a = load_model_file(a)
    config_b, state_b = load_model_file(b)
    # one architecture = one network kind and the same tensors; the decoding settings (mix, T) and config keys a
    # newer tomau writes with their defaults (an older file lacks them) do not make another network
    kinds = [c.get("generator", {}).get("kind") for c in (config_a, config_b)]
    if kinds[0] != kinds[1] or {k: v.shape for k, v in state_a.items()} != {k: v.shape for k, v in state_b.items()}:
        raise TomauError(f"{a} and {b} have different architectures; only models of one architecture can be blended")
    mixed = {k: (1 - alpha) * state_a[k] + alpha * state_b[k] if state_a[k].is_floating_point() else state_b[k] for k in state_a}
    config = dict(config_b)
    config["blend"] = {"a": str(a), "b": str(b), "alpha": alpha, "a_training": config_a.get("training"), "b_training": config_b.get("training")}
    return config, mixed


def load_network(model: str | Path, task: str, what: str, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The generator of a model file (bundled name, file or run folder) made for ``task`` ("colorize",
    "generate", "translate"), with its config; ``what`` names the expected kind in the error."""
    import torch

    from .models import GENERATORS, build_network

    config, state = load_model_file(model)
    check_config(config, task, what, str(model))
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise TomauError(f"unknown device {device!r}; use cpu, cuda, cuda:1 ... or mps") from None
    if device != "cpu" and str(device).startswith("cuda") and not torch.cuda.is_available():
        raise TomauError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    try:  # a name torch parses but this build cannot use (vulkan, xla, a GPU index that is not there)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TomauError(f"device {device!r} cannot be used here ({reason}); use --device cpu") from None
    spec, size = config.get("generator", {}), config.get("image_size", 64)
    shell = check_shapes_before_building(GENERATORS, spec, state, str(model))
    _check_runs(shell, task, size, str(model))
    net = build_network(GENERATORS, spec.get("kind", "?"), spec.get("params", {}))
    net.load_state_dict(state, strict=False)  # every name and shape was checked on the meta-device copy
    return net, config


def _check_normalization(block, source: str) -> None:
    """An old file's "normalization" block must name tomau.color's scaling, the only one the pipelines apply."""
    from .color import AB_NORM, L_CENT

    if block is None:
        return
    if not isinstance(block, dict) or block.get("l_cent", L_CENT) != L_CENT or block.get("ab_norm", AB_NORM) != AB_NORM:
        raise TomauError(f"{source}: the file asks for the Lab scaling {block!r}, but tomau colourises with l_cent {L_CENT:g} "
                         f"and ab_norm {AB_NORM:g} only; the file was edited or not written by tomau")


def check_shapes_before_building(registry: dict, spec: dict, state: dict[str, torch.Tensor], source: str) -> None:
    """Build the config's network on PyTorch's "meta" device (shapes only, no memory) and compare every tensor
    with the file's, so an edited or hostile config (``ngf: 200000``) is refused before anything is allocated."""
    import torch

    from .models import build_network

    for key, value in _numbers(spec.get("params", {})):  # a depth of 10**6 would take minutes to build, even on meta
        if abs(value) > MAX_CONFIG_NUMBER:
            raise TomauError(f"{source}: the file's network config has {key} = {value}, beyond any network tomau builds "
                             f"(at most {MAX_CONFIG_NUMBER}); the file is damaged or edited")
    limit, made = len(state) + 64, [0]  # a config describing a far bigger network than its weights stops early

    def count(module, name, param):
        made[0] += 1
        if made[0] > limit:
            raise _TooBig()

    hook = torch.nn.modules.module.register_module_parameter_registration_hook(count)
    try:
        with torch.device("meta"):
            shell = build_network(registry, spec.get("kind", "?"), spec.get("params", {}))
    except TomauError:
        raise
    except _TooBig:
        raise TomauError(f"{source}: the file's network config describes a network with more than {limit} tensors, but the "
                         f"file holds {len(state)}; the file is damaged or edited") from None
    except Exception as err:  # noqa: BLE001 - a config field of the wrong type or value
        raise TomauError(f"{source}: the file's network config is not valid ({type(err).__name__}: {err})") from None
    finally:
        hook.remove()
    check_state_fits(shell.state_dict(), state, source)
    return shell


class _TooBig(Exception):
    pass


MAX_CONFIG_NUMBER = 65536  # no width, depth or size of a network config is larger (the bundled ones stay under 1024)


def _numbers(params, prefix: str = ""):
    """(dotted key, value) of every whole number in a config's nested dicts and lists."""
    items = params.items() if isinstance(params, dict) else enumerate(params) if isinstance(params, list) else ()
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, int) and not isinstance(value, bool):
            yield name, value
        elif isinstance(value, (dict, list)):
            yield from _numbers(value, name + ".")


# what each task's network takes and gives, checked on the meta-device copy: (input channels, output channels)
_TASK_CHANNELS = {"colorize": (1, 2), "translate": (3, 3)}


def _check_runs(shell: torch.nn.Module, task: str, size: int, source: str) -> None:
    """Run the meta-device copy once on an input of the model's own size (shapes only, no memory, no time): a task
    label that does not fit the weights, or an image_size the network cannot take, is one sentence now."""
    if task not in _TASK_CHANNELS:
        return
    import torch

    c_in, c_out = _TASK_CHANNELS[task]
    try:
        with torch.device("meta"), torch.no_grad():
            out = shell.eval()(torch.empty(1, c_in, size, size))
    except Exception as err:  # noqa: BLE001 - a shape error deep in the network
        raise TomauError(f"{source}: the network in the file cannot run on a {size}x{size} {task} input "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:160]}); the file's task or image_size is "
                         "wrong (damaged or edited)") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[1] != c_out:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TomauError(f"{source}: the network gives {shape} for a {task} input, not {c_out} channels; the file's task "
                         "does not match its weights (damaged or edited)")
