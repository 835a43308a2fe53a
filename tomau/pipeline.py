"""One loader for every model file: ``load(model)`` returns the pipeline of the file's task.

========== ====================================== =================================================
task       pipeline                               call
========== ====================================== =================================================
colorize   tomau.inference.Colorizer              ``p(images) -> [rgb]``       float RGB in, uint8 out
sample     tomau.inference.Colorizer (cvae, mdn)  ``p(images, n=8) -> [[rgb]]`` n colourings each
translate  tomau.translation.Translator           ``p(images) -> [rgb]``       uint8 RGB in and out
generate   tomau.generation.Generator             ``p(n, seed=0) -> [rgb]``    images 0 .. n-1 of a seed
========== ====================================== =================================================

Every pipeline has ``.task``, ``.config`` (the model file's), ``.name`` and ``.to(device)``; the typed loaders
(tomau.load_model, tomau.translation.load_translator, tomau.generation.load_generator) stay as they were.
"""
from __future__ import annotations

from .errors import TomauError
from .modelfile import DEFAULT_MODEL
from .pipeline_base import Pipeline  # noqa: F401  (the base class; tomau.pipeline.Pipeline as before)


def _colorizer(model, device, **options):
    from .inference import load_model

    return load_model(model, device, **options)


def _translator(model, device, **options):
    from .translation import load_translator

    return load_translator(model, device)


def _generator(model, device, **options):
    from .generation import Generator

    return Generator.load(model, device)


# the model file's "task" -> how its pipeline is made ("sample" is a colorize file whose network can sample)
LOADERS = {"colorize": _colorizer, "translate": _translator, "generate": _generator}


def task_of(model: str = DEFAULT_MODEL) -> str:
    """The task of a model file (bundled name, file or run folder), as recorded in it."""
    from .modelfile import load_model_file

    return load_model_file(model)[0].get("task", "colorize")


TASKS = ("colorize", "sample", "translate", "generate")


def load(model: str = DEFAULT_MODEL, task: str | None = None, device: str = "cpu", **options) -> Pipeline:
    """The pipeline of a model file: of its own task, or of ``task`` (colorize, sample, translate, generate), which
    refuses, in one sentence, a file of another task (a diverse model's file serves both colorize and sample).
    ``options`` go to the task's loader (the colourisers' ``mix`` and ``temperature``)."""
    if task is None:
        task = task_of(model)
        if task not in LOADERS:
            raise TomauError(f"{model}: a {task!r} model; tomau knows {', '.join(LOADERS)} models")
    elif task not in TASKS:
        raise TomauError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    pipeline = LOADERS["colorize" if task == "sample" else task](model, device, **options)
    if task == "sample":
        pipeline.check_samples(1)
    return pipeline
