"""HGVS notation of a change, at the transcript (c./n.) and protein (p.) levels.

Protein changes are written with three-letter amino-acid codes and ``Ter`` for stop, without
the parentheses of a "predicted" change, as Ensembl VEP writes them (``p.Arg12Trp``,
``p.Leu3=``, ``p.Lys5ArgfsTer12``, ``p.Ter99GlnextTer5``, ``p.Met1?``).
"""

from __future__ import annotations

from ..reference.seq import THREE_LETTER, revcomp, three_letter
from ..reference.transcripts import TxModel
from .effect import Allele, TxEffect
from .normalize import right_align_limit


def aa3(aa: str) -> str:
    return THREE_LETTER.get(aa, "Xaa")


def protein_change(
    ref_prot: str,
    alt_tail: str,
    k1: int,
    ref_local: str,
    alt_local: str,
    frameshift: bool,
    start_lost: bool,
) -> str:
    """The p. change (without ``p.``) of a coding change.

    ``ref_prot`` is the reference protein (to its stop); ``alt_tail`` the translation of the
    changed coding sequence from codon ``k1`` (0-based) on, through the 3' UTR, to its first
    stop (or the sequence's end). ``ref_local``/``alt_local`` are the peptides of the codons
    the change touches (``alt_local`` of an in-frame change only).
    """
    if start_lost:
        return "Met1?"
    if frameshift:
        return _frameshift(ref_prot, alt_tail, k1)
    # trim the local peptides to what differs
    r, a, i = ref_local, alt_local, k1
    if "*" in a:
        a = a[: a.index("*") + 1]
    n = min(len(r), len(a))
    p = 0
    while p < n and r[p] == a[p]:
        p += 1
    if p == len(r) == len(a):  # nothing changes
        if not r:
            return "="
        return f"{aa3(r[0])}{k1 + 1}="
    r, a, i = r[p:], a[p:], i + p
    if not a.endswith("*") or r.endswith("*"):
        n = min(len(r), len(a))
        s = 0
        while s < n and r[-1 - s] == a[-1 - s]:
            s += 1
        if s:
            r, a = r[: len(r) - s], a[: len(a) - s]
    if r[:1] == "*":  # the stop codon changed: an extension
        return _extension(alt_tail, k1, i, a)
    if a[:1] == "*":
        return (
            f"{aa3(r[0])}{i + 1}Ter"
            if r
            else f"{aa3(ref_prot[i - 1])}{i}_{aa3(_at(ref_prot, i))}{i + 1}insTer"
        )
    if len(r) == 1 and len(a) == 1:
        return f"{aa3(r)}{i + 1}{aa3(a)}"
    if not a:  # deletion of r at i: shift to the C-terminal end
        L = len(r)
        while i + L < len(ref_prot) and ref_prot[i + L] == ref_prot[i] and ref_prot[i + L] != "*":
            i += 1
        r = ref_prot[i : i + L]
        if L == 1:
            return f"{aa3(r)}{i + 1}del"
        return f"{aa3(r[0])}{i + 1}_{aa3(r[-1])}{i + L}del"
    if not r:  # insertion of a before position i (0-based)
        ins = a
        while i < len(ref_prot) and ref_prot[i] == ins[0] and ref_prot[i] != "*":
            ins = ins[1:] + ins[0]
            i += 1
        L = len(ins)
        if i >= L and ref_prot[i - L : i] == ins:
            if L == 1:
                return f"{aa3(ins)}{i}dup"
            return f"{aa3(ins[0])}{i - L + 1}_{aa3(ins[-1])}{i}dup"
        if i == 0:
            return f"Met1_{aa3(_at(ref_prot, 0))}1ins{three_letter(ins)}"
        return f"{aa3(ref_prot[i - 1])}{i}_{aa3(_at(ref_prot, i))}{i + 1}ins{three_letter(ins)}"
    if len(r) == 1:
        return f"{aa3(r)}{i + 1}delins{three_letter(a)}"
    return f"{aa3(r[0])}{i + 1}_{aa3(r[-1])}{i + len(r)}delins{three_letter(a)}"


def _at(prot: str, i: int) -> str:
    return prot[i] if i < len(prot) else "*"


