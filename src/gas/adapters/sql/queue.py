"""The durable work queue in the SQL database (the default ``GAS_QUEUE_URL=sql``).

Topics fan out to subscriber queues at publish time (one row per subscriber). Delivery is at
least once: a consumer leases a message (``available_at`` becomes the lease's expiry) and renews
the lease while it works; a consumer that dies leaves the lease to expire and the message is
delivered again. Failures retry with exponential backoff; after ``max_attempts`` the message is
dead-lettered (kept, visible to operators, retryable with ``gas queue retry``).

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, and an immediate transaction
(one writer at a time) on SQLite. PostgreSQL consumers are woken by LISTEN/NOTIFY; SQLite ones
poll.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gas.adapters.sql.tables import queue_messages as qm
from gas.domain.events import subscribers
from gas.ports import Delivery

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "gas_queue"
READY, LEASED, DEAD = "ready", "leased", "dead"


class SqlQueue:
    def __init__(
        self,
        engine: Engine,
        *,
        max_attempts: int = 5,
        lease_seconds: float = 60.0,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        poll_seconds: float = 1.0,
        now: Callable[[], float] = time.time,
        route: Callable[[str], list[str]] = subscribers,
    ) -> None:
        """``route`` maps a topic to the queues it is delivered to: the subscribers by default;
        with an external broker, a single outbox queue that a relay forwards from."""
        self.engine = engine
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.poll_seconds = poll_seconds
        self._now = now
        self._route = route
        self._is_pg = engine.dialect.name == "postgresql"
        self._listener: Any = None
        self._listener_lock = threading.Lock()

    # --- publishing -------------------------------------------------------------------------
    def publish_in(
        self, connection: Connection, topic: str, payload: dict[str, Any], delay: float = 0.0
    ) -> int:
        """Enqueue inside the caller's transaction: delivered only if it commits."""
        queues = self._route(topic)
        if not queues:
            return 0
        now = self._now()
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        connection.execute(
            qm.insert(),
            [
                {
                    "queue": queue,
                    "topic": topic,
                    "payload": body,
                    "state": READY,
                    "attempts": 0,
                    "max_attempts": self.max_attempts,
                    "available_at": now + max(0.0, delay),
                    "created_at": now,
                }
                for queue in queues
            ],
        )
        if self._is_pg:
            for queue in queues:  # sent by PostgreSQL at commit, never for a rolled-back one
                connection.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, queue)))
        return len(queues)

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        with self.engine.begin() as connection:
            self.publish_in(connection, topic, payload, delay)

    # --- consuming --------------------------------------------------------------------------
    def claim(self, queue: str) -> Delivery | None:
        while True:
            with self.engine.begin() as connection:
                now = self._now()
                query = (
                    sa.select(qm)
                    .where(
                        qm.c.queue == queue,
                        qm.c.state != DEAD,  # matches the partial index's predicate
                        qm.c.available_at <= now,
                    )
                    .order_by(qm.c.available_at, qm.c.id)
                    .limit(1)
                )
                if self._is_pg:
                    query = query.with_for_update(skip_locked=True)
                row = connection.execute(query).first()
                if row is None:
                    return None
                m = row._mapping
                if m["attempts"] >= m["max_attempts"]:
                    # Its consumer died (the lease expired) during the last allowed attempt.
                    # Hand it out once more as an "exhausted" notice, under a lease, so the
                    # handler records the failure (a job must not stay RUNNING forever) without
                    # doing the work again; the worker then dead-letters it with fail(). If
                    # recording the failure fails too, the lease expires and the notice returns.
                    receipt = str(uuid.uuid4())
                    notice = m["attempts"] + 1
                    connection.execute(
                        qm.update()
                        .where(qm.c.id == m["id"])
                        .values(
                            state=LEASED,
                            attempts=notice,
                            receipt=receipt,
                            available_at=now + self.lease_seconds,
                            last_error=(m["last_error"] or "")
                            + f"\nlease expired during attempt {m['attempts']}",
                        )
                    )
                    log.error(
                        "queue %s: message %s (%s): its consumers kept dying; handing it out "
                        "as an exhausted notice",
                        queue,
                        m["id"],
                        m["topic"],
                    )
                    return Delivery(
                        id=str(m["id"]),
                        queue=queue,
                        topic=m["topic"],
                        payload=json.loads(m["payload"]),
                        attempt=notice,
                        max_attempts=m["max_attempts"],
                        receipt=receipt,
                    )
                receipt = str(uuid.uuid4())
                attempt = m["attempts"] + 1
                connection.execute(
                    qm.update()
                    .where(qm.c.id == m["id"])
                    .values(
                        state=LEASED,
                        attempts=attempt,
                        receipt=receipt,
                        available_at=now + self.lease_seconds,
                    )
                )
                return Delivery(
                    id=str(m["id"]),
                    queue=queue,
                    topic=m["topic"],
                    payload=json.loads(m["payload"]),
                    attempt=attempt,
                    max_attempts=m["max_attempts"],
                    receipt=receipt,
                )

    def _owned(self, delivery: Delivery) -> sa.ColumnElement[bool]:
        return sa.and_(
            qm.c.id == int(delivery.id), qm.c.receipt == delivery.receipt, qm.c.state == LEASED
        )

    def ack(self, delivery: Delivery) -> bool:
        with self.engine.begin() as connection:
            return connection.execute(qm.delete().where(self._owned(delivery))).rowcount == 1

    def heartbeat(self, delivery: Delivery) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                qm.update()
                .where(self._owned(delivery))
                .values(available_at=self._now() + self.lease_seconds)
            )
            return result.rowcount == 1

    def release(self, delivery: Delivery) -> None:
        with self.engine.begin() as connection:
            if self._is_pg:
                connection.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, delivery.queue)))
            connection.execute(
                qm.update()
                .where(self._owned(delivery))
                .values(
                    state=READY,
                    receipt=None,
                    attempts=qm.c.attempts - 1,
                    available_at=self._now(),
                )
            )

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, capped, with full jitter
        on the upper half so that many failing messages do not retry in lock-step."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def fail(self, delivery: Delivery, error: str) -> None:
        now = self._now()
        dead = delivery.attempt >= delivery.max_attempts
        if dead:
            values: dict[str, Any] = {"state": DEAD, "dead_at": now}
        else:
            values = {"state": READY, "available_at": now + self.backoff(delivery.attempt)}
        with self.engine.begin() as connection:
            changed = connection.execute(
                qm.update()
                .where(self._owned(delivery))
                .values(receipt=None, last_error=error[-4000:], **values)
            ).rowcount
        if dead and changed:
            log.error(
                "queue %s: message %s (%s) dead-lettered after %d attempts: %s",
                delivery.queue,
                delivery.id,
                delivery.topic,
                delivery.attempt,
                error.strip().splitlines()[-1] if error.strip() else "",
            )

    # --- waiting ----------------------------------------------------------------------------
    def _next_due_in(self, queues: list[str]) -> float | None:
        """Seconds until the earliest delayed message (or lease expiry) of ``queues``."""
        query = sa.select(sa.func.min(qm.c.available_at)).where(
            qm.c.queue.in_(queues), qm.c.state != DEAD
        )
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            earliest = connection.execute(query).scalar()
        return None if earliest is None else max(0.0, earliest - self._now())

    def wait(self, queues: list[str], timeout: float) -> None:
        if timeout <= 0:
            return
        try:  # delayed messages and expired leases send no notification: wake up for them
            due = self._next_due_in(queues)
        except Exception:
            due = None
        if due is not None:
            timeout = min(timeout, due + 0.01)
        if not self._is_pg:
            time.sleep(min(timeout, self.poll_seconds))
            return
        listener = self._listen()
        if listener is None:
            time.sleep(min(timeout, self.poll_seconds))
            return
        # Wake on a notification for one of our queues, or after the timeout.
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                for notify in listener.notifies(timeout=remaining, stop_after=1):
                    if notify.payload in queues:
                        return
            except Exception:  # connection lost: fall back to polling until reconnected
                log.warning("queue: LISTEN connection lost; reconnecting", exc_info=True)
                self._close_listener()
                time.sleep(min(remaining, self.poll_seconds))
                return

    def _listen(self) -> Any:
        with self._listener_lock:
            if self._listener is None:
                import psycopg

                url = self.engine.url.set(drivername="postgresql")
                try:
                    conn = psycopg.connect(
                        url.render_as_string(hide_password=False), autocommit=True
                    )
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                except Exception:
                    log.warning("queue: cannot LISTEN; polling instead", exc_info=True)
                    return None
                self._listener = conn
            return self._listener

    def _close_listener(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                try:
                    self._listener.close()
                finally:
                    self._listener = None

    def close(self) -> None:
        self._close_listener()

    # --- operators --------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, int]]:
        now = self._now()
        state = sa.case(
            (sa.and_(qm.c.state == READY, qm.c.available_at > now), "delayed"),
            (sa.and_(qm.c.state == LEASED, qm.c.available_at <= now), "ready"),
            else_=qm.c.state,
        )
        query = sa.select(qm.c.queue, state.label("s"), sa.func.count()).group_by(qm.c.queue, "s")
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            for queue, s, count in connection.execute(query):
                out.setdefault(queue, {"ready": 0, "leased": 0, "delayed": 0, "dead": 0})[s] = count
        return out

    def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(qm).where(qm.c.state == DEAD).order_by(qm.c.dead_at.desc()).limit(limit)
        if queue:
            query = query.where(qm.c.queue == queue)
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def retry_dead(self, message_id: int) -> bool:
        """Give a dead-lettered message a fresh set of attempts."""
        with self.engine.begin() as connection:
            result = connection.execute(
                qm.update()
                .where(qm.c.id == message_id, qm.c.state == DEAD)
                .values(state=READY, attempts=0, available_at=self._now(), dead_at=None)
            )
            if self._is_pg and result.rowcount:
                queue = connection.execute(
                    sa.select(qm.c.queue).where(qm.c.id == message_id)
                ).scalar_one()
                connection.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, queue)))
            return result.rowcount == 1
