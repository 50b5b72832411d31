"""Allele normalization against the genome: trimming and left-alignment of indels.

Alleles are kept in a minimal form: ``(start, ref, alt)`` with no shared prefix or suffix;
an insertion has ``ref == ""`` and sits between ``start - 1`` and ``start``; a deletion has
``alt == ""``. Left-alignment moves an insertion or a deletion as far left (5' on the
genome) as the sequence allows — the same variant written anywhere in a repeat gets the
same form, as ``bcftools norm`` makes it. Complex changes (both alleles non-empty) are
only trimmed.
"""

from __future__ import annotations

from ..reference.genome import Genome
from ..vcf.alleles import trim

_WINDOW = 64


def left_align(genome: Genome, code: int, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Shift a trimmed insertion or deletion left while the sequence repeats."""
    if ref and alt or not (ref or alt):
        return pos, ref, alt
    seq = ref or alt
    while pos > 1:
        lo = max(1, pos - _WINDOW)
        window = genome.fetch(code, lo, pos - 1)
        if not window:
            break
        moved = False
        for base in reversed(window):
            if base != seq[-1] or base == "N":
                return pos, (seq if ref else ""), (seq if alt else "")
            seq = base + seq[:-1]
            pos -= 1
            moved = True
        if not moved:
            break
    return pos, (seq if ref else ""), (seq if alt else "")


def normalize(genome: Genome, code: int, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim, then left-align; ``ref`` and ``alt`` upper case."""
    ref, alt, offset = trim(ref, alt)
    return left_align(genome, code, pos + offset, ref, alt)


def right_align_limit(
    genome: Genome, code: int, pos: int, ref: str, alt: str, limit: int
) -> tuple[int, str, str]:
    """Shift a trimmed insertion or deletion right (3' on the genome), up to ``limit``.

    For a deletion, ``limit`` is the last base the deleted bases may reach; for an
    insertion, the last base it may sit before (``start <= limit + 1``).
    """
    if ref and alt or not (ref or alt):
        return pos, ref, alt
    seq = ref or alt
    n = len(seq)
    deletion = bool(ref)
    while True:
        nxt = pos + n if deletion else pos  # the base just 3' of the variant
        if nxt > limit:
            break
        hi = min(limit, nxt + _WINDOW - 1)
        window = genome.fetch(code, nxt, hi)
        if not window:
            break
        for base in window:
            if base != seq[0] or base == "N":
                return pos, (seq if deletion else ""), ("" if deletion else seq)
            seq = seq[1:] + base
            pos += 1
        if len(window) < hi - nxt + 1:
            break
    return pos, (seq if deletion else ""), ("" if deletion else seq)
