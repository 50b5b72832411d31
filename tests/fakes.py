"""In-memory fakes of every port (``gas.ports``), for unit tests of the domain and services.

They keep the semantics the services rely on, not just the signatures:

- ``FakeUnitOfWork``: a transaction over a ``FakeDatabase``. Entering takes a private working
  copy of the committed state; ``commit()`` writes the staged changes *and* delivers the
  messages published in the transaction; ``rollback()`` or leaving the block without a commit
  drops both. So a test can prove "no job without its request" (and the reverse).
- Repositories hand out copies, as a database would: a change not ``save``d is not kept.
- ``FakeQueue`` fans a topic out to its subscriber queues (``gas.domain.events.subscribers``).
- ``FakeObjectStore`` refuses objects over ``max_bytes`` and then keeps nothing.

Everything is plain Python; nothing here sleeps or touches the network.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlencode

from gas import ports
from gas.adapters.localfs import validate_key
from gas.adapters.mail import _complete_headers as complete_headers
from gas.domain import events
from gas.domain.errors import Conflict
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.users import User
from gas.ports import (
    AccountToken,
    ApiToken,
    Delivery,
    JobPage,
    JobQuery,
    ObjectTooLarge,
    UserSession,
)

# --- clock ----------------------------------------------------------------------------------

EPOCH = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


# --- passwords ------------------------------------------------------------------------------


class FakeHasher:
    """Cheap and deterministic, NOT a password hash: for tests only.

    ``needs_rehash`` is True for hashes made by a hasher with another ``scheme``, so a test can
    prove that log-in upgrades old hashes.
    """

    def __init__(self, scheme: str = "plain") -> None:
        self.prefix = scheme + "$"

    def hash(self, password: str) -> str:
        return self.prefix + password[::-1]

    def verify(self, password_hash: str, password: str) -> bool:
        scheme, sep, rest = password_hash.partition("$")
        return bool(sep) and rest == password[::-1]

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(self.prefix)


# --- queue ----------------------------------------------------------------------------------


@dataclass
class QueuedMessage:
    id: str
    queue: str
    topic: str
    payload: dict[str, Any]
    available_at: datetime  # ready: when it may be claimed; leased: when its lease ends
    attempts: int = 0
    max_attempts: int = 5
    state: str = "ready"  # ready | leased | done | dead
    receipt: str = ""
    errors: list[str] = field(default_factory=list)
    dead_at: datetime | None = None


class FakeQueue:
    """``gas.ports.MessageQueue`` in memory, with the SQL queue's rules (its contract suite,
    tests/integration/test_sql_queue.py, runs on this fake too): topics fan out to subscriber
    queues; payloads go through JSON; the oldest due message is claimed first, under a lease of
    ``lease_seconds`` that a heartbeat renews and that, once expired, lets another consumer
    claim the message again (a lease that expires during the last attempt hands the message
    out once more as an *exhausted* notice); a failure retries after an exponential backoff
    with jitter (``backoff_base``, ``backoff_cap``) or dead-letters the message after
    ``max_attempts``; dead letters can be listed and retried.

    ``published[topic]`` lists every payload ever published on ``topic`` (committed ones only,
    when publishing goes through a ``FakeUnitOfWork``). An acknowledged message stays in
    ``messages`` as "done", for assertions. ``consumer(**options)`` is another consumer of the
    same messages (as two SqlQueue objects over one database).
    """

    def __init__(
        self,
        clock: ports.Clock | None = None,
        *,
        max_attempts: int = 5,
        lease_seconds: float = 60.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 600.0,
        seed: int = 0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.published: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.messages: list[QueuedMessage] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)  # the jitter, reproducible

    def consumer(self, **options: Any) -> FakeQueue:
        """Another consumer of the same messages, with its own ``options`` (lease_seconds …)."""
        other = copy.copy(self)  # shares messages, published, ids and clock
        for name, value in options.items():
            if not hasattr(other, name):
                raise TypeError(f"FakeQueue has no option {name!r}")
            setattr(other, name, value)
        return other

    # publishing
    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        queues = events.subscribers(topic)  # unknown topic -> ValueError, as the real queue
        payload = json.loads(json.dumps(payload))  # stored as JSON: anything else is refused
        self.published[topic].append(payload)
        for queue in queues:
            self.messages.append(
                QueuedMessage(
                    id=str(next(self._ids)),
                    queue=queue,
                    topic=topic,
                    payload=copy.deepcopy(payload),
                    available_at=self.clock.now() + timedelta(seconds=max(0.0, delay)),
                    max_attempts=self.max_attempts,
                )
            )

    # consuming
    def claim(self, queue: str) -> Delivery | None:
        now = self.clock.now()
        due = [
            m
            for m in self.messages
            if m.queue == queue and m.state in ("ready", "leased") and m.available_at <= now
        ]
        if not due:
            return None
        m = min(due, key=lambda m: (m.available_at, int(m.id)))
        if m.attempts >= m.max_attempts:
            # its consumer died during the last attempt: once more, as an "exhausted" notice
            m.errors.append(f"lease expired during attempt {m.attempts}")
        m.state = "leased"
        m.attempts += 1
        m.receipt = f"{m.id}:{m.attempts}:{next(self._ids)}"
        m.available_at = now + timedelta(seconds=self.lease_seconds)
        return Delivery(
            id=m.id,
            queue=m.queue,
            topic=m.topic,
            payload=copy.deepcopy(m.payload),
            attempt=m.attempts,
            max_attempts=m.max_attempts,
            receipt=m.receipt,
        )

    def _leased(self, delivery: Delivery) -> QueuedMessage | None:
        for m in self.messages:
            if m.id == delivery.id and m.state == "leased" and m.receipt == delivery.receipt:
                return m
        return None

    def ack(self, delivery: Delivery) -> bool:
        m = self._leased(delivery)
        if m is None:
            return False
        m.state = "done"
        return True

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: between half the ceiling and the ceiling,
        ``min(backoff_cap, backoff_base * 2 ** (attempt - 1))``."""
        ceiling = float(min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1)))
        return ceiling / 2 + self._random.random() * ceiling / 2

    def fail(self, delivery: Delivery, error: str) -> None:
        m = self._leased(delivery)
        if m is None:
            return
        m.errors.append(error[-4000:])
        m.receipt = ""
        now = self.clock.now()
        if delivery.attempt >= delivery.max_attempts:
            m.state = "dead"
            m.dead_at = now
        else:
            m.state = "ready"
            m.available_at = now + timedelta(seconds=self.backoff(delivery.attempt))

    def release(self, delivery: Delivery) -> None:
        m = self._leased(delivery)
        if m is None:
            return
        m.state = "ready"
        m.receipt = ""
        m.attempts -= 1  # a release does not count as an attempt
        m.available_at = self.clock.now()

    def heartbeat(self, delivery: Delivery) -> bool:
        m = self._leased(delivery)
        if m is None:
            return False
        m.available_at = self.clock.now() + timedelta(seconds=self.lease_seconds)
        return True

    def wait(self, queues: list[str], timeout: float) -> None:
        return None  # never sleeps: tests drive the clock

    def close(self) -> None:
        return None

    def stats(self) -> dict[str, dict[str, int]]:
        now = self.clock.now()
        out: dict[str, dict[str, int]] = {}
        for m in self.messages:
            if m.state == "done":
                continue
            state = m.state
            if state == "ready" and m.available_at > now:
                state = "delayed"
            elif state == "leased" and m.available_at <= now:
                state = "ready"  # its lease expired: anyone may claim it
            counts = out.setdefault(m.queue, {"ready": 0, "leased": 0, "delayed": 0, "dead": 0})
            counts[state] += 1
        return out

    # operators
    def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        dead = [m for m in self.messages if m.state == "dead" and (not queue or m.queue == queue)]
        dead.sort(key=lambda m: m.dead_at or EPOCH, reverse=True)
        return [
            {
                "id": int(m.id),
                "queue": m.queue,
                "topic": m.topic,
                "payload": json.dumps(m.payload, separators=(",", ":"), sort_keys=True),
                "attempts": m.attempts,
                "last_error": m.errors[-1] if m.errors else None,
                "dead_at": m.dead_at.timestamp() if m.dead_at else None,
            }
            for m in dead[:limit]
        ]

    def retry_dead(self, message_id: int | str) -> bool:
        for m in self.messages:
            if m.id == str(message_id) and m.state == "dead":
                m.state, m.attempts, m.dead_at = "ready", 0, None
                m.available_at = self.clock.now()
                return True
        return False

    # for assertions
    def payloads(self, queue: str) -> list[tuple[str, dict[str, Any]]]:
        """(topic, payload) of every message ever routed to ``queue``, in order."""
        return [(m.topic, m.payload) for m in self.messages if m.queue == queue]

    def topics(self) -> list[str]:
        """Every topic published so far, once per message, in order."""
        return [topic for topic, payloads in self.published.items() for _ in payloads]


