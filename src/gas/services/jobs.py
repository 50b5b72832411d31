"""Submitting jobs and reading them back, with per-user access checks."""

from __future__ import annotations

import logging
import uuid
import zlib
from dataclasses import dataclass
from typing import BinaryIO, cast

from gas.domain import events
from gas.domain.assembly import AUTO, CHOICES
from gas.domain.errors import (
    Conflict,
    EmailNotVerified,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    UploadTooLarge,
)
from gas.domain.jobs import Job, JobStatus, clean_file_name, object_key
from gas.domain.plans import Plan, PlanPolicy, human_size
from gas.ports import Clock, JobQuery, ObjectStore, ObjectTooLarge, UnitOfWork

log = logging.getLogger(__name__)

SNIFF_BYTES = 64 * 1024
# The assembly choices at upload: "auto" (the default: the engine reads the file's header,
# stored as None) or the assembly the input is on.
ASSEMBLIES = tuple(CHOICES)
DEFAULT_ASSEMBLY = AUTO


def too_large_message(plan: Plan, limit: int) -> str:
    if plan is Plan.FREE:
        return (
            f"Free accounts can annotate files of up to {human_size(limit)}. "
            "Upgrade to Premium to annotate larger files."
        )
    return f"Input files can be at most {human_size(limit)}."


def upload_limit(uow: UnitOfWork, policy: PlanPolicy, user_id: str) -> tuple[Plan, int]:
    """The plan in force now and its input limit."""
    with uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    if policy.require_verified_email and not user.email_verified:
        raise EmailNotVerified(UNVERIFIED_MESSAGE.format(email=user.email))
    return user.plan, policy.max_upload_bytes(user.plan)


UNVERIFIED_MESSAGE = (
    "Please verify your email address before submitting jobs: follow the link in the email we "
    "sent to {email} (your Profile page can send it again)."
)


# What a user refused for having too many jobs in flight is told to wait before trying again.
IN_FLIGHT_RETRY_SECONDS = 60


def check_jobs_in_flight(uow: UnitOfWork, policy: PlanPolicy, user_id: str) -> None:
    """RateLimited when the user already has the most jobs PENDING or RUNNING that one account
    may have (``policy.max_jobs_in_flight``; 0 for no cap). Inside the caller's unit of work."""
    cap = policy.max_jobs_in_flight
    if cap and uow.jobs.count_in_flight(user_id) >= cap:
        raise RateLimited(
            f"You already have {cap} annotation jobs waiting or running, the most one account "
            "may have at once. Please submit more once some of them have finished.",
            IN_FLIGHT_RETRY_SECONDS,
        )


def vcf_problem(head: bytes) -> str | None:
    """Why the first bytes of an upload cannot be a VCF, or None if they may be one.

    A quick check at upload so that obviously wrong files are refused at once; the annotator
    validates the whole file and fails the job with a precise reason otherwise.
    """
    if not head:
        return "The file is empty."
    if head[:2] == b"\x1f\x8b":  # gzip / bgzip: look at what it decompresses to
        try:
            head = _gunzip_head(head)
        except zlib.error:
            return "The file is compressed but cannot be decompressed (is it a gzipped VCF?)."
        if not head:
            return "The compressed file is empty or truncated."
    if b"\x00" in head:
        return "The file is binary, not a text VCF file."
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.split("\n", 1)[0].strip()
    if first.startswith("##fileformat=VCF") or first.startswith("#CHROM"):
        return None
    if first.startswith("##"):
        return (
            None
            if "#CHROM" in text or len(head) >= SNIFF_BYTES
            else ("The file has no '#CHROM' header line, so it is not a VCF file.")
        )
    return "The file does not start with a VCF header ('##fileformat=VCF…' or '#CHROM')."


def _gunzip_head(data: bytes) -> bytes:
    """Up to SNIFF_BYTES of what ``data`` decompresses to, across gzip members: bgzip writes
    blocks of at most 65,280 bytes, and concatenated gzip files are valid gzip files."""
    out = b""
    while data[:2] == b"\x1f\x8b" and len(out) < SNIFF_BYTES:
        member = zlib.decompressobj(wbits=31)
        out += member.decompress(data, SNIFF_BYTES - len(out))
        if not member.eof:
            break
        data = member.unused_data
    return out


