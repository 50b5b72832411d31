"""The per-job results store: one Parquet row per (record, ALT allele, transcript or gene).

Why Parquet: columnar and compressed (a million variants with their transcripts is tens of
MB, not the GBs of the VCF's text), typed, written chunk by chunk as row groups so memory
does not grow with the input, and read by DuckDB (the web's query engine) straight from the
file with column pruning and row-group statistics: a filtered page of a million-row store
answers in tens of milliseconds without loading it. It is an output like the annotated VCF:
stored next to it, archived and restored with it.

Rows are made from the very ANN entries written to the VCF, so the store and the VCF cannot
disagree: per entry the annotators keep the entry's text, whether it is the allele's top
entry and whether its rank is an exon's; per allele its number, class and known-variant
values; per record its columns. Arrow splits and types the entries in C++ when a row group
is written, which keeps the cost per row to a few list appends in Python (bench/
store_overhead.py). Every record has at least one row (an allele
with no annotation — ALT ``.``/``*``, a record that was not lifted — gets a row without a
consequence), so ``record`` maps rows to the annotated VCF's records. ``top`` marks the one
row per allele that the browser shows first: the most severe, ties broken MANE Select →
canonical → coding (the order ANN entries are written in).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Arrow reads this when it is first imported (lazily, below); see _use_system_allocator.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

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
    "distance": "int64",
    "nearest": "string",  # intergenic: the nearest genes (GENE1-GENE2)
    "known_ids": "string",  # rs ids and other known-variant ids, '&'-joined
    "known": "bool",  # an rs id in the input or a known-variant match
    "clinvar": "string",  # ClinVar clinical significance, when a bundle carries ClinVar
    "af": "float64",  # allele frequency of the matching known variant
    "warnings": "string",  # WARNING_* / INFO_* / ERROR_* flags, '&'-joined
    "top": "bool",
    # lower-case gene, transcript, HGVS c./p. and ID joined by U+001F: the free-text filter
    # reads this one column instead of five (3 M rows: one scan of ≈ 60 MB of text)
    "search": "string",
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


#: the record-level columns (one value per record, repeated on its rows), in COLUMNS order
RECORD_COLUMNS = (
    "record",
    "line",
    "chrom",
    "pos",
    "id",
    "ref",
    "filter",
    "grch38_chrom",
    "grch38_pos",
    "known",
)
#: the allele-level columns (one value per ALT allele, repeated on its rows)
ALLELE_COLUMNS = ("alt", "allele", "variant_class", "known_ids", "clinvar", "af")
#: what a row itself holds: its ANN entry, whether it is the allele's top entry, whether its
#: ANN rank is an exon's (else an intron's)
HIT_FIELDS = (("entry", "string"), ("top", "bool"), ("exon", "bool"))
#: an entry for an allele without annotation: 16 empty ANN fields but the last (why)
_NO_ANNOTATION = "|" * 15


class Rows:
    """Rows of one chunk as tuples: per row (HIT_FIELDS), per allele (ALLELE_COLUMNS) and its
    number of rows, per record (RECORD_COLUMNS without ``record``) and its number of rows;
    and the flags of the transcripts seen. Cheap to fill, to pickle from worker processes and
    to turn into Arrow columns."""

    __slots__ = ("hits", "alleles", "allele_rows", "records", "record_rows", "tx_flags")

    def __init__(self) -> None:
        self.hits: list[tuple[str, bool, bool]] = []
        self.alleles: list[tuple[Any, ...]] = []
        self.allele_rows: list[int] = []
        self.records: list[tuple[Any, ...]] = []
        self.record_rows: list[int] = []
        #: transcript id → (canonical, MANE Select, coding)
        self.tx_flags: dict[str, tuple[bool, bool, bool]] = {}

    def __len__(self) -> int:
        return len(self.hits)

    def add_allele(self, first: int, values: tuple[Any, ...]) -> None:
        """The allele-level columns of the rows added since row ``first``."""
        self.alleles.append(values)
        self.allele_rows.append(len(self.hits) - first)

    def extend(self, other: Rows) -> None:
        self.hits.extend(other.hits)
        self.alleles.extend(other.alleles)
        self.allele_rows.extend(other.allele_rows)
        self.records.extend(other.records)
        self.record_rows.extend(other.record_rows)
        self.tx_flags.update(other.tx_flags)


class ResultsStoreWriter:
    """Writes chunks of rows as row groups of one Parquet file."""

    #: rows gathered before a row group is written (bigger groups compress and scan better)
    GROUP_ROWS = 16_384

    def __init__(self, path: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        _use_system_allocator()
        self.path = path
        self._schema = schema()
        self._writer = pq.ParquetWriter(
            str(path), self._schema, compression="zstd", write_statistics=True
        )
        self._pending = Rows()
        self.rows = 0
        self.records = 0
        types = {"string": pa.string(), "bool": pa.bool_()}
        self._hit_struct = pa.struct([(n, types[t]) for n, t in HIT_FIELDS])
        self._allele_struct = pa.struct([self._schema.field(n) for n in ALLELE_COLUMNS])
        self._record_struct = pa.struct([self._schema.field(n) for n in RECORD_COLUMNS[1:]])
        self._tx_flags: dict[str, tuple[bool, bool, bool]] = {}
        #: per gene: alleles whose top row is HIGH or MODERATE
        self.high: Counter[str] = Counter()
        self.moderate: Counter[str] = Counter()
        # Row groups are converted and written by one background thread (Arrow's compute
        # and Parquet writing release the GIL, so this overlaps with the annotation); at
        # most one group waits while another is written, which bounds memory.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gas-results-store")
        self._in_flight: Future[None] | None = None

    def add(self, rows: Rows) -> None:
        if not len(rows):
            return
        self._pending.extend(rows)
        if len(self._pending) >= self.GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not len(pending):
            return
        self._pending = Rows()
        if self._in_flight is not None:
            self._in_flight.result()  # raises what writing the previous group raised
        self._in_flight = self._thread.submit(self._write_group, pending)

    def _write_group(self, pending: Rows) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(pending)
        self._tx_flags.update(pending.tx_flags)
        columns: dict[str, Any] = {}
        # per record and per allele: one value each, repeated on their rows (``take``)
        n_records = len(pending.records)
        by_record = pa.array(np.repeat(np.arange(n_records), pending.record_rows))
        columns["record"] = pa.array(
            np.arange(self.records, self.records + n_records, dtype=np.int64)
        ).take(by_record)
        records = pa.array(pending.records, type=self._record_struct).flatten()
        for name, values in zip(RECORD_COLUMNS[1:], records, strict=True):
            columns[name] = values.take(by_record)
        by_allele = pa.array(np.repeat(np.arange(len(pending.alleles)), pending.allele_rows))
        alleles = pa.array(pending.alleles, type=self._allele_struct).flatten()
        for name, values in zip(ALLELE_COLUMNS, alleles, strict=True):
            columns[name] = values.take(by_allele)
        # per row: the ANN entry's 16 fields
        entry, top, exon = pa.array(pending.hits, type=self._hit_struct).flatten()
        fields = pc.split_pattern(entry, "|")
        field = [pc.list_element(fields, i) if i not in (0, 11, 12) else None for i in range(16)]
        intergenic = pc.equal(field[5], "intergenic_region")
        gene_feature = pc.equal(field[5], "gene")
        consequence = _none_if_empty(field[1])
        most_severe = pc.list_element(pc.split_pattern(consequence, "&"), 0)
        columns["consequence"] = consequence
        columns["most_severe"] = most_severe
        columns["impact"] = _none_if_empty(field[2])
        terms = pa.array([t for t, _ in so_terms()])
        columns["severity"] = pc.cast(
            pc.fill_null(pc.index_in(most_severe, value_set=terms), len(terms)), pa.int16()
        )
        columns["gene"] = _unescape(_none_if(field[3], intergenic))
        columns["gene_id"] = _unescape(_none_if(field[4], intergenic))
        transcript = _unescape(_none_if(field[6], pc.or_(intergenic, gene_feature)))
        columns["transcript"] = transcript
        columns["biotype"] = _unescape(_none_if_empty(field[7]))
        rank = _none_if_empty(field[8])
        columns["exon"] = pc.if_else(exon, rank, pa.scalar(None, pa.string()))
        columns["intron"] = pc.if_else(exon, pa.scalar(None, pa.string()), rank)
        columns["hgvsc"] = _unescape(_none_if_empty(field[9]))
        columns["hgvsp"] = _unescape(_none_if_empty(field[10]))
        columns["protein_position"] = _none_if_empty(
            pc.list_element(pc.split_pattern(field[13], "/"), 0)
        )
        columns["distance"] = pc.cast(_none_if_empty(field[14]), pa.int64())
        columns["nearest"] = _unescape(
            _none_if_empty(pc.if_else(intergenic, field[3], pa.scalar("", pa.string())))
        )
        columns["warnings"] = _none_if_empty(field[15])
        columns["top"] = top
        columns["search"] = pc.utf8_lower(
            pc.binary_join_element_wise(
                columns["gene"],
                columns["transcript"],
                columns["hgvsc"],
                columns["hgvsp"],
                columns["id"],
                "\x1f",
                null_handling="replace",
                null_replacement="",
            )
        )
        ids = list(self._tx_flags)
        flags = list(self._tx_flags.values())
        where = pc.index_in(transcript, value_set=pa.array(ids, pa.string()))
        for k, name in enumerate(("canonical", "mane", "coding")):
            table = pa.array([f[k] for f in flags], pa.bool_())
            columns[name] = pc.fill_null(table.take(where), False)
        table = pa.Table.from_pydict({name: columns[name] for name in COLUMNS}, schema=self._schema)
        self._count_genes(table)
        self._writer.write_table(table, row_group_size=n)
        self.rows += n
        self.records += n_records

    def _count_genes(self, table: Any) -> None:
        import pyarrow.compute as pc

        chosen = table.filter(
            pc.and_(
                table["top"], pc.is_in(table["impact"], value_set=_pa_strings(("HIGH", "MODERATE")))
            )
        )
        for gene, impact in zip(
            chosen["gene"].to_pylist(), chosen["impact"].to_pylist(), strict=True
        ):
            if gene:
                (self.high if impact == "HIGH" else self.moderate)[gene] += 1

    def close(self) -> None:
        try:
            self._flush()
            if self._in_flight is not None:
                self._in_flight.result()
        finally:
            self._thread.shutdown(wait=True)
            self._writer.close()

    def top_genes(self, n: int = 20) -> list[dict[str, object]]:
        """The genes with the most HIGH, then MODERATE, alleles (their top rows)."""
        genes = set(self.high) | set(self.moderate)
        ranked = sorted(genes, key=lambda g: (-self.high[g], -self.moderate[g], g))[:n]
        return [{"gene": g, "high": self.high[g], "moderate": self.moderate[g]} for g in ranked]


_allocator_set = False


def _use_system_allocator() -> None:
    """Arrow's default allocator (mimalloc) keeps ≈ 50 MB more resident per process than the
    C library's, for no speed we can measure here: every annotator process pays it."""
    global _allocator_set
    if not _allocator_set:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
        _allocator_set = True


