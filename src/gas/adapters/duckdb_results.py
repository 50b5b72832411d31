"""The results query port on DuckDB: SQL over a job's Parquet results store.

DuckDB reads the Parquet file in place (column pruning, row-group statistics), in-process,
with no server. Every user value is a bound parameter; the file path is the only text put into
the SQL and comes from the service, never from a request.

A page is answered in two steps, so that it costs about the same on a million variants as on
a thousand (bench/results.py):

1. **keys**: the selected rows, as a few narrow columns (the row's position in the file, its
   record and allele, what orders them), filtered — with row-group statistics skipping most
   of the file for a region, a gene or a record — and, for one row per allele, the best row
   of each allele; counted, ordered, and cut to the page;
2. **rows**: the page's rows fetched by their position in the file (``file_row_number``),
   reading only the row groups that hold them.

Ties between equally good transcripts are broken by the row's position in the file (the
order of the ANN entries), so that pages, downloads and the row shown for an allele agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gas.annotation.reference.contigs import normalize_chrom
from gas.services.variants import ANSWER_COLUMNS, VariantFilter, VariantPage

log = logging.getLogger(__name__)

_BEST_FIRST = (
    "top DESC, severity ASC NULLS LAST, mane DESC, canonical DESC, coding DESC, file_row_number"
)
_ORDER = {
    "pos": "record, allele",
    "impact": "severity ASC NULLS LAST, record, allele",
    "gene": "gene ASC NULLS LAST, record, allele",
}
#: the narrow columns of the keys step (everything an order or the best-row choice needs)
_KEYS = "file_row_number, record, allele, top, severity, mane, canonical, coding, gene"
_ANSWER = ", ".join(ANSWER_COLUMNS)


def _source(store: Path) -> str:
    text = str(Path(store).resolve())
    return "read_parquet('" + text.replace("'", "''") + "', file_row_number = true)"


def chrom_names(name: str) -> list[str]:
    """The spellings of a chromosome name that ``normalize_chrom`` makes ``name``'s: ``1``,
    ``chr1``, ``Chr1``, ``CHR1``; ``M``, ``MT``, ``chrM`` …; ``X``, ``x``, ``chrX`` …
    (An exact list lets row-group statistics skip the other chromosomes.)"""
    target = normalize_chrom(name)
    bare = ["M", "MT"] if target == "MT" else [target]
    forms = {b for base in bare for b in (base, base.lower(), base.upper(), base.capitalize())}
    return sorted(
        p + b for p in ("", "chr", "Chr", "CHR") for b in forms if normalize_chrom(p + b) == target
    )


class DuckDBResults:
    """Queries results stores; safe to share between threads (one cursor per query)."""

    def __init__(
        self,
        *,
        threads: int = 2,
        memory_limit: str = "512MB",
        temp_directory: Path | None = None,
    ):
        import duckdb

        config: dict[str, Any] = {"threads": threads, "memory_limit": memory_limit}
        if temp_directory is not None:  # where big sorts (a whole download) may spill
            config["temp_directory"] = str(temp_directory)
        self._db = duckdb.connect(":memory:", config=config)
        try:  # keep each file's footer parsed between queries (stores never change)
            self._db.execute("LOAD parquet")
            self._db.execute("SET parquet_metadata_cache = true")
        except duckdb.Error:  # an older DuckDB: only slower
            log.info("DuckDB's Parquet metadata cache is not available", exc_info=True)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _cursor(self) -> Any:
        with self._lock:
            return self._db.cursor()

    # --- SQL -------------------------------------------------------------------------------

    @staticmethod
    def _where(f: VariantFilter) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if f.chrom:
            names = chrom_names(f.chrom)
            where.append(f"chrom IN ({', '.join('?' for _ in names)})")
            params.extend(names)
        if f.start is not None:
            where.append("pos >= ?")
            params.append(f.start)
        if f.end is not None:
            where.append("pos <= ?")
            params.append(f.end)
        if f.known is not None:
            where.append("known = ?")
            params.append(f.known)
        if f.clinvar:
            where.append("contains(lower(clinvar), ?)")
            params.append(f.clinvar.lower())
        if f.max_af is not None:
            where.append("(af IS NULL OR af <= ?)")
            params.append(f.max_af)
        if f.record is not None:
            where.append("record = ?")
            params.append(f.record)
        if f.gene:
            where.append("upper(gene) = ?")
            params.append(f.gene.upper())
        if f.consequence:  # one of the '&'-joined terms, exactly (string functions: fast)
            term = f.consequence
            where.append(
                "(consequence = ? OR starts_with(consequence, ?) OR ends_with(consequence, ?) "
                "OR contains(consequence, ?))"
            )
            params += [term, f"{term}&", f"&{term}", f"&{term}&"]
        if f.impacts:
            where.append(f"impact IN ({', '.join('?' for _ in f.impacts)})")
            params.extend(f.impacts)
        if f.q:
            # one lower-case column holds gene, transcript, HGVS and ID (results_store.py)
            where.append("contains(search, ?)")
            params.append(f.q.lower())
        return where, params

    def _keys(self, store: Path, f: VariantFilter) -> tuple[str, list[Any]]:
        """SQL of the selected rows' keys (one row per allele unless all transcripts)."""
        where, params = self._where(f)
        if not f.all_transcripts and not f.row_filters:
            where.append("top")  # the allele's best row, as written
        sql = f"SELECT {_KEYS} FROM {_source(store)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if not f.all_transcripts and f.row_filters:  # the best row of each allele that passes
            sql += (
                f" QUALIFY row_number() OVER (PARTITION BY record, allele ORDER BY {_BEST_FIRST})"
                " = 1"
            )
        return sql, params

    @staticmethod
    def _order(selection: VariantFilter) -> str:
        order = _ORDER[selection.sort]
        if selection.all_transcripts:
            order += f", {_BEST_FIRST}"
        return order

    def _rows(self, cur: Any, store: Path, positions: list[int]) -> list[dict[str, Any]]:
        """The answer rows at ``positions`` in the file, in that order."""
        if not positions:
            return []
        found = cur.execute(
            f"SELECT file_row_number, {_ANSWER} FROM {_source(store)} "
            "SEMI JOIN (SELECT unnest(?::BIGINT[]) AS n) ON file_row_number = n "
            "WHERE file_row_number BETWEEN ? AND ?",
            [positions, min(positions), max(positions)],
        ).fetchall()
        by_position = {row[0]: dict(zip(ANSWER_COLUMNS, row[1:], strict=True)) for row in found}
        return [by_position[p] for p in positions]

    # --- the port ----------------------------------------------------------------------------

    def variants(self, store: Path, selection: VariantFilter) -> VariantPage:
        keys, params = self._keys(store, selection)
        order = self._order(selection)
        paging = [selection.limit, selection.offset]
        cur = self._cursor()
        try:
            if selection.row_filters and not selection.all_transcripts:
                # the best row of each allele is costly to find: once, for the count and page
                total, page = cur.execute(
                    f"WITH sel AS MATERIALIZED ({keys}) "
                    "SELECT (SELECT count(*) FROM sel), "
                    f"(SELECT list(file_row_number ORDER BY {order}) FROM "
                    f"(SELECT * FROM sel ORDER BY {order} LIMIT ? OFFSET ?))",
                    [*params, *paging],
                ).fetchone()
            else:  # plain scans: counted from statistics and pruned pages, a top-N for the page
                total = cur.execute(f"SELECT count(*) FROM ({keys})", params).fetchone()[0]
                page = [
                    n
                    for (n,) in cur.execute(
                        f"SELECT file_row_number FROM ({keys}) ORDER BY {order} LIMIT ? OFFSET ?",
                        [*params, *paging],
                    ).fetchall()
                ]
            variants = self._rows(cur, store, [int(n) for n in page or []])
        finally:
            cur.close()
        return VariantPage(int(total), selection.offset, selection.limit, variants)

    def iterate(
        self, store: Path, selection: VariantFilter, *, batch_rows: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        keys, params = self._keys(store, selection)
        order = ", ".join(f"k.{term.strip()}" for term in self._order(selection).split(","))
        cur = self._cursor()
        try:
            cur.execute(
                f"SELECT {', '.join('s.' + c for c in ANSWER_COLUMNS)} "
                f"FROM {_source(store)} s JOIN ({keys}) k USING (file_row_number) "
                f"ORDER BY {order}",
                params,
            )
            while batch := cur.fetchmany(batch_rows):
                for row in batch:
                    yield dict(zip(ANSWER_COLUMNS, row, strict=True))
        finally:
            cur.close()

    def records(self, store: Path, selection: VariantFilter) -> list[int]:
        keys, params = self._keys(store, selection)
        cur = self._cursor()
        try:
            rows = cur.execute(
                f"SELECT DISTINCT record FROM ({keys}) ORDER BY record", params
            ).fetchall()
        finally:
            cur.close()
        return [int(r[0]) for r in rows]

    def facets(self, store: Path) -> dict[str, Any]:
        source = _source(store)
        cur = self._cursor()
        try:
            chroms = cur.execute(
                f"SELECT chrom, count(*) FROM {source} WHERE top GROUP BY chrom "
                "ORDER BY min(record)"
            ).fetchall()
            consequences = cur.execute(
                f"SELECT t, count(*) FROM (SELECT unnest(string_split(consequence, '&')) AS t "
                f"FROM {source} WHERE consequence IS NOT NULL) GROUP BY t ORDER BY count(*) DESC"
            ).fetchall()
            impacts = cur.execute(
                f"SELECT impact, count(*) FROM {source} WHERE top AND impact IS NOT NULL "
                "GROUP BY impact"
            ).fetchall()
        finally:
            cur.close()
        return {
            "chromosomes": {c: int(n) for c, n in chroms},
            "consequences": {t: int(n) for t, n in consequences},
            "impacts": {i: int(n) for i, n in impacts},
        }
