"""tomau - colourise black-and-white photos and films and train the generative models behind it.

    from tomau import load_model, colorize, colorize_video
    model = load_model()                  # the bundled default colouriser
    colour = colorize(pil_image, model)   # PIL.Image at the input's full resolution
    colour = colorize(pil_image, model, reference=pil_reference)   # palette from a colour photo
    colorize_video("film.mp4", "film_colour.mp4", model)            # audio, fps and duration kept
    # colour hints: tomau.hints.colorize_with_hints; the web page: tomau.serve.build_app
"""
__version__ = "0.1.0"

from .errors import TomauError  # noqa: E402

__all__ = ["Colorizer", "TomauError", "colorize", "colorize_video", "load_model", "__version__"]
# PyTorch is imported when one of these is first used, not by `import tomau` (`tomau --version` stays instant)
_LAZY = {"Colorizer": "inference", "colorize": "inference", "load_model": "inference", "colorize_video": "video"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
