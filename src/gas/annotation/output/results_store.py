"""The per-job results store: one Parquet row per (record, ALT allele, transcript or gene).

Why Parquet: columnar and compressed (a million variants with their transcripts is tens of
MB, not the GBs of the VCF's text), typed, written chunk by chunk as row groups so memory
does not grow with the input, and read by DuckDB (the web's query engine) straight from the
file with column pruning and row-group statistics: a filtered page of a million-row store
answers in tens of milliseconds without loading it. It is an output like the annotated VCF:
stored next to it, archived and restored with it.

Rows are made from the very ANN entries written to the VCF, so the store and the VCF cannot
disagree. What it costs is kept off the per-entry path (bench/store_overhead.py, README
there): while a chunk is annotated, :class:`Rows` gets the record's list of ANN entries in
one ``extend``, per allele its query number and row count (two appends), and the rows whose
rank is an exon's; nothing else per record. When the chunk is done, :meth:`Rows.finish` builds
three small Arrow tables from those lists and the chunk's columns (per record: line, CHROM,
POS, ID, REF, FILTER, liftover, known; per allele: ALT, number, class, known-variant values;
per row: entry, exon) — in the worker process, when there are several, so the parent gets
Arrow buffers, not pickled Python objects. The writer's thread repeats record and allele
values on their rows (``take``), marks each allele's first row ``top``, splits and types
the entries in C++ and writes zstd Parquet. Every record has at least one row (an allele
with no annotation — ALT ``.``/``*``, a record that was not lifted — gets a row without a
consequence), so ``record`` maps rows to the annotated VCF's records. ``top`` marks the one
row per allele that the browser shows first: the most severe, ties broken MANE Select →
canonical → coding (the order ANN entries are written in).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..vcf.records import RSID_RE, has_rsid

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

#: columns written with row-group statistics (min/max): those the browser's filters compare
#: (``adapters/duckdb_results``), so that DuckDB skips row groups; the others' statistics cost
#: a fifth of the writing and are never read
_STATISTICS = ("record", "chrom", "pos", "known", "af", "impact", "severity", "top")
#: text that is nearly unique per row: a dictionary page would only be tried and dropped
_NO_DICTIONARY = frozenset(("id", "hgvsc", "hgvsp", "known_ids", "search"))


def schema() -> Any:
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
#: average length of the written record lines up to which Arrow (the Python path) cuts the
#: record columns from whole lines (longer ones, with samples, are shortened first)
_WRITTEN_BYTES = 1024
#: an entry for an allele without annotation: 16 empty ANN fields but the last (why)
_NO_ANNOTATION = "|" * 15


class Rows:
    """The rows of one chunk. While a chunk is annotated: per row its ANN entry (the text
    written to the VCF, or an entry without consequence), the rows whose ANN rank is an
    exon's, and per allele with rows its query in the chunk and number of rows (plus, rarely,
    its ALT when the chunk has none for it and its known-variant values). :meth:`finish`
    then turns them, with the chunk's own columns, into three small Arrow tables (per record,
    per allele, per row): that is what worker processes send to the parent, and what the
    writer expands into the store's columns."""

    __slots__ = (
        "entries",
        "exon_rows",
        "allele_q",
        "allele_rows",
        "alts",
        "known",
        "tx_flags",
        "tables",
        "n",
    )

    def __init__(self) -> None:
        self.entries: list[str] = []
        #: rows (positions in ``entries``) whose ANN rank is an exon's (else an intron's)
        self.exon_rows: list[int] = []
        self.allele_q: list[int] = []
        self.allele_rows: list[int] = []
        #: allele position → its ALT, where ``chunk.q_allele`` has none (rows without annotation)
        self.alts: dict[int, str] = {}
        #: allele position → (known-variant ids, ClinVar significance, allele frequency)
        self.known: dict[int, tuple[str | None, str | None, float | None]] = {}
        #: transcript id → (canonical, MANE Select, coding)
        self.tx_flags: dict[str, tuple[bool, bool, bool]] = {}
        #: (per record, per allele, per row) Arrow tables, once finished
        self.tables: tuple[Any, Any, Any] | None = None
        self.n = 0

    def __len__(self) -> int:
        return self.n if self.tables is not None else len(self.entries)

    def add_record(self, ann: list[str], chunk: Any, r: int, lift: Any) -> None:
        """The rows of record ``r`` of a chunk: one per ANN entry, or, with no annotated
        allele, one per allele without annotation (``lift``: the record's liftover result,
        whose tag says why when it did not lift)."""
        if ann:
            self.entries += ann
        else:
            unlifted = lift[1] if lift is not None and lift[0] is None else None
            add_unannotated_rows(self, chunk, r, unlifted)

    def add_allele(
        self, q: int, n: int, known_ids: str = "", values: dict[str, str] | None = None
    ) -> None:
        """Query ``q`` of the chunk (an ALT allele) has the last ``n`` rows' entries."""
        if known_ids or values:
            self.known[len(self.allele_q)] = (
                known_ids or None,
                _vcf_unescape(values.get("ClinVar_CLNSIG")) if values else None,
                allele_frequency(values) if values else None,
            )
        self.allele_q.append(q)
        self.allele_rows.append(n)

    def finish(self, chunk: Any, level: str, written: list[str] | None = None) -> None:
        """Make the Arrow tables from the rows and the annotated chunk (its records as
        written: ID with the matched ids; ``written``: their lines, one per record, if at
        hand); ``level`` picks how an ID says "known"."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(self.entries)
        self.n = n
        if not n:
            self.tables = (None, None, None)
            return
        q = np.array(self.allele_q, dtype=np.int64)
        first_q = np.array(chunk.first_q, dtype=np.int64)
        rec_of = np.searchsorted(first_q, q, side="right") - 1
        per_record = np.bincount(
            rec_of, weights=np.array(self.allele_rows), minlength=len(chunk.records)
        ).astype(np.int64)
        has = np.flatnonzero(per_record)
        records = chunk.records
        lines = chunk.line_no
        chroms = chunk.chroms  # CHROM as in the input, as the records are written
        if len(has) != len(records):
            records = [records[i] for i in has.tolist()]
            lines = [lines[i] for i in has.tolist()]
            chroms = [chroms[i] for i in has.tolist()]
        string = pa.string()
        with_ids = [a for a, v in self.known.items() if v[0]]
        if written is None or len(written) != len(chunk.records):
            written = ["\t".join(parts[:8]) for parts in chunk.records]
        # POS, ID (with matched ids), REF and FILTER as written
        pos, id_array, ref, filters = record_columns(written, has)
        rule = has_rsid if level == "gene" else _rsid_search
        known = np.zeros(len(records), dtype=bool)
        rs_like = pc.fill_null(pc.match_substring(id_array, "rs"), False)  # (ID "." is null)
        maybe = np.flatnonzero(rs_like.to_numpy(zero_copy_only=False))
        if len(maybe):
            known[maybe] = [rule(i) for i in id_array.take(maybe).to_pylist()]
        if with_ids:
            # an allele's matched ids were added to the record's ID: the record is known
            rec_known = np.zeros(len(chunk.records), dtype=bool)
            rec_known[rec_of[with_ids]] = True
            known |= rec_known[has]
        grch38_chrom: Any = pa.nulls(len(records), string)
        grch38_pos: Any = pa.nulls(len(records), pa.int64())
        if chunk.lifts is not None:
            lifts = chunk.lifts
            where = [_grch38(lifts[i]) for i in has.tolist()]
            grch38_chrom = pa.array([w[0] for w in where], string)
            grch38_pos = pa.array([w[1] for w in where], pa.int64())
        record: dict[str, Any] = {}
        record["rows"] = per_record[has]
        record["line"] = pa.array(lines, pa.int64())
        record["chrom"] = pa.array(chroms, string)
        record["pos"] = pos
        record["id"] = id_array
        record["ref"] = ref
        record["filter"] = filters
        record["grch38_chrom"] = grch38_chrom
        record["grch38_pos"] = grch38_pos
        record["known"] = known
        record_table = pa.table(record)
        q_allele = chunk.q_allele
        alts = [q_allele[i] for i in self.allele_q]
        for a, alt in self.alts.items():
            alts[a] = alt
        q_class = chunk.q_class
        n_alleles = len(q)
        allele: dict[str, Any] = {
            "rows": np.array(self.allele_rows, dtype=np.int64),
            "alt": pa.array(alts, string),
            "allele": (q - first_q[rec_of] + 1).astype(np.int16),
            "variant_class": pa.array([q_class[i] for i in self.allele_q], string),
        }
        if self.known:
            values: list[tuple[str | None, str | None, float | None]]
            values = [(None, None, None)] * n_alleles
            for a, v in self.known.items():
                values[a] = v
            allele["known_ids"] = pa.array([v[0] for v in values], string)
            allele["clinvar"] = pa.array([v[1] for v in values], string)
            allele["af"] = pa.array([v[2] for v in values], pa.float64())
        else:
            allele["known_ids"] = pa.nulls(n_alleles, string)
            allele["clinvar"] = pa.nulls(n_alleles, string)
            allele["af"] = pa.nulls(n_alleles, pa.float64())
        exon = np.zeros(n, dtype=bool)
        if self.exon_rows:
            exon[self.exon_rows] = True
        # the entries as one UTF-8 text, a line each (an entry has no newline): one copy here,
        # split into columns in one pass on the writer's thread (entry_columns)
        blob = "\n".join(self.entries).encode()
        self.tables = (record_table, pa.table(allele), (blob, exon))
        self.entries = []
        self.exon_rows = []
        self.allele_q = []
        self.allele_rows = []
        self.alts = {}
        self.known = {}


class ResultsStoreWriter:
    """Writes chunks of rows as row groups of one Parquet file."""

    #: rows gathered before a row group is written (bigger groups compress and scan better)
    GROUP_ROWS = 16_384
    #: row groups handed to the writing thread and not yet written, at most (one keeps up)
    IN_FLIGHT = 1

    def __init__(self, path: Path):
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        _use_system_allocator()
        # Arrow's compute functions (and the numpy modules Arrow loads on first use) are
        # loaded here, before the engine forks its workers: each would load them again for
        # every run (≈ 50 ms of CPU each)
        pc.split_pattern(_pa_strings(("a|b",)), "|")
        self.path = path
        self._schema = schema()
        self._writer = pq.ParquetWriter(
            str(path),
            self._schema,
            compression="zstd",
            # min/max per row group only where a filter of the browser can use them
            write_statistics=list(_STATISTICS),
            # numbers and text that are (nearly) all distinct: a dictionary only costs time and
            # space; record, line and POS grow row by row: deltas are smaller than zstd'd values
            use_dictionary=[
                n
                for n, t in COLUMNS.items()
                if t not in ("int64", "float64") and n not in _NO_DICTIONARY
            ],
            column_encoding={n: "DELTA_BINARY_PACKED" for n in ("record", "line", "pos")},
        )
        self._pending: list[Rows] = []
        self._pending_rows = 0
        self.rows = 0
        self.records = 0
        self._tx_flags: dict[str, tuple[bool, bool, bool]] = {}
        #: per gene: alleles whose top row is HIGH or MODERATE
        self.high: Counter[str] = Counter()
        self.moderate: Counter[str] = Counter()
        # Row groups are converted and written by one background thread (Arrow's compute
        # and Parquet writing release the GIL, so this overlaps with the annotation). After
        # each of its ~100 Arrow calls per group it must take the GIL back from the
        # annotating thread, which gives it up only every sys.getswitchinterval() (5 ms):
        # the writer would spend seconds waiting and the annotation would wait for it. So
        # while a writer is open the interval is 0.5 ms (_fast_switching). At most
        # IN_FLIGHT groups wait while another is written, which bounds memory.
        _fast_switching(True)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gas-results-store")
        #: the entries' split into columns: compiled (the kernel's) or Arrow's (the reference)
        self._entry_columns = entry_columns_function()
        self._in_flight: deque[Future[None]] = deque()

    def add(self, rows: Rows) -> None:
        """A chunk's rows (finished: :meth:`Rows.finish`)."""
        if not len(rows):
            return
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._pending_rows = 0
        while len(self._in_flight) >= self.IN_FLIGHT:
            self._in_flight.popleft().result()  # raises what writing that group raised
        self._in_flight.append(self._thread.submit(self._write_group, pending))

    def _write_group(self, pending: list[Rows]) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        for rows in pending:
            self._tx_flags.update(rows.tx_flags)
        tables = [r.tables for r in pending if r.tables is not None and r.n]
        records, alleles = (
            pa.concat_tables([t[k] for t in tables]).combine_chunks() for k in range(2)
        )
        blob = b"\n".join([t[2][0] for t in tables])
        exon = np.concatenate([t[2][1] for t in tables])
        n = len(exon)
        columns: dict[str, Any] = {}
        # per record and per allele: one value each, repeated on their rows (``take``)
        n_records = records.num_rows
        by_record = np.repeat(np.arange(n_records), records["rows"].to_numpy())
        columns["record"] = pa.array(
            np.arange(self.records, self.records + n_records, dtype=np.int64)[by_record]
        )
        by_record_pa = pa.array(by_record)
        for name in RECORD_COLUMNS[1:]:
            columns[name] = records[name].take(by_record_pa)
        allele_rows = alleles["rows"].to_numpy()
        by_allele = pa.array(np.repeat(np.arange(alleles.num_rows), allele_rows))
        for name in ALLELE_COLUMNS:
            columns[name] = alleles[name].take(by_allele)
        # an allele's top row is its first: ANN entries are written most severe first
        top = np.zeros(n, dtype=bool)
        top[np.cumsum(allele_rows) - allele_rows] = True
        # per row: the ANN entry's 16 fields, as typed columns
        columns.update(self._entry_columns(blob, n, exon))
        terms = pa.array([t for t, _ in so_terms()])
        columns["severity"] = pc.cast(
            pc.fill_null(pc.index_in(columns["most_severe"], value_set=terms), len(terms)),
            pa.int16(),
        )
        transcript = columns["transcript"]
        columns["top"] = pa.array(top)
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

        mask = pc.and_(
            table["top"], pc.is_in(table["impact"], value_set=_pa_strings(("HIGH", "MODERATE")))
        )
        chosen = table.select(["gene", "impact"]).filter(mask)  # (not every column)
        for gene, impact in zip(
            chosen["gene"].to_pylist(), chosen["impact"].to_pylist(), strict=True
        ):
            if gene:
                (self.high if impact == "HIGH" else self.moderate)[gene] += 1

    def close(self) -> None:
        try:
            self._flush()
            while self._in_flight:
                self._in_flight.popleft().result()
        finally:
            try:
                self._thread.shutdown(wait=True)
                self._writer.close()
            finally:
                _fast_switching(False)  # whatever closing raised

    def top_genes(self, n: int = 20) -> list[dict[str, object]]:
        """The genes with the most HIGH, then MODERATE, alleles (their top rows)."""
        genes = set(self.high) | set(self.moderate)
        ranked = sorted(genes, key=lambda g: (-self.high[g], -self.moderate[g], g))[:n]
        return [{"gene": g, "high": self.high[g], "moderate": self.moderate[g]} for g in ranked]