def _frameshift(ref_prot: str, alt_tail: str, k1: int) -> str:
    i = 0
    ref_from = ref_prot[k1:]
    while i < len(alt_tail) and i < len(ref_from) and alt_tail[i] == ref_from[i]:
        i += 1
    pos = k1 + i
    if i >= len(ref_from):  # the reference protein ends (no stop) before a difference
        return "?"
    ref_aa = ref_from[i]
    if i >= len(alt_tail):
        return f"{aa3(ref_aa)}{pos + 1}fs"
    alt_aa = alt_tail[i]
    if alt_aa == "*":
        return f"{aa3(ref_aa)}{pos + 1}Ter"
    if ref_aa == "*":
        return _extension(alt_tail, k1, pos, alt_aa)
    stop = alt_tail.find("*", i)
    ter = f"Ter{stop - i + 1}" if stop >= 0 else "Ter?"
    return f"{aa3(ref_aa)}{pos + 1}{aa3(alt_aa)}fs{ter}"


def _extension(alt_tail: str, k1: int, i: int, alt: str) -> str:
    """The stop at ``i`` (0-based) became ``alt[0]``: ``Ter{i+1}{Alt}extTer{n}``."""
    first = alt[:1] or alt_tail[i - k1 : i - k1 + 1] or "X"
    stop = alt_tail.find("*", i - k1 + 1) if i - k1 >= 0 else -1
    ter = f"Ter{stop - (i - k1)}" if stop >= 0 else "Ter?"
    return f"Ter{i + 1}{aa3(first)}ext{ter}"


# ---------------------------------------------------------------------------- HGVS c./n.


def hgvs_c(tx: TxModel, allele: Allele, simple_exon: int, intron: int, effect: TxEffect) -> str:
    """``c.``/``n.`` notation, the change shifted 3' along the transcript as HGVS asks.

    The shift stays inside the exon (or intron) that holds the change; on the minus strand
    the left-aligned allele is already 3'-most.
    """
    s, e, ref, alt = allele.start, allele.end, allele.ref, allele.alt
    plus = tx.strand > 0
    prefix = "c." if tx.coding else "n."
    if (not ref or not alt) and plus:
        if simple_exon >= 0:
            limit = tx.gends[simple_exon]
        elif intron >= 0:
            limit = tx.gstarts[intron + 1] - 1
        else:
            limit = s - 1 if not ref else e  # no shifting across boundaries
        if limit > (e if ref else s - 1):
            genome = tx.bundle.genome
            new_s, new_ref, new_alt = right_align_limit(genome, tx.code, s, ref, alt, limit)
            if new_s != s:
                effect.shifted = True
            s, ref, alt = new_s, new_ref, new_alt
            e = s + len(ref) - 1
    pos = tx.hgvs_pos
    if not ref:  # insertion between e and s
        ins = alt if plus else revcomp(alt)
        n = len(alt)
        # a duplication of the bases just 5' of the insertion (in transcript orientation)
        genome = tx.bundle.genome
        if plus:
            before = genome.fetch(tx.code, s - n, s - 1)
            if before == alt:
                a, b = pos(s - n), pos(s - 1)
                return f"{prefix}{a}dup" if n == 1 else f"{prefix}{a}_{b}dup"
            return f"{prefix}{pos(e)}_{pos(s)}ins{ins}"
        after = genome.fetch(tx.code, s, s + n - 1)
        if after == alt:
            a, b = pos(s + n - 1), pos(s)
            return f"{prefix}{a}dup" if n == 1 else f"{prefix}{a}_{b}dup"
        return f"{prefix}{pos(s)}_{pos(e)}ins{ins}"
    first, last = (s, e) if plus else (e, s)
    where = pos(first) if s == e else f"{pos(first)}_{pos(last)}"
    if not alt:
        return f"{prefix}{where}del"
    tref = ref if plus else revcomp(ref)
    talt = alt if plus else revcomp(alt)
    if len(ref) == 1 and len(alt) == 1:
        return f"{prefix}{where}{tref}>{talt}"
    if len(ref) > 1 and talt == revcomp(tref):
        return f"{prefix}{where}inv"
    return f"{prefix}{where}delins{talt}"
