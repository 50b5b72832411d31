"""The ports: what services need from the outside world, as small protocols.

Each port has an in-memory fake (tests/fakes.py) and one adapter per technology under
``gas.adapters``; every adapter of a port passes the same contract test suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, BinaryIO, Protocol

from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.users import User


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


# --- metadata ---------------------------------------------------------------------------


class UserRepository(Protocol):
    def add(self, user: User) -> None: ...
    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        """The user, locked until the unit of work ends when ``for_update`` (so that a plan
        change waits for a decision that depends on the plan)."""
        ...

    def get_by_email(self, email: str) -> User | None: ...
    def get_by_billing_customer(self, customer_id: str) -> User | None: ...
    def get_by_oidc_subject(self, subject: str) -> User | None: ...
    def save(self, user: User) -> None: ...
    def delete(self, user_id: str) -> bool:
        """Remove the user's row (their jobs, tokens and sessions must be gone first)."""
        ...


# How My Annotations (and the API's list) can order a user's jobs.
JOB_SORTS = ("newest", "oldest", "name", "status")


@dataclass(frozen=True)
class JobQuery:
    """Which of a user's jobs to list, in which order, which page."""

    name: str = ""  # a case-insensitive part of the input file's name; "" for any
    statuses: tuple[JobStatus, ...] = ()  # () for every status
    # newest/oldest: by request time; name: by file name, then newest; status: RUNNING,
    # PENDING, FAILED, COMPLETED (what needs attention first), then newest
    sort: str = "newest"
    limit: int = 25
    offset: int = 0


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int  # how many jobs match the query, on every page


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...
    def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        """The job, locked until the unit of work ends when ``for_update``."""
        ...

    def save(self, job: Job) -> None: ...
    def set_progress(self, job_id: str, progress: float) -> None:
        """Record how far a RUNNING job has got (0..1); ignored once it has ended."""
        ...

    def list_for_user(self, user_id: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """The user's jobs, newest first."""
        ...

    def list_by_results_state(self, user_id: str, state: ResultsState) -> list[Job]:
        """The user's jobs whose results are in ``state``."""
        ...

    def search_for_user(self, user_id: str, query: JobQuery) -> JobPage:
        """A page of the user's jobs matching ``query``, and how many match in all."""
        ...

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        """For each PENDING job of ``job_ids``: its place in the annotation queue — 1 + the
        PENDING jobs of every user submitted before it. Other jobs are left out."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove the job's row (no error if there is none)."""
        ...

    def get_by_archive_id(self, archive_id: str, *, for_update: bool = False) -> Job | None: ...

    def count_in_flight(self, user_id: str) -> int:
        """How many of the user's jobs are PENDING or RUNNING."""
        ...


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    token_hash: str
    label: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenRepository(Protocol):
    def add(self, token: ApiToken) -> None: ...
    def get_by_hash(self, token_hash: str) -> ApiToken | None: ...
    def touch(self, token_id: str, when: datetime) -> None: ...
    def list_for_user(self, user_id: str) -> list[ApiToken]: ...
    def revoke(self, token_id: str, user_id: str, when: datetime) -> bool: ...
    def delete_for_user(self, user_id: str) -> int: ...


@dataclass(frozen=True)
class UserSession:
    """A browser's log-in, kept on the server so that it can end: the cookie carries a random
    token, the table its SHA-256 (``token_hash``). Valid until ``expires_at`` (the absolute
    lifetime), while used at least every idle timeout, and until revoked (log-out, password
    change, account deletion)."""

    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    method: str = "password"  # how the user proved who they are ("password", later "oidc")
    user_agent: str = ""
    revoked_at: datetime | None = None
    client_address: str = ""  # where the log-in came from (as the WSGI server saw it)


class SessionRepository(Protocol):
    def add(self, session: UserSession) -> None: ...
    def get_by_hash(self, token_hash: str) -> UserSession | None: ...
    def touch(self, session_id: str, when: datetime) -> None:
        """Record activity (``last_seen_at``), unless the session has been revoked."""
        ...

    def revoke(self, session_id: str, when: datetime) -> bool: ...
    def revoke_all_for_user(
        self, user_id: str, when: datetime, *, except_id: str | None = None
    ) -> int:
        """Revoke every live session of the user (but ``except_id``); how many were."""
        ...

    def list_for_user(self, user_id: str) -> list[UserSession]:
        """The user's sessions that have not been revoked, newest first (expired ones too)."""
        ...

    def delete_ended(self, user_id: str, before: datetime) -> int:
        """Forget the user's sessions revoked or expired before ``before``."""
        ...

    def delete_for_user(self, user_id: str) -> int: ...


class RateLimiter(Protocol):
    """Windowed counters shared by every web process (their state is in the database)."""

    def hit(self, key: str, window_seconds: int, now: float) -> int:
        """Count one event for ``key`` in the fixed window of ``window_seconds`` holding
        ``now`` (seconds since the epoch); returns the window's count, this event included."""
        ...

    def count(self, key: str, window_seconds: int, now: float) -> int:
        """The events counted for ``key`` in the window holding ``now``."""
        ...


class NotificationLog(Protocol):
    """Which notifications were sent, so a redelivered event does not email twice."""

    def was_sent(self, key: str) -> bool: ...
    def record(self, key: str, when: datetime) -> None: ...


class BillingEventLog(Protocol):
    """Billing webhook events already handled (providers deliver them at least once)."""

    def seen(self, event_id: str) -> bool: ...
    def record(self, event_id: str, kind: str, when: datetime) -> None: ...


@dataclass(frozen=True)
class AccountToken:
    """A single-use, expiring proof sent by email (``purpose``: "reset", a password reset).
    Only the token's SHA-256 is stored; ``used_at`` is set when it is spent (or superseded)."""

    id: str
    user_id: str
    purpose: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class AccountTokenRepository(Protocol):
    def add(self, token: AccountToken) -> None: ...
    def get_by_hash(self, token_hash: str) -> AccountToken | None: ...
    def use(self, token_id: str, when: datetime) -> bool:
        """Spend the token: True only for the one call that finds it unused and unexpired."""
        ...

    def use_all_for_user(self, user_id: str, purpose: str, when: datetime) -> int:
        """Spend every unused token of the user for ``purpose`` (a newer one supersedes them)."""
        ...

    def delete_for_user(self, user_id: str) -> int: ...


class UnitOfWork(Protocol):
    """One transaction: repositories plus the outbox of messages published in it.

    Use as a context manager; nothing is kept unless ``commit()`` is called. Messages passed
    to ``publish`` are delivered only if the transaction commits (transactional outbox).
    """

    users: UserRepository
    jobs: JobRepository
    tokens: TokenRepository
    sessions: SessionRepository
    account_tokens: AccountTokenRepository
    notifications: NotificationLog
    billing_events: BillingEventLog

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc: object) -> None: ...
    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A message handed to a consumer under a lease."""

    id: str
    queue: str
    topic: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    receipt: str  # identifies this lease; ack/fail/heartbeat with a stale receipt do nothing

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    @property
    def exhausted(self) -> bool:
        """The message's consumers kept dying mid-message (e.g. a crash on a pathological
        input): it is handed out once more so the handler can record the failure — it must not
        do the work again — and is then dead-lettered with ``fail``. (The SQS adapter has
        already moved it to the dead-letter queue; ``fail`` is then a no-op.)"""
        return self.attempt > self.max_attempts


class MessageQueue(Protocol):
    """Consumer side of the durable queue (publishing goes through the unit of work)."""

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        """Publish outside of any other transaction."""
        ...

    def claim(self, queue: str) -> Delivery | None:
        """Lease the next ready message of ``queue``, or None."""
        ...

    def ack(self, delivery: Delivery) -> bool:
        """The handler succeeded: the message is done. False if the lease was lost."""
        ...

    def fail(self, delivery: Delivery, error: str) -> None:
        """Retry later with exponential backoff, or dead-letter after the last attempt."""
        ...

    def release(self, delivery: Delivery) -> None:
        """Give the message back at once, without counting an attempt (clean shutdown)."""
        ...

    def heartbeat(self, delivery: Delivery) -> bool:
        """Extend the lease. False if it was lost (another consumer may have the message)."""
        ...

    def wait(self, queues: list[str], timeout: float) -> None:
        """Block until a message may be ready on one of ``queues`` or ``timeout`` passes."""
        ...

    def stats(self) -> dict[str, dict[str, int]]:
        """Per queue, the number of messages in each state (ready, leased, delayed, dead)."""
        ...


# --- files ------------------------------------------------------------------------------


class ObjectTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"object larger than {limit} bytes")
        self.limit = limit


class ObjectStore(Protocol):
    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Stream ``stream`` to ``key`` and return its size. Over ``max_bytes`` nothing is kept
        and ObjectTooLarge is raised."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable binary stream of the object; KeyError if it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def download_url(self, key: str, *, file_name: str, expires_in: int) -> str:
        """A time-limited URL that serves the object as an attachment named ``file_name``."""
        ...


class SweepsTemporaryData(Protocol):
    """An object or cold store whose writes, interrupted by a crash, can leave temporary data
    behind (a local directory's temp files, an S3 multipart upload). Optional: workers call it
    when a store has it."""

    def sweep_temp(self, older_than: float) -> int:
        """Remove what interrupted writes left that is older than ``older_than`` seconds (S3:
        never less than a day); returns how many things were removed."""
        ...


# --- mail -------------------------------------------------------------------------------


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Send (or file) one message; raises on failure so the event is retried."""
        ...


# --- cold storage -----------------------------------------------------------------------


class RetrievalRefused(Exception):
    """The cold store cannot take this retrieval now (e.g. no Expedited capacity)."""


class NotRetrieved(Exception):
    """The archive cannot be read: no retrieval has completed for it."""


@dataclass(frozen=True)
class ArchiveInfo:
    archive_id: str
    size: int
    sha256: str


class ColdStore(Protocol):
    """Cheap storage whose objects cannot be read until a retrieval completes (Glacier-like).

    Completion of a retrieval is announced by publishing ``results.restore_ready`` with
    ``{"archive_id": ...}``, never discovered by polling.
    """

    tiers: tuple[str, ...]  # fastest first, e.g. ("Expedited", "Standard", "Bulk")

    def archive(self, archive_id: str, stream: BinaryIO) -> ArchiveInfo:
        """Store ``stream`` under ``archive_id`` (replacing any earlier copy); returns what was
        stored, as the store itself measured it."""
        ...

    def describe(self, archive_id: str) -> ArchiveInfo | None:
        """Size and checksum of the stored archive, or None if there is none."""
        ...

    def request_retrieval(self, archive_id: str, tier: str) -> float:
        """Start a retrieval (idempotent); returns the expected wait in seconds. Raises
        RetrievalRefused when the tier has no capacity, KeyError for an unknown archive."""
        ...

    def open_retrieved(self, archive_id: str) -> AbstractContextManager[BinaryIO]:
        """Read a retrieved archive; NotRetrieved until the retrieval has completed."""
        ...

    def delete(self, archive_id: str) -> None:
        """Remove the archive; no error if it is already gone."""
        ...


# --- billing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingEvent:
    """A verified event from the payment provider."""

    id: str
    kind: str  # "subscription.started" or "subscription.ended"
    user_id: str | None
    customer_id: str | None
    occurred_at: datetime | None = None  # when the provider says it happened


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or payload cannot be trusted."""


class Billing(Protocol):
    enabled: bool

    def checkout_url(self, user: User, *, success_url: str, cancel_url: str) -> str:
        """Where to send the user to pay for Premium."""
        ...

    def portal_url(self, user: User, *, return_url: str) -> str:
        """Where the user manages or cancels the subscription."""
        ...

    def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> BillingEvent | None:
        """Verify and decode a webhook; None for events GAS does not act on. Raises
        InvalidWebhook."""
        ...

    def forget_customer(self, user: User) -> None:
        """Before the account is deleted: cancel every subscription of the user at once and
        delete them as a customer of the provider (nothing to do without one)."""
        ...


class ScaleInProtection(Protocol):
    """Keeps this machine in its autoscaling group while it works on a job (EC2 Auto Scaling's
    instance scale-in protection); does nothing where there is no such group."""

    def set_protected(self, protected: bool) -> None:
        """On when a job starts, off when it ends. Never raises: a failure is logged and the
        job goes on (the worst case is the autoscaling group's own choice of instance)."""
        ...
