"""Model files: one safetensors file whose metadata holds the JSON config that rebuilds the network.

    metadata["tomau"] = {"format": 1, "task": "colorize", "family": "pix2pix",
                         "generator": {"kind": "unet", "params": {...}},
                         "image_size": 256, "training": {...}}

The Lab scaling of colour models is tomau.color's (L_CENT, AB_NORM) for every file. Files written before it was
dropped from the config carry it as "normalization": {"l_cent": 50, "ab_norm": 110}; they load, and one naming other
values is refused (tomau cannot colourise with another scaling).

Bundled models live in tomau/weights/NAME.safetensors and are loaded by NAME.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .errors import TomauError
from .files import check_regular, loads_json, read_bounded, shown
from .images import write_atomic

FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).parent / "weights"
SAMPLES_DIR = Path(__file__).parent / "samples"  # small public-domain photos for the demo and tests
DEFAULT_MODEL = "effunet"  # what `tomau colorize` and load_model() use; the name "default" is an alias for it
DEFAULT_ALIAS = "default"
MAX_MODEL_BYTES = 4 << 30  # a model file over 4 GB is not one of tomau's (the largest family is ~0.2 GB)


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
    tensors = {}
    for k, v in state_dict.items():
        if k.endswith("num_batches_tracked"):
            continue  # a training counter, not part of the model
        v = v.detach().cpu().contiguous()
        tensors[k] = v.half() if half and v.is_floating_point() else v
    meta = {"tomau": json.dumps({"format": FORMAT_VERSION, **config})}
    data = st_save(tensors, metadata=meta)
    return write_atomic(Path(path), lambda f: f.write(data), replace)


def load_model_file(name_or_path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return (config, float32 state dict). Raises TomauError for anything that is not a tomau model."""
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
    try:
        config = loads_json(meta["tomau"], path)
    except (TypeError, ValueError):
        raise TomauError(f"{path}: the model's config is not valid JSON; the file is damaged or was not written by tomau") from None
    if not isinstance(config, dict):
        raise TomauError(f"{path}: the model's config is a JSON {type(config).__name__}, not an object; the file is damaged "
                         "or was not written by tomau")
    if config.get("format") != FORMAT_VERSION:
        raise TomauError(f"{path}: model format {config.get('format')} is not supported (this tomau reads format {FORMAT_VERSION})")
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
    from .models import GENERATORS, build_network

    config, state = load_model_file(model)
    if config.get("task") != task:
        raise TomauError(f"{model}: a {config.get('task')!r} model, not {what}")
    _check_normalization(config.get("normalization"), str(model))
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
    spec = config.get("generator", {})
    if not isinstance(spec, dict) or not isinstance(spec.get("params", {}), dict):
        raise TomauError(f"{model}: the file's generator config is not a mapping; the file is damaged or was not written by tomau")
    size = config.get("image_size", 64)
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise TomauError(f"{model}: the file's image_size {size!r} is not a whole number between 8 and 4096; the file is damaged or edited")
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
