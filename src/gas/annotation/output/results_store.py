"""The per-job results store: one Parquet row per (record, ALT allele, transcript or gene).

Why Parquet: columnar and compressed (a million variants with their transcripts is tens of
MB, not the GBs of the VCF's text), typed, written chunk by chunk as row groups so memory
does not grow with the input, and read by DuckDB (the web's query engine) straight from the
file with column pruning and row-group statistics: a filtered page of a million-row store
answers in tens of milliseconds without loading it. It is an output like the annotated VCF:
stored next to it, archived and restored with it.

Rows are built by the annotators (txannotate.py, engine.py) from the same effect records as
ANN, so the store and the VCF cannot disagree. Every record has at least one row (an allele
with no annotation — ALT ``.``/``*``, a record that was not lifted — gets a row without a
consequence), so ``record`` maps rows to the annotated VCF's records. ``top`` marks the one
row per allele that the browser shows first: the most severe, ties broken MANE Select →
canonical → coding (the order ANN entries are written in).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

#: column name → Arrow type name (see SCHEMA); the order is the file's
COLUMNS: dict[str, str] = {
    "record": "int64",  # the record's ordinal (0-based): the n-th record of the input and output
    "line": "int64",  # the record's line in the input
    "chrom": "string",  # CHROM as in the input
    "pos": "int64",
    "id": "string",  # the ID column as written (with matched known-variant ids added)
    "ref": "string",
    "alt": "string",  # this ALT allele
    "allele": "int16",  # 1-based index of the ALT allele in the record
    "filter": "string",
    "variant_class": "string",  # SNV, MNV, insertion, deletion, indel, symbolic
    "grch38_chrom": "string",  # where the record was annotated, when lifted
    "grch38_pos": "int64",
    "gene": "string",
    "gene_id": "string",
    "transcript": "string",
    "biotype": "string",
    "canonical": "bool",
    "mane": "bool",
    "coding": "bool",
    "consequence": "string",  # SO terms joined by '&', most severe first
    "most_severe": "string",
    "impact": "string",
    "severity": "int16",  # rank of the most severe term (0 = most severe)
    "hgvsc": "string",
    "hgvsp": "string",
    "exon": "string",
    "intron": "string",
    "protein_position": "string",
    "amino_acids": "string",
    "distance": "int64",
    "known_ids": "string",  # rs ids and other known-variant ids, '&'-joined
    "known": "bool",  # an rs id in the input or a known-variant match
    "clinvar": "string",  # ClinVar clinical significance, when a bundle carries ClinVar
    "af": "float64",  # allele frequency of the matching known variant
    "warnings": "string",  # WARNING_* / INFO_* / ERROR_* flags, '&'-joined
    "top": "bool",
}

FILE_SUFFIX = ".variants.parquet"


def schema():  # type: ignore[no-untyped-def]
    import pyarrow as pa

    types = {
        "int64": pa.int64(),
        "int32": pa.int32(),
        "int16": pa.int16(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "float64": pa.float64(),
    }
    return pa.schema([(name, types[t]) for name, t in COLUMNS.items()])


class Rows:
    """Rows of one chunk, column by column (cheap to fill, to pickle and to write)."""

    __slots__ = ("cols",)

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}

    def __len__(self) -> int:
        return len(self.cols["alt"])

    def extend(self, other: Rows) -> None:
        for name, values in other.cols.items():
            self.cols[name].extend(values)


class ResultsStoreWriter:
    """Writes chunks of rows as row groups of one Parquet file."""

    #: rows gathered before a row group is written (bigger groups compress and scan better)
    GROUP_ROWS = 65_536

    def __init__(self, path: Path):
        import pyarrow.parquet as pq

        self.path = path
        self._schema = schema()
        self._writer = pq.ParquetWriter(
            str(path), self._schema, compression="zstd", write_statistics=True
        )
        self._pending = Rows()
        self.rows = 0
        self.records = 0
        self._last_line = -1
        #: per gene: alleles whose top row is HIGH or MODERATE
        self.high: Counter[str] = Counter()
        self.moderate: Counter[str] = Counter()

    def add(self, rows: Rows) -> None:
        if not len(rows):
            return
        c = rows.cols
        ordinals = c["record"]
        ordinals.clear()
        last, n = self._last_line, self.records
        for line in c["line"]:
            if line != last:
                last, n = line, n + 1
            ordinals.append(n - 1)
        self._last_line, self.records = last, n
        high, moderate = self.high, self.moderate
        for top, impact, gene in zip(c["top"], c["impact"], c["gene"], strict=True):
            if top and gene:
                if impact == "HIGH":
                    high[gene] += 1
                elif impact == "MODERATE":
                    moderate[gene] += 1
        self._pending.extend(rows)
        if len(self._pending) >= self.GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        n = len(self._pending)
        if not n:
            return
        table = pa.Table.from_pydict(self._pending.cols, schema=self._schema)
        self._writer.write_table(table, row_group_size=n)
        self.rows += n
        self._pending = Rows()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def top_genes(self, n: int = 20) -> list[dict[str, object]]:
        """The genes with the most HIGH, then MODERATE, alleles (their top rows)."""
        genes = set(self.high) | set(self.moderate)
        ranked = sorted(genes, key=lambda g: (-self.high[g], -self.moderate[g], g))[:n]
        return [{"gene": g, "high": self.high[g], "moderate": self.moderate[g]} for g in ranked]


def record_rows(
    rows: Rows,
    first: int,
    line_no: int,
    parts: list[str],
    lift: tuple[object, str] | None,
    known: bool,
) -> None:
    """Fill the record-level columns of the rows a record added since row ``first``."""
    n = len(rows.cols["alt"]) - first
    if n <= 0:
        return
    c = rows.cols
    grch38_chrom = grch38_pos = None
    if lift is not None and lift[1].startswith("GAS_GRCh38="):
        where = lift[1][len("GAS_GRCh38=") :]
        name, _, at = where.rpartition(":")
        grch38_chrom, grch38_pos = name, int(at)
    for name, value in (
        ("line", line_no),
        ("chrom", parts[0]),
        ("pos", int(parts[1])),
        ("id", None if parts[2] == "." else parts[2]),
        ("ref", parts[3]),
        ("filter", None if parts[6] == "." else parts[6]),
        ("grch38_chrom", grch38_chrom),
        ("grch38_pos", grch38_pos),
        ("known", known),
    ):
        c[name].extend([value] * n)


#: the columns of a row that are not the record's (record_rows fills those)
_RECORD_COLUMNS = frozenset(
    ("record", "line", "chrom", "pos", "id", "ref", "filter", "grch38_chrom", "grch38_pos", "known")
)
_ROW_COLUMNS = [name for name in COLUMNS if name not in _RECORD_COLUMNS]


def add_unannotated_row(
    rows: Rows, alt: str, allele_no: int, vclass: str, warning: str | None
) -> None:
    """A row for an allele that has no annotation (a record that was not lifted)."""
    c = rows.cols
    for name in _ROW_COLUMNS:
        c[name].append(None)
    c["alt"][-1] = alt
    c["allele"][-1] = allele_no
    c["variant_class"][-1] = vclass
    c["canonical"][-1] = c["mane"][-1] = c["coding"][-1] = False
    c["warnings"][-1] = warning
    c["top"][-1] = True


def add_unannotated_rows(rows: Rows, chunk: Any, r: int, tag: str | None) -> None:
    """Rows for the alleles of record ``r`` of a chunk, which has no annotation (``tag``: the
    INFO item saying why, e.g. ``GAS_LIFTOVER=WARNING_NOT_LIFTED:…``)."""
    parts = chunk.records[r]
    q0, q1 = chunk.first_q[r], chunk.first_q[r + 1]
    alts = parts[4].split(",")
    warning = tag.partition("=")[2] if tag else None
    for k, q in enumerate(range(q0, q1)):
        add_unannotated_row(
            rows, alts[k] if k < len(alts) else parts[4], k + 1, chunk.q_class[q], warning
        )


#: known-variant fields read as the allele frequency, in order of preference
AF_FIELDS = ("gnomAD_AF", "gnomAD_AF_grpmax", "gnomAD_AF_popmax", "dbSNP_AF", "ClinVar_AF")


def allele_frequency(values: dict[str, str]) -> float | None:
    """The allele frequency among a known-variant match's carried fields, if any."""
    text = None
    for key in AF_FIELDS:
        text = values.get(key)
        if text:
            break
    else:
        text = next((v for k, v in values.items() if k.endswith("_AF") and v), None)
    if not text:
        return None
    try:
        return float(text.split(",")[0])
    except ValueError:
        return None