def entry_columns_function() -> Any:
    """``(blob, n, exon) -> {column: Arrow array}``: the compiled split of ANN entries when the
    engine's kernel is in use (``GAS_ENGINE_KERNEL``), else :func:`entry_columns_arrow`."""
    from .. import kernel

    compiled = kernel.select().entry_columns
    if compiled is None:
        return lambda blob, n, exon: entry_columns_arrow(_entries(blob), exon)

    def split(blob: bytes, n: int, exon: Any) -> dict[str, Any]:
        import numpy as np

        text, (distance, valid) = compiled(blob, n, np.ascontiguousarray(exon, dtype=np.uint8))
        columns = {name: _string_array(*parts) for name, parts in text.items()}
        columns["distance"] = _with_nulls(distance, valid)
        return columns

    return split


def record_columns(written: list[str], keep: Any) -> tuple[Any, Any, Any, Any]:
    """POS, ID, REF and FILTER (Arrow arrays; an ID or FILTER ``.`` is null) of the written
    VCF lines at positions ``keep``: compiled when the engine's kernel is in use (each line
    read up to its eighth column only), else with Arrow (the reference; the tests compare
    both): cut from the lines when they are short, else from their first eight columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from .. import kernel

    compiled = kernel.select().record_columns
    if compiled is not None:
        pos, text = compiled(written, np.ascontiguousarray(keep, dtype=np.int64))
        return (
            _with_nulls(pos, None),
            *(_string_array(*text[name]) for name in ("id", "ref", "filter")),
        )
    if len(keep) != len(written):
        written = [written[i] for i in keep.tolist()]
    if sum(map(len, written)) > _WRITTEN_BYTES * len(written):  # samples: copy less
        written = ["\t".join(line.split("\t", 8)[:8]) for line in written]
    cut = pc.split_pattern(pa.array(written, pa.string()), "\t", max_splits=7)
    pos, id_array, ref, filters = (pc.list_element(cut, k) for k in (1, 2, 3, 6))
    return pos.cast(pa.int64()), _none_if_dot(id_array), ref, _none_if_dot(filters)


def _entries(blob: bytes) -> Any:
    import pyarrow as pa

    return pa.array(blob.decode().split("\n"), pa.string())


def _validity(valid: Any) -> tuple[Any, int]:
    """An Arrow validity bitmap from one byte per value (None when all are valid)."""
    import numpy as np
    import pyarrow as pa

    nulls = len(valid) - int(np.count_nonzero(valid))
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(valid.view(bool), bitorder="little")), nulls


def _string_array(offsets: Any, data: Any, valid: Any) -> Any:
    import pyarrow as pa

    bitmap, nulls = _validity(valid)
    return pa.StringArray.from_buffers(
        len(valid), pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls
    )


def _with_nulls(values: Any, valid: Any) -> Any:
    """An int64 Arrow array of ``values`` (a contiguous numpy array; no copy), null where
    ``valid`` is 0 (None: none is)."""
    import pyarrow as pa

    bitmap, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.Array.from_buffers(
        pa.int64(), len(values), [bitmap, pa.py_buffer(values)], null_count=nulls
    )


def entry_columns_arrow(entry: Any, exon: Any) -> dict[str, Any]:
    """The store's per-row columns from the ANN entries (an Arrow string array; ``exon``: one
    flag per row, its rank is an exon's) with Arrow's compute functions: the reference of the
    compiled ``output._format.entry_columns`` (the tests compare both)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = pc.split_pattern(entry, "|")
    field = [pc.list_element(fields, i) if i not in (0, 11, 12) else None for i in range(16)]
    intergenic = pc.equal(field[5], "intergenic_region")
    gene_feature = pc.equal(field[5], "gene")
    consequence = _none_if_empty(field[1])
    columns: dict[str, Any] = {}
    columns["consequence"] = consequence
    columns["most_severe"] = pc.list_element(pc.split_pattern(consequence, "&"), 0)
    columns["impact"] = _none_if_empty(field[2])
    columns["gene"] = _unescape(_none_if(field[3], intergenic))
    columns["gene_id"] = _unescape(_none_if(field[4], intergenic))
    columns["transcript"] = _unescape(_none_if(field[6], pc.or_(intergenic, gene_feature)))
    columns["biotype"] = _unescape(_none_if_empty(field[7]))
    rank = _none_if_empty(field[8])
    exon = pa.array(exon, pa.bool_())
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
    return columns


