"""The ``CSQ`` INFO field, in the format of Ensembl VEP (``--csq``)."""

from __future__ import annotations

from ..consequences import so
from ..consequences.effect import TxEffect
from ..reference.transcripts import CANONICAL, CDS_END_NF, CDS_START_NF, TxModel
from . import fields
from .ann import TxLabels, escape, escape_p

CSQ_FIELDS = (
    "Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|"
    "HGVSp|cDNA_position|CDS_position|Protein_position|Amino_acids|Codons|Existing_variation|"
    "DISTANCE|STRAND|FLAGS|CANONICAL"
)
CSQ_HEADER = (
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations in the format '
    f'of Ensembl VEP (GAS). Format: {CSQ_FIELDS}">'
)


def csq_entry(allele: str, e: TxEffect, tx: TxModel | None, existing: str, labels: TxLabels) -> str:
    """One CSQ entry: ``allele`` in VEP's notation (``-`` for a deletion), ``existing`` the
    known variants' ids joined by ``&``."""
    names = so.names(e.terms)
    terms = "&".join(names)
    impact = so.IMPACT[names[0]]
    distance = "" if e.distance is None else str(e.distance)
    if tx is None:
        return f"{escape(allele)}|{terms}|{impact}|||||||||||||||{existing}|{distance}|||"
    hgvs_c = f"{tx.tx_id}:{e.hgvs_c}" if e.hgvs_c else ""
    hgvs_p = f"{tx.protein_id or tx.tx_id}:{e.hgvs_p}" if e.hgvs_p else ""
    flags = []
    if tx.flags & CDS_START_NF:
        flags.append("cds_start_NF")
    if tx.flags & CDS_END_NF:
        flags.append("cds_end_NF")
    canonical = "YES" if tx.flags & CANONICAL else ""
    return (
        f"{escape(allele)}|{terms}|{impact}|{labels.gene_name(tx)}|{labels.gene_id(tx)}|"
        f"Transcript|{escape(tx.tx_id)}|{escape(tx.biotype)}|"
        f"{fields.rank(e.exon, e.exon_last, e.exons)}|"
        f"{fields.rank(e.intron, e.intron, e.introns)}|{hgvs_c}|{escape_p(hgvs_p)}|"
        f"{fields.span(e.cdna_start, e.cdna_end)}|{fields.span(e.cds_start, e.cds_end)}|"
        f"{fields.span(e.aa_start, e.aa_end)}|{e.amino_acids}|"
        f"{e.codons}|{existing}|{distance}|{tx.strand}|{'&'.join(flags)}|{canonical}"
    )
