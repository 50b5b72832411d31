"""The transactional outbox in front of an external broker (``GAS_QUEUE_URL=sqs://…``).

A unit of work writes its events into the SQL ``queue_messages`` table in the same transaction
as the rows they concern (nothing is sent for a rolled-back one), routed to one local queue,
``relay``, with their delays. :class:`OutboxRelay` forwards each event to the broker (SNS) once
it is due, then acknowledges it:

- delays of any length (the Free plan's archive window may exceed SQS's 15-minute cap) are rows
  that survive restarts;
- a relay that crashes between publishing and acknowledging leaves the row leased; when the lease
  expires another relay publishes it again: a duplicate (handlers are idempotent), never a loss;
- several relays may run at once (one per ``gas web``/``gas worker`` process): the SQL lease
  hands each event to one relay at a time;
- a broker outage makes publishing fail: the row is retried with a capped backoff, for many
  attempts (``RELAY_MAX_ATTEMPTS``) before it would be dead-lettered.

Wiring: ``outbox = relay_outbox(engine, …)``; ``SqlUnitOfWorkFactory(engine, outbox)``;
``OutboxRelay(outbox, SnsPublisher(prefix, sns=…)).run_in_thread(stop_event)``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from gas.adapters.sql.queue import SqlQueue
from gas.domain import events
from gas.ports import Delivery

log = logging.getLogger(__name__)

RELAY_QUEUE = "relay"
RELAY_MAX_ATTEMPTS = 1000  # at the backoff cap of 60 s: about 16 hours of broker outage
RELAY_LEASE_SECONDS = 30.0
RELAY_BACKOFF_CAP = 60.0


class Publisher(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None: ...


def relay_route(topic: str) -> list[str]:
    """Every known topic goes to the relay; the broker fans it out."""
    if topic not in events.TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    return [RELAY_QUEUE]


def relay_outbox(engine: Engine, **options: Any) -> SqlQueue:
    """The SQL queue a unit of work publishes into when the broker is external."""
    options.setdefault("max_attempts", RELAY_MAX_ATTEMPTS)
    options.setdefault("lease_seconds", RELAY_LEASE_SECONDS)
    options.setdefault("backoff_cap", RELAY_BACKOFF_CAP)
    options.setdefault("backoff_base", 1.0)
    return SqlQueue(engine, route=relay_route, **options)


class OutboxRelay:
    """Forwards due events from the SQL ``relay`` queue to ``publisher`` (at least once)."""

    def __init__(
        self,
        outbox: SqlQueue,
        publisher: Publisher,
        *,
        idle_wait_seconds: float = 1.0,
        error_wait_seconds: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.idle_wait_seconds = idle_wait_seconds
        self.error_wait_seconds = error_wait_seconds

    def forward(self, delivery: Delivery) -> None:
        """Publish one event (also usable as a ``Worker`` handler for every topic)."""
        self.publisher.publish(delivery.topic, delivery.payload)

    def handlers(self) -> dict[str, Callable[[Delivery], None]]:
        """``Worker(kind="relay", queue=outbox, handlers=…, on_exhausted=…)`` runs the relay
        as an ordinary worker, if preferred to ``run_in_thread``."""
        return {topic: self.forward for topic in events.TOPICS}

    def run_once(self) -> bool:
        """Forward one due event if there is one; returns whether there was."""
        delivery = self.outbox.claim(RELAY_QUEUE)
        if delivery is None:
            return False
        if delivery.exhausted:
            # Relays kept dying while holding it. Publishing is harmless to repeat: forward it
            # once more rather than lose the event, then dead-letter it.
            log.error(
                "relay: event %s (%s) exhausted its attempts; forwarding it once more",
                delivery.id,
                delivery.topic,
            )
            try:
                self.forward(delivery)
            except Exception:
                log.exception("relay: event %s stays dead-lettered", delivery.id)
            self.outbox.fail(delivery, "relays kept dying while forwarding it")  # dead-letter it
            return True
        try:
            self.forward(delivery)
        except Exception:
            log.warning(
                "relay: cannot publish event %s (%s), attempt %d; retrying later",
                delivery.id,
                delivery.topic,
                delivery.attempt,
                exc_info=True,
            )
            self.outbox.fail(delivery, traceback.format_exc())
            return True
        if not self.outbox.ack(delivery):
            log.warning("relay: lease of event %s was lost: it may be published twice", delivery.id)
        return True

    def drain(self, limit: int | None = None) -> int:
        """Forward every event due now (at most ``limit``); returns how many were handled."""
        n = 0
        while (limit is None or n < limit) and self.run_once():
            n += 1
        return n

    def run_forever(self, stop: threading.Event) -> None:
        log.info("outbox relay started")
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
                self.outbox.wait([RELAY_QUEUE], self.idle_wait_seconds)
            except Exception:
                log.exception("relay: cannot reach the database or the broker; retrying")
                stop.wait(self.error_wait_seconds)
        log.info("outbox relay stopped")

    def run_in_thread(self, stop: threading.Event, name: str = "outbox-relay") -> threading.Thread:
        """Run the relay in a daemon thread until ``stop`` is set; returns the thread (join it
        after setting ``stop`` for a clean shutdown: it finishes the event in hand)."""
        thread = threading.Thread(target=self.run_forever, args=(stop,), daemon=True, name=name)
        thread.start()
        return thread
