"""The ``ANN`` INFO field of the VCF annotation format (SnpEff's ANN specification): every
ANN entry GAS writes, gene level and transcript level, is made here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..consequences import so
from ..consequences.effect import TxEffect
from ..reference.transcripts import CDS_END_NF, CDS_START_NF, TxModel
from . import fields

if TYPE_CHECKING:
    from ..reference.bundle import Bundle

ANN_FIELDS = (
    "Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | "
    "Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | "
    "CDS.pos / CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO"
)
ANN_HEADER = (
    f"##INFO=<ID=ANN,Number=.,Type=String,Description=\"Functional annotations: '{ANN_FIELDS}'\">"
)

INTRAGENIC = "intragenic_variant"
INTERGENIC = "intergenic_variant"
MODIFIER = "MODIFIER"
FEATURE_GENE = "gene"
FEATURE_INTERGENIC = "intergenic_region"
ERROR_CHROMOSOME_NOT_FOUND = "ERROR_CHROMOSOME_NOT_FOUND"
WARNING_REF = "WARNING_REF_DOES_NOT_MATCH_GENOME"
INFO_REALIGN = "INFO_REALIGN_3_PRIME"
WARNING_INCOMPLETE = "WARNING_TRANSCRIPT_INCOMPLETE"

_SPECIAL = re.compile(r"[,|;= ]")
_ESCAPES = str.maketrans({",": "%2C", "|": "%7C", ";": "%3B", "=": "%3D", " ": "_"})


def escape(value: str) -> str:
    """Make a value safe inside one ANN sub-field (``,|;=`` percent-encoded, space → ``_``)."""
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def escape_p(hgvs_p: str) -> str:
    """HGVS p. in ANN/CSQ: only ``=`` (``p.Leu3=``) needs encoding; c. never does."""
    return hgvs_p.replace("=", "%3D") if "=" in hgvs_p else hgvs_p


# ---------------------------------------------------------------------------- gene level


def genic_prefix(allele: str) -> str:
    """ANN fields 1–3 of an allele inside a gene, with the separator before Gene_Name."""
    return f"{escape(allele)}|{INTRAGENIC}|{MODIFIER}|"


def genic_tail(symbol: str, gene_id: str, biotype: str) -> str:
    """ANN fields 4–16 of an allele inside a gene (values already escaped)."""
    return f"{symbol}|{gene_id}|{FEATURE_GENE}|{gene_id}|{biotype}||||||||"


def intergenic_prefix(allele: str) -> str:
    """ANN fields 1–3 of an allele between genes, with the separator before Gene_Name."""
    return f"{escape(allele)}|{INTERGENIC}|{MODIFIER}|"


def intergenic_tail(names: str, ids: str, distance: str, notes: str) -> str:
    """ANN fields 4–16 of an allele between genes: ``GENE1-GENE2`` names and ids, the
    distance to the nearer one, errors/warnings."""
    return f"{names}|{ids}|{FEATURE_INTERGENIC}|{ids}||||||||{distance}|{notes}"


# ---------------------------------------------------------------------------- transcript level


class TxLabels:
    """Per-transcript text shared by the ANN, CSQ and TSV writers, made once per transcript:
    escaped gene name and id, ANN fields 4–8, the incomplete-CDS warning, lengths."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._gene_names: dict[int, str] = {}
        #: per transcript: ANN fields 4-8 with their separators, the incomplete-CDS
        #: warning (or ""), cDNA length, CDS length and protein length as text
        self._ann: dict[int, tuple[str, str, str, str, str]] = {}

    def clear(self) -> None:
        """Forget the per-transcript text (the transcripts' cache was emptied)."""
        self._ann.clear()

    def gene_name(self, tx: TxModel) -> str:
        name = self._gene_names.get(tx.gene)
        if name is None:
            raw = self.bundle.gene_name[tx.gene].decode()
            name = self._gene_names[tx.gene] = escape(raw)
        return name

    def gene_id(self, tx: TxModel) -> str:
        return escape(self.bundle.gene_id[tx.gene].decode())

    def ann_parts(self, tx: TxModel) -> tuple[str, str, str, str, str]:
        parts = self._ann.get(tx.index)
        if parts is None:
            warn = (
                WARNING_INCOMPLETE if tx.flags & (CDS_START_NF | CDS_END_NF) and tx.coding else ""
            )
            cds_len = n_aa = ""
            if tx.coding:
                cds_len = str(tx.cds_cdna_end - tx.cds_cdna_start + 1)
            tail = (
                f"{self.gene_name(tx)}|{self.gene_id(tx)}|transcript|{escape(tx.tx_id)}|"
                f"{escape(tx.biotype)}"
            )
            parts = (f"|{tail}|", warn, str(tx.cdna_len), cds_len, n_aa)
            self._ann[tx.index] = parts
        return parts

    def n_aa(self, tx: TxModel) -> str:
        """The protein's length (without the stop) as text."""
        parts = self.ann_parts(tx)
        if not parts[4]:
            n_aa = str(len(tx.protein) - tx.protein.endswith("*"))
            parts = (*parts[:4], n_aa)
            self._ann[tx.index] = parts
        return parts[4]


def effect_entry(
    allele: str,
    e: TxEffect,
    tx: TxModel | None,
    flags: list[str],
    labels: TxLabels,
    near: str = "",
    near_ids: str = "",
) -> str:
    """One ANN entry for an allele (escaped) and its effect on a transcript, or between genes
    when ``tx`` is None (``near``/``near_ids``: the nearest genes' names and ids)."""
    names = so.names(e.terms)
    terms = names[0] if len(names) == 1 else "&".join(names)
    impact = so.IMPACT[names[0]]
    if tx is None:
        notes = list(flags) + e.flags
        distance = "" if e.distance is None else str(e.distance)
        return f"{allele}|{terms}|{impact}|" + intergenic_tail(
            near, near_ids, distance, "&".join(notes)
        )
    tail, warn, cdna_len, cds_len, _ = labels.ann_parts(tx)
    if flags or e.flags or e.shifted or warn:
        notes = list(flags) + e.flags
        if e.shifted:
            notes.append(INFO_REALIGN)
        if warn:
            notes.append(warn)
        note = "&".join(notes)
    else:
        note = ""
    if e.distance is not None:  # up- or downstream: nothing but the distance
        if not (e.exon or e.intron or e.hgvs_c or e.cdna_start >= 0):
            return f"{allele}|{terms}|{impact}{tail}||||||{e.distance}|{note}"
        distance = str(e.distance)
    else:
        distance = ""
    if e.exon:  # the first exon only
        rank = f"{e.exon}/{e.exons}"
    elif e.intron:
        rank = f"{e.intron}/{e.introns}"
    else:
        rank = ""
    cdna = cds = aa = ""
    if e.cdna_start >= 0:
        pos = fields.first(e.cdna_start, e.cdna_end)
        if pos:
            cdna = f"{pos}/{cdna_len}"
    if e.cds_start >= 0:
        pos = fields.first(e.cds_start, e.cds_end)
        if pos:
            cds = f"{pos}/{cds_len}"
    if e.aa_start >= 0:
        aa = f"{fields.first(e.aa_start, e.aa_end)}/{labels.n_aa(tx)}"
    return (
        f"{allele}|{terms}|{impact}{tail}{rank}|{e.hgvs_c}|"
        f"{escape_p(e.hgvs_p)}|{cdna}|{cds}|{aa}|{distance}|{note}"
    )
