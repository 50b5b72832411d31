"""Which implementation runs the hot path: the compiled kernel or the Python reference.

The compiled kernel (Cython, built from source by ``make setup``) holds the per-(allele,
transcript) classification (``consequences/_kernel.pyx``) and the formatting of ANN and CSQ
entries (``output/_format.pyx``), with the same signatures as the Python functions they
replace (``consequences.transcript.transcript_effect``, ``output.ann.effect_entry``,
``output.csq.csq_entry``), and the split of ANN entries and written lines into the results
store's columns (``results_store.entry_columns_arrow`` and ``record_columns`` with Arrow). The
Python functions stay the reference: the kernel is tested to write byte-identical output, and
is the fallback when the kernel is not built or does not load.

``GAS_ENGINE_KERNEL`` chooses:

* ``auto`` (default): the kernel when it loads, else the Python path and one log warning;
* ``off``: always the Python path;
* ``required``: the kernel, or an error (CI uses this).
"""

from __future__ import annotations

import importlib
import logging
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import AnnotationError

log = logging.getLogger(__name__)

ENV = "GAS_ENGINE_KERNEL"
MODES = ("auto", "off", "required")

_warned = False


class KernelUnavailableError(AnnotationError):
    """``GAS_ENGINE_KERNEL=required`` and the compiled kernel does not load."""


@dataclass(frozen=True)
class HotPath:
    """The functions of the hot path, and what to call them in logs and ``gas --version``."""

    compiled: bool
    name: str  # "compiled kernel (Cython 3.x)" or "Python reference"
    reason: str  # why the Python path (empty for the kernel)
    transcript_effect: Callable[..., Any]
    effect_entry: Callable[..., str]
    csq_entry: Callable[..., str]
    #: the loop over a chunk's pairs (None: the Python one, pipeline.transcript_level.pair_hits)
    pair_hits: Callable[..., list[int]] | None = None
    #: a chunk's alleles checked and normalized (None: TranscriptAnnotator._alleles)
    alleles: Callable[..., list[Any]] | None = None
    #: the ANN entries of one allele (None: pipeline.transcript_level.allele_entries)
    allele_entries: Callable[..., list[str]] | None = None
    #: the results store's columns from ANN entries (None: results_store.entry_columns_arrow)
    entry_columns: Callable[..., Any] | None = None
    #: POS, ID, REF and FILTER of written lines (None: results_store.record_columns' Arrow cut)
    record_columns: Callable[..., Any] | None = None

    @property
    def description(self) -> str:
        return f"{self.name} ({self.reason})" if self.reason else self.name


def mode() -> str:
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise KernelUnavailableError(f"{ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value


def _python(reason: str) -> HotPath:
    from .consequences.transcript import transcript_effect
    from .output.ann import effect_entry
    from .output.csq import csq_entry

    return HotPath(False, "Python reference", reason, transcript_effect, effect_entry, csq_entry)


def stale(module: Any) -> str:
    """Why a built module does not match its source (its ``.pyx`` was edited after the build:
    run ``make setup``), or "" (also when the source is not there, as in an installed wheel)."""
    built = pathlib.Path(getattr(module, "__file__", "") or "")
    source = built.with_name(module.__name__.rsplit(".", 1)[-1] + ".pyx")
    try:
        if source.stat().st_mtime > built.stat().st_mtime:
            return f"{source.name} is newer than its build (run `make setup`)"
    except OSError:
        pass
    return ""


#: the compiled path made from the loaded modules (checked once: select() runs per chunk)
_loaded: tuple[Any, Any, HotPath] | None = None


def _compiled() -> HotPath:
    global _loaded
    _kernel = importlib.import_module(f"{__package__}.consequences._kernel")
    _format = importlib.import_module(f"{__package__}.output._format")
    if _loaded is not None and _loaded[0] is _kernel and _loaded[1] is _format:
        return _loaded[2]
    for module in (_kernel, _format):
        if why := stale(module):
            raise ImportError(f"it is out of date: {why}")

    path = HotPath(
        True,
        f"compiled kernel (Cython {_kernel.CYTHON_VERSION})",
        "",
        _kernel.transcript_effect,
        _format.effect_entry,
        _format.csq_entry,
        _kernel.pair_hits,
        _kernel.alleles,
        _format.allele_entries,
        _format.entry_columns,
        _format.record_columns,
    )
    _loaded = (_kernel, _format, path)
    return path


def select() -> HotPath:
    """The path to run, as ``GAS_ENGINE_KERNEL`` says (read at every call: tests switch it)."""
    global _warned
    chosen = mode()
    if chosen == "off":
        return _python(f"{ENV}=off")
    try:
        return _compiled()
    except ImportError as exc:
        reason = f"compiled kernel not available: {exc}"
        if chosen == "required":
            raise KernelUnavailableError(
                f"{ENV}=required but the {reason} (build it with `make setup`)"
            ) from exc
        if not _warned:
            _warned = True
            log.warning(
                "annotation engine: %s; running the Python reference path (same output, "
                "slower). Build the kernel with `make setup`.",
                reason,
            )
        return _python(reason)


def describe() -> str:
    """One line for ``gas --version`` and the count log's Engine line."""
    try:
        return select().description
    except KernelUnavailableError as exc:
        return f"unavailable: {exc}"