# --- metadata: a database with transactions -------------------------------------------------


@dataclass
class Tables:
    users: dict[str, User] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    tokens: dict[str, ApiToken] = field(default_factory=dict)
    sessions: dict[str, UserSession] = field(default_factory=dict)
    account_tokens: dict[str, AccountToken] = field(default_factory=dict)
    notifications: dict[str, datetime] = field(default_factory=dict)
    billing_events: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def copy(self) -> Tables:
        return copy.deepcopy(self)


@dataclass(frozen=True)
class CommitRecord:
    """What one commit wrote: the rows it changed (table -> keys) and the messages it sent."""

    changed: dict[str, frozenset[str]]
    messages: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def topics(self) -> list[str]:
        return [topic for topic, _ in self.messages]


class CommitFailed(Exception):
    """What a ``FakeDatabase`` told to fail raises from ``commit()``."""


class FakeIntegrityError(Exception):
    """A constraint of the real schema refused a write (a unique index, a foreign key): the
    fake's stand-in for ``sqlalchemy.exc.IntegrityError``."""


def _stored(row: Any) -> Any:
    """``row`` as the database keeps it: its times timezone-aware, in UTC (a naive time is
    refused, as the SQL adapter refuses it)."""
    changes = {}
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise ValueError(f"naive datetime in {type(row).__name__}.{f.name}: {value!r}")
            if value.tzinfo is not UTC:
                changes[f.name] = value.astimezone(UTC)
    return dataclasses.replace(row, **changes) if changes else row


