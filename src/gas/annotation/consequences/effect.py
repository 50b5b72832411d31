"""The records the rules make: an allele on a contig, and what it does to one transcript.

Alleles come normalized (normalize.py): ``start``/``end`` are the genomic span of the
reference bases the allele replaces; an insertion has ``ref == ""`` and ``end == start - 1``
(it sits between ``end`` and ``start``). "Overlap" is VEP's: spans ``[a, b]`` and ``[c, d]``
overlap when ``b >= c and a <= d``, which for an insertion means both bases around it are
inside the other span.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..reference.transcripts import TxModel
from . import so


@dataclass(slots=True)
class Allele:
    """A normalized ALT allele on a contig (see the module docstring)."""

    code: int
    start: int
    end: int
    ref: str
    alt: str
    kind: str = "seq"  # "seq", or "sv" for a symbolic allele (span only)
    sv_type: str = ""


@dataclass(slots=True)
class TxEffect:
    """What one allele does to one transcript, as numbers (the writers in output/ make the
    text of ANN, CSQ and the TSV from it).

    Positions come in pairs ``(start, end)`` in transcript order: -1 for none, 0 for an end
    outside the exons (or the CDS), which VEP writes ``?``; ``start == end`` is one position.
    """

    terms: int  # SO term flags (so.BIT): the lowest set bit is the most severe term
    exon: int = 0  # rank of the first exon touched (0: none) …
    exon_last: int = 0  # … and of the last
    exons: int = 0  # the transcript's number of exons
    intron: int = 0  # rank of the intron (0: none)
    introns: int = 0
    cdna_start: int = -1
    cdna_end: int = -1
    cds_start: int = -1
    cds_end: int = -1
    aa_start: int = -1
    aa_end: int = -1
    hgvs_c: str = ""
    hgvs_p: str = ""
    amino_acids: str = ""
    codons: str = ""
    distance: int | None = None
    flags: list[str] = field(default_factory=list)
    shifted: bool = False

    @property
    def rank(self) -> int:
        """The rank of the most severe term."""
        return so.top_rank(self.terms)


def overlap(a: int, b: int, c: int, d: int) -> bool:
    """VEP's overlap of ``[a, b]`` and ``[c, d]`` (see the module docstring)."""
    return b >= c and a <= d


def span_positions(
    tx: TxModel, s: int, e: int, ins: bool, to_pos: Callable[[int], int | None]
) -> tuple[int, int]:
    """The span in some transcript numbering, in transcript order; 0 for an end outside the
    exons (see :class:`TxEffect`)."""
    if ins:
        a, b = e, s
    else:
        a, b = s, e
    pa = to_pos(a) if tx.exon_at(a) >= 0 else None
    pb = to_pos(b) if tx.exon_at(b) >= 0 else None
    if tx.strand < 0:
        pa, pb = pb, pa
    return (0 if pa is None else pa), (0 if pb is None else pb)
