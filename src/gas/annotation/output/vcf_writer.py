"""The annotated VCF: the INFO keys and header lines GAS writes, and how a record's INFO
column gets them (an input value under one of GAS's keys is replaced, with a warning)."""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata

from .ann import ANN_HEADER
from .report import Warnings

#: INFO keys GAS writes at the gene level; an input value under one of these is replaced.
OUR_INFO_KEYS = ("VC", "TITV", "GENE", "CYTOBAND", "ANN", "GAS_GRCh38", "GAS_LIFTOVER")
LIFT_INFO_KEYS = ("GAS_GRCh38", "GAS_LIFTOVER")
OUR_INFO_HEADERS = [
    '##INFO=<ID=VC,Number=A,Type=String,Description="Variant class of each ALT allele (GAS): '
    'SNV, MNV, insertion, deletion, indel (complex), symbolic, star (*), ref (no ALT)">',
    '##INFO=<ID=TITV,Number=A,Type=String,Description="For each ALT allele that is an SNV: '
    'ts (transition) or tv (transversion); . otherwise (GAS)">',
    '##INFO=<ID=GENE,Number=.,Type=String,Description="Symbols of the genes the variant '
    'overlaps (GAS, GRCh38 gene table)">',
    '##INFO=<ID=CYTOBAND,Number=1,Type=String,Description="Cytogenetic band of the first '
    'overlapping gene, or of the nearest gene for an intergenic variant (GAS)">',
    ANN_HEADER,
]
LIFT_INFO_HEADERS = [
    '##INFO=<ID=GAS_GRCh38,Number=1,Type=String,Description="Where the record is in GRCh38 '
    "(chrom:pos, UCSC names): the position it was annotated at, lifted with UCSC's chain (GAS)\">",
    '##INFO=<ID=GAS_LIFTOVER,Number=1,Type=String,Description="WARNING_NOT_LIFTED:<reason>: the '
    "record could not be lifted to GRCh38 and was not annotated (reasons: not_in_GRCh38, "
    "spans_a_break, other_chromosome, several_places, strand_flip_indel, symbolic_allele, "
    'unknown_contig) (GAS)">',
]
DEFAULT_FILEFORMAT = "VCFv4.2"


@cache
def engine_version() -> str:
    """The installed ``gas`` package's version, written into every output."""
    try:
        return metadata.version("gas")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class InfoKeys:
    """GAS's INFO keys of one run: finding them in input records and headers, dropping them."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        alternation = "|".join(re.escape(k) for k in keys)
        self._in_info = re.compile(rf"(?:^|;)({alternation})(?:[=;]|$)")
        self._in_lines = re.compile(rf"(?:^|;)({alternation})(?:[=;]|$)", re.M)
        #: header lines GAS replaces by its own: its INFO definitions and ``##GAS_`` lines
        self.header_re = re.compile(rf"##(?:INFO=<ID=(?:{alternation}),|GAS_)")

    def any_in(self, records: list[list[str]]) -> bool:
        """Whether any record's INFO may hold one of the keys (one search for a chunk)."""
        return bool(self._in_lines.search("\n".join([parts[7] for parts in records])))

    def cleaned(self, info: str, line_no: int, warnings: Warnings) -> str:
        """The INFO column without GAS's keys (each one dropped is a counted warning)."""
        if not self._in_info.search(info):
            return info
        kept = []
        for item in info.split(";"):
            key = item.split("=", 1)[0]
            if key in self.keys:
                warnings.count(
                    f"{{n}} record(s) already had INFO {key}; it was replaced by GAS's "
                    "(first at line {line})",
                    line_no,
                )
            else:
                kept.append(item)
        return ";".join(kept) if kept else "."


def annotated_info(
    info: str,
    classes: list[str],
    titv: list[str],
    lift: str | None = None,
    genes: list[str] | None = None,
    band: str = "",
    ann: list[str] | None = None,
    csq: list[str] | None = None,
    known: list[tuple[str, list[str]]] | None = None,
) -> str:
    """A record's INFO column with GAS's keys appended (``info`` already without them): the
    class and Ti/Tv of each ALT allele, the liftover item, genes, band, ANN and CSQ entries,
    and the known-variant values (key, one value per ALT allele)."""
    if len(classes) == 1:
        added = f"VC={classes[0]};TITV={titv[0]}"
    else:
        added = f"VC={','.join(classes)};TITV={','.join(titv)}"
    if lift:
        added += ";" + lift
    if genes:
        added += ";GENE=" + ",".join(genes)
    if band:
        added += ";CYTOBAND=" + band
    if ann:
        added += ";ANN=" + ",".join(ann)
    if csq:
        added += ";CSQ=" + ",".join(csq)
    if known:
        for key, values in known:
            added += f";{key}=" + ",".join(values)
    return added if info == "." or not info else f"{info};{added}"


def with_ids(ident: str, ids: list[str]) -> str:
    """The ID column with ``ids`` added (those not already there), in order."""
    present = [] if ident == "." else ident.split(";")
    new = [i for i in ids if i not in present]
    return ";".join(present + new) if new else ident