class FakeDatabase:
    """The committed state shared by every ``FakeUnitOfWork`` made by one factory.

    Read the committed rows directly (``db.jobs[job_id]``) in assertions; write through a unit
    of work in arrangements so that the services see exactly what a real database would give.
    """

    def __init__(self, queue: FakeQueue | None = None) -> None:
        self.committed = Tables()
        self.queue = queue if queue is not None else FakeQueue()
        self.commits: list[CommitRecord] = []
        self.fail_commits = 0  # the next N commits raise CommitFailed and keep nothing

    @property
    def users(self) -> dict[str, User]:
        return self.committed.users

    @property
    def jobs(self) -> dict[str, Job]:
        return self.committed.jobs

    @property
    def tokens(self) -> dict[str, ApiToken]:
        return self.committed.tokens

    @property
    def notifications(self) -> dict[str, datetime]:
        return self.committed.notifications


def _detached(job: Job) -> Job:
    """A copy without pending events: a database stores the state, not the announcements."""
    return dataclasses.replace(copy.deepcopy(job), events=[])


class FakeUserRepository:
    def __init__(self, rows: dict[str, User]) -> None:
        self._rows = rows

    def add(self, user: User) -> None:
        if user.id in self._rows:
            raise FakeIntegrityError(f"duplicate user id {user.id}")
        if any(u.email == user.email for u in self._rows.values()):
            # the unique index of the real table, as the SQL adapter reports it
            raise Conflict("An account with this email address already exists.")
        self._rows[user.id] = _stored(copy.deepcopy(user))

    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        user = self._rows.get(user_id)
        return copy.deepcopy(user) if user is not None else None

    def get_by_email(self, email: str) -> User | None:
        for user in self._rows.values():
            if user.email == email:
                return copy.deepcopy(user)
        return None

    def get_by_oidc_subject(self, subject: str) -> User | None:
        for user in self._rows.values():
            if user.oidc_subject == subject:
                return copy.deepcopy(user)
        return None

    def get_by_billing_customer(self, customer_id: str) -> User | None:
        for user in self._rows.values():
            if user.billing_customer_id == customer_id:
                return copy.deepcopy(user)
        return None

    def save(self, user: User) -> None:
        if user.id not in self._rows:
            raise KeyError(f"no user {user.id} to save")
        if any(u.email == user.email and u.id != user.id for u in self._rows.values()):
            raise FakeIntegrityError(f"duplicate email {user.email}")
        stored = _stored(copy.deepcopy(user))
        stored.created_at = self._rows[user.id].created_at  # never changes
        self._rows[user.id] = stored

    def delete(self, user_id: str) -> bool:
        return self._rows.pop(user_id, None) is not None