def so_terms() -> list[tuple[str, str]]:
    from ..consequences.so import TERMS

    return list(TERMS)


def _pa_strings(values: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def _none_if_empty(values: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def _none_if(values: Any, condition: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return _none_if_empty(pc.if_else(condition, pa.scalar("", pa.string()), values))


def _unescape(values: Any) -> Any:
    """ANN's percent-encoding undone (ann.escape)."""
    import pyarrow.compute as pc

    if not pc.any(pc.match_substring(values, "%")).as_py():
        return values
    for code, char in (("%2C", ","), ("%7C", "|"), ("%3B", ";"), ("%3D", "=")):
        values = pc.replace_substring(values, code, char)
    return values


def record_rows(
    rows: Rows,
    first: int,
    line_no: int,
    parts: list[str],
    lift: tuple[object, str] | None,
    known: bool,
) -> None:
    """The record-level columns of the rows a record added since row ``first``."""
    n = len(rows.hits) - first
    if n <= 0:
        return
    grch38_chrom = grch38_pos = None
    if lift is not None and lift[1].startswith("GAS_GRCh38="):
        where = lift[1][len("GAS_GRCh38=") :]
        name, _, at = where.rpartition(":")
        grch38_chrom, grch38_pos = name, int(at)
    rows.records.append(
        (
            line_no,
            parts[0],
            int(parts[1]),
            None if parts[2] == "." else parts[2],
            parts[3],
            None if parts[6] == "." else parts[6],
            grch38_chrom,
            grch38_pos,
            known,
        )
    )
    rows.record_rows.append(n)


def add_unannotated_rows(rows: Rows, chunk: Any, r: int, tag: str | None) -> None:
    """Rows for the alleles of record ``r`` of a chunk, which has no annotation (``tag``: the
    INFO item saying why, e.g. ``GAS_LIFTOVER=WARNING_NOT_LIFTED:…``)."""
    parts = chunk.records[r]
    q0, q1 = chunk.first_q[r], chunk.first_q[r + 1]
    alts = parts[4].split(",")
    entry = _NO_ANNOTATION + (tag.partition("=")[2] if tag else "")
    for k, q in enumerate(range(q0, q1)):
        first = len(rows.hits)
        rows.hits.append((entry, True, False))
        alt = alts[k] if k < len(alts) else parts[4]
        rows.add_allele(first, (alt, k + 1, chunk.q_class[q], None, None, None))


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
