"""The pages of PRODUCT.md: home, profile, annotate, my annotations, job details, log,
subscribe. Thin views: parse the request, call a service, map domain errors to HTTP codes."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadData, URLSafeSerializer
from markupsafe import Markup
from werkzeug.exceptions import RequestEntityTooLarge

from gas.adapters.billing import BillingError
from gas.domain.assembly import JobAssembly, job_assembly
from gas.domain.assembly import label as assembly_label
from gas.domain.errors import (
    Conflict,
    EmailNotVerified,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    UploadTooLarge,
)
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import Plan, human_size
from gas.entrypoints.web import CONTENT_SECURITY_POLICY, MULTIPART_SLACK, container, csrf
from gas.entrypoints.web.auth import abuse_limits, login_required
from gas.entrypoints.web.errors import MESSAGES, render_error
from gas.entrypoints.web.presenters import (
    AssemblyBadge,
    ResultsLabel,
    assembly_badge,
    reference_offer,
    results_label,
    watch_status,
)
from gas.ports import JOB_SORTS, JobQuery
from gas.services import accounts, deletion, jobs, limits
from gas.services.results import wait_text  # the words of a restore's wait, shared

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

PAGE_SIZE = 25  # My Annotations
MAX_SEARCH_LENGTH = 200
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "name": "File name",
    "status": "Status",
}
MAX_STATUS_IDS = 100
MAX_LOG_BYTES = 2 * 1024 * 1024
DEFAULT_ASSEMBLY = jobs.DEFAULT_ASSEMBLY

STATUS_BADGES = {
    JobStatus.PENDING: "text-bg-secondary",
    JobStatus.RUNNING: "text-bg-info",
    JobStatus.COMPLETED: "text-bg-success",
    JobStatus.FAILED: "text-bg-danger",
}


# --- template helpers ------------------------------------------------------------------------


def utc_text(moment: datetime | None) -> str:
    """``2026-11-22 14:03:05 UTC`` (or an em dash when there is no time)."""
    if moment is None:
        return "—"
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_iso(moment: datetime | None) -> str:
    """``2026-11-22T14:03:05Z``: the machine-readable form for ``<time datetime>``."""
    if moment is None:
        return ""
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # stored times are UTC; be lenient with naive ones
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@bp.app_template_filter("utc")
def _utc_filter(moment: datetime | None) -> str:
    return utc_text(moment)


@bp.app_template_filter("utc_iso")
def _utc_iso_filter(moment: datetime | None) -> str:
    return utc_iso(moment)


@bp.app_template_global("time_tag")
def time_tag(moment: datetime | None, testid: str = "") -> Markup:
    """``<time datetime="…Z">2026-11-22 14:03:05 UTC</time>``, or an em dash."""
    attr = Markup(' data-testid="{}"').format(testid) if testid else Markup("")
    if moment is None:
        return Markup('<span class="text-muted"{}>—</span>').format(attr)
    return Markup('<time datetime="{}"{}>{}</time>').format(utc_iso(moment), attr, utc_text(moment))


#: (token in a User-Agent, name shown), first match wins: Edge and Opera say "Chrome" too,
#: Chrome says "Safari" too
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
    ("gas-client", "gas client"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


@bp.app_template_filter("browser_summary")
def browser_summary(user_agent: str | None) -> str:
    """ "Firefox on Linux" from a User-Agent header (the whole header goes in a tooltip)."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if system:
        return f"{browser or 'A browser'} on {system}"
    if browser:
        return browser
    return user_agent if len(user_agent) <= 40 else user_agent[:39].rstrip() + "…"


@bp.app_template_global("status_badge_class")
def status_badge_class(status: JobStatus) -> str:
    return STATUS_BADGES.get(status, "text-bg-secondary")


@bp.app_template_filter("human_size")
def _human_size_filter(n: int | None) -> str:
    return human_size(n) if n is not None else "—"