# --- the plan's limit, on what the input decompresses to ---------------------------------------

INFLATE_STEP = 64 * 1024  # the most output one decompression step may produce (bounded memory)


class DecompressedSize:
    """What an input decompresses to, measured as its bytes are fed in, with bounded memory.

    Plan limits apply to the text the annotator reads: a plain file counts as it is, a gzip
    or bgzip file (a series of gzip members, zero padding between them tolerated as by
    gzip(1) and the annotator) as what it inflates to. Each inflation step produces at most
    ``INFLATE_STEP`` bytes and measuring stops as soon as the total passes ``limit``, so a
    decompression bomb costs no more than ``limit`` bytes of inflation and never that much
    memory. Data that cannot be decompressed stops the measure where it breaks (the
    annotator fails such a job with the precise reason).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._start = b""  # the first bytes, until there are two to tell gzip from plain
        self._gzip: bool | None = None
        self._member: zlib._Decompress | None = None
        self._stopped = False  # undecompressable data: nothing more is counted

    @property
    def over(self) -> bool:
        return self.size > self.limit

    def feed(self, data: bytes) -> None:
        if self._gzip is None:
            self._start += data
            if len(self._start) < 2:
                return
            data, self._start = self._start, b""
            self._gzip = data[:2] == b"\x1f\x8b"
        if not self._gzip:
            self.size += len(data)
            return
        while not self.over and not self._stopped:
            if self._member is None:
                data = data.lstrip(b"\0")  # zero padding between members
                if not data:
                    return
                self._member = zlib.decompressobj(wbits=31)
            try:
                out = self._member.decompress(data, INFLATE_STEP)
            except zlib.error:
                self._stopped = True
                return
            self.size += len(out)
            if self._member.eof:  # the next member (bgzip), if any, starts here
                data, self._member = self._member.unused_data, None
            else:
                data = self._member.unconsumed_tail
                if not data and len(out) < INFLATE_STEP:
                    return  # all consumed, nothing pending: wait for more
                # else: more input to inflate, or output still pending inside zlib

    def finish(self) -> int:
        """The size measured (some number above ``limit`` once it has passed it)."""
        self.size += len(self._start)  # one byte: too short to be gzip
        self._start = b""
        return self.size


def decompressed_size(fh: BinaryIO, limit: int) -> int:
    """The size of what ``fh`` (plain, gzip or bgzip) decompresses to, read in steps with
    bounded memory; reading stops as soon as it passes ``limit`` (and then the number returned
    is only known to be above it)."""
    measure = DecompressedSize(limit)
    while not measure.over and (chunk := fh.read(INFLATE_STEP)):
        measure.feed(chunk)
    return measure.finish()


class _Measured:
    """``stream`` as read by the object store while it stores an upload, measuring what it
    decompresses to: ObjectTooLarge (nothing kept) as soon as that passes ``limit``."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._measure = DecompressedSize(limit)

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._measure.feed(data)
        else:
            self._measure.finish()
        if self._measure.over:
            raise ObjectTooLarge(self._measure.limit)
        return data


def _check_assembly(assembly: str | None) -> None:
    if assembly is not None and assembly not in ASSEMBLIES:
        raise InvalidInput(f"Unknown assembly {assembly!r}; choose one of {', '.join(ASSEMBLIES)}.")


def _save_stored_input(
    uow: UnitOfWork,
    storage: ObjectStore,
    clock: Clock,
    *,
    user_id: str,
    job_id: str,
    key: str,
    name: str,
    size: int,
    assembly: str | None,
    policy: PlanPolicy | None = None,
) -> Job:
    """An input already stored at ``key``: refuse it if it cannot be a VCF, else save the job
    (PENDING) and its annotation request in one transaction — unless the user has reached the
    cap on jobs in flight (checked again here, with the user's row locked, so that concurrent
    uploads cannot pass it together). The caller deletes the object if this raises (no file
    without a job)."""
    with storage.open(key) as fh:
        problem = vcf_problem(fh.read(SNIFF_BYTES))
    if problem:
        raise InvalidInput(f"{name}: {problem}")
    job = Job(
        id=job_id,
        user_id=user_id,
        input_file_name=name,
        input_key=key,
        input_size=size,
        assembly=None if assembly == AUTO else assembly,
        submitted_at=clock.now(),
    )
    with uow:
        if policy is not None and policy.max_jobs_in_flight:
            uow.users.get(user_id, for_update=True)  # one upload of this user at a time
            check_jobs_in_flight(uow, policy, user_id)
        uow.jobs.add(job)
        uow.publish(events.JOB_REQUESTED, {"job_id": job.id})
        uow.commit()
    return job


