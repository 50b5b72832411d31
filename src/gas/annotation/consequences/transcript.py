"""Consequences of one allele on one transcript, the way Ensembl VEP predicts them.

One rule function per family of terms, applied in this order: structural alleles
(structural.py); else the single-base fast path (exonic.snv_fast); else intron and splice
sites (splice.py), exons, cDNA positions and UTRs (exonic.py), the coding rules by kind of
variant (coding.py), NMD, and HGVS c./n. (hgvs.py). Alleles and effects: effect.py.
"""

from __future__ import annotations

from ..reference.transcripts import TxModel
from . import so
from .coding import coding_effect, partial_coding
from .effect import Allele, TxEffect, overlap, span_positions
from .exonic import containing_exon, exon_hits, snv_fast, utr_terms
from .hgvs import hgvs_c
from .splice import splice_terms
from .structural import structural_effect


def transcript_effect(tx: TxModel, allele: Allele) -> TxEffect:
    """Consequences of an allele that overlaps the transcript."""
    s, e = allele.start, allele.end
    if allele.kind == "sv":
        return structural_effect(tx, allele)
    if s == e and len(allele.alt) == 1:
        fast = snv_fast(tx, allele)
        if fast is not None:
            return fast
    ins = e < s
    lo, hi = (e, s) if ins else (s, e)
    n = len(tx.gstarts)
    terms: set[str] = set()
    effect = TxEffect(0)

    intron_hit, frameshift_intron = splice_terms(tx, s, e, terms)

    hits = exon_hits(tx, s, e)
    exonic = bool(hits) or frameshift_intron
    if hits:
        ranks = sorted(tx.exon_rank(k) for k in hits)
        effect.exon, effect.exon_last, effect.exons = ranks[0], ranks[-1], n
    if intron_hit >= 0:
        effect.intron, effect.introns = tx.intron_rank(intron_hit), n - 1
    simple_exon = containing_exon(tx, s, e, hits)
    if exonic:
        effect.cdna_start, effect.cdna_end = span_positions(tx, s, e, ins, tx.cdna_of)

    if not tx.coding:
        terms.add(so.NC_EXON if exonic else so.NC_TRANSCRIPT)
    else:
        cs, ce = tx.cds_start, tx.cds_end
        if exonic:
            utr_terms(tx, s, e, terms)
        if s == e:
            in_cds = bool(hits) and cs <= s <= ce
        else:
            gs, ge = tx.gstarts, tx.gends
            in_cds = any(overlap(s, e, max(gs[k], cs), min(ge[k], ce)) for k in hits)
        if in_cds:
            if simple_exon >= 0 and cs <= lo and hi <= ce:
                coding_effect(tx, allele, effect, terms)
            else:
                partial_coding(tx, allele, effect, terms)
        elif frameshift_intron and cs <= lo and hi <= ce:
            terms.add(so.CODING_SEQUENCE)

    if tx.biotype == "nonsense_mediated_decay":
        terms.add(so.NMD)
    if not terms:  # e.g. an insertion between an exon and a short intron
        if not tx.coding:
            terms.add(so.NC_EXON if exonic else so.NC_TRANSCRIPT)
        elif tx.cds_start <= lo <= tx.cds_end:
            terms.add(so.CODING_SEQUENCE)
        else:
            terms.add(so.CODING_TRANSCRIPT)

    if allele.ref != allele.alt:
        effect.hgvs_c = hgvs_c(tx, allele, simple_exon, intron_hit if not hits else -1, effect)
    effect.terms = so.flags_of(terms)
    return effect
