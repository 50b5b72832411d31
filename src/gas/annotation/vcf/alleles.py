"""Allele classification: trimming, variant class, transitions and transversions, spans."""

from __future__ import annotations

import re

# Variant classes, in the order reports list them.
SNV = "SNV"
MNV = "MNV"
INSERTION = "insertion"
DELETION = "deletion"
INDEL = "indel"  # complex: deletion and insertion at once (delins)
SYMBOLIC = "symbolic"  # <DEL>, <DUP>, <INS>, <CNV>, <INV>, <NON_REF>, breakends …
STAR = "star"  # '*': the allele is deleted by an overlapping deletion
REF = "ref"  # '.': no ALT allele (reference-only record), or ALT equal to REF
UNKNOWN = "unknown"  # an ALT the engine cannot read
CLASSES = (SNV, MNV, INSERTION, DELETION, INDEL, SYMBOLIC, STAR, REF, UNKNOWN)

TRANSITION = "ts"
TRANSVERSION = "tv"
NO_TITV = "."

# IUPAC nucleotide codes accepted in REF and ALT (either case).
BASES = "ACGTNRYSWKMBDHVacgtnryswkmbdhv"
_PURINES = frozenset("AG")
_ACGT = frozenset("ACGT")

_V3_DELETION = re.compile(r"D(\d+)")
_V3_INSERTION = re.compile(r"I([ACGTNacgtn]+)")


def trim(ref: str, alt: str) -> tuple[str, str, int]:
    """Remove the bases REF and ALT share: first the common prefix, then the common suffix.

    Returns ``(ref_core, alt_core, offset)`` where ``offset`` is the number of prefix bases
    removed, so the core starts at ``POS + offset``.
    """
    n = min(len(ref), len(alt))
    p = 0
    while p < n and ref[p] == alt[p]:
        p += 1
    r, a = ref[p:], alt[p:]
    n = min(len(r), len(a))
    s = 0
    while s < n and r[-1 - s] == a[-1 - s]:
        s += 1
    if s:
        r, a = r[: len(r) - s], a[: len(a) - s]
    return r, a, p


def titv(ref_base: str, alt_base: str) -> str:
    """``ts`` for a transition (A<->G, C<->T), ``tv`` for a transversion, ``.`` otherwise."""
    if ref_base not in _ACGT or alt_base not in _ACGT or ref_base == alt_base:
        return NO_TITV
    same = (ref_base in _PURINES) == (alt_base in _PURINES)
    return TRANSITION if same else TRANSVERSION


def classify_sequence(ref: str, alt: str) -> tuple[str, str, int, int]:
    """Class of a sequence ALT against REF (both upper case, only IUPAC bases).

    Returns ``(class, titv, start_offset, end_offset)``: the affected span is
    ``[POS + start_offset, POS + end_offset]`` (1-based, inclusive). An insertion's span is
    the two bases around it.
    """
    r, a, p = trim(ref, alt)
    lr, la = len(r), len(a)
    if lr == 0 and la == 0:
        return REF, NO_TITV, 0, len(ref) - 1
    if lr == 0:
        return INSERTION, NO_TITV, p - 1, p
    if la == 0:
        return DELETION, NO_TITV, p, p + lr - 1
    if lr == 1 and la == 1:
        return SNV, titv(r, a), p, p
    if lr == la:
        return MNV, NO_TITV, p, p + lr - 1
    return INDEL, NO_TITV, p, p + lr - 1


class AlleleClassifier:
    """Classifies ALT alleles, memoising the common short ones (SNVs, short indels)."""

    def __init__(self, vcf_v3: bool = False):
        self.vcf_v3 = vcf_v3
        self._cache: dict[tuple[str, str], tuple[str, str, int, int]] = {}
        #: the memo's ``get``: callers on a hot path try it before :meth:`classify`
        self.cached = self._cache.get

    def classify(self, ref: str, alt: str) -> tuple[str, str, int, int] | None:
        """Class, Ti/Tv and span offsets of a non-symbolic ALT, or None if ALT is symbolic.

        ``ref`` must be upper case. ``*`` and ``.`` are classed here (span: the REF bases);
        so is an unreadable ALT (``unknown``).
        """
        key = (ref, alt)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._classify(ref, alt)
        if result is not None and len(ref) + len(alt) <= 12 and len(self._cache) < 100_000:
            self._cache[key] = result
        return result

    def _classify(self, ref: str, alt: str) -> tuple[str, str, int, int] | None:
        ref_end = len(ref) - 1
        if alt == "*":
            return STAR, NO_TITV, 0, ref_end
        if alt == "." or alt == "":
            return REF, NO_TITV, 0, ref_end
        if is_symbolic(alt):
            return None
        if not alt.strip(BASES):
            return classify_sequence(ref, alt.upper())
        if self.vcf_v3:
            # VCF 3.3 wrote indels as D<n> (delete n bases after POS) and I<bases>.
            m = _V3_DELETION.fullmatch(alt)
            if m and int(m.group(1)) > 0:
                return DELETION, NO_TITV, 1, int(m.group(1))
            if _V3_INSERTION.fullmatch(alt):
                return INSERTION, NO_TITV, 0, 1
        return UNKNOWN, NO_TITV, 0, ref_end


def is_symbolic(alt: str) -> bool:
    """``<ID>`` alleles, breakends (``N[1:123[``, ``]1:123]N``) and single breakends."""
    if alt.startswith("<") and alt.endswith(">"):
        return True
    if "[" in alt or "]" in alt:
        return True
    return len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")


def symbolic_kind(alt: str) -> str:
    """``DEL``, ``DUP``, ``INS``, ``INV``, ``CNV``, ``NON_REF`` … or ``BND`` for breakends."""
    if alt.startswith("<") and alt.endswith(">"):
        return alt[1:-1].split(":", 1)[0].upper()
    return "BND"


def symbolic_span(
    pos: int, ref_len: int, alt: str, end: int | None, svlen: int | None
) -> tuple[int, int]:
    """The bases a symbolic allele affects, from INFO END or SVLEN when given."""
    kind = symbolic_kind(alt)
    if kind == "BND":
        return pos, pos
    if kind == "INS":
        return pos, pos + 1
    if end is not None and end >= pos:
        return pos, end
    if svlen is not None and kind in ("DEL", "DUP", "INV", "CNV"):
        return pos, pos + abs(svlen)
    return pos, pos + max(ref_len, 1) - 1
