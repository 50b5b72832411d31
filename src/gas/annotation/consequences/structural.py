"""Structural (symbolic) alleles — ``<DEL>``, ``<DUP>``, ``<INS>``, ``<CNV>`` — on a
transcript: ablation or amplification when they cover it whole, else truncation or
elongation with the term of the region they overlap (a subset of VEP's SV consequences)."""

from __future__ import annotations

from ..reference.transcripts import TxModel
from . import so
from .effect import Allele, TxEffect, overlap


def structural_effect(tx: TxModel, allele: Allele) -> TxEffect:
    s, e = allele.start, allele.end
    kind = allele.sv_type
    terms: set[str] = set()
    covers = s <= tx.start and e >= tx.end
    if kind in ("DEL", "CN0") and covers:
        terms.add(so.TRANSCRIPT_ABLATION)
    elif kind in ("DUP", "CNV", "CN2") and covers:
        terms.add(so.TRANSCRIPT_AMPLIFICATION)
    else:
        if kind == "DEL":
            terms.add(so.FEATURE_TRUNCATION)
        elif kind in ("DUP", "INS"):
            terms.add(so.FEATURE_ELONGATION)
        exonic = any(overlap(s, e, a, b) for a, b in zip(tx.gstarts, tx.gends, strict=True))
        if tx.coding and exonic and overlap(s, e, tx.cds_start, tx.cds_end):
            terms.add(so.CODING_SEQUENCE)
        elif exonic:
            terms.add(so.NC_EXON if not tx.coding else so.CODING_TRANSCRIPT)
        else:
            terms.add(so.INTRON)
    return TxEffect(so.flags_of(terms))
