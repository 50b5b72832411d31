"""The JSON API's results routes: the variant table, the summary and the downloads.

``/api/v1`` like api.py, with the same bearer authentication, ``Cache-Control: no-store`` and
``{"error": ...}`` answers (404 unknown job, 403 someone else's, 409 results not readable now,
400 a bad filter). The answers come from ``gas.services.results``, which the pages use too;
``GET /jobs/{id}/results`` is api.py's route, which hands every download to ``download``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, g, request

from gas.domain import errors
from gas.entrypoints.web import api
from gas.entrypoints.web.openapi_results import (
    FILTER_PARAMETERS,
    FORMAT_PARAMETER,
    PAGE_PARAMETERS,
)
from gas.services import results
from gas.services.variants import FILTER_PARAMS, parse_filter

bp = Blueprint("api_results", __name__, url_prefix="/api/v1")
bp.before_request(api.authenticate)
bp.after_request(api.no_store)

#: the query parameters of a download besides ``format``: the table's filters and order
DOWNLOAD_PARAMS = (*FILTER_PARAMS, "sort", "transcripts")


@bp.errorhandler(errors.NotFound)
def _not_found(exc: errors.NotFound) -> Response:
    return api.error(404, str(exc))


@bp.errorhandler(errors.Forbidden)
def _forbidden(exc: errors.Forbidden) -> Response:
    return api.error(403, str(exc))


@bp.errorhandler(errors.InvalidInput)
def _invalid(exc: errors.InvalidInput) -> Response:
    return api.error(400, str(exc))


@bp.errorhandler(errors.Conflict)
def _conflict(exc: errors.Conflict) -> Response:
    return api.error(409, str(exc))


# --- the query, exactly as documented -------------------------------------------------------------

_INTEGER = re.compile(r"[0-9]{1,15}")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _valid(value: str, schema: dict[str, Any]) -> bool:
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        if not (_INTEGER if kind == "integer" else _NUMBER).fullmatch(value):
            return False
        number = int(value) if kind == "integer" else float(value)
        low, high = schema.get("minimum"), schema.get("maximum")
        return (low is None or number >= low) and (high is None or number <= high)
    if len(value) > schema.get("maxLength", len(value)):
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern, value) is not None


def check_query(parameters: list[dict[str, Any]]) -> None:
    """Refuse (InvalidInput: 400) a query parameter the OpenAPI document does not allow — a
    value outside its enum, range or pattern, an empty one, a single-valued one repeated — so
    that the API takes exactly what it documents. (The pages take the same filters more
    leniently: ``parse_filter`` reads empty fields as no filter, ``high`` as ``HIGH``.)"""
    for parameter in parameters:
        name, schema = parameter["name"], parameter["schema"]
        values = request.args.getlist(name)
        if not values:
            continue
        many = schema.get("type") == "array"
        if len(values) > 1 and not many:
            raise errors.InvalidInput(f"'{name}' may be given once.")
        item = schema["items"] if many else schema
        for value in values:
            if not _valid(value, item):
                raise errors.InvalidInput(f"'{name}': {parameter['x-expected']}")


@bp.get("/jobs/<job_id>/variants")
def get_variants(job_id: str) -> Any:
    """A page of the job's variants: ``{"total", "offset", "limit", "variants": [...]}``."""
    check_query([*FILTER_PARAMETERS, *PAGE_PARAMETERS])  # 400 before any lookup
    selection = parse_filter(request.args)
    c = api._c()
    page = results.job_variants(c.results, c.uow(readonly=True), g.user, job_id, selection)
    return page.as_json()


@bp.get("/jobs/<job_id>/summary")
def get_summary(job_id: str) -> Any:
    """Counts, Ti/Tv, known/novel, top genes, assembly and warnings (also when archived)."""
    c = api._c()
    return results.job_summary(c.results, c.uow(readonly=True), g.user, job_id)


def download(job_id: str) -> Response:
    """``GET /jobs/{id}/results?format=…&<filters>``: a redirect to the stored annotated VCF
    (the plain, unfiltered download, as before), or the file itself, streamed."""
    check_query([FORMAT_PARAMETER, *FILTER_PARAMETERS])
    fmt = request.args.get("format", "vcf")
    # Paging does not apply to a download: every row that passes the filters is in it.
    selection = parse_filter({name: request.args.getlist(name) for name in DOWNLOAD_PARAMS})
    c = api._c()
    found = results.export(
        c.results,
        c.uow(readonly=True),
        g.user,
        job_id,
        fmt,
        selection,
        url_ttl=c.settings.download_url_ttl_seconds,
    )
    if found.url is not None:
        return Response(status=302, headers={"Location": api._absolute(found.url)})
    headers = {"Content-Disposition": f'attachment; filename="{found.file_name}"'}
    if found.size is not None:
        headers["Content-Length"] = str(found.size)
    return Response(found.body, content_type=found.content_type, headers=headers)
