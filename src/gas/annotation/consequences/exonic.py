"""Exonic terms of an allele on a transcript: which exons it touches, its cDNA positions,
5'/3' UTR and non-coding exon terms; and the single-base fast path for introns, UTRs and
non-coding exons away from splice regions."""

from __future__ import annotations

from bisect import bisect_right

from ..reference.seq import revcomp
from ..reference.transcripts import TxModel
from . import so
from .coding import snv_cds
from .effect import Allele, TxEffect, overlap


def exon_hits(tx: TxModel, s: int, e: int) -> list[int]:
    """The exons (genomic order) the span ``s..e`` overlaps (``e < s``: an insertion)."""
    gs, ge = tx.gstarts, tx.gends
    lo, hi = (e, s) if e < s else (s, e)
    k_end = bisect_right(gs, hi)
    return [
        k for k in range(max(0, bisect_right(gs, lo) - 1), k_end) if overlap(s, e, gs[k], ge[k])
    ]


def containing_exon(tx: TxModel, s: int, e: int, hits: list[int]) -> int:
    """The exon that holds the whole change, or -1."""
    if e < s:
        k1, k2 = tx.exon_at(e), tx.exon_at(s)
        return k1 if k1 >= 0 and k1 == k2 else -1
    if len(hits) == 1:
        k = hits[0]
        if tx.gstarts[k] <= s and e <= tx.gends[k]:
            return k
    return -1


def utr_terms(tx: TxModel, s: int, e: int, terms: set[str]) -> None:
    """5' and 3' UTR terms of an exonic change on a coding transcript."""
    ins = e < s
    cs, ce = tx.cds_start, tx.cds_end
    before = overlap(s, e, tx.start, cs - 1) or (ins and s == cs)
    after = overlap(s, e, ce + 1, tx.end) or (ins and e == ce)
    five, three = (before, after) if tx.strand > 0 else (after, before)
    if five:
        terms.add(so.UTR5)
    if three:
        terms.add(so.UTR3)


def snv_fast(tx: TxModel, allele: Allele) -> TxEffect | None:
    """The common single-base cases, quickly: deep in an intron, or in a UTR or non-coding
    exon away from splice regions, or an ordinary codon of the CDS (coding.snv_cds). None
    for everything else (the general rules decide)."""
    s = allele.start
    gs, ge = tx.gstarts, tx.gends
    k = bisect_right(gs, s) - 1
    n = len(gs)
    if k < 0:
        return None
    plus = tx.strand > 0
    if s <= ge[k]:  # exonic: only away from the splice regions, outside the CDS
        if (k > 0 and s - gs[k] < 3) or (k < n - 1 and ge[k] - s < 3):
            return None
        if tx.coding:
            if tx.cds_start <= s <= tx.cds_end:
                return snv_cds(tx, allele, k)
            five = (s < tx.cds_start) == plus
            term_list = tx.utr5_terms if five else tx.utr3_terms
        else:
            term_list = tx.nc_exon_terms
        cdna = tx.ex_cdna[k] + (s - gs[k] if plus else ge[k] - s)
        effect = TxEffect(term_list)
        effect.exon = effect.exon_last = tx.exon_rank(k)
        effect.exons = n
        effect.cdna_start = effect.cdna_end = cdna
        where = tx.c_pos(cdna)
    else:  # intronic: only deep inside (more than 20 bases from both ends)
        left = s - ge[k]
        right = gs[k + 1] - s
        if left <= 20 or right <= 20:
            return None
        effect = TxEffect(tx.intron_terms)
        effect.intron = tx.intron_rank(k)
        effect.introns = n - 1
        if plus:
            if left <= right:
                where = f"{tx.c_pos(tx.ex_cdna[k] + ge[k] - gs[k])}+{left}"
            else:
                where = f"{tx.c_pos(tx.ex_cdna[k + 1])}-{right}"
        elif right <= left:
            where = f"{tx.c_pos(tx.ex_cdna[k + 1] + ge[k + 1] - gs[k + 1])}+{right}"
        else:
            where = f"{tx.c_pos(tx.ex_cdna[k])}-{left}"
    if plus:
        change = f"{allele.ref}>{allele.alt}"
    else:
        change = f"{revcomp(allele.ref)}>{revcomp(allele.alt)}"
    effect.hgvs_c = f"{'c.' if tx.coding else 'n.'}{where}{change}"
    return effect
