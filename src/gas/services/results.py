"""A job's results, read: the variant table, the summary, the downloads.

The one place the JSON API and the pages ask (ARCHITECTURE.md, "the read side of the web"),
with the same access rules as every job route: NotFound for an unknown job, Forbidden for
someone else's, Conflict (with a message for the user) when the results cannot be read now —
not finished, failed, archived (Free plan: upgrade), being restored, or annotated before GAS
wrote a results store (re-run it).

- The **summary** comes from the job's ``summary.json``, which stays hot when the results are
  archived: it is always shown once the job has COMPLETED.
- The **variant table** is the job's results store (Parquet) queried through ``ResultsQuery``
  (services/variants.py) on a local copy (``LocalFiles``, the adapters' StoreCache).
- **Downloads**: the annotated VCF (plain, by a signed URL as before, or filtered), BGZF
  (``vcf.gz``) and its tabix index (``tbi``), and the table as TSV or JSON. Every filter of
  the table applies to them: a filtered VCF holds the header and the records with at least
  one allele the filter selects (``ResultsQuery.records``), in the file's order. The VCF is
  streamed, never loaded whole; files are built in scratch directories that are always
  removed, and the full BGZF file and its index are built once and cached.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gas.domain.assembly import job_assembly
from gas.domain.errors import Conflict
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.users import User
from gas.ports import Clock, ObjectStore, UnitOfWork
from gas.services.jobs import get_job
from gas.services.variants import (
    ANSWER_COLUMNS,
    FILTER_PARAMS,
    ResultsQuery,
    VariantFilter,
    VariantPage,
)

log = logging.getLogger(__name__)

FORMATS = ("vcf", "vcf.gz", "tbi", "tsv", "json")
NO_STORE = (
    "This job was annotated before the results browser existed; re-run it to browse, filter "
    "and export its variants."
)
STORE_MISSING = "The variant table of this job is not available; re-run the job to rebuild it."
NO_SUMMARY = "This job has no summary (it was annotated before GAS kept one)."
SUMMARY_MISSING = "The summary of this job is not available."
UNSORTED = (
    "The annotated VCF is not sorted by position (records of a chromosome must be together, "
    "in increasing position), so it cannot have a tabix index. Download format=vcf.gz and "
    "sort it (bcftools sort), or submit a sorted file."
)
CHUNK = 1024 * 1024
TSV_NULL = ""  # how a missing value is written in TSV


# --- ports this module needs beyond gas.ports ----------------------------------------------------


class LocalFiles(Protocol):
    """Local files for the query engine and htslib (adapters/store_cache.py)."""

    def local(self, key: str, suffix: str = ".parquet") -> contextlib.AbstractContextManager[Path]:
        """The object ``key`` as a local file while the block runs; KeyError if missing."""
        ...

    def derived(
        self, name: str, build: Callable[[Path], None]
    ) -> contextlib.AbstractContextManager[Path]:
        """A file built once by ``build(path)`` and kept under ``name``."""
        ...

    def scratch(self) -> contextlib.AbstractContextManager[Path]:
        """A private temporary directory, removed when the block ends."""
        ...

    def discard(self, key: str, suffixes: tuple[str, ...] = (".parquet",)) -> None: ...


class BgzfWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class Bgzip(Protocol):
    """BGZF and tabix (adapters/htslib.py)."""

    def bgzf_writer(self, path: Path) -> BgzfWriter: ...

    def tabix_index(self, bgzf: Path, index: Path) -> None:
        """OSError when htslib cannot index the file (e.g. it is not sorted)."""
        ...


class _SummaryCache:
    """Parsed summaries by object key (a key's object never changes), most recent kept."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


@dataclass
class ResultsReader:
    """What reading results needs; built once per web process (bootstrap.py)."""

    storage: ObjectStore
    files: LocalFiles
    query: ResultsQuery
    bgzip: Bgzip
    clock: Clock
    summaries: _SummaryCache = field(default_factory=_SummaryCache)


# --- may the user read the results now? ----------------------------------------------------------


def wait_text(expected_at: datetime | None, now: datetime) -> str:
    """How long until ``expected_at``, for people: "expected in about 3 minutes", or
    "any moment now" once it is (nearly) due."""
    if expected_at is None:
        return "expected soon"
    remaining = (_as_utc(expected_at) - _as_utc(now)).total_seconds()
    if remaining <= 10:
        return "any moment now"
    if remaining < 60:
        return "expected in less than a minute"
    minutes = round(remaining / 60)
    if minutes < 2:
        return "expected in about a minute"
    if minutes < 90:
        return f"expected in about {minutes} minutes"
    hours = round(remaining / 3600)
    if hours < 36:
        return f"expected in about {hours} hours"
    return f"expected in about {round(remaining / 86400)} days"


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # stored times are UTC
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def results_unavailable(job: Job, user: User, now: datetime) -> str | None:
    """Why the results of ``job`` cannot be downloaded now, or None if they can."""
    if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
        return f"Job {job.id} is {job.status.value}: its results are not ready yet."
    if job.status is JobStatus.FAILED:
        return f"Job {job.id} failed, so it has no results; see its log for details."
    if job.results_state is ResultsState.ARCHIVED:
        if user.is_premium:
            return (
                "The results of this job were archived; they are about to be restored for "
                "your Premium account. Check back later."
            )
        return (
            "The results of this job were archived when the free download window ended. "
            "Upgrade to Premium to download them."
        )
    if job.results_state is ResultsState.RESTORING:
        wait = wait_text(job.restore_expected_at, now)
        return f"The results of this job are being restored; check back later ({wait})."
    if job.results_state is not ResultsState.AVAILABLE or not job.results_key:
        return "The results of this job are not available."
    return None


def table_unavailable(job: Job, user: User, now: datetime) -> str | None:
    """Why the variant table of ``job`` cannot be read now, or None if it can: the results'
    reasons, or no results store (annotated before GAS wrote one)."""
    problem = results_unavailable(job, user, now)
    if problem is None and job.store_key is None:
        return NO_STORE
    return problem


def _readable_job(
    reader: ResultsReader, uow: UnitOfWork, user: User, job_id: str, *, table: bool
) -> Job:
    job = get_job(uow, job_id, user.id)  # NotFound / Forbidden
    now = reader.clock.now()
    problem = table_unavailable(job, user, now) if table else results_unavailable(job, user, now)
    if problem:
        if job.results_key and job.results_state is not ResultsState.AVAILABLE:
            forget_local_copies(reader, job)  # archived: no local copies to keep meanwhile
        raise Conflict(problem)
    return job


def forget_local_copies(reader: ResultsReader, job: Job) -> None:
    """Drop the web's cached copies of the job's results store and of the downloads built
    from its VCF (e.g. once the job is archived or deleted); they are fetched or built again
    if the results come back."""
    if job.store_key:
        reader.files.discard(job.store_key)
    if job.results_key:
        reader.files.discard(job.results_key, (".vcf.gz", ".vcf.gz.tbi"))


@contextlib.contextmanager
def _store(reader: ResultsReader, job: Job) -> Iterator[Path]:
    assert job.store_key is not None
    try:
        with reader.files.local(job.store_key) as path:
            yield path
    except KeyError:
        log.warning("job %s: results store %s is missing from storage", job.id, job.store_key)
        raise Conflict(STORE_MISSING) from None


# --- the variant table ---------------------------------------------------------------------------


def job_variants(
    reader: ResultsReader, uow: UnitOfWork, user: User, job_id: str, selection: VariantFilter
) -> VariantPage:
    """A page of the job's variants that pass ``selection`` (services/variants.py)."""
    job = _readable_job(reader, uow, user, job_id, table=True)
    with _store(reader, job) as path:
        return reader.query.variants(path, selection)


def job_facets(reader: ResultsReader, uow: UnitOfWork, user: User, job_id: str) -> dict[str, Any]:
    """What the table's filters can take, with counts (chromosomes, consequences, impacts)."""
    job = _readable_job(reader, uow, user, job_id, table=True)
    with _store(reader, job) as path:
        return reader.query.facets(path)


# --- the summary ---------------------------------------------------------------------------------


def job_summary(reader: ResultsReader, uow: UnitOfWork, user: User, job_id: str) -> dict[str, Any]:
    """The job's summary (see ``summary_json``), also while its results are archived or
    being restored: the summary stays hot. Conflict until the job has COMPLETED."""
    job = get_job(uow, job_id, user.id)
    now = reader.clock.now()
    if job.status is not JobStatus.COMPLETED:
        raise Conflict(results_unavailable(job, user, now) or "The job has not completed.")
    if not job.summary_key:
        raise Conflict(NO_SUMMARY)
    key = job.summary_key
    try:
        data = reader.summaries.get(key, lambda: _load_summary(reader.storage, key))
    except KeyError:
        log.warning("job %s: summary %s is missing from storage", job.id, key)
        raise Conflict(SUMMARY_MISSING) from None
    return summary_json(job, data, table_problem=table_unavailable(job, user, now))


def _load_summary(storage: ObjectStore, key: str) -> dict[str, Any]:
    with storage.open(key) as fh:
        data = json.loads(fh.read().decode("utf-8"))
    return data if isinstance(data, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def summary_json(job: Job, data: dict[str, Any], *, table_problem: str | None) -> dict[str, Any]:
    """The API's and the details page's summary of a job, from its ``summary.json``.

    Transcript-level runs (a reference bundle) count consequences and impacts for every
    allele (``consequence_scope: "all"``); gene-level runs (the built-in gene table) only for
    mitochondrial variants (``"mitochondrial"``), or none (null)."""
    inputs, counts = _dict(data.get("input")), _dict(data.get("counts"))
    records = _int(inputs.get("records"))
    consequences = _dict(data.get("consequences"))
    scope: str | None = "all" if consequences else None
    if not consequences and data.get("mitochondrial"):
        consequences, scope = _dict(data.get("mitochondrial")), "mitochondrial"
    known_section = _dict(data.get("known_variants"))
    if known_section:
        known = {
            "known": _int(known_section.get("known_records")),
            "novel": _int(known_section.get("novel_records")),
            "basis": "an rs id in the input or a match in the reference's known variants",
        }
    else:
        known = {
            "known": _int(counts.get("known_by_id")),
            "novel": _int(counts.get("novel")),
            "basis": "an rs id in the input's ID column",
        }
    titv = _dict(data.get("titv"))
    assembly = job_assembly(job)
    engine = _dict(data.get("engine"))
    return {
        "job_id": job.id,
        "variants": records,
        "alleles": _int(inputs.get("alleles")),
        "level": engine.get("level"),
        "reference": data.get("reference"),
        "consequence_scope": scope,
        "by_consequence": _dict(consequences.get("most_severe_by_allele")),
        "by_impact": _dict(consequences.get("impact_by_allele")),
        "by_class": {k: v for k, v in _dict(counts.get("by_class")).items() if v},
        "by_chromosome": _dict(counts.get("by_chromosome")),
        "by_location": _dict(consequences.get("location_by_record"))
        or _dict(counts.get("by_location")),
        "titv": {
            "transitions": _int(titv.get("transitions")),
            "transversions": _int(titv.get("transversions")),
            "ratio": titv.get("ratio") if isinstance(titv.get("ratio"), int | float) else None,
        },
        "known": known,
        "top_genes": [g for g in data.get("top_genes") or [] if isinstance(g, dict)],
        "assembly": {
            "requested": assembly.requested,
            "input": assembly.input,
            "annotated_on": assembly.annotated_on,
            "lifted": assembly.lifted,
            "evidence": assembly.evidence,
            "warnings": list(assembly.warnings),
            "description": assembly.describe(),
        },
        "warnings": [w for w in data.get("warnings") or [] if isinstance(w, str)],
        "results": {
            "state": job.results_state.value if job.results_state else None,
            "browsable": table_problem is None,
            "message": table_problem,
        },
    }


# --- downloads -----------------------------------------------------------------------------------


@dataclass
class Download:
    """A file to send: ``body`` (streamed; call ``close`` if it is not read to its end) or a
    redirect to ``url`` (a short-lived signed link to the stored object)."""

    file_name: str
    content_type: str
    body: Iterable[bytes] | None = None
    size: int | None = None
    url: str | None = None

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


class _Body:
    """A response body that releases what it holds (open files, pinned cache files, a
    query's cursor) when it is read to its end or closed, whichever comes first — also if
    it is never read at all (a generator's ``finally`` would not run then)."""

    def __init__(self, chunks: Iterator[bytes], stack: contextlib.ExitStack) -> None:
        self._chunks = chunks
        self._stack = stack
        self._closed = False

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            self._stack.close()


def _file_chunks(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(CHUNK):
        yield chunk


def _file_download(path: Path, file_name: str, content_type: str) -> Download:
    """Send ``path``; it is opened now, so it may be removed (a scratch directory) or
    evicted (a cache file) while it is sent."""
    stack = contextlib.ExitStack()
    fh = stack.enter_context(open(path, "rb"))  # noqa: SIM115 - closed by the body
    size = path.stat().st_size
    return Download(file_name, content_type, body=_Body(_file_chunks(fh), stack), size=size)


def is_filtered(selection: VariantFilter) -> bool:
    """Whether ``selection`` leaves out any variant (sorting and transcripts do not)."""
    return bool(
        selection.gene
        or selection.consequence
        or selection.impacts
        or selection.chrom
        or selection.start is not None
        or selection.end is not None
        or selection.known is not None
        or selection.clinvar
        or selection.max_af is not None
        or selection.q
        or selection.record is not None
    )


def download_names(job: Job, filtered: bool) -> dict[str, str]:
    """The file name of each format: ``sample.annot.vcf``, ``sample.filtered.annot.vcf.gz``,
    ``sample.variants.tsv`` …"""
    assert job.results_key is not None
    name = job.results_key.rsplit("/", 1)[-1].split("~", 1)[-1]
    stem = name.removesuffix(".vcf").removesuffix(".annot")
    part = f"{stem}.filtered" if filtered else stem
    return {
        "vcf": f"{part}.annot.vcf",
        "vcf.gz": f"{part}.annot.vcf.gz",
        "tbi": f"{part}.annot.vcf.gz.tbi",
        "tsv": f"{part}.variants.tsv",
        "json": f"{part}.variants.json",
    }


CONTENT_TYPES = {
    "vcf": "text/plain; charset=utf-8",
    "vcf.gz": "application/gzip",
    "tbi": "application/octet-stream",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json",
}


def export(
    reader: ResultsReader,
    uow: UnitOfWork,
    user: User,
    job_id: str,
    fmt: str,
    selection: VariantFilter,
    *,
    url_ttl: int,
) -> Download:
    """The job's results in ``fmt`` (one of FORMATS), restricted to ``selection``'s variants
    (paging ignored: every matching row). The plain, unfiltered VCF is a redirect to the
    stored object, as before; everything else is streamed. Conflict when the results cannot
    be downloaded now, when a filtered download, TSV or JSON needs the results store a job
    annotated before it existed does not have, or for the index of an unsorted VCF."""
    if fmt not in FORMATS:
        from gas.domain.errors import InvalidInput

        raise InvalidInput(f"'format' must be one of {', '.join(FORMATS)}.")
    filtered = is_filtered(selection)
    needs_table = filtered or fmt in ("tsv", "json")
    job = _readable_job(reader, uow, user, job_id, table=needs_table)
    names = download_names(job, filtered)
    name, content_type = names[fmt], CONTENT_TYPES[fmt]
    assert job.results_key is not None
    if fmt in ("tsv", "json"):
        return _table_download(reader, job, fmt, selection, name)
    if not filtered:
        if fmt == "vcf":
            url = reader.storage.download_url(job.results_key, file_name=name, expires_in=url_ttl)
            return Download(name, content_type, url=url)
        return _full_bgzf_download(reader, job, fmt, name)
    with _store(reader, job) as path:
        records = reader.query.records(path, selection)
    header_line = "##GAS_filter=" + _filter_text(selection)
    if fmt == "vcf":
        return _filtered_vcf(reader, job, records, header_line, name)
    with reader.files.scratch() as scratch:
        gz = scratch / "export.vcf.gz"
        in_order = _write_bgzf(reader, job, gz, records, header_line)
        if fmt == "vcf.gz":
            return _file_download(gz, name, content_type)
        if not in_order:
            raise Conflict(UNSORTED)
        index = scratch / "export.vcf.gz.tbi"
        reader.bgzip.tabix_index(gz, index)
        return _file_download(index, name, content_type)


def _filter_text(selection: VariantFilter) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, v in selection.query_args() if k in FILTER_PARAMS])


def _full_bgzf_download(reader: ResultsReader, job: Job, fmt: str, name: str) -> Download:
    """The whole annotated VCF as BGZF, or its tabix index: built once, then cached (a key's
    object never changes)."""
    assert job.results_key is not None
    base = hashlib.sha256(job.results_key.encode("utf-8")).hexdigest()
    in_order: list[bool] = []

    def build_bgzf(path: Path) -> None:
        in_order.append(_write_bgzf(reader, job, path, None, None))

    with reader.files.derived(base + ".vcf.gz", build_bgzf) as bgzf:
        if fmt == "vcf.gz":
            return _file_download(bgzf, name, CONTENT_TYPES[fmt])
        if in_order == [False]:
            raise Conflict(UNSORTED)

        def build_index(path: Path) -> None:
            try:
                reader.bgzip.tabix_index(bgzf, path)
            except OSError:
                if not _bgzf_in_order(bgzf):
                    raise Conflict(UNSORTED) from None
                raise

        with reader.files.derived(base + ".vcf.gz.tbi", build_index) as index:
            return _file_download(index, name, CONTENT_TYPES[fmt])


def _bgzf_in_order(path: Path) -> bool:
    order = _Order()
    with gzip.open(path, "rb") as fh:
        for line in _lines(fh):  # type: ignore[arg-type]
            if line.strip() and not line.startswith(b"#"):
                order.see(line)
                if not order.sorted:
                    return False
    return True


# --- the annotated VCF, streamed -----------------------------------------------------------------


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary stream (each with its newline), read in large chunks."""
    rest = b""
    while chunk := stream.read(CHUNK):
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest + b"\n"


class _Order:
    """Whether records come in an order tabix can index: each chromosome in one block,
    positions not decreasing within it."""

    def __init__(self) -> None:
        self.sorted = True
        self._chrom: bytes | None = None
        self._pos = -1
        self._done: set[bytes] = set()

    def see(self, line: bytes) -> None:
        if not self.sorted:
            return
        chrom, _, rest = line.partition(b"\t")
        pos_text = rest.partition(b"\t")[0]
        try:
            pos = int(pos_text)
        except ValueError:
            self.sorted = False
            return
        if chrom != self._chrom:
            if chrom in self._done:
                self.sorted = False
                return
            if self._chrom is not None:
                self._done.add(self._chrom)
            self._chrom, self._pos = chrom, pos
        elif pos < self._pos:
            self.sorted = False
        else:
            self._pos = pos


def _selected_lines(
    stream: BinaryIO, records: list[int] | None, header_line: str | None
) -> Iterator[bytes]:
    """The annotated VCF's header, then its records whose ordinal (0-based) is in
    ``records`` (sorted; None for every record). ``header_line`` goes before ``#CHROM``."""
    ordinal = -1
    want = iter(records) if records is not None else None
    next_wanted = next(want, None) if want is not None else None
    for line in _lines(stream):
        if line.startswith(b"#"):
            if header_line and line.startswith(b"#CHROM"):
                yield header_line.encode("utf-8") + b"\n"
            yield line
            continue
        if not line.strip():
            continue
        ordinal += 1
        if want is None:
            yield line
            continue
        if next_wanted is None:
            return
        if ordinal == next_wanted:
            yield line
            next_wanted = next(want, None)


def _filtered_vcf(
    reader: ResultsReader, job: Job, records: list[int], header_line: str, name: str
) -> Download:
    assert job.results_key is not None
    stack = contextlib.ExitStack()
    try:
        stream = stack.enter_context(reader.storage.open(job.results_key))
    except KeyError:
        raise Conflict("The results of this job are not available.") from None
    lines = _selected_lines(stream, records, header_line)
    return Download(name, CONTENT_TYPES["vcf"], body=_Body(_batched(lines), stack))


def _batched(lines: Iterator[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    buffer: list[bytes] = []
    buffered = 0
    for line in lines:
        buffer.append(line)
        buffered += len(line)
        if buffered >= size:
            yield b"".join(buffer)
            buffer, buffered = [], 0
    if buffer:
        yield b"".join(buffer)


def _write_bgzf(
    reader: ResultsReader,
    job: Job,
    target: Path,
    records: list[int] | None,
    header_line: str | None,
) -> bool:
    """Write the job's annotated VCF (its ``records``, or all) to ``target`` as BGZF.
    Returns whether the records are in an order tabix can index."""
    assert job.results_key is not None
    order = _Order()
    try:
        src = reader.storage.open(job.results_key)
    except KeyError:
        raise Conflict("The results of this job are not available.") from None
    with src as stream:
        writer = reader.bgzip.bgzf_writer(target)
        try:
            for line in _selected_lines(stream, records, header_line):
                if not line.startswith(b"#"):
                    order.see(line)
                writer.write(line)
        finally:
            writer.close()
    return order.sorted


# --- the table as TSV or JSON --------------------------------------------------------------------


def _tsv_value(value: Any) -> str:
    if value is None:
        return TSV_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text


def _table_download(
    reader: ResultsReader, job: Job, fmt: str, selection: VariantFilter, name: str
) -> Download:
    stack = contextlib.ExitStack()
    try:
        path = stack.enter_context(_store(reader, job))
        everything = replace(selection, limit=1, offset=0)
        total = reader.query.variants(path, everything).total
        rows = reader.query.iterate(path, selection)
    except BaseException:
        stack.close()
        raise
    chunks = _tsv_chunks(rows) if fmt == "tsv" else _json_chunks(rows, total)
    return Download(name, CONTENT_TYPES[fmt], body=_Body(chunks, stack))


def _tsv_chunks(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    def lines() -> Iterator[bytes]:
        yield ("\t".join(ANSWER_COLUMNS) + "\n").encode("utf-8")
        for row in rows:
            text = "\t".join(_tsv_value(row.get(c)) for c in ANSWER_COLUMNS) + "\n"
            yield text.encode("utf-8")

    try:
        yield from _batched(lines())
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _json_chunks(rows: Iterator[dict[str, Any]], total: int) -> Iterator[bytes]:
    def parts() -> Iterator[bytes]:
        head = json.dumps({"total": total, "offset": 0, "limit": total})[:-1]
        yield (head + ', "variants": [').encode("utf-8")
        first = True
        for row in rows:
            yield (("" if first else ",") + "\n" + json.dumps(row, default=str)).encode("utf-8")
            first = False
        yield b"\n]}\n"

    try:
        yield from _batched(parts())
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
