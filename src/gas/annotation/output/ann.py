"""The ``ANN`` INFO field of the VCF annotation format (SnpEff's ANN specification)."""

from __future__ import annotations

import re

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

_SPECIAL = re.compile(r"[,|;= ]")
_ESCAPES = str.maketrans({",": "%2C", "|": "%7C", ";": "%3B", "=": "%3D", " ": "_"})


def escape(value: str) -> str:
    """Make a value safe inside one ANN sub-field (``,|;=`` percent-encoded, space → ``_``)."""
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def genic_prefix(allele: str) -> str:
    """ANN fields 1–3 of an allele inside a gene, with the separator before Gene_Name."""
    return f"{escape(allele)}|{INTRAGENIC}|{MODIFIER}|"


def intergenic_prefix(allele: str) -> str:
    """ANN fields 1–3 of an allele between genes, with the separator before Gene_Name."""
    return f"{escape(allele)}|{INTERGENIC}|{MODIFIER}|"


def intergenic_entry(
    allele: str,
    names: str,
    ids: str,
    distance: int | None,
    error: str = "",
) -> str:
    """One ANN entry for an allele between genes: ``GENE1-GENE2`` names and ids."""
    dist = "" if distance is None else str(distance)
    return (
        f"{intergenic_prefix(allele)}{names}|{ids}|{FEATURE_INTERGENIC}|{ids}||||||||{dist}|{error}"
    )