class FakeJobRepository:
    def __init__(self, rows: dict[str, Job]) -> None:
        self._rows = rows

    def add(self, job: Job) -> None:
        if job.id in self._rows:
            raise FakeIntegrityError(f"duplicate job id {job.id}")
        self._rows[job.id] = _stored(_detached(job))

    def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        job = self._rows.get(job_id)
        return _detached(job) if job is not None else None

    def save(self, job: Job) -> None:
        if job.id not in self._rows:
            raise KeyError(f"no job {job.id} to save")
        before = self._rows[job.id]
        fixed = {name: getattr(before, name) for name in ("user_id", "submitted_at", "input_key")}
        self._rows[job.id] = dataclasses.replace(_stored(_detached(job)), **fixed)

    def set_progress(self, job_id: str, progress: float) -> None:
        job = self._rows.get(job_id)
        if job is not None and job.status is JobStatus.RUNNING:
            job.progress = progress

    def list_for_user(self, user_id: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        mine = [j for j in self._rows.values() if j.user_id == user_id]
        mine.sort(key=lambda j: (j.submitted_at, j.id), reverse=True)
        return [_detached(j) for j in mine[offset : offset + limit]]

    def list_by_results_state(self, user_id: str, state: ResultsState) -> list[Job]:
        return [
            _detached(j)
            for j in self._rows.values()
            if j.user_id == user_id and j.results_state is state
        ]

    def get_by_archive_id(self, archive_id: str, *, for_update: bool = False) -> Job | None:
        for job in self._rows.values():
            if job.archive_id == archive_id:
                return _detached(job)
        return None

    def count_in_flight(self, user_id: str) -> int:
        in_flight = (JobStatus.PENDING, JobStatus.RUNNING)
        return sum(1 for j in self._rows.values() if j.user_id == user_id and j.status in in_flight)

    def search_for_user(self, user_id: str, query: JobQuery) -> JobPage:
        found = [
            j
            for j in self._rows.values()
            if j.user_id == user_id
            and query.name.lower() in j.input_file_name.lower()
            and (not query.statuses or j.status in query.statuses)
        ]
        rank = {JobStatus.RUNNING: 0, JobStatus.PENDING: 1, JobStatus.FAILED: 2}
        found.sort(key=lambda j: (j.submitted_at, j.id), reverse=query.sort != "oldest")
        if query.sort == "name":  # stable sorts: newest first within a name / a status
            found.sort(key=lambda j: j.input_file_name.lower())
        elif query.sort == "status":
            found.sort(key=lambda j: rank.get(j.status, 3))
        page = found[query.offset : query.offset + query.limit]
        return JobPage(jobs=[_detached(j) for j in page], total=len(found))

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        pending = sorted(
            (j.submitted_at, j.id) for j in self._rows.values() if j.status is JobStatus.PENDING
        )
        place = {job_id: n for n, (_, job_id) in enumerate(pending, start=1)}
        return {job_id: place[job_id] for job_id in job_ids if job_id in place}

    def delete(self, job_id: str) -> None:
        self._rows.pop(job_id, None)


class FakeTokenRepository:
    def __init__(self, rows: dict[str, ApiToken]) -> None:
        self._rows = rows

    def add(self, token: ApiToken) -> None:
        if token.id in self._rows or self.get_by_hash(token.token_hash) is not None:
            raise FakeIntegrityError("duplicate token")  # the unique index on the hash
        self._rows[token.id] = _stored(token)

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        for token in self._rows.values():
            if token.token_hash == token_hash:
                return token
        return None

    def touch(self, token_id: str, when: datetime) -> None:
        if token_id in self._rows:
            token = dataclasses.replace(self._rows[token_id], last_used_at=when)
            self._rows[token_id] = _stored(token)

    def list_for_user(self, user_id: str) -> list[ApiToken]:
        return sorted(  # newest first
            (t for t in self._rows.values() if t.user_id == user_id),
            key=lambda t: t.created_at,
            reverse=True,
        )

    def delete_for_user(self, user_id: str) -> int:
        ids = [t.id for t in self._rows.values() if t.user_id == user_id]
        for token_id in ids:
            del self._rows[token_id]
        return len(ids)

    def revoke(self, token_id: str, user_id: str, when: datetime) -> bool:
        token = self._rows.get(token_id)
        if token is None or token.user_id != user_id or token.revoked_at is not None:
            return False
        self._rows[token_id] = _stored(dataclasses.replace(token, revoked_at=when))
        return True


class FakeSessionRepository:
    def __init__(self, rows: dict[str, UserSession]) -> None:
        self._rows = rows

    def add(self, session: UserSession) -> None:
        if session.id in self._rows or self.get_by_hash(session.token_hash) is not None:
            raise KeyError("duplicate session")
        self._rows[session.id] = session

    def get_by_hash(self, token_hash: str) -> UserSession | None:
        return next((s for s in self._rows.values() if s.token_hash == token_hash), None)

    def touch(self, session_id: str, when: datetime) -> None:
        session = self._rows.get(session_id)
        if session is not None and session.revoked_at is None:
            self._rows[session_id] = dataclasses.replace(session, last_seen_at=when)

    def revoke(self, session_id: str, when: datetime) -> bool:
        session = self._rows.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._rows[session_id] = dataclasses.replace(session, revoked_at=when)
        return True

    def revoke_all_for_user(
        self, user_id: str, when: datetime, *, except_id: str | None = None
    ) -> int:
        ids = [
            s.id
            for s in self._rows.values()
            if s.user_id == user_id and s.revoked_at is None and s.id != except_id
        ]
        for session_id in ids:
            self.revoke(session_id, when)
        return len(ids)

    def list_for_user(self, user_id: str) -> list[UserSession]:
        mine = [s for s in self._rows.values() if s.user_id == user_id and s.revoked_at is None]
        return sorted(mine, key=lambda s: (s.created_at, s.id), reverse=True)

    def delete_ended(self, user_id: str, before: datetime) -> int:
        ended = [
            s.id
            for s in self._rows.values()
            if s.user_id == user_id
            and ((s.revoked_at is not None and s.revoked_at < before) or s.expires_at < before)
        ]
        for session_id in ended:
            del self._rows[session_id]
        return len(ended)

    def delete_for_user(self, user_id: str) -> int:
        ids = [s.id for s in self._rows.values() if s.user_id == user_id]
        for session_id in ids:
            del self._rows[session_id]
        return len(ids)


class FakeAccountTokenRepository:
    def __init__(self, rows: dict[str, AccountToken]) -> None:
        self._rows = rows

    def add(self, token: AccountToken) -> None:
        if token.id in self._rows or self.get_by_hash(token.token_hash) is not None:
            raise KeyError("duplicate account token")
        self._rows[token.id] = token

    def get_by_hash(self, token_hash: str) -> AccountToken | None:
        return next((t for t in self._rows.values() if t.token_hash == token_hash), None)

    def use(self, token_id: str, when: datetime) -> bool:
        token = self._rows.get(token_id)
        if token is None or token.used_at is not None or token.expires_at <= when:
            return False
        self._rows[token_id] = dataclasses.replace(token, used_at=when)
        return True

    def use_all_for_user(self, user_id: str, purpose: str, when: datetime) -> int:
        ids = [
            t.id
            for t in self._rows.values()
            if t.user_id == user_id and t.purpose == purpose and t.used_at is None
        ]
        for token_id in ids:
            self._rows[token_id] = dataclasses.replace(self._rows[token_id], used_at=when)
        return len(ids)

    def delete_for_user(self, user_id: str) -> int:
        ids = [t.id for t in self._rows.values() if t.user_id == user_id]
        for token_id in ids:
            del self._rows[token_id]
        return len(ids)


class FakeRateLimiter:
    """Fixed-window counters in a dict (the SQL adapter keeps them in a table)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def hit(self, key: str, window_seconds: int, now: float) -> int:
        window = (key, int(now // window_seconds) * window_seconds)
        self.counts[window] = self.counts.get(window, 0) + 1
        return self.counts[window]

    def count(self, key: str, window_seconds: int, now: float) -> int:
        return self.counts.get((key, int(now // window_seconds) * window_seconds), 0)


class FakeNotificationLog:
    def __init__(self, rows: dict[str, datetime]) -> None:
        self._rows = rows

    def was_sent(self, key: str) -> bool:
        return key in self._rows

    def record(self, key: str, when: datetime) -> None:
        if key in self._rows:
            raise FakeIntegrityError(f"notification {key!r} already recorded")  # primary key
        self._rows[key] = when


class FakeBillingEventLog:
    def __init__(self, rows: dict[str, tuple[str, datetime]]) -> None:
        self._rows = rows

    def seen(self, event_id: str) -> bool:
        return event_id in self._rows

    def record(self, event_id: str, kind: str, when: datetime) -> None:
        if event_id in self._rows:
            raise KeyError(f"duplicate billing event {event_id}")  # the primary key
        self._rows[event_id] = (kind, when)


class FakeUnitOfWork:
    """``with uow: ...; uow.commit()``: nothing is kept, and nothing published is delivered,
    unless ``commit()`` is called. The same object may be entered again afterwards."""

    users: ports.UserRepository
    jobs: ports.JobRepository
    tokens: ports.TokenRepository
    sessions: ports.SessionRepository
    account_tokens: ports.AccountTokenRepository
    notifications: ports.NotificationLog
    billing_events: ports.BillingEventLog

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self._base: Tables | None = None
        self._work: Tables | None = None
        self._pending: list[tuple[str, dict[str, Any], float]] = []

    def __enter__(self) -> FakeUnitOfWork:
        if self._work is not None:
            raise RuntimeError("FakeUnitOfWork entered twice without leaving")
        self._begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()
        self._base = self._work = None

    def _begin(self) -> None:
        self._base = self.db.committed.copy()
        self._work = self._base.copy()
        self.users = FakeUserRepository(self._work.users)
        self.jobs = FakeJobRepository(self._work.jobs)
        self.tokens = FakeTokenRepository(self._work.tokens)
        self.sessions = FakeSessionRepository(self._work.sessions)
        self.account_tokens = FakeAccountTokenRepository(self._work.account_tokens)
        self.notifications = FakeNotificationLog(self._work.notifications)
        self.billing_events = FakeBillingEventLog(self._work.billing_events)
        self._pending = []

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        self._require_transaction()
        events.subscribers(topic)  # refuse unknown topics at once, as the real outbox does
        self._pending.append((topic, copy.deepcopy(payload), delay))

    def commit(self) -> None:
        base, work = self._require_transaction()
        if self.db.fail_commits > 0:
            self.db.fail_commits -= 1
            raise CommitFailed("the database refused the commit")
        for table in ("jobs", "tokens", "account_tokens"):  # the foreign keys to users
            rows, earlier = getattr(work, table), getattr(base, table)
            for key, row in rows.items():
                if row.user_id not in work.users and earlier.get(key) != row:
                    raise FakeIntegrityError(f"{table} {key}: no user {row.user_id}")
        changed: dict[str, frozenset[str]] = {}
        for name in (
            "users",
            "jobs",
            "tokens",
            "sessions",
            "account_tokens",
            "notifications",
            "billing_events",
        ):
            before: dict[str, Any] = getattr(base, name)
            after: dict[str, Any] = getattr(work, name)
            committed: dict[str, Any] = getattr(self.db.committed, name)
            keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            # Job equality ignores events, and a field-by-field compare is what a row update is.
            for k in keys:
                if k in after:
                    committed[k] = copy.deepcopy(after[k])
                else:
                    committed.pop(k, None)
            if keys:
                changed[name] = frozenset(keys)
        messages = tuple((topic, payload) for topic, payload, _ in self._pending)
        for topic, payload, delay in self._pending:
            self.db.queue.publish(topic, payload, delay=delay)
        self.db.commits.append(CommitRecord(changed=changed, messages=messages))
        self._pending = []
        self._begin()  # the next statement, if any, begins a new transaction

    def rollback(self) -> None:
        if self._work is not None:
            self._begin()  # back to the committed state, published messages dropped

    def _require_transaction(self) -> tuple[Tables, Tables]:
        if self._base is None or self._work is None:
            raise RuntimeError("use the unit of work as a context manager")
        return self._base, self._work


class FakeUnitOfWorkFactory:
    """``gas.ports.UnitOfWorkFactory``: every unit of work it makes shares one database."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db if db is not None else FakeDatabase()

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db)  # (a read-only one reads the committed state just as well)


