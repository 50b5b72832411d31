"""The TSV (``--tsv``): one row per ALT allele with its most severe consequence, or per
allele and transcript; the carried known-variant fields are columns."""

from __future__ import annotations

from collections.abc import Sequence

from ..consequences import so
from ..consequences.effect import TxEffect
from ..reference.transcripts import TxModel
from . import fields

TSV_COLUMNS = (
    "CHROM",
    "POS",
    "ID",
    "REF",
    "ALT",
    "Allele",
    "Consequence",
    "IMPACT",
    "SYMBOL",
    "Gene",
    "Feature_type",
    "Feature",
    "BIOTYPE",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "DISTANCE",
    "STRAND",
    "Existing_variation",
)


def tsv_header(known_keys: Sequence[str]) -> str:
    """The column line (``known_keys``: the known-variant INFO keys carried)."""
    return "#" + "\t".join(TSV_COLUMNS + tuple(known_keys)) + "\n"


def tsv_row(
    parts: list[str],
    allele: str,
    e: TxEffect,
    tx: TxModel | None,
    gene: tuple[str, str],
    existing: str,
    known: list[str],
) -> str:
    """One row: the record's first five columns, the allele as written, its effect on ``tx``
    (``gene``: its gene name and id; for an intergenic effect the nearest genes'), the known
    variants' ids (``existing``, joined by ``&``) and the known-variant values."""
    if tx is not None:
        cols = [
            gene[0],
            gene[1],
            "Transcript",
            tx.tx_id,
            tx.biotype,
            fields.rank(e.exon, e.exon_last, e.exons),
            fields.rank(e.intron, e.intron, e.introns),
            f"{tx.tx_id}:{e.hgvs_c}" if e.hgvs_c else "",
            f"{tx.protein_id or tx.tx_id}:{e.hgvs_p}" if e.hgvs_p else "",
            fields.span(e.cdna_start, e.cdna_end),
            fields.span(e.cds_start, e.cds_end),
            fields.span(e.aa_start, e.aa_end),
            e.amino_acids,
            e.codons,
            "" if e.distance is None else str(e.distance),
            str(tx.strand),
        ]
    else:
        cols = [gene[0], gene[1], "", "", "", "", "", "", "", "", "", "", "", ""]
        cols += ["" if e.distance is None else str(e.distance), ""]
    row = [
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        parts[4],
        allele,
        ",".join(so.names(e.terms)),
        so.IMPACT[so.most_severe(e.terms)],
        *cols,
        existing.replace("&", ","),
        *known,
    ]
    return "\t".join(v.replace("\t", " ") for v in row)
