"""Chromosome names, in one place: ``1``/``chr1``/``NC_000001.11`` are one chromosome,
``MT``/``M``/``chrM``/``NC_012920.1`` the mitochondrion; and a reference's contigs by number.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

PRIMARY_CHROMOSOMES = [str(i) for i in range(1, 23)] + ["X", "Y", "MT"]

# RefSeq accessions of the primary chromosomes (any version: .10 is GRCh37, .11+ GRCh38…).
_REFSEQ = {f"NC_0000{i:02d}": str(i) for i in range(1, 23)}
_REFSEQ.update({"NC_000023": "X", "NC_000024": "Y", "NC_012920": "MT", "NC_001807": "MT"})


def normalize_chrom(name: str) -> str:
    """The plain spelling of a chromosome name: no ``chr``, ``MT`` for mitochondria,
    RefSeq accessions of primary chromosomes by their number (``NC_000017.11`` → ``17``)."""
    bare = name[3:] if name[:3].lower() == "chr" else name
    upper = bare.upper()
    if upper in ("M", "MT"):
        return "MT"
    if upper in ("X", "Y"):
        return upper
    if bare.startswith("NC_"):
        return _REFSEQ.get(bare.split(".", 1)[0], bare)
    return bare


def is_mitochondrial(name: str) -> bool:
    """Whether records named ``name`` are mitochondrial (``MT``, ``chrM``, ``NC_012920.1``…)."""
    return normalize_chrom(name) == "MT" or name.startswith(("NC_012920", "NC_001807"))


class ContigAliases:
    """Input chromosome names → contig numbers: ``1``/``chr1``/``NC_000001.11``, ``MT``/``chrM``."""

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self._by_name: dict[str, int] = {}
        normal: dict[str, int] = {}
        for code, name in enumerate(self.names):
            self._by_name.setdefault(name, code)
            normal.setdefault(normalize_chrom(name), code)
        self._by_normal = normal
        self._lock = threading.Lock()
        self._cache: dict[str, int] = {}

    def code(self, name: str) -> int:
        """The contig's number, or -1."""
        found = self._cache.get(name)
        if found is not None:
            return found
        code = self._by_name.get(name)
        if code is None:
            code = self._by_normal.get(normalize_chrom(name), -1)
        with self._lock:
            if len(self._cache) < 10_000:
                self._cache[name] = code
        return code

    def is_mitochondrial(self, code: int) -> bool:
        return code >= 0 and normalize_chrom(self.names[code]) == "MT"
