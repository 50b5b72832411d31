"""The compiled kernel of the annotation engine (Cython); everything else is in pyproject.toml.

``make setup`` builds it in place with the venv's Cython (pinned in requirements.lock):
``python setup.py build_ext --inplace``. Without Cython (e.g. a plain ``pip install .``) or
a C compiler, no extension is built and the engine runs its Python reference path (it says
so once in the log; ``gas --version`` names the path in use).
"""

from __future__ import annotations

from setuptools import Extension, setup

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

setup(ext_modules=ext_modules)
