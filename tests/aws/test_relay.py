"""The transactional outbox in front of SNS/SQS: units of work write events into the SQL
``relay`` queue, and ``OutboxRelay`` forwards them to SNS when due (against moto's server and
the test database, SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from gas.adapters.outbox_relay import RELAY_QUEUE, OutboxRelay, relay_outbox
from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.adapters.sqs_sns import SnsPublisher, SnsSqsQueue
from gas.domain import events
from gas.domain.events import JOB_COMPLETED, JOB_FAILED, JOB_REQUESTED, RESULTS_ARCHIVE_DUE
from gas.domain.jobs import Job
from gas.domain.plans import Plan
from gas.domain.users import User
from tests.aws.moto_server import make_client
from tests.aws.test_sqs_queue import (
    provision,
    quiet_moto_server,  # noqa: F401
)

T0 = 1_800_000_000.0
PINNED = {
    "annotator": (JOB_REQUESTED,),
    "notifier": (JOB_COMPLETED, JOB_FAILED),
    "archiver": (JOB_COMPLETED, RESULTS_ARCHIVE_DUE),
}


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class CountingPublisher:
    """SnsPublisher that counts, and can be told to fail (an SNS outage)."""

    def __init__(self, inner: SnsPublisher) -> None:
        self.inner = inner
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("SNS is unreachable")
        self.inner.publish(topic, payload)
        self.published.append((topic, payload))


@dataclass
class Kit:
    outbox: SqlQueue
    uows: SqlUnitOfWorkFactory
    publisher: CountingPublisher
    relay: OutboxRelay
    consumer: SnsSqsQueue
    clock: FakeClock

    def drain(self, queue: str) -> list[Any]:
        """Everything the consumer can claim now from ``queue``, acknowledged."""
        out = []
        while (delivery := self.consumer.claim(queue)) is not None:
            out.append(delivery)
            assert self.consumer.ack(delivery)
        return out


@pytest.fixture(autouse=True)
def subscriptions(monkeypatch) -> None:
    monkeypatch.setattr(events, "SUBSCRIPTIONS", dict(PINNED))


@pytest.fixture
def kit(engine: Engine, aws_settings) -> Iterator[Kit]:
    sns, sqs = make_client("sns", aws_settings), make_client("sqs", aws_settings)
    prefix = f"r{uuid.uuid4().hex[:12]}"
    provision(sns, sqs, prefix, max_attempts=5, lease_seconds=30)
    clock = FakeClock()
    outbox = relay_outbox(engine, now=clock, poll_seconds=0.05)
    publisher = CountingPublisher(SnsPublisher(prefix, sns=sns))
    consumer = SnsSqsQueue(
        prefix, sns=sns, sqs=sqs, lease_seconds=30, wait_seconds=0, outbox=outbox
    )
    yield Kit(
        outbox=outbox,
        uows=SqlUnitOfWorkFactory(engine, outbox),
        publisher=publisher,
        relay=OutboxRelay(outbox, publisher, idle_wait_seconds=0.05),
        consumer=consumer,
        clock=clock,
    )
    outbox.close()


def new_user() -> User:
    now = datetime.now(UTC)
    uid = str(uuid.uuid4())
    return User(uid, f"{uid}@example.org", "Ada", "GAS", Plan.FREE, None, now, now)


def new_job(user: User) -> Job:
    jid = str(uuid.uuid4())
    return Job(jid, user.id, "in.vcf", f"{user.id}/{jid}~in.vcf", datetime.now(UTC))


def test_committed_events_reach_every_subscriber_queue_through_sns(kit):
    user = new_user()
    job = new_job(user)
    with kit.uows() as uow:
        uow.users.add(user)
        uow.jobs.add(job)
        uow.publish(JOB_REQUESTED, {"job_id": job.id})
        uow.publish(JOB_COMPLETED, {"job_id": job.id})
        uow.commit()

    # committed to SQL with the job, not yet sent
    assert kit.outbox.stats() == {RELAY_QUEUE: {"ready": 2, "leased": 0, "delayed": 0, "dead": 0}}
    assert kit.consumer.claim("annotator") is None

    assert kit.relay.drain() == 2
    assert kit.outbox.stats() == {}
    assert [(d.topic, d.payload) for d in kit.drain("annotator")] == [
        (JOB_REQUESTED, {"job_id": job.id})
    ]
    for queue in ("notifier", "archiver"):
        assert [(d.topic, d.payload) for d in kit.drain(queue)] == [
            (JOB_COMPLETED, {"job_id": job.id})
        ]


@pytest.mark.parametrize("how", ["exit without commit", "exception"])
def test_a_rolled_back_unit_of_work_sends_nothing(kit, how):
    user = new_user()

    def work() -> None:
        with kit.uows() as uow:
            uow.users.add(user)
            uow.publish(JOB_REQUESTED, {"job_id": "never"})
            if how == "exception":
                raise RuntimeError("handler crashed before commit")

    if how == "exception":
        with pytest.raises(RuntimeError):
            work()
    else:
        work()

    assert kit.outbox.stats() == {}
    assert kit.relay.drain() == 0
    assert kit.publisher.published == []
    assert kit.consumer.claim("annotator") is None
    with kit.uows() as uow:
        assert uow.users.get(user.id) is None


def test_an_unknown_topic_fails_the_commit(kit):
    with pytest.raises(ValueError, match="unknown topic"), kit.uows() as uow:
        uow.publish("job.exploded", {"job_id": "j1"})
        uow.commit()
    assert kit.outbox.stats() == {}


@pytest.mark.parametrize("delay", [2, 3600])  # seconds; an hour is beyond SQS's 15 minutes
def test_a_delayed_event_is_not_forwarded_before_it_is_due(kit, delay):
    with kit.uows() as uow:
        uow.publish(RESULTS_ARCHIVE_DUE, {"job_id": "later"}, delay=delay)
        uow.commit()

    assert kit.relay.drain() == 0
    kit.clock.advance(delay - 0.1)
    assert kit.relay.drain() == 0
    assert kit.consumer.stats() == {RELAY_QUEUE: {"ready": 0, "leased": 0, "delayed": 1, "dead": 0}}
    assert kit.consumer.claim("archiver") is None

    kit.clock.advance(0.1)
    assert kit.relay.drain() == 1
    assert [d.payload for d in kit.drain("archiver")] == [{"job_id": "later"}]


def test_publish_outside_a_unit_of_work_goes_through_the_relay_and_may_be_delayed(kit):
    kit.consumer.publish(RESULTS_ARCHIVE_DUE, {"job_id": "j1"}, delay=1800)
    kit.consumer.publish(JOB_REQUESTED, {"job_id": "j2"})
    assert kit.relay.drain() == 1
    assert [d.payload for d in kit.drain("annotator")] == [{"job_id": "j2"}]
    kit.clock.advance(1800)
    assert kit.relay.drain() == 1
    assert [d.payload for d in kit.drain("archiver")] == [{"job_id": "j1"}]


def test_a_relay_crashing_after_publishing_but_before_acking_causes_a_duplicate_not_a_loss(kit):
    with kit.uows() as uow:
        uow.publish(JOB_REQUESTED, {"job_id": "j1"})
        uow.commit()

    held = kit.outbox.claim(RELAY_QUEUE)  # relay A takes the event ...
    assert held is not None
    kit.relay.forward(held)  # ... publishes it, and dies before acknowledging it
    assert kit.relay.drain() == 0  # leased: no other relay takes it yet

    kit.clock.advance(kit.outbox.lease_seconds + 1)
    other = OutboxRelay(kit.outbox, kit.publisher)  # relay B, once A's lease has expired
    assert other.drain() == 1
    assert kit.outbox.stats() == {}
    copies = kit.drain("annotator")
    assert [d.payload for d in copies] == [{"job_id": "j1"}, {"job_id": "j1"}]
    assert kit.outbox.ack(held) is False


def test_an_sns_outage_is_retried_with_backoff(kit):
    with kit.uows() as uow:
        uow.publish(JOB_REQUESTED, {"job_id": "j1"})
        uow.commit()
    kit.publisher.failures = 2

    assert kit.relay.drain() == 1  # attempt 1 failed: waits out its backoff
    assert kit.outbox.stats()[RELAY_QUEUE]["delayed"] == 1
    for _ in range(2):
        kit.clock.advance(kit.outbox.backoff_cap)
        kit.relay.drain()
    assert kit.outbox.stats() == {}
    assert [d.payload for d in kit.drain("annotator")] == [{"job_id": "j1"}]


def test_relays_running_in_threads_forward_every_event_once(engine, aws_settings):
    """Several processes each run a relay (real clock): every event is published once."""
    sns, sqs = make_client("sns", aws_settings), make_client("sqs", aws_settings)
    prefix = f"r{uuid.uuid4().hex[:12]}"
    provision(sns, sqs, prefix, max_attempts=5, lease_seconds=30)
    outbox = relay_outbox(engine, poll_seconds=0.05)
    publisher = CountingPublisher(SnsPublisher(prefix, sns=sns))
    consumer = SnsSqsQueue(prefix, sns=sns, sqs=sqs, lease_seconds=30, wait_seconds=1)
    stop = threading.Event()
    threads = [
        OutboxRelay(
            relay_outbox(engine, poll_seconds=0.05), publisher, idle_wait_seconds=0.05
        ).run_in_thread(stop, name=f"relay-{i}")
        for i in range(3)
    ]
    try:
        uows = SqlUnitOfWorkFactory(engine, outbox)
        total = 30
        for n in range(total):
            with uows() as uow:
                uow.publish(JOB_REQUESTED, {"n": n})
                uow.commit()
        received: Counter[int] = Counter()
        deadline = time.monotonic() + 30
        while sum(received.values()) < total and time.monotonic() < deadline:
            delivery = consumer.claim("annotator")
            if delivery is not None:
                received[delivery.payload["n"]] += 1
                assert consumer.ack(delivery)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert sorted(received) == list(range(total))
    assert Counter(n for _, p in publisher.published for n in [p["n"]]) == Counter(
        range(total)
    )  # each published exactly once
    assert outbox.stats() == {}
    assert consumer.claim("annotator") is None
    outbox.close()