# --- files ----------------------------------------------------------------------------------


class FakeObjectStore:
    """Objects as bytes in a dict, with the keys the real stores accept (ValueError for any
    other) — the object store contract suite runs on this fake too."""

    CHUNK = 8192

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_puts = 0  # the next N puts raise OSError and keep nothing

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        validate_key(key)
        if self.fail_puts > 0:
            self.fail_puts -= 1
            raise OSError("the object store is unavailable")
        buf = bytearray()
        while chunk := stream.read(self.CHUNK):
            buf += chunk
            if max_bytes is not None and len(buf) > max_bytes:
                raise ObjectTooLarge(max_bytes)  # nothing kept
        self.objects[key] = bytes(buf)
        return len(buf)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        if validate_key(key) not in self.objects:
            raise KeyError(key)
        return self._open(self.objects[key])

    @staticmethod
    @contextmanager
    def _open(data: bytes) -> Iterator[BinaryIO]:
        with io.BytesIO(data) as fh:
            yield fh

    def exists(self, key: str) -> bool:
        return validate_key(key) in self.objects

    def size(self, key: str) -> int:
        return len(self.objects[validate_key(key)])

    def delete(self, key: str) -> None:
        self.objects.pop(validate_key(key), None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    def download_url(self, key: str, *, file_name: str, expires_in: int) -> str:
        validate_key(key)  # (a link to a missing object is made, and then answers 404)
        return f"fake://{key}?{urlencode({'name': file_name, 'ttl': expires_in})}"


# --- mail -----------------------------------------------------------------------------------


class FakeMailer:
    """Keeps every sent message; ``fail_times`` sends fail first (as an unreachable server)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_times = fail_times
        self.attempts = 0

    def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionRefusedError("mail server unreachable")
        complete_headers(message)  # Date and Message-ID, as every real mailer adds them
        self.sent.append(message)


# --- the annotation engine ------------------------------------------------------------------


class FakeBadInput(Exception):
    """The fake engine's "bad input" error, shaped like ``gas.annotation.InvalidInputError``."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class EngineCrash(RuntimeError):
    """An unexpected engine error (a bug, a full disk …)."""


def fake_output_stem(file_name: str) -> str:
    """The engine's naming: ``x.vcf.gz`` -> ``x``."""
    for suffix in (".gz", ".bgz", ".vcf"):
        if file_name.endswith(suffix) and len(file_name) > len(suffix):
            file_name = file_name[: -len(suffix)]
    return file_name


@dataclass
class FakeEngineOutputs:
    annotated_vcf: Path
    count_log: Path
    summary_json: Path
    summary: dict[str, Any] | None = None  # None: as an engine whose outputs carry no summary
    results_store: Path | None = None  # FakeEngine(store=True) writes one


@dataclass
class EngineCall:
    input_path: Path
    input_bytes: bytes
    output_dir: Path
    output_name: str
    assembly: str | None


@dataclass
class FakeEngine:
    """Stands for ``gas.annotation.annotate_file``.

    Writes ``<stem>.annot.vcf``, ``<stem>.count.log`` and ``<stem>.summary.json``; or raises
    ``raises`` (a ``FakeBadInput`` for bad input, anything else for an unexpected error) the
    next ``fail_times`` calls (every call when ``fail_times`` is None). ``during`` runs while
    the engine works, after it reported progress 0.5 — to look at the world mid-annotation.
    ``summary`` is added to what the summary file holds (e.g. an ``"assembly"`` report); the
    outputs carry the summary too unless ``summary_in_outputs`` is False (then only the file
    has it). ``store`` also writes ``<stem>.variants.parquet`` (stand-in bytes, not Parquet:
    the services only move it around).
    """

    raises: BaseException | None = None
    fail_times: int | None = None
    during: Callable[[], None] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    summary_in_outputs: bool = True
    store: bool = False
    calls: list[EngineCall] = field(default_factory=list)

    def __call__(
        self,
        input_path: Path,
        output_dir: Path,
        *,
        output_name: str,
        assembly: str | None,
        progress: Callable[[float], None],
    ) -> FakeEngineOutputs:
        self.calls.append(
            EngineCall(input_path, input_path.read_bytes(), output_dir, output_name, assembly)
        )
        progress(0.5)
        if self.during is not None:
            self.during()
        if self.raises is not None and (self.fail_times is None or self.fail_times > 0):
            if self.fail_times is not None:
                self.fail_times -= 1
            raise self.raises
        stem = fake_output_stem(output_name)
        data = input_path.read_bytes()
        outputs = FakeEngineOutputs(
            annotated_vcf=output_dir / f"{stem}.annot.vcf",
            count_log=output_dir / f"{stem}.count.log",
            summary_json=output_dir / f"{stem}.summary.json",
        )
        outputs.annotated_vcf.write_bytes(b"##annotated by the fake engine\n" + data)
        if self.store:
            outputs.results_store = output_dir / f"{stem}.variants.parquet"
            outputs.results_store.write_bytes(b"PAR1 fake results store of " + data)
        lines = data.count(b"\n")
        outputs.count_log.write_text(f"Total variants: {lines}\n")
        summary = {"input": output_name, **self.summary}
        outputs.summary_json.write_text(json.dumps(summary))
        if self.summary_in_outputs:
            outputs.summary = summary
        return outputs

    @property
    def temp_dirs(self) -> list[Path]:
        """The private directories the service gave the engine (each call's input's parent's
        parent)."""
        return [call.input_path.parent.parent for call in self.calls]


def fake_engine(
    *, raises: BaseException | None = None, fail_times: int | None = None
) -> FakeEngine:
    """A fake engine that succeeds, or raises ``raises`` (``fail_times`` times, or always)."""
    return FakeEngine(raises=raises, fail_times=fail_times)


# --- cold storage ---------------------------------------------------------------------------


@dataclass
class FakeRetrieval:
    tier: str
    requested_at: datetime
    ready_at: datetime | None  # None: completes only when ``FakeColdStore.complete`` is called
    completed: bool = False


class FakeColdStore:
    """``gas.ports.ColdStore`` in memory, behaving like Glacier.

    An archive cannot be read until a retrieval is requested *and* has completed. Completion:

    - ``manual=False`` (default): as the local adapter, a retrieval completes ``delays[tier]``
      seconds after its request (on ``clock``), and its ``results.restore_ready`` is published
      at request time with that delay;
    - ``manual=True``: a retrieval completes only when the test calls ``complete(archive_id)``,
      which publishes ``results.restore_ready`` at once.

    Controls: ``refuse_expedited`` (True: always; an int: the next N Expedited requests),
    ``fail(op)`` makes the next call of ``op`` raise before doing anything (failure injection),
    ``corrupt_archives`` / ``corrupt_reads`` make the next N writes / reads lose their last
    byte (the store measures what it *kept*, so verification sees the difference), and
    ``after_archive`` runs after an archive is written and before ``archive`` returns (to
    interleave another action with an archive in progress). ``announced`` lists every
    ``(archive_id, delay)`` published; ``writes`` every archive id written, in order.
    """

    tiers: tuple[str, ...] = ("Expedited", "Standard", "Bulk")

    def __init__(
        self,
        publish: Callable[..., None] | None = None,
        *,
        clock: FakeClock | None = None,
        delays: dict[str, float] | None = None,
        manual: bool = False,
    ) -> None:
        self._publish = publish
        self.clock = clock or FakeClock()
        self.delays = {"Expedited": 2.0, "Standard": 5.0, "Bulk": 10.0, **(delays or {})}
        self.manual = manual
        self.archives: dict[str, bytes] = {}
        self.retrievals: dict[str, FakeRetrieval] = {}
        self.refuse_expedited: bool | int = False
        self.corrupt_archives = 0
        self.corrupt_reads = 0
        self.after_archive: Callable[[str], None] | None = None
        self.announced: list[tuple[str, float]] = []
        self.writes: list[str] = []
        self._failures: dict[str, list[BaseException]] = defaultdict(list)

    # --- controls ---------------------------------------------------------------------------
    def fail(self, op: str, error: BaseException | None = None, *, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` ("archive", "describe", "request_retrieval",
        "open_retrieved", "delete") raise ``error`` (an OSError by default) and do nothing."""
        for _ in range(times):
            self._failures[op].append(error or OSError(f"the cold store is unavailable ({op})"))

    def _maybe_fail(self, op: str) -> None:
        if self._failures[op]:
            raise self._failures[op].pop(0)

    def complete(self, archive_id: str) -> None:
        """Complete a pending retrieval now (``manual`` mode) and announce it."""
        retrieval = self.retrievals[archive_id]
        if retrieval.completed or archive_id not in self.archives:
            return
        retrieval.completed = True
        self._announce(archive_id, 0.0)

    def pending(self) -> list[str]:
        """Archive ids whose retrieval is requested and not yet completed."""
        return [a for a in self.retrievals if not self._ready(a)]

    def readable(self, archive_id: str) -> bool:
        return archive_id in self.archives and self._ready(archive_id)

    def _ready(self, archive_id: str) -> bool:
        retrieval = self.retrievals.get(archive_id)
        if retrieval is None:
            return False
        if retrieval.completed:
            return True
        return retrieval.ready_at is not None and self.clock.now() >= retrieval.ready_at

    def _announce(self, archive_id: str, delay: float) -> None:
        self.announced.append((archive_id, delay))
        if self._publish is not None:
            self._publish(events.RESULTS_RESTORE_READY, {"archive_id": archive_id}, delay=delay)

    # --- port -------------------------------------------------------------------------------
    def archive(self, archive_id: str, stream: BinaryIO) -> ports.ArchiveInfo:
        validate_key(archive_id)  # the ids the local adapter accepts, no more
        self._maybe_fail("archive")
        buf = bytearray()
        while chunk := stream.read(8192):
            buf += chunk
        data = bytes(buf)
        if self.corrupt_archives > 0:
            self.corrupt_archives -= 1
            data = data[:-1]
        self.archives[archive_id] = data
        self.retrievals.pop(archive_id, None)  # a new archive is cold
        self.writes.append(archive_id)
        info = self._info(archive_id)
        if self.after_archive is not None:
            self.after_archive(archive_id)
        return info

    def _info(self, archive_id: str) -> ports.ArchiveInfo:
        data = self.archives[archive_id]
        return ports.ArchiveInfo(
            archive_id=archive_id, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    def describe(self, archive_id: str) -> ports.ArchiveInfo | None:
        validate_key(archive_id)
        self._maybe_fail("describe")
        return self._info(archive_id) if archive_id in self.archives else None

    def request_retrieval(self, archive_id: str, tier: str) -> float:
        validate_key(archive_id)
        self._maybe_fail("request_retrieval")
        if tier not in self.delays:
            raise ValueError(f"unknown retrieval tier {tier!r}")
        if archive_id not in self.archives:
            raise KeyError(archive_id)
        now = self.clock.now()
        existing = self.retrievals.get(archive_id)
        if existing is not None:  # idempotent: no second retrieval, no second announcement
            if existing.completed or existing.ready_at is None:
                return 0.0 if existing.completed else self.delays[existing.tier]
            return max(0.0, (existing.ready_at - now).total_seconds())
        if tier == "Expedited" and self.refuse_expedited:
            if not isinstance(self.refuse_expedited, bool):
                self.refuse_expedited -= 1
            raise ports.RetrievalRefused("insufficient capacity for Expedited retrievals")
        delay = self.delays[tier]
        if not self.manual:
            # Announce first: if that fails, nothing is recorded and a retry announces again.
            self._announce(archive_id, delay)
        self.retrievals[archive_id] = FakeRetrieval(
            tier=tier,
            requested_at=now,
            ready_at=None if self.manual else now + timedelta(seconds=delay),
        )
        return delay

    def open_retrieved(self, archive_id: str) -> AbstractContextManager[BinaryIO]:
        validate_key(archive_id)
        self._maybe_fail("open_retrieved")
        if archive_id not in self.retrievals:
            raise ports.NotRetrieved(f"no retrieval was requested for {archive_id}")
        if not self._ready(archive_id):
            raise ports.NotRetrieved(f"the retrieval of {archive_id} has not completed yet")
        if archive_id not in self.archives:
            raise KeyError(archive_id)
        data = self.archives[archive_id]
        if self.corrupt_reads > 0:
            self.corrupt_reads -= 1
            data = data[:-1]
        return FakeObjectStore._open(data)

    def delete(self, archive_id: str) -> None:
        validate_key(archive_id)
        self._maybe_fail("delete")
        self.archives.pop(archive_id, None)
        self.retrievals.pop(archive_id, None)


# --- scale-in protection ---------------------------------------------------------------------


class FakeScaleInProtection:
    """``gas.ports.ScaleInProtection`` in memory: ``protected`` is the instance's state now,
    ``calls`` every call in order."""

    def __init__(self) -> None:
        self.protected = False
        self.calls: list[bool] = []

    def set_protected(self, protected: bool) -> None:
        self.calls.append(protected)
        self.protected = protected


if TYPE_CHECKING:  # `mypy tests/fakes.py` proves that every fake implements its port

    def _fakes_implement_ports() -> None:
        from gas.services.annotate import Engine

        db = FakeDatabase()
        _clock: ports.Clock = FakeClock()
        _hasher: ports.PasswordHasher = FakeHasher()
        _queue: ports.MessageQueue = FakeQueue()
        _uow: ports.UnitOfWork = FakeUnitOfWork(db)
        _factory: ports.UnitOfWorkFactory = FakeUnitOfWorkFactory(db)
        _users: ports.UserRepository = FakeUserRepository({})
        _jobs: ports.JobRepository = FakeJobRepository({})
        _tokens: ports.TokenRepository = FakeTokenRepository({})
        _log: ports.NotificationLog = FakeNotificationLog({})
        _store: ports.ObjectStore = FakeObjectStore()
        _mailer: ports.Mailer = FakeMailer()
        _engine: Engine = fake_engine()
        _cold: ports.ColdStore = FakeColdStore()
        _protection: ports.ScaleInProtection = FakeScaleInProtection()