@bp.app_template_global("job_assembly")
def _job_assembly(job: Job) -> JobAssembly:
    return job_assembly(job)


@bp.app_template_global("assembly_badge")
def _assembly_badge(job: Job) -> AssemblyBadge | None:
    return assembly_badge(job)


@bp.app_template_global("reference_offer")
def _reference_offer() -> str:
    """What a job gets with this server's reference data (``GAS_REFDATA``), in words."""
    return reference_offer(container().settings.refdata)


@bp.app_template_global("results_label")
def _results_label(job: Job) -> ResultsLabel:
    premium = bool(g.get("user") and g.user.is_premium)
    return results_label(job, premium=premium, now=container().clock.now())


@bp.app_template_global("job_watch")
def _job_watch(job: Job) -> bool:
    """Whether the live status script should keep asking about ``job``."""
    return watch_status(job, premium=bool(g.get("user") and g.user.is_premium))


@bp.app_template_global("assembly_choices")
def _assembly_choices() -> dict[str, str]:
    """The assemblies a job can be annotated on (the upload's and the re-run's choice)."""
    return {name: assembly_label(name) for name in jobs.ASSEMBLIES}


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"JobStatus": JobStatus, "ResultsState": ResultsState}


# --- helpers ---------------------------------------------------------------------------------


def _owned_job(job_id: str) -> Job:
    """The current user's job ``job_id``; 404 when unknown or malformed, 403 when not theirs."""
    c = container()
    try:
        return jobs.get_job(c.uow(readonly=True), job_id, g.user.id)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)


def _progress_percent(job: Job) -> int | None:
    if job.status is not JobStatus.RUNNING or job.progress is None:
        return None
    return max(0, min(100, round(job.progress * 100)))


def status_payload(job: Job, queue_position: int | None = None) -> dict[str, Any]:
    """What the live status scripts need to update a page."""
    premium = bool(g.get("user") and g.user.is_premium)
    return {
        "id": job.id,
        "status": job.status.value,
        "final": job.status.is_final,
        "progress": _progress_percent(job),
        "error": job.error if job.status is JobStatus.FAILED else None,
        "completed_at": utc_iso(job.completed_at) or None,
        "completed_at_text": utc_text(job.completed_at) if job.completed_at else None,
        "results_state": job.results_state.value if job.results_state else None,
        "results": results_label(job, premium=premium, now=container().clock.now()).as_json(),
        "assembly_badge": badge.as_json() if (badge := assembly_badge(job)) else None,
        "variant_count": job.variant_count,
        "queue_position": queue_position,
        "deletable": job.deletable,
        "watch": watch_status(job, premium=premium),
    }


def _upload_limit() -> int:
    return container().policy.max_upload_bytes(g.user.plan)


# --- home ------------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    c = container()
    return render_template(
        "home.html",
        free_limit=human_size(c.settings.free_max_upload_bytes),
        premium_limit=human_size(c.settings.premium_max_upload_bytes),
        retention=_human_duration(c.settings.free_retention_seconds),
    )


def _human_duration(seconds: int) -> str:
    if seconds % 86400 == 0 and seconds >= 86400:
        n, unit = seconds // 86400, "day"
    elif seconds % 3600 == 0 and seconds >= 3600:
        n, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0 and seconds >= 60:
        n, unit = seconds // 60, "minute"
    else:
        n, unit = seconds, "second"
    return f"{n} {unit}{'' if n == 1 else 's'}"


@bp.app_template_global("restore_wait")
def restore_wait(job: Job) -> str:
    """The expected wait for results being restored, as of now."""
    return wait_text(job.restore_expected_at, container().clock.now())


# --- profile and API tokens ------------------------------------------------------------------


