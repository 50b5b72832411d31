"""The results browser of the details page: its summary panel and charts (rendered with the
page, see ``results_view``) and the session-authenticated JSON and download routes its script
uses (static/js/results.js).

The routes are the pages' twins of the API's ``/api/v1/jobs/{id}/variants``, ``/summary``
and ``/results?format=``: they call the same functions of ``gas.services.results`` (the one
place that decides who may read what, and when), only authenticated by the session instead of
a bearer token. Errors are ``{"error": message}`` with 400 (a bad filter), 401 (logged out),
403 (someone else's job), 404 (no such job) or 409 (not readable now: not finished, archived,
being restored, or no results store).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, g, redirect, request, stream_with_context

from gas.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.entrypoints.web import container
from gas.entrypoints.web.auth import login_required
from gas.entrypoints.web.errors import MESSAGES, render_error
from gas.services import results
from gas.services.variants import FILTER_PARAMS, IMPACTS, parse_filter

log = logging.getLogger(__name__)

bp = Blueprint("results_pages", __name__)

#: the downloads the details page offers for the rows it shows
PAGE_FORMATS = ("tsv", "vcf.gz", "json", "vcf")
#: what a download keeps of the page's query: the filters (paging does not apply to a file)
DOWNLOAD_PARAMS = (*FILTER_PARAMS, "sort", "transcripts")
NO_STORE_STATE = "no_store"
F = TypeVar("F", bound=Callable[..., Any])


def _json_error(code: int, message: str) -> Any:
    return {"error": message}, code, {"Cache-Control": "no-store"}


def json_login_required(view: F) -> F:
    """Like ``login_required``, but a logged-out caller gets a JSON 401, not the log-in page
    (the page's script tells the user to log in again)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return _json_error(401, "Your session has ended: please log in again.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _read(call: Callable[[], Any]) -> Any:
    """Run a results service call; its refusals as JSON errors (None if it succeeded)."""
    try:
        return call(), None
    except InvalidInput as exc:
        return None, _json_error(400, str(exc))
    except NotFound:
        return None, _json_error(404, MESSAGES[404])
    except Forbidden:
        return None, _json_error(403, MESSAGES[403])
    except Conflict as exc:
        return None, _json_error(409, str(exc))


# --- JSON for the page's script ----------------------------------------------------------------


@bp.get("/annotations/<job_id>/variants.json")
@json_login_required
def variants(job_id: str) -> Any:
    """A page of the job's variants: the same query parameters and answer as
    ``GET /api/v1/jobs/{id}/variants``."""
    c = container()
    try:
        selection = parse_filter(request.args)
    except InvalidInput as exc:
        return _json_error(400, str(exc))
    page, refusal = _read(
        lambda: results.job_variants(c.results, c.uow(readonly=True), g.user, job_id, selection)
    )
    if refusal is not None:
        return refusal
    return page.as_json(), 200, {"Cache-Control": "no-store"}


@bp.get("/annotations/<job_id>/summary.json")
@json_login_required
def summary(job_id: str) -> Any:
    """The job's summary, as ``GET /api/v1/jobs/{id}/summary``."""
    c = container()
    data, refusal = _read(
        lambda: results.job_summary(c.results, c.uow(readonly=True), g.user, job_id)
    )
    if refusal is not None:
        return refusal
    return data, 200, {"Cache-Control": "no-store"}


@bp.get("/annotations/<job_id>/facets.json")
@json_login_required
def facets(job_id: str) -> Any:
    """What the table's filters can take: every consequence term of any transcript (the
    summary only counts the most severe one per allele), chromosomes, impacts."""
    c = container()
    data, refusal = _read(
        lambda: results.job_facets(c.results, c.uow(readonly=True), g.user, job_id)
    )
    if refusal is not None:
        return refusal
    return data, 200, {"Cache-Control": "private, max-age=300"}


# --- downloads of the rows shown ---------------------------------------------------------------


@bp.get("/annotations/<job_id>/download")
@login_required
def download(job_id: str) -> Any:
    """The rows the table shows (every page of them) as ``format=tsv`` (default), ``vcf.gz``
    (the annotated VCF records they come from, BGZF), ``json`` or ``vcf``; the table's
    filters apply, its paging and sorting do not."""
    c = container()
    fmt = request.args.get("format", "tsv")
    if fmt not in PAGE_FORMATS:
        return render_error(400, f"'format' must be one of {', '.join(PAGE_FORMATS)}.")
    try:
        selection = parse_filter({n: request.args.getlist(n) for n in DOWNLOAD_PARAMS})
        found = results.export(
            c.results,
            c.uow(readonly=True),
            g.user,
            job_id,
            fmt,
            selection,
            url_ttl=c.settings.download_url_ttl_seconds,
        )
    except InvalidInput as exc:
        return render_error(400, str(exc))
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except Conflict as exc:
        return render_error(409, str(exc))
    return send_download(found)


def send_download(found: results.Download) -> Any:
    """A ``results.Download`` as a response: a redirect to its signed URL, or its body
    streamed as an attachment (released when the response is closed)."""
    if found.url is not None:
        return redirect(found.url)
    assert found.body is not None
    body = found.body

    def chunks() -> Any:
        try:
            yield from body
        finally:
            found.close()

    response = Response(stream_with_context(chunks()), content_type=found.content_type)
    response.headers["Content-Disposition"] = _attachment(found.file_name)
    response.headers["Cache-Control"] = "no-store"
    if found.size is not None:
        response.headers["Content-Length"] = str(found.size)
    response.call_on_close(found.close)
    return response


def _attachment(file_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", file_name) or "download"
    return f'attachment; filename="{safe}"'


# --- what the details page shows -----------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """One chart of the summary and its table (the chart's text alternative)."""

    name: str  # consequences / impacts / chromosomes
    title: str
    label: str  # the table's first column
    unit: str  # what the numbers count
    rows: list[tuple[str, int]]
    axis: str = "x"  # "y": horizontal bars (long labels)
    colours: str = ""  # "impact": one colour per impact
    column: str = "col-12 col-lg-6"
    note: str = ""

    @property
    def alt(self) -> str:
        """The canvas's aria-label: the title and every number."""
        numbers = "; ".join(f"{name}: {n:,}" for name, n in self.rows)
        return f"Bar chart, {self.title}. {numbers}."


@dataclass(frozen=True)
class SummaryView:
    variants: int | None
    alleles: int | None
    transitions: int | None
    transversions: int | None
    titv_ratio: float | None
    known: int | None
    novel: int | None
    known_basis: str
    high: int | None
    classes: list[tuple[str, int]]
    top_genes: list[dict[str, Any]]
    reference: str | None
    warnings: list[str]
    consequences: list[tuple[str, int]]
    consequence_scope: str | None
    impacts: list[tuple[str, int]]
    chromosomes: list[tuple[str, int]]

    @property
    def known_percent(self) -> str:
        if not self.variants or self.known is None:
            return ""
        return f"{100 * self.known / self.variants:.1f}%"


@dataclass(frozen=True)
class ResultsView:
    """The results section of a completed job's details page. ``state``: ``available`` (the
    table can be browsed), ``archived``, ``restoring``, ``no_store`` (annotated before GAS
    kept a results store) or ``unavailable`` (``message`` says why)."""

    state: str
    summary: SummaryView | None = None
    summary_missing: str | None = None
    message: str | None = None
    charts: list[Chart] = field(default_factory=list)

    @property
    def consequence_options(self) -> list[tuple[str, int]]:
        return self.summary.consequences if self.summary else []

    @property
    def chrom_options(self) -> list[tuple[str, int]]:
        return self.summary.chromosomes if self.summary else []

    @property
    def genes(self) -> list[str]:
        return [str(g["gene"]) for g in self.summary.top_genes] if self.summary else []


def _counts(data: Any) -> list[tuple[str, int]]:
    if not isinstance(data, dict):
        return []
    return [
        (str(k), int(v))
        for k, v in data.items()
        if isinstance(v, int) and not isinstance(v, bool) and v > 0
    ]


_CHROM_ORDER = {str(n): n for n in range(1, 23)} | {"X": 23, "Y": 24, "MT": 25, "M": 25}


def chromosome_key(name: str) -> tuple[int, str]:
    """1 … 22, X, Y, MT, then the others by name (``chr`` prefixes ignored)."""
    bare = name[3:] if name[:3].lower() == "chr" else name
    return (_CHROM_ORDER.get(bare.upper() if not bare.isdigit() else bare, 99), name)


def summary_view(data: dict[str, Any]) -> SummaryView:
    """The details page's summary from ``results.summary_json``'s answer."""
    titv = data.get("titv") or {}
    known = data.get("known") or {}
    impacts = dict(_counts(data.get("by_impact")))
    assembly = data.get("assembly") or {}
    shown_elsewhere = set(assembly.get("warnings") or [])  # the assembly row shows these
    consequences = sorted(_counts(data.get("by_consequence")), key=lambda kv: (-kv[1], kv[0]))
    ratio = titv.get("ratio")
    return SummaryView(
        variants=data.get("variants"),
        alleles=data.get("alleles"),
        transitions=titv.get("transitions"),
        transversions=titv.get("transversions"),
        titv_ratio=float(ratio) if isinstance(ratio, int | float) else None,
        known=known.get("known"),
        novel=known.get("novel"),
        known_basis=str(known.get("basis") or ""),
        high=impacts.get("HIGH", 0) if data.get("by_impact") else None,
        classes=_counts(data.get("by_class")),
        top_genes=[g for g in data.get("top_genes") or [] if g.get("gene")][:10],
        reference=data.get("reference"),
        warnings=[w for w in data.get("warnings") or [] if w not in shown_elsewhere],
        consequences=consequences,
        consequence_scope=data.get("consequence_scope"),
        impacts=[(i, impacts[i]) for i in IMPACTS if i in impacts],
        chromosomes=sorted(
            _counts(data.get("by_chromosome")), key=lambda kv: chromosome_key(kv[0])
        ),
    )


def charts_of(s: SummaryView) -> list[Chart]:
    mito = s.consequence_scope == "mitochondrial"
    scope_note = (
        "Mitochondrial alleles only: without a reference bundle, nuclear variants are "
        "annotated with their gene, not per transcript."
        if mito
        else ""
    )
    found: list[Chart] = []
    if s.consequences:
        found.append(
            Chart(
                "consequences",
                "Most severe consequence per allele" + (" (mitochondrial)" if mito else ""),
                "Consequence (SO term)",
                "alleles",
                s.consequences,
                axis="y",
                column="col-12 col-lg-7",
                note=scope_note,
            )
        )
    if s.impacts:
        found.append(
            Chart(
                "impacts",
                "Impact of the most severe consequence" + (" (mitochondrial)" if mito else ""),
                "Impact",
                "alleles",
                s.impacts,
                colours="impact",
                column="col-12 col-lg-5",
            )
        )
    if s.chromosomes:
        found.append(
            Chart(
                "chromosomes",
                "Variants per chromosome",
                "Chromosome",
                "variants",
                s.chromosomes,
                column="col-12",
            )
        )
    return found


def results_view(job: Job) -> ResultsView | None:
    """What the details page shows of ``job``'s results (None until it has COMPLETED)."""
    if job.status is not JobStatus.COMPLETED or g.get("user") is None:
        return None
    if job.results_state is ResultsState.ARCHIVED:
        state = "archived"
    elif job.results_state is ResultsState.RESTORING:
        state = "restoring"
    elif job.store_key is None:
        state = NO_STORE_STATE
    else:
        state = "available"
    c = container()
    try:
        data = results.job_summary(c.results, c.uow(readonly=True), g.user, job.id)
    except Conflict as exc:
        return ResultsView(state, summary_missing=str(exc))
    except (NotFound, Forbidden):  # deleted meanwhile
        return None
    except Exception:  # the page itself must still show
        log.exception("job %s: the summary could not be read", job.id)
        return ResultsView(state, summary_missing=results.SUMMARY_MISSING)
    view = summary_view(data)
    message = None
    table = data.get("results") or {}
    if state == "available" and not table.get("browsable", True):
        state, message = "unavailable", table.get("message")
    return ResultsView(state, summary=view, message=message, charts=charts_of(view))


@bp.app_template_global("results_view")
def _results_view(job: Job) -> ResultsView | None:
    return results_view(job)


@bp.app_template_filter("thousands")
def thousands(n: Any) -> str:
    """``12345`` → ``12,345``; an em dash for an unknown number."""
    if isinstance(n, int) and not isinstance(n, bool):
        return f"{n:,}"
    return "—"