_allocator_set = False
_switching_lock = threading.Lock()
_switching_users = 0
_switch_interval = 0.005
#: the GIL switch interval while a writer is open (see ResultsStoreWriter.__init__)
FAST_SWITCH_INTERVAL = 0.0005


def _fast_switching(on: bool) -> None:
    """Shorten the interpreter's GIL switch interval while any writer is open (restored
    when the last one closes)."""
    global _switching_users, _switch_interval
    with _switching_lock:
        if on:
            if _switching_users == 0:
                _switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_interval, FAST_SWITCH_INTERVAL))
            _switching_users += 1
        else:
            _switching_users -= 1
            if _switching_users == 0:
                sys.setswitchinterval(_switch_interval)


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


def _vcf_unescape(value: str | None) -> str | None:
    """A VCF INFO value as text: its percent-encoding (VCF 4.3 § 1.2: ``%2C`` for a comma …)
    undone, so ClinVar's ``Benign%2C_other`` reads ``Benign,_other`` (ClinVar's own underscores
    for spaces are kept: they are how its terms are written in every VCF a user compares)."""
    if not value or "%" not in value:
        return value
    from urllib.parse import unquote

    return unquote(value)


def add_unannotated_rows(rows: Rows, chunk: Any, r: int, tag: str | None) -> None:
    """Rows for the alleles of record ``r`` of a chunk, which has no annotation (``tag``: the
    INFO item saying why, e.g. ``GAS_LIFTOVER=WARNING_NOT_LIFTED:…``)."""
    parts = chunk.records[r]
    q0, q1 = chunk.first_q[r], chunk.first_q[r + 1]
    alts = parts[4].split(",")
    entry = _NO_ANNOTATION + (tag.partition("=")[2] if tag else "")
    for k, q in enumerate(range(q0, q1)):
        rows.entries.append(entry)
        rows.alts[len(rows.allele_q)] = alts[k] if k < len(alts) else parts[4]
        rows.add_allele(q, 1)


def _grch38(lift: tuple[object, str] | None) -> tuple[str | None, int | None]:
    """Where a lifted record was annotated (from its ``GAS_GRCh38=`` INFO item)."""
    if lift is None or not lift[1].startswith("GAS_GRCh38="):
        return None, None
    name, _, at = lift[1][len("GAS_GRCh38=") :].rpartition(":")
    return name, int(at)


def _rsid_search(ident: str) -> bool:
    return bool(RSID_RE.search(ident))


def _none_if_dot(values: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(values, "."), pa.scalar(None, pa.string()), values)


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