def _render_profile(new_token: str | None = None, status: int = 200) -> Any:
    c = container()
    tokens = accounts.list_api_tokens(c.uow(readonly=True), g.user.id)
    return (
        render_template(
            "profile.html",
            user=g.user,
            tokens=tokens,
            new_token=new_token,
            upload_limit=human_size(_upload_limit()),
            manage_subscription=_manages_subscription_with_provider(),
        ),
        status,
    )


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    if request.method == "POST":
        c = container()
        accounts.update_profile(
            c.uow(),
            c.clock,
            g.user.id,
            name=request.form.get("name", ""),
            institution=request.form.get("institution", ""),
        )
        flash("Your profile has been saved.", "success")
        return redirect(url_for("pages.profile"))
    return _render_profile()


@bp.post("/profile/tokens")
@login_required
def create_token() -> Any:
    c = container()
    abuse_limits().hit(limits.TOKENS, g.user.id)  # RateLimited: the 429 page, Retry-After
    token = accounts.create_api_token(
        c.uow(), c.clock, g.user.id, label=request.form.get("label", "")
    )
    # Rendered, not redirected: the token is shown this once and never stored in clear.
    page, status = _render_profile(new_token=token)
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/profile/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str) -> Any:
    c = container()
    if accounts.revoke_api_token(c.uow(), c.clock, g.user.id, token_id):
        flash("The token has been revoked; scripts using it can no longer log in.", "success")
    else:
        flash("That token does not exist or was already revoked.", "warning")
    return redirect(url_for("pages.profile"))


# --- annotate --------------------------------------------------------------------------------


# Uploads straight to S3 (an object store with ``presigned_post``): the Annotate page's form
# posts to S3 with a presigned POST for ``<user_id>/<job_id>~${filename}`` (a new job id each
# time the page is shown) and S3 sends the browser back to ``/annotate/uploaded?token=…`` with
# ``bucket``, ``key`` and ``etag`` added; the token, signed with the app's secret, says for
# which user, job and assembly the form was made. The assembly is chosen in the form, so the
# form offers one redirect (one token) per assembly: the <select> posts the chosen one as
# ``success_action_redirect``, which the policy allows to be any URL starting with ours.
UPLOAD_POLICY_SECONDS = 3600  # how long the page's form can be used to start an upload
UPLOAD_TOKEN_SECONDS = 2 * 3600  # and then to come back: long enough for the upload itself
UPLOAD_TOKEN_SALT = "gas.presigned-upload"  # noqa: S105 - a salt, not a secret


@dataclass(frozen=True)
class UploadClaims:
    """What an upload redirect's token says: the form was made for this user, job and
    assembly, and is good until ``expires_at`` (seconds since the epoch)."""

    user_id: str
    job_id: str
    assembly: str
    expires_at: int

    def expired(self, now: datetime) -> bool:
        return _as_utc(now).timestamp() >= self.expires_at


def _upload_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(container().settings.secret_key, salt=UPLOAD_TOKEN_SALT)


def upload_token(user_id: str, job_id: str, assembly: str, expires_at: int) -> str:
    """The signed token of an upload redirect (see :class:`UploadClaims`)."""
    payload = {"u": user_id, "j": job_id, "a": assembly, "e": int(expires_at)}
    return str(_upload_serializer().dumps(payload))


def read_upload_token(token: str) -> UploadClaims:
    """The claims of a token made by :func:`upload_token`; BadData for anything else (expiry
    is the caller's to check, so that a replay of a finished upload can still be recognised)."""
    payload = _upload_serializer().loads(token)
    try:
        return UploadClaims(
            user_id=str(payload["u"]),
            job_id=str(payload["j"]),
            assembly=str(payload["a"]),
            expires_at=int(payload["e"]),
        )
    except (KeyError, TypeError, ValueError):
        raise BadData("malformed upload token") from None