def submit_job(
    uow: UnitOfWork,
    storage: ObjectStore,
    policy: PlanPolicy,
    clock: Clock,
    *,
    user_id: str,
    file_name: str,
    stream: BinaryIO,
    content_length: int | None = None,
    assembly: str | None = None,
) -> Job:
    """Store the upload at ``<user_id>/<job_id>~<name>`` and save the job (PENDING) together
    with its annotation request. Over the plan's limit (the upload as sent, or what it
    decompresses to: measured while it streams, so a gzip bomb is cut off at the limit) or not
    a VCF: nothing is kept."""
    plan, limit = upload_limit(uow, policy, user_id)
    if content_length is not None and content_length > limit:
        raise UploadTooLarge(too_large_message(plan, limit), limit)
    _check_assembly(assembly)
    if policy.max_jobs_in_flight:  # refuse before storing anything (checked again at saving)
        with uow:
            check_jobs_in_flight(uow, policy, user_id)
    name = clean_file_name(file_name or "input.vcf")
    job_id = str(uuid.uuid4())
    key = object_key(user_id, job_id, name)
    try:  # the limit holds for the bytes sent and for what they decompress to
        size = storage.put(key, cast(BinaryIO, _Measured(stream, limit)), max_bytes=limit)
    except ObjectTooLarge:
        raise UploadTooLarge(too_large_message(plan, limit), limit) from None
    try:
        job = _save_stored_input(
            uow,
            storage,
            clock,
            user_id=user_id,
            job_id=job_id,
            key=key,
            name=name,
            size=size,
            assembly=assembly,
            policy=policy,
        )
    except BaseException:
        storage.delete(key)  # no file without a job
        raise
    log.info("job %s submitted by %s: %s (%d bytes)", job.id, user_id, name, size)
    return job


