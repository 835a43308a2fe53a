"""tomau - colourise black-and-white photos and train the generative models behind it.

    from tomau import load_model, colorize
    model = load_model()                  # the bundled default colouriser
    colour = colorize(pil_image, model)   # PIL.Image at the input's full resolution
"""
__version__ = "0.1.0"

from .errors import TomauError  # noqa: E402
from .inference import Colorizer, colorize, load_model  # noqa: E402

__all__ = ["Colorizer", "TomauError", "colorize", "load_model", "__version__"]
