"""The package's one compiled module, tomau._kernels (tomau/_kernels.c): everything else is in pyproject.toml."""
import sys

from setuptools import Extension, setup

# -O3 vectorises the per-pixel loops; no -ffast-math (it would flush denormals for the whole process)
FLAGS = [] if sys.platform == "win32" else ["-O3", "-fno-math-errno", "-fno-trapping-math"]

setup(ext_modules=[Extension("tomau._kernels", ["tomau/_kernels.c"], extra_compile_args=FLAGS)])
