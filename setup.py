"""The compiled kernel of the annotation engine (Cython); everything else is in pyproject.toml.

``make setup`` builds it in place with the venv's Cython (pinned in requirements.lock):
``python setup.py build_ext --inplace``. Without Cython (e.g. a plain ``pip install .``) or
a C compiler, no extension is built and the engine runs its Python reference path (it says
so once in the log; ``gas --version`` names the path in use).
"""

from __future__ import annotations

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Built in place, a module replaces the old one as a new file (unlink, then copy) and
    never rewrites it: an engine that has the old one loaded (``gas serve`` running during
    ``make setup``) keeps its pages intact instead of crashing on a truncated file."""

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.inplace and str(outfile).endswith(".so") and os.path.lexists(outfile):
            os.unlink(outfile)
        return super().copy_file(infile, outfile, *args, **kwargs)


KERNEL = {
    "gas.annotation.consequences._kernel": "src/gas/annotation/consequences/_kernel.pyx",
    "gas.annotation.output._format": "src/gas/annotation/output/_format.pyx",
}

try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: the Python path only
    ext_modules = []
else:
    ext_modules = cythonize(
        [
            Extension(name, [path], optional=True, extra_compile_args=["-O2"])
            for name, path in KERNEL.items()
        ],
        compiler_directives={"language_level": "3"},
        quiet=True,
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