def get_job(uow: UnitOfWork, job_id: str, user_id: str) -> Job:
    """The job if it belongs to ``user_id``: NotFound if there is none, Forbidden if it is
    someone else's."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound("No such annotation job.") from None
    with uow:
        job = uow.jobs.get(job_id)
    if job is None:
        raise NotFound("No such annotation job.")
    if not job.owned_by(user_id):
        raise Forbidden("This annotation job belongs to another user.")
    return job


def list_jobs(uow: UnitOfWork, user_id: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
    with uow:
        return uow.jobs.list_for_user(user_id, limit=limit, offset=offset)


@dataclass(frozen=True)
class JobListing:
    """A page of a user's jobs, how many match in all, and the place in the annotation queue
    of each PENDING job on the page."""

    jobs: list[Job]
    total: int
    queue_positions: dict[str, int]


def search_jobs(uow: UnitOfWork, user_id: str, query: JobQuery) -> JobListing:
    """The user's jobs matching ``query`` (My Annotations' search, filter, sort and page)."""
    with uow:
        page = uow.jobs.search_for_user(user_id, query)
        positions = uow.jobs.queue_positions([j.id for j in page.jobs if _waiting(j)])
    return JobListing(jobs=page.jobs, total=page.total, queue_positions=positions)


def queue_positions(uow: UnitOfWork, found: list[Job]) -> dict[str, int]:
    """The place in the annotation queue of each PENDING job of ``found``: 1 + the PENDING
    jobs of every user submitted before it."""
    waiting = [j.id for j in found if _waiting(j)]
    if not waiting:
        return {}
    with uow:
        return uow.jobs.queue_positions(waiting)


def _waiting(job: Job) -> bool:
    return job.status is JobStatus.PENDING


def rerun_job(
    uow: UnitOfWork,
    storage: ObjectStore,
    policy: PlanPolicy,
    clock: Clock,
    *,
    job_id: str,
    user_id: str,
    assembly: str | None = None,
) -> Job:
    """Annotate an ended job's stored input again, as a new job (e.g. after a reference
    bundle was installed, or on another assembly): ``assembly`` or else the one chosen for
    the original. The input is copied to the new job's own key — so that deleting either job
    never deletes the other's input — under the plan in force now: over its limit (a Free
    user re-running what a Premium account annotated) it is UploadTooLarge, and nothing is
    kept. Conflict while the job has not ended, or when its input is no longer stored."""
    original = get_job(uow, job_id, user_id)
    if not original.rerunnable:
        raise Conflict(
            f"Job {original.id} is {original.status.value}: it can be re-run once it has ended."
        )
    if not storage.exists(original.input_key):
        raise Conflict("The input file of this job is no longer stored, so it cannot be re-run.")
    with storage.open(original.input_key) as stream:
        job = submit_job(
            uow,
            storage,
            policy,
            clock,
            user_id=user_id,
            file_name=original.input_file_name,
            stream=stream,
            content_length=original.input_size,
            assembly=assembly or original.assembly or AUTO,
        )
    log.info("job %s: a re-run of job %s", job.id, original.id)
    return job


def register_uploaded_job(
    uow: UnitOfWork,
    storage: ObjectStore,
    policy: PlanPolicy,
    clock: Clock,
    *,
    user_id: str,
    job_id: str,
    key: str,
    assembly: str | None = None,
) -> Job:
    """Save the job for a file the browser uploaded straight to the object store (a presigned
    POST to ``<user_id>/<job_id>~<file name>``), with its annotation request, in one
    transaction.

    The caller has checked that the upload was offered to ``user_id`` for ``job_id`` (the signed
    token of the redirect). Here: the key must be that job's; a job that exists already is
    returned as it is (the redirect was replayed), and a second file uploaded through the same
    form is deleted. Otherwise the object must exist, be within the plan's limit as of now,
    both as stored and decompressed (UploadTooLarge), and look like a VCF (InvalidInput); a
    refused object is deleted, so that nothing is kept without a job.
    """
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise InvalidInput("The upload does not belong to an annotation request.") from None
    prefix = f"{user_id}/{job_id}~"
    raw_name = key[len(prefix) :] if key.startswith(prefix) else ""
    if not raw_name or "/" in raw_name:
        raise InvalidInput("The upload does not belong to this annotation request.")

    with uow:
        existing = uow.jobs.get(job_id)
    if existing is not None:
        return _uploaded_again(storage, existing, user_id, key)

    plan, limit = upload_limit(uow, policy, user_id)
    try:
        size = storage.size(key)
    except KeyError:
        raise InvalidInput("The uploaded file did not arrive; please upload it again.") from None
    except ValueError:  # a key the store refuses (control characters in the file's name)
        raise InvalidInput("The file's name cannot be used; please rename it.") from None
    name = clean_file_name(raw_name)
    try:
        _check_assembly(assembly)
        if size > limit or _stored_size(storage, key, limit) > limit:
            raise UploadTooLarge(too_large_message(plan, limit), limit)
        job = _save_stored_input(
            uow,
            storage,
            clock,
            user_id=user_id,
            job_id=job_id,
            key=key,
            name=name,
            size=size,
            assembly=assembly,
            policy=policy,
        )
    except BaseException:
        with uow:
            raced = uow.jobs.get(job_id)  # a concurrent redirect saved it first
        if raced is not None:
            return _uploaded_again(storage, raced, user_id, key)
        storage.delete(key)  # no file without a job
        raise
    log.info("job %s uploaded by %s: %s (%d bytes)", job_id, user_id, name, size)
    return job


def _stored_size(storage: ObjectStore, key: str, limit: int) -> int:
    """What the stored object decompresses to (streamed; stops once over ``limit``)."""
    with storage.open(key) as fh:
        return decompressed_size(fh, limit)


def _uploaded_again(storage: ObjectStore, job: Job, user_id: str, key: str) -> Job:
    """The job of a replayed upload redirect; another file sent with the same form is deleted
    (only the first upload of a form makes a job)."""
    if not job.owned_by(user_id):
        raise Forbidden("This annotation job belongs to another user.")
    if key != job.input_key:
        log.warning("job %s: a second upload through the same form (%s) deleted", job.id, key)
        storage.delete(key)
    return job