def _presigned_upload(limit: int) -> dict[str, Any] | None:
    """The S3 form of the Annotate page, or None when the store takes uploads itself."""
    c = container()
    presign = getattr(c.storage, "presigned_post", None)
    if presign is None:
        return None
    job_id = str(uuid.uuid4())
    expires_at = int(_as_utc(c.clock.now()).timestamp()) + UPLOAD_TOKEN_SECONDS
    back = c.settings.base_url + url_for("pages.uploaded") + "?token="
    post = presign(
        f"{g.user.id}/{job_id}~${{filename}}",
        max_bytes=limit,
        success_redirect=back,
        expires_in=UPLOAD_POLICY_SECONDS,
        redirect_is_prefix=True,
    )
    parts = urlsplit(post["url"])
    return {
        "url": post["url"],
        "origin": f"{parts.scheme}://{parts.netloc}",
        "fields": post["fields"],
        "valid_seconds": UPLOAD_POLICY_SECONDS,
        "redirects": {
            assembly: back + upload_token(g.user.id, job_id, assembly, expires_at)
            for assembly in jobs.ASSEMBLIES
        },
    }


def _render_annotate(
    *, error: str | None = None, too_large: bool = False, status: int = 200
) -> Any:
    limit = _upload_limit()
    upload = _presigned_upload(limit)
    headers = {}
    if upload is not None:
        # The form posts to S3: allow that origin for this page's form (S3's 303 then comes
        # back to this site).
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {upload['origin']}"
        )
        headers["Cache-Control"] = "no-store"  # a fresh job id and policy each time
    return (
        render_template(
            "annotate.html",
            limit_bytes=limit,
            limit_text=human_size(limit),
            assemblies={name: assembly_label(name) for name in jobs.ASSEMBLIES},
            default_assembly=DEFAULT_ASSEMBLY,
            error=error,
            too_large=too_large,
            is_free=g.user.plan is Plan.FREE,
            upload=upload,
        ),
        status,
        headers,
    )


@bp.route("/annotate", methods=["GET", "POST"])
@login_required
@csrf.exempt  # checked in the view, after the size check, so a huge body is never parsed
def annotate() -> Any:
    if request.method == "GET":
        return _render_annotate()
    c = container()
    limit = _upload_limit()
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        # Refuse from the header alone: the body is never read, so nothing of it is kept.
        return _too_large(g.user.plan, limit)
    # Bodies without a length (chunked) are cut off at the same bound while parsing.
    request.max_content_length = min(
        limit + MULTIPART_SLACK, current_app.config["MAX_CONTENT_LENGTH"] or limit + MULTIPART_SLACK
    )  # never above the server's own hard cap
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        upload = request.files.get("file")
        assembly = request.form.get("assembly") or DEFAULT_ASSEMBLY
    except RequestEntityTooLarge:
        return _too_large(g.user.plan, limit)
    if upload is None or not upload.filename:
        return _render_annotate(error="Please choose a VCF file to annotate.", status=400)
    try:
        abuse_limits().hit(limits.UPLOADS, g.user.id)
        job = jobs.submit_job(
            c.uow(),
            c.storage,
            c.policy,
            c.clock,
            user_id=g.user.id,
            file_name=upload.filename,
            stream=upload.stream,
            assembly=assembly,
        )
    except UploadTooLarge as exc:
        return _render_annotate(error=str(exc), too_large=True, status=413)
    except EmailNotVerified as exc:
        return _render_annotate(error=str(exc), status=403)
    except RequestEntityTooLarge:
        return _too_large(g.user.plan, limit)
    except InvalidInput as exc:
        return _render_annotate(error=str(exc), status=400)
    except RateLimited as exc:  # too many uploads lately, or too many jobs in flight
        return _annotate_refused(exc)
    return redirect(url_for("pages.received", job_id=job.id), code=303)


def _annotate_refused(exc: RateLimited) -> Any:
    """The Annotate page with why the upload was refused, 429 and Retry-After."""
    page, status, headers = _render_annotate(error=str(exc), status=429)
    return page, status, {**headers, "Retry-After": str(exc.retry_after)}


def _too_large(plan: Plan, limit: int) -> Any:
    return _render_annotate(error=jobs.too_large_message(plan, limit), too_large=True, status=413)


