"""The results query port on DuckDB: SQL over a job's Parquet results store.

DuckDB reads the Parquet file in place (column pruning, row-group statistics), in-process,
with no server; a page of a million-variant store answers in milliseconds to tens of
milliseconds (bench/results.py). Every user value is a bound parameter; the file path is the
only text put into the SQL and comes from the service, never from a request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gas.services.variants import ANSWER_COLUMNS, VariantFilter, VariantPage, normalize_chrom

_NORM_CHROM = (
    "CASE WHEN upper(chrom) IN ('M', 'MT', 'CHRM', 'CHRMT') THEN 'MT' "
    "ELSE regexp_replace(chrom, '^[cC][hH][rR]', '') END"
)
# ... and the transcript id last, so that ties (two equally good transcripts) are broken the
# same way by every query: pages, exports and the row shown for an allele always agree
_BEST_FIRST = (
    "top DESC, severity ASC NULLS LAST, mane DESC, canonical DESC, coding DESC, "
    "transcript ASC NULLS LAST, gene_id ASC NULLS LAST"
)
_ORDER = {
    "pos": "record, allele",
    "impact": "severity ASC NULLS LAST, record, allele",
    "gene": "gene ASC NULLS LAST, record, allele",
}


def _source(store: Path) -> str:
    text = str(Path(store).resolve())
    return "read_parquet('" + text.replace("'", "''") + "')"


class DuckDBResults:
    """Queries results stores; safe to share between threads (one cursor per query)."""

    def __init__(self, *, threads: int = 2, memory_limit: str = "512MB"):
        import duckdb

        self._db = duckdb.connect(
            ":memory:", config={"threads": threads, "memory_limit": memory_limit}
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _cursor(self):  # type: ignore[no-untyped-def]
        with self._lock:
            return self._db.cursor()

    def _selection(self, store: Path, f: VariantFilter) -> tuple[str, list[Any]]:
        """SQL giving the selected rows (one per allele unless all transcripts), and params."""
        where: list[str] = []
        params: list[Any] = []
        if f.chrom:
            where.append(f"{_NORM_CHROM} = ?")
            params.append(normalize_chrom(f.chrom))
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
            where.append("contains(lower(coalesce(clinvar, '')), ?)")
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
        if f.consequence:
            where.append("list_contains(string_split(consequence, '&'), ?)")
            params.append(f.consequence)
        if f.impacts:
            where.append(f"impact IN ({', '.join('?' for _ in f.impacts)})")
            params.extend(f.impacts)
        if f.q:
            needle = f.q.lower()
            fields = ("gene", "id", "hgvsc", "hgvsp", "known_ids", "transcript")
            where.append(
                "(" + " OR ".join(f"contains(lower(coalesce({c}, '')), ?)" for c in fields) + ")"
            )
            params.extend([needle] * len(fields))
        if not f.all_transcripts and not f.row_filters:
            where.append("top")
        sql = f"SELECT * FROM {_source(store)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if not f.all_transcripts and f.row_filters:
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

    def variants(self, store: Path, selection: VariantFilter) -> VariantPage:
        sql, params = self._selection(store, selection)
        order = self._order(selection)
        cur = self._cursor()
        try:
            total = cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
            cols = ", ".join(ANSWER_COLUMNS)
            rows = cur.execute(
                f"SELECT {cols} FROM ({sql}) ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, selection.limit, selection.offset],
            ).fetchall()
        finally:
            cur.close()
        variants = [dict(zip(ANSWER_COLUMNS, row, strict=True)) for row in rows]
        return VariantPage(int(total), selection.offset, selection.limit, variants)

    def iterate(
        self, store: Path, selection: VariantFilter, *, batch_rows: int = 10_000
    ) -> Iterator[dict[str, Any]]:
        sql, params = self._selection(store, selection)
        cols = ", ".join(ANSWER_COLUMNS)
        cur = self._cursor()
        try:
            cur.execute(f"SELECT {cols} FROM ({sql}) ORDER BY {self._order(selection)}", params)
            while batch := cur.fetchmany(batch_rows):
                for row in batch:
                    yield dict(zip(ANSWER_COLUMNS, row, strict=True))
        finally:
            cur.close()

    def records(self, store: Path, selection: VariantFilter) -> list[int]:
        sql, params = self._selection(store, selection)
        cur = self._cursor()
        try:
            rows = cur.execute(
                f"SELECT DISTINCT record FROM ({sql}) ORDER BY record", params
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
