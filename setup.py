"""The package's one compiled module, tomau._kernels (tomau/_kernels.c): everything else is in pyproject.toml.

The module is optional: where no C compiler is found (Windows without MSVC, a slim container) or the build fails,
the installation goes on without it and tomau runs the same passes in NumPy (tomau._kernels_numpy: the same
colours within a level, those passes 10-30 times slower; a note once per process says how to get the compiled ones).
"""
import sys

from setuptools import Extension, setup

# -O3 vectorises the per-pixel loops; no -ffast-math (it would flush denormals for the whole process)
FLAGS = [] if sys.platform == "win32" else ["-O3", "-fno-math-errno", "-fno-trapping-math"]

setup(ext_modules=[Extension("tomau._kernels", ["tomau/_kernels.c"], extra_compile_args=FLAGS, optional=True)])