@bp.get("/annotate/uploaded")
@login_required
def uploaded() -> Any:
    """Where S3 sends the browser after a presigned POST upload: check the token and the key,
    then create the job (once: a replayed redirect finds it) and show Request received."""
    c = container()
    if not hasattr(c.storage, "presigned_post"):
        abort(404)
    try:
        claims = read_upload_token(request.args.get("token", ""))
    except BadData:
        log.warning("upload redirect with a token we did not make (user %s)", g.user.id)
        return _render_annotate(
            error="This upload could not be matched to a request from this page. "
            "Please choose your file and upload it again.",
            status=400,
        )
    if claims.user_id != g.user.id:
        log.warning("user %s followed the upload redirect of user %s", g.user.id, claims.user_id)
        return render_error(403, "This upload was started by another user.")
    bucket = request.args.get("bucket", "")
    reported = request.args.get("key", "")
    try:
        if bucket != getattr(c.storage, "bucket", bucket):
            raise ValueError(f"bucket {bucket!r}")
        key = c.storage.key_from_s3(reported)  # type: ignore[attr-defined]
    except ValueError:
        key = ""
    if not key.startswith(f"{claims.user_id}/{claims.job_id}~"):
        log.warning("upload redirect for job %s names key %r", claims.job_id, reported)
        return _render_annotate(
            error="The upload did not arrive where this page sent it. Please upload it again.",
            status=400,
        )
    if claims.expired(c.clock.now()):
        try:  # a finished upload's redirect, replayed later, still shows its job
            job = jobs.get_job(c.uow(readonly=True), claims.job_id, g.user.id)
        except (NotFound, Forbidden):
            c.storage.delete(key)  # came back too late: keep nothing
            return _render_annotate(
                error="This upload took too long to complete. Please upload the file again.",
                status=400,
            )
        return redirect(url_for("pages.received", job_id=job.id), code=303)
    try:
        abuse_limits().hit(limits.UPLOADS, g.user.id)
    except RateLimited as exc:
        try:  # a replayed redirect of a job made already is not a new upload
            job = jobs.get_job(c.uow(readonly=True), claims.job_id, g.user.id)
        except (NotFound, Forbidden):
            c.storage.delete(key)  # refused: keep nothing
            return _annotate_refused(exc)
        return redirect(url_for("pages.received", job_id=job.id), code=303)
    try:
        job = jobs.register_uploaded_job(
            c.uow(),
            c.storage,
            c.policy,
            c.clock,
            user_id=g.user.id,
            job_id=claims.job_id,
            key=key,
            assembly=claims.assembly,
        )
    except UploadTooLarge as exc:
        return _render_annotate(error=str(exc), too_large=True, status=413)
    except Forbidden:
        return render_error(403, "This upload was started by another user.")
    except InvalidInput as exc:
        return _render_annotate(error=str(exc), status=400)
    except RateLimited as exc:  # too many jobs in flight (the upload was deleted)
        return _annotate_refused(exc)
    return redirect(url_for("pages.received", job_id=job.id), code=303)


# --- my annotations --------------------------------------------------------------------------


@bp.get("/annotations/<job_id>/received")
@login_required
def received(job_id: str) -> Any:
    return render_template("received.html", job=_owned_job(job_id))


@dataclass(frozen=True)
class ListView:
    """My Annotations' state, all of it in the query string (shareable, survives reload):
    ``q`` (part of the file name), ``status``, ``sort`` and ``page``. Values the page does not
    know fall back to the defaults rather than fail."""

    q: str = ""
    status: str = ""  # "" for every status
    sort: str = "newest"
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> ListView:
        status = args.get("status", "").strip().upper()
        sort = args.get("sort", "").strip().lower()
        page = args.get("page", "1")
        return cls(
            q=" ".join(args.get("q", "").split())[:MAX_SEARCH_LENGTH],
            status=status if status in JobStatus.__members__ else "",
            sort=sort if sort in JOB_SORTS else "newest",
            page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1,
        )

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.status)

    def query(self) -> JobQuery:
        return JobQuery(
            name=self.q,
            statuses=(JobStatus(self.status),) if self.status else (),
            sort=self.sort,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )

    def url(self, **changes: Any) -> str:
        """This view's URL with ``changes``, leaving out what is the default."""
        values = {**asdict(self), **changes}
        defaults = asdict(ListView())
        args = {k: v for k, v in values.items() if v != defaults[k]}
        return url_for("pages.annotations", **args)


