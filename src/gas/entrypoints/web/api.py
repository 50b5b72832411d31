"""JSON API ``/api/v1`` for scripts and pipelines: bearer tokens, JSON in and out.

Thin on purpose: parse the request, call a service, map domain errors to HTTP codes. Every
error is ``{"error": "<message for the user>"}``; the OpenAPI document (``openapi.json``)
describes every route, status code and schema.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urljoin

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from gas.domain import errors
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.users import User
from gas.entrypoints.web.auth import abuse_limits
from gas.entrypoints.web.presenters import assembly_json
from gas.ports import JOB_SORTS, JobQuery
from gas.services import accounts, deletion, jobs, limits, results

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REALM = 'Bearer realm="gas"'
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**31 - 1  # beyond any real listing, and within every database's integer range
MAX_SEARCH_LENGTH = 200
PUBLIC_ENDPOINTS = {"api.openapi"}
_DIGITS = re.compile(r"[0-9]{1,10}")


def _c():  # type: ignore[no-untyped-def]
    from gas.entrypoints.web import container

    return container()


def error(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The API's error response: ``{"error": message}`` with ``code``."""
    response = jsonify(error=message)
    response.status_code = code
    response.headers.update(headers or {})
    return response


# --- authentication ----------------------------------------------------------------------


def _bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, '' for an empty one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


@bp.before_request
def authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = _bearer_token()
    if not token:
        return error(
            401,
            "Authentication required: send your API token in an "
            "'Authorization: Bearer <token>' header (create one with `gas tokens create EMAIL`).",
            {"WWW-Authenticate": REALM},
        )
    c = _c()
    user = accounts.user_for_token(c.uow(), c.clock, token)
    if user is None:
        return error(
            401,
            "This API token is not valid (unknown or revoked).",
            {
                "WWW-Authenticate": f'{REALM}, error="invalid_token", '
                'error_description="The access token is unknown or revoked"'
            },
        )
    g.user = user  # the token's owner, whatever a session cookie may say
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    # Job data and signed links are per user and short-lived: never cached by proxies.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- domain errors -> HTTP -------------------------------------------------------------------


@bp.errorhandler(errors.NotFound)
def _not_found(exc: errors.NotFound) -> Response:
    return error(404, str(exc))


@bp.errorhandler(errors.Forbidden)
def _forbidden(exc: errors.Forbidden) -> Response:
    return error(403, str(exc))


@bp.errorhandler(errors.InvalidInput)
def _invalid(exc: errors.InvalidInput) -> Response:
    return error(400, str(exc))


@bp.errorhandler(errors.UploadTooLarge)
def _too_large(exc: errors.UploadTooLarge) -> Response:
    return error(413, str(exc))


@bp.errorhandler(errors.Conflict)
def _conflict(exc: errors.Conflict) -> Response:
    return error(409, str(exc))


# --- representation --------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the second: ``2025-01-31T12:00:00Z``."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # stored times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def site_url(path: str) -> str:
    """An absolute URL on this site's public address (GAS_BASE_URL) — never built from the
    request's Host header, which the client chooses."""
    return _c().settings.base_url + path


def _absolute(url: str) -> str:
    """Storage adapters may hand out links relative to this site (``/files/<token>``)."""
    return urljoin(_c().settings.base_url + "/", url)