@bp.get("/annotations")
@login_required
def annotations() -> Any:
    c = container()
    view = ListView.from_args(request.args)
    if request.args and request.full_path.rstrip("?") != view.url():
        # One URL per view (the search form also sends empty and default fields): the one
        # in the address bar is the one to share.
        return redirect(view.url())
    listing = jobs.search_jobs(c.uow(readonly=True), g.user.id, view.query())
    pages = max(1, -(-listing.total // PAGE_SIZE))
    return render_template(
        "annotations.html",
        jobs=listing.jobs,
        total=listing.total,
        queue_positions=listing.queue_positions,
        view=view,
        pages=pages,
        statuses=[s.value for s in JobStatus],
        sort_labels=SORT_LABELS,
    )


@bp.get("/annotations/status.json")
@login_required
def statuses() -> Any:
    """Statuses of several of the user's jobs (``?ids=a,b``): someone else's or unknown ids
    are left out."""
    c = container()
    wanted = [i for i in request.args.get("ids", "").split(",") if i][:MAX_STATUS_IDS]
    recent = {
        job.id: job
        for job in jobs.list_jobs(c.uow(readonly=True), g.user.id, limit=2 * MAX_STATUS_IDS)
    }
    found: list[Job] = []
    for job_id in dict.fromkeys(wanted):
        job = recent.get(job_id)
        if job is None:  # an older job: look it up on its own
            try:
                job = jobs.get_job(c.uow(readonly=True), job_id, g.user.id)
            except (NotFound, Forbidden):
                continue  # someone else's, or deleted meanwhile
        found.append(job)
    positions = jobs.queue_positions(c.uow(readonly=True), found)
    payload = [status_payload(job, positions.get(job.id)) for job in found]
    return {"jobs": payload}, 200, {"Cache-Control": "no-store"}


@bp.get("/annotations/<job_id>")
@login_required
def details(job_id: str) -> Any:
    job = _owned_job(job_id)
    return render_template("details.html", job=job, progress=_progress_percent(job))


@bp.get("/annotations/<job_id>/status.json")
@login_required
def status(job_id: str) -> Any:
    c = container()
    try:
        job = jobs.get_job(c.uow(readonly=True), job_id, g.user.id)
    except NotFound:
        return {"error": MESSAGES[404]}, 404
    except Forbidden:
        return {"error": MESSAGES[403]}, 403
    position = jobs.queue_positions(c.uow(readonly=True), [job]).get(job.id)
    return status_payload(job, position), 200, {"Cache-Control": "no-store"}


@bp.get("/annotations/<job_id>/delete")
@login_required
def confirm_delete(job_id: str) -> Any:
    """Asks before deleting (the form posts to the same URL, with its CSRF token)."""
    job = _owned_job(job_id)
    back = _list_url(request.args.get("next"))
    return render_template("delete.html", job=job, back=back), 200 if job.deletable else 409


@bp.post("/annotations/<job_id>/delete")
@login_required
def delete_job(job_id: str) -> Any:
    c = container()
    try:
        job = deletion.delete_job(
            c.uow(), c.storage, c.cold, job_id=job_id, user_id=g.user.id, local=c.results.files
        )
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except Conflict as exc:
        flash(str(exc), "warning")
        return redirect(url_for("pages.details", job_id=job_id), code=303)
    flash(f"Deleted {job.input_file_name} (job {job.id}) and all its files.", "success")
    return redirect(_list_url(request.form.get("next")), code=303)


def _list_url(wanted: str | None) -> str:
    """Where to go back to: the My Annotations view the user came from (its search, filter,
    sort and page), never another page or site."""
    home = url_for("pages.annotations")
    parts = urlsplit(wanted or "")
    if parts.scheme or parts.netloc or parts.path != home:
        return home
    return home + (f"?{parts.query}" if parts.query else "")


@bp.post("/annotations/<job_id>/rerun")
@login_required
def rerun(job_id: str) -> Any:
    """Annotate the job's stored input again, as a new job (under today's plan and reference
    data; optionally on another assembly)."""
    c = container()
    abuse_limits().hit(limits.UPLOADS, g.user.id)  # RateLimited: the 429 page, Retry-After
    try:
        job = jobs.rerun_job(
            c.uow(),
            c.storage,
            c.policy,
            c.clock,
            job_id=job_id,
            user_id=g.user.id,
            assembly=request.form.get("assembly") or None,
        )
    except NotFound:
        abort(404)
    except EmailNotVerified as exc:
        flash(str(exc), "danger")
        return redirect(url_for("pages.details", job_id=job_id), code=303)
    except Forbidden:
        abort(403)
    except UploadTooLarge as exc:
        flash(f"This file cannot be re-run on your plan: {exc}", "danger")
        return redirect(url_for("pages.details", job_id=job_id), code=303)
    except (Conflict, InvalidInput) as exc:
        flash(str(exc), "warning")
        return redirect(url_for("pages.details", job_id=job_id), code=303)
    flash(f"Re-running the input of job {job_id} as a new job; the original is unchanged.", "info")
    return redirect(url_for("pages.received", job_id=job.id), code=303)


@bp.get("/annotations/<job_id>/input")
@login_required
def download_input(job_id: str) -> Any:
    job = _owned_job(job_id)
    c = container()
    if not c.storage.exists(job.input_key):
        return render_error(404, "The input file of this job is no longer stored.")
    return redirect(
        c.storage.download_url(
            job.input_key,
            file_name=job.input_file_name,
            expires_in=c.settings.download_url_ttl_seconds,
        )
    )


@bp.get("/annotations/<job_id>/results")
@login_required
def download_results(job_id: str) -> Any:
    job = _owned_job(job_id)
    c = container()
    if (
        job.status is not JobStatus.COMPLETED
        or job.results_key is None
        or job.results_state is None
    ):
        return _results_unavailable(job, "not_ready")
    if job.results_state is ResultsState.ARCHIVED:
        return _results_unavailable(job, "archived")
    if job.results_state is ResultsState.RESTORING:
        return _results_unavailable(job, "restoring")
    return redirect(
        c.storage.download_url(
            job.results_key,
            file_name=job.results_key.rsplit("~", 1)[-1],
            expires_in=c.settings.download_url_ttl_seconds,
        )
    )


def _results_unavailable(job: Job, reason: str) -> Any:
    return render_template("results_unavailable.html", job=job, reason=reason), 409


@bp.get("/annotations/<job_id>/log")
@login_required
def job_log(job_id: str) -> Any:
    job = _owned_job(job_id)
    if job.log_key is None:
        return render_template("log.html", job=job, text=None, truncated=False), 409
    c = container()
    try:
        with c.storage.open(job.log_key) as fh:
            raw = fh.read(MAX_LOG_BYTES + 1)
    except KeyError:
        log.warning("job %s: log %s is missing from storage", job.id, job.log_key)
        return render_error(404, "The log file of this job is no longer stored.")
    truncated = len(raw) > MAX_LOG_BYTES
    text = raw[:MAX_LOG_BYTES].decode("utf-8", errors="replace")
    return render_template("log.html", job=job, text=text, truncated=truncated)


# --- plans -----------------------------------------------------------------------------------


@bp.route("/subscribe", methods=["GET", "POST"])
@login_required
def subscribe() -> Any:
    c = container()
    if request.method == "POST":
        if c.billing.enabled:
            return _start_checkout()
        if accounts.change_plan(c.uow(), c.clock, g.user.id, Plan.PREMIUM):
            flash(
                "Welcome to Premium! Larger files are accepted now, and your results are kept. "
                "Any archived results are being restored.",
                "success",
            )
        else:
            flash("You are already on the Premium plan.", "info")
        return redirect(url_for("pages.profile"))
    return render_template(
        "subscribe.html",
        premium_limit=human_size(c.settings.premium_max_upload_bytes),
        free_limit=human_size(c.settings.free_max_upload_bytes),
        retention=_human_duration(c.settings.free_retention_seconds),
        billing=c.settings.billing,
        billing_enabled=c.billing.enabled,
        checkout_cancelled=request.args.get("checkout") == "cancelled",
    )


def _site_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on this site's public address (GAS_BASE_URL), for the payment
    provider to send the user back to."""
    return container().settings.base_url + url_for(endpoint, **values)


def _billing_unavailable(exc: BillingError, action: str) -> Any:
    log.error("billing: could not %s for user %s: %s", action, g.user.id, exc)
    return render_error(
        503,
        "We could not reach our payment provider, so nothing has been charged and your plan "
        "has not changed. Please try again in a few minutes.",
    )


def _start_checkout() -> Any:
    """Send the user to the provider's payment page; the webhook upgrades them once paid."""
    c = container()
    if g.user.is_premium:
        flash("You are already on the Premium plan.", "info")
        return redirect(url_for("pages.profile"))
    try:
        url = c.billing.checkout_url(
            g.user,
            success_url=_site_url("pages.subscribe_done"),
            cancel_url=_site_url("pages.subscribe", checkout="cancelled"),
        )
    except BillingError as exc:
        return _billing_unavailable(exc, "start a checkout")
    return redirect(url, code=303)


@bp.get("/subscribe/done")
@login_required
def subscribe_done() -> Any:
    """Where the payment page sends the user back after paying."""
    if g.user.is_premium:  # the webhook was faster than the browser
        flash(
            "Welcome to Premium! Larger files are accepted now, and your results are kept. "
            "Any archived results are being restored.",
            "success",
        )
    else:
        flash(
            "Payment received — your Premium plan starts in a moment. Reload this page to see it.",
            "success",
        )
    return redirect(url_for("pages.profile"))


def _manages_subscription_with_provider() -> bool:
    """Premium paid through the provider is changed in its portal; Premium granted by an
    operator (``gas users set-plan``) has no subscription and is cancelled here."""
    return bool(container().billing.enabled and g.user.billing_customer_id)


@bp.post("/subscribe/manage")
@login_required
def billing_portal() -> Any:
    """The provider's customer portal: invoices, payment method, cancellation."""
    c = container()
    if not _manages_subscription_with_provider():
        flash("There is no paid subscription to manage on this account.", "info")
        return redirect(url_for("pages.profile"))
    try:
        url = c.billing.portal_url(g.user, return_url=_site_url("pages.profile"))
    except BillingError as exc:
        return _billing_unavailable(exc, "open the customer portal")
    return redirect(url, code=303)


@bp.route("/subscribe/cancel", methods=["GET", "POST"])
@login_required
def cancel() -> Any:
    c = container()
    via_portal = g.user.is_premium and _manages_subscription_with_provider()
    if request.method == "POST":
        if via_portal:
            # Cancelled in the provider's portal; its webhook moves the user to Free when the
            # subscription ends.
            return billing_portal()
        if accounts.change_plan(c.uow(), c.clock, g.user.id, Plan.FREE):
            flash("Your Premium subscription has been cancelled: you are on the Free plan.", "info")
        else:
            flash("You are on the Free plan already.", "info")
        return redirect(url_for("pages.profile"))
    return render_template(
        "cancel.html",
        free_limit=human_size(c.settings.free_max_upload_bytes),
        retention=_human_duration(c.settings.free_retention_seconds),
        via_portal=via_portal,
    )