def job_json(job: Job, queue_position: int | None = None) -> dict[str, Any]:
    job_url = site_url(url_for("api.get_job", job_id=job.id))
    return {
        "id": job.id,
        "status": job.status.value,
        "input_file_name": job.input_file_name,
        "input_size": job.input_size,
        "assembly": assembly_json(job),
        "submitted_at": iso(job.submitted_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "progress": job.progress,
        "queue_position": queue_position,
        "variant_count": job.variant_count,
        "error": job.error,
        "results": _results_json(job),
        "links": {
            "self": job_url,
            "results": job_url + "/results",
            "log": job_url + "/log",
            "summary": job_url + "/summary",
            "variants": job_url + "/variants",
            "html": _absolute(f"/annotations/{job.id}"),
        },
    }


def _results_json(job: Job) -> dict[str, Any]:
    results: dict[str, Any] = {"state": job.results_state.value if job.results_state else None}
    if job.results_state is ResultsState.RESTORING:
        results["expected_at"] = iso(job.restore_expected_at)
    return results


# --- routes ----------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Any:
    from gas.entrypoints.web.openapi import openapi_document

    return openapi_document(server_url=_c().settings.base_url)


@bp.post("/jobs")
def submit_job() -> Any:
    from gas.entrypoints.web import MULTIPART_SLACK

    c = _c()
    user: User = g.user
    abuse_limits().hit(limits.UPLOADS, user.id)  # RateLimited: 429 with Retry-After
    plan, limit = jobs.upload_limit(c.uow(readonly=True), c.policy, user.id)
    # Refuse at once, before reading the body, when the request cannot fit the plan's limit;
    # the service enforces the exact limit on the file itself while it streams.
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        return error(413, jobs.too_large_message(plan, limit))
    # A body without a length (chunked) is cut off at the same bound while it is parsed.
    request.max_content_length = min(
        limit + MULTIPART_SLACK, current_app.config["MAX_CONTENT_LENGTH"] or limit + MULTIPART_SLACK
    )  # never above the server's own hard cap
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        return error(413, jobs.too_large_message(plan, limit))
    if upload is None:
        return error(
            400,
            "Send the VCF file as the multipart/form-data field 'file' "
            "(for example: curl -F file=@input.vcf …).",
        )
    assembly = request.form.get("assembly") or jobs.DEFAULT_ASSEMBLY
    job = jobs.submit_job(
        c.uow(),
        c.storage,
        c.policy,
        c.clock,
        user_id=user.id,
        file_name=upload.filename or "input.vcf",
        stream=upload.stream,
        assembly=assembly,
    )
    return _created(job)


def _created(job: Job) -> Any:
    """201 with the new job (PENDING: its place in the queue) and its URL."""
    position = jobs.queue_positions(_c().uow(readonly=True), [job]).get(job.id)
    body = job_json(job, position)
    return body, 201, {"Location": body["links"]["self"]}


def _page_parameter(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise errors.InvalidInput(f"'{name}' must be a whole number from {low} to {high}.")
    return int(raw)


def _status_parameter() -> tuple[JobStatus, ...]:
    """``status`` (repeatable): the statuses to list; none for all."""
    wanted: list[JobStatus] = []
    for value in request.args.getlist("status"):
        if value not in JobStatus.__members__:
            raise errors.InvalidInput(
                "'status' must be one of " + ", ".join(s.value for s in JobStatus) + "."
            )
        if JobStatus(value) not in wanted:
            wanted.append(JobStatus(value))
    return tuple(wanted)


@bp.get("/jobs")
def list_jobs() -> Any:
    limit = _page_parameter("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = _page_parameter("offset", 0, 0, MAX_OFFSET)
    name = request.args.get("q", "").strip()
    if len(name) > MAX_SEARCH_LENGTH or "\x00" in name:
        raise errors.InvalidInput(f"'q' must be at most {MAX_SEARCH_LENGTH} characters of text.")
    sort = request.args.get("sort", "newest")
    if sort not in JOB_SORTS:
        raise errors.InvalidInput(f"'sort' must be one of {', '.join(JOB_SORTS)}.")
    query = JobQuery(name=name, statuses=_status_parameter(), sort=sort, limit=limit, offset=offset)
    found = jobs.search_jobs(_c().uow(readonly=True), g.user.id, query)
    return {
        "jobs": [job_json(job, found.queue_positions.get(job.id)) for job in found.jobs],
        "total": found.total,
        "limit": limit,
        "offset": offset,
    }


def _own_job(job_id: str) -> Job:
    return jobs.get_job(_c().uow(readonly=True), job_id, g.user.id)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Any:
    job = _own_job(job_id)
    return job_json(job, jobs.queue_positions(_c().uow(readonly=True), [job]).get(job.id))


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str) -> Any:
    """The job and every file of it (input, results, log, results store, archived copy);
    409 while it is RUNNING."""
    c = _c()
    deletion.delete_job(
        c.uow(), c.storage, c.cold, job_id=job_id, user_id=g.user.id, local=c.results.files
    )
    return Response(status=204)


@bp.post("/jobs/<job_id>/rerun")
def rerun_job(job_id: str) -> Any:
    """A new job annotating this job's stored input again (optionally on another assembly:
    JSON ``{"assembly": …}`` or a form field), under the caller's plan as of now."""
    c = _c()
    assembly = _rerun_assembly()
    abuse_limits().hit(limits.UPLOADS, g.user.id)
    job = jobs.rerun_job(
        c.uow(),
        c.storage,
        c.policy,
        c.clock,
        job_id=job_id,
        user_id=g.user.id,
        assembly=assembly,
    )
    return _created(job)


def _rerun_assembly() -> str | None:
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None and request.get_data(cache=True).strip():
            raise errors.InvalidInput("The request body is not valid JSON.")
        if body is None:
            return None
        if not isinstance(body, dict):
            raise errors.InvalidInput('Send a JSON object, e.g. {"assembly": "GRCh37"}.')
        if set(body) - {"assembly"}:
            raise errors.InvalidInput('The only field of a re-run is "assembly".')
        value = body.get("assembly")
    else:
        value = request.form.get("assembly")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in jobs.ASSEMBLIES:
        raise errors.InvalidInput(f"'assembly' must be one of {', '.join(jobs.ASSEMBLIES)}.")
    return value


def results_unavailable(job: Job, user: User) -> str | None:
    """Why the results of ``job`` cannot be downloaded now, or None if they can."""
    return results.results_unavailable(job, user, _c().clock.now())


@bp.get("/jobs/<job_id>/results")
def get_results(job_id: str) -> Any:
    """The annotated VCF (a redirect to a short-lived URL) or, with ``format`` and the
    table's filters, another download (api_results.py)."""
    from gas.entrypoints.web import api_results

    return api_results.download(job_id)


@bp.get("/jobs/<job_id>/log")
def get_log(job_id: str) -> Any:
    c = _c()
    job = _own_job(job_id)
    if not job.log_key:
        return error(409, f"Job {job.id} is {job.status.value} and has no log yet.")
    try:
        fh = c.storage.open(job.log_key)
    except KeyError:
        log.warning("job %s: log %s is missing from storage", job.id, job.log_key)
        return error(409, f"The log of job {job.id} is not available.")
    return Response(_chunks(fh), status=200, mimetype="text/plain")


def _chunks(fh: BinaryIO, size: int = 64 * 1024) -> Iterator[bytes]:
    """Stream a file, closing it at the end or when the client goes away."""
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()
