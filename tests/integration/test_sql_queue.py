"""Contract of the durable SQL queue (SqlQueue), run on SQLite and on PostgreSQL — and, for
every case marked ``@WITH_FAKE``, on ``tests.fakes.FakeQueue``, the service tests' queue (two
``make_queue()`` are then two consumers of the fake's one set of messages). Cases only the SQL
queue runs: its rows, the transactional outbox, real processes, LISTEN/NOTIFY.

Time-dependent rules (delays, leases, backoff) use the queue's injectable clock; the tests with
real processes (concurrent consumers, a consumer killed mid-message) use real time and poll
with a deadline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gas.adapters.sql.database import create_engine
from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.tables import queue_messages
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.domain import events
from gas.domain.events import JOB_COMPLETED, JOB_FAILED, JOB_REQUESTED, USER_UPGRADED
from gas.domain.jobs import Job
from gas.domain.plans import Plan
from gas.domain.users import User
from tests.conftest import FAKE_DATABASE, WITH_FAKE
from tests.fakes import FakeQueue

T0 = 1_800_000_000.0  # start of the fake clock (seconds since the epoch)


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture(autouse=True)
def subscriptions(monkeypatch) -> dict[str, tuple[str, ...]]:
    """Pin who subscribes to what, so the contract does not depend on the product's wiring."""
    pinned = {"annotator": (JOB_REQUESTED,), "notifier": (JOB_COMPLETED, JOB_FAILED)}
    monkeypatch.setattr(events, "SUBSCRIPTIONS", pinned)
    return pinned


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class DateTimeClock:
    """A clock of seconds seen as ``ports.Clock`` (what FakeQueue reads)."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        self._seconds = seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._seconds(), UTC)


@pytest.fixture
def make_queue(
    request: pytest.FixtureRequest, database_url: str, clock: FakeClock
) -> Iterator[Callable[..., SqlQueue]]:
    """SqlQueue on the test database, on the fake clock unless ``now`` is given (the "fake"
    kind: FakeQueue consumers of one set of messages, with SqlQueue's defaults)."""
    if database_url == FAKE_DATABASE:
        first: list[FakeQueue] = []

        def make_fake(**options: Any) -> SqlQueue:
            seconds = options.pop("now", clock)
            options.pop("poll_seconds", None)  # it never waits
            options.setdefault("backoff_base", 2.0)
            if not first:
                first.append(FakeQueue(DateTimeClock(seconds), **options))
                return first[0]  # type: ignore[return-value]
            return first[0].consumer(clock=DateTimeClock(seconds), **options)  # type: ignore[return-value]

        yield make_fake
        return
    engine: Engine = request.getfixturevalue("engine")
    made: list[SqlQueue] = []

    def make(**options: Any) -> SqlQueue:
        options.setdefault("now", clock)
        queue = SqlQueue(engine, **options)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


def reader(engine: Engine) -> sa.Connection:
    """A read-only connection (on SQLite, a deferred transaction that does not wait for the
    write lock)."""
    return engine.connect().execution_options(sqlite_begin="DEFERRED")


def rows(engine: Engine) -> list[dict[str, Any]]:
    with reader(engine) as connection:
        query = sa.select(queue_messages).order_by(queue_messages.c.id)
        return [dict(row._mapping) for row in connection.execute(query)]


def row(engine: Engine, message_id: str | int) -> dict[str, Any]:
    with reader(engine) as connection:
        query = sa.select(queue_messages).where(queue_messages.c.id == int(message_id))
        return dict(connection.execute(query).one()._mapping)


def counts(ready: int = 0, leased: int = 0, delayed: int = 0, dead: int = 0) -> dict[str, int]:
    return {"ready": ready, "leased": leased, "delayed": delayed, "dead": dead}


def new_user() -> User:
    now = datetime.now(UTC)
    uid = str(uuid.uuid4())
    return User(uid, f"{uid}@example.org", "Ada", "GAS", Plan.FREE, None, now, now)


def new_job(user: User) -> Job:
    jid = str(uuid.uuid4())
    return Job(jid, user.id, "in.vcf", f"{user.id}/{jid}~in.vcf", datetime.now(UTC))


def poll(fn: Callable[[], Any], *, deadline: float, interval: float = 0.02) -> Any:
    """``fn()`` until it returns something truthy; fails after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"nothing after {deadline} s")
        time.sleep(interval)


# --- publishing ---------------------------------------------------------------------------


@WITH_FAKE
def test_publish_fans_out_one_message_to_every_subscriber_queue(make_queue, monkeypatch):
    monkeypatch.setitem(events.SUBSCRIPTIONS, "auditor", (JOB_COMPLETED, JOB_FAILED))
    queue = make_queue()

    queue.publish(JOB_COMPLETED, {"job_id": "j1"})

    assert queue.stats() == {"notifier": counts(ready=1), "auditor": counts(ready=1)}
    to_notifier = queue.claim("notifier")
    to_auditor = queue.claim("auditor")
    assert to_notifier is not None and to_auditor is not None
    assert to_notifier.id != to_auditor.id
    for delivery, name in ((to_notifier, "notifier"), (to_auditor, "auditor")):
        assert (delivery.queue, delivery.topic, delivery.payload) == (
            name,
            JOB_COMPLETED,
            {"job_id": "j1"},
        )
        assert delivery.attempt == 1
    assert queue.claim("annotator") is None
    # each copy lives on its own: acknowledging one leaves the other leased
    assert queue.ack(to_notifier)
    assert queue.stats() == {"auditor": counts(leased=1)}


@WITH_FAKE
def test_publish_on_a_topic_without_subscribers_stores_nothing(make_queue):
    queue = make_queue()
    queue.publish(USER_UPGRADED, {"user_id": "u1"})
    assert queue.stats() == {}  # (every message, in any state, is counted)


@WITH_FAKE
def test_publish_on_an_unknown_topic_raises(make_queue):
    queue = make_queue()
    with pytest.raises(ValueError, match="unknown topic"):
        queue.publish("job.exploded", {"job_id": "j1"})
    assert queue.stats() == {}


@WITH_FAKE
def test_payload_round_trips_as_json(make_queue):
    queue = make_queue()
    payload = {"job_id": "j1", "n": 3, "ratio": 0.5, "tags": ["a", "é"], "nested": {"x": None}}
    queue.publish(JOB_REQUESTED, payload)
    delivery = queue.claim("annotator")
    assert delivery is not None and delivery.payload == payload


# --- transactional outbox -----------------------------------------------------------------


def test_messages_published_in_a_unit_of_work_are_delivered_only_after_commit(engine, make_queue):
    queue = make_queue()
    uows = SqlUnitOfWorkFactory(engine, queue)
    user = new_user()
    job = new_job(user)

    with uows() as uow:
        uow.users.add(user)
        uow.jobs.add(job)
        uow.publish(JOB_REQUESTED, {"job_id": job.id})
        assert queue.stats() == {}  # read from another connection: nothing yet
        assert rows(engine) == []
        uow.commit()
        assert queue.stats() == {"annotator": counts(ready=1)}

    delivery = queue.claim("annotator")
    assert delivery is not None and delivery.payload == {"job_id": job.id}
    with uows() as uow:
        assert uow.jobs.get(job.id) is not None


@pytest.mark.parametrize("how", ["exit without commit", "exception"])
def test_rolled_back_unit_of_work_leaves_no_message_and_no_job(engine, make_queue, how):
    queue = make_queue()
    uows = SqlUnitOfWorkFactory(engine, queue)
    user = new_user()
    job = new_job(user)

    def work() -> None:
        with uows() as uow:
            uow.users.add(user)
            uow.jobs.add(job)
            uow.publish(JOB_REQUESTED, {"job_id": job.id})
            if how == "exception":
                raise RuntimeError("handler crashed before commit")

    if how == "exception":
        with pytest.raises(RuntimeError):
            work()
    else:
        work()

    assert rows(engine) == []
    assert queue.claim("annotator") is None
    with uows() as uow:
        assert uow.jobs.get(job.id) is None
        assert uow.users.get(user.id) is None


def test_unknown_topic_in_a_unit_of_work_fails_the_commit_and_keeps_nothing(engine, make_queue):
    queue = make_queue()
    uows = SqlUnitOfWorkFactory(engine, queue)
    user = new_user()
    with pytest.raises(ValueError, match="unknown topic"), uows() as uow:
        uow.users.add(user)
        uow.publish(JOB_REQUESTED, {"job_id": "fine"})
        uow.publish("job.exploded", {"job_id": "j1"})
        uow.commit()
    assert rows(engine) == []
    with uows() as uow:
        assert uow.users.get(user.id) is None


def test_rollback_discards_the_messages_published_before_it(engine, make_queue):
    queue = make_queue()
    uows = SqlUnitOfWorkFactory(engine, queue)
    with uows() as uow:
        uow.publish(JOB_REQUESTED, {"job_id": "discarded"})
        uow.rollback()
        uow.publish(JOB_REQUESTED, {"job_id": "kept"})
        uow.commit()
    assert [r["payload"] for r in rows(engine)] == ['{"job_id":"kept"}']


def test_message_published_in_a_unit_of_work_can_be_delayed(engine, make_queue, clock):
    queue = make_queue()
    with SqlUnitOfWorkFactory(engine, queue)() as uow:
        uow.publish(JOB_REQUESTED, {"job_id": "later"}, delay=60)
        uow.commit()
    assert queue.claim("annotator") is None
    clock.advance(60)
    assert queue.claim("annotator") is not None


# --- delayed delivery ---------------------------------------------------------------------


@WITH_FAKE
def test_delayed_message_is_claimable_only_once_its_delay_has_passed(make_queue, clock):
    queue = make_queue()
    queue.publish(JOB_REQUESTED, {"job_id": "j1"}, delay=30)

    assert queue.claim("annotator") is None
    assert queue.stats() == {"annotator": counts(delayed=1)}
    clock.advance(29.9)
    assert queue.claim("annotator") is None

    clock.advance(0.1)
    delivery = queue.claim("annotator")
    assert delivery is not None and delivery.attempt == 1
    assert queue.stats() == {"annotator": counts(leased=1)}


@WITH_FAKE
def test_ready_messages_are_claimed_oldest_first(make_queue, clock):
    queue = make_queue()
    queue.publish(JOB_REQUESTED, {"n": 1}, delay=10)
    for n in (2, 3):
        queue.publish(JOB_REQUESTED, {"n": n})
        clock.advance(1)
    clock.advance(10)
    claimed = [queue.claim("annotator") for _ in range(3)]
    assert [d.payload["n"] for d in claimed if d] == [2, 3, 1]


# --- leases -------------------------------------------------------------------------------


@WITH_FAKE
def test_leased_message_is_not_claimable_by_another_consumer_until_the_lease_expires(
    make_queue, clock
):
    consumer_a = make_queue(lease_seconds=30)
    consumer_b = make_queue(lease_seconds=30)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})

    first = consumer_a.claim("annotator")
    assert first is not None and first.attempt == 1
    assert consumer_b.claim("annotator") is None
    clock.advance(29.9)
    assert consumer_b.claim("annotator") is None

    clock.advance(0.2)
    second = consumer_b.claim("annotator")
    assert second is not None
    assert (second.id, second.payload, second.attempt) == (first.id, first.payload, 2)
    assert second.receipt != first.receipt


@WITH_FAKE
def test_heartbeat_extends_the_lease(make_queue, clock):
    consumer_a = make_queue(lease_seconds=30)
    consumer_b = make_queue(lease_seconds=30)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})
    delivery = consumer_a.claim("annotator")
    assert delivery is not None

    clock.advance(20)
    assert consumer_a.heartbeat(delivery) is True  # lease now ends at +50
    clock.advance(20)  # +40: past the first lease, within the renewed one
    assert consumer_b.claim("annotator") is None
    assert consumer_a.heartbeat(delivery) is True  # ends at +70
    clock.advance(29)
    assert consumer_b.claim("annotator") is None

    clock.advance(2)
    assert consumer_b.claim("annotator") is not None


def test_stale_receipt_can_no_longer_ack_heartbeat_or_fail(make_queue, clock, engine):
    consumer_a = make_queue(lease_seconds=30)
    consumer_b = make_queue(lease_seconds=30)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})
    stale = consumer_a.claim("annotator")
    assert stale is not None
    clock.advance(31)
    current = consumer_b.claim("annotator")
    assert current is not None and current.attempt == 2
    before = row(engine, current.id)

    assert consumer_a.ack(stale) is False
    assert consumer_a.heartbeat(stale) is False
    consumer_a.fail(stale, "too late")
    consumer_a.release(stale)

    assert row(engine, current.id) == before  # still leased by B, attempt 2, no error
    assert consumer_b.heartbeat(current) is True
    assert consumer_b.ack(current) is True
    assert consumer_b.ack(current) is False  # acknowledged once only
    assert rows(engine) == []


@WITH_FAKE
def test_release_gives_the_message_back_at_once_without_counting_an_attempt(make_queue):
    queue = make_queue(lease_seconds=300)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    first = queue.claim("annotator")
    assert first is not None

    queue.release(first)

    assert queue.stats() == {"annotator": counts(ready=1)}
    again = queue.claim("annotator")  # same instant: no lease, no backoff to wait for
    assert again is not None
    assert (again.id, again.attempt) == (first.id, 1)
    assert queue.ack(first) is False  # the released receipt is dead
    assert queue.ack(again) is True


@WITH_FAKE
def test_lease_expiring_on_the_last_attempt_dead_letters_the_message_and_tells_the_next_claim(
    make_queue, clock
):
    queue = make_queue(lease_seconds=10, max_attempts=2)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    queue.publish(JOB_REQUESTED, {"job_id": "next"})
    first = queue.claim("annotator")
    assert first is not None and first.payload == {"job_id": "j1"}
    assert queue.ack(queue.claim("annotator"))  # "next" is handled at once
    clock.advance(11)
    last = queue.claim("annotator")
    assert last is not None and last.attempt == 2 and last.is_last_attempt
    clock.advance(11)  # the consumer of the last attempt died

    notice = queue.claim("annotator")  # handed out once more, to record the failure
    assert notice is not None and notice.id == first.id and notice.exhausted
    assert queue.claim("annotator") is None  # under a lease while the failure is recorded
    clock.advance(11)  # recording the failure failed too: the notice comes back
    notice = queue.claim("annotator")
    assert notice is not None and notice.exhausted
    queue.fail(notice, "its consumers kept dying; the failure was recorded")
    assert queue.claim("annotator") is None
    assert queue.stats() == {"annotator": counts(dead=1)}
    (dead,) = queue.dead_letters()
    assert dead["id"] == int(first.id)
    assert dead["attempts"] == 4  # two attempts, then two notices
    assert "consumers kept dying" in dead["last_error"]
    assert queue.heartbeat(last) is False
    assert queue.ack(last) is False


# --- failures, backoff, dead letters ------------------------------------------------------


def test_failed_message_is_retried_after_an_exponential_backoff(make_queue, clock, engine):
    queue = make_queue(backoff_base=10, backoff_cap=25, max_attempts=5)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    # attempt n fails -> next try between ceiling/2 and ceiling, ceiling = min(cap, 10 * 2^(n-1))
    for attempt, ceiling in ((1, 10.0), (2, 20.0), (3, 25.0)):
        delivery = queue.claim("annotator")
        assert delivery is not None and delivery.attempt == attempt
        queue.fail(delivery, f"boom {attempt}")

        stored = row(engine, delivery.id)
        assert stored["state"] == "ready"
        assert stored["last_error"] == f"boom {attempt}"
        assert stored["receipt"] is None
        wait = stored["available_at"] - clock()
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)
        assert queue.stats() == {"annotator": counts(delayed=1)}
        assert queue.claim("annotator") is None
        assert queue.ack(delivery) is False

        clock.t = stored["available_at"]
    assert queue.claim("annotator").attempt == 4


@WITH_FAKE
def test_backoff_grows_exponentially_up_to_the_cap(make_queue):
    queue = make_queue(backoff_base=2, backoff_cap=600)
    for attempt in range(1, 15):
        ceiling = min(600, 2 * 2 ** (attempt - 1))
        assert all(ceiling / 2 <= queue.backoff(attempt) <= ceiling for _ in range(50))


@WITH_FAKE
def test_message_is_dead_lettered_after_max_attempts_and_retry_dead_brings_it_back(
    make_queue, clock
):
    queue = make_queue(max_attempts=3, backoff_base=1)
    queue.publish(JOB_REQUESTED, {"job_id": "poison"})
    queue.publish(JOB_COMPLETED, {"job_id": "other"})
    for attempt in (1, 2, 3):
        clock.advance(100)
        delivery = queue.claim("annotator")
        assert delivery is not None and delivery.attempt == attempt
        assert delivery.is_last_attempt is (attempt == 3)
        queue.fail(delivery, f"Traceback...\nValueError: bad input {attempt}")

    clock.advance(10_000)
    assert queue.claim("annotator") is None
    assert queue.stats() == {"annotator": counts(dead=1), "notifier": counts(ready=1)}
    (dead,) = queue.dead_letters()
    assert dead["id"] == int(delivery.id)
    assert dead["queue"] == "annotator" and dead["topic"] == JOB_REQUESTED
    assert dead["attempts"] == 3
    assert dead["last_error"].endswith("ValueError: bad input 3")
    assert dead["dead_at"] is not None
    assert queue.dead_letters(queue="notifier") == []
    assert len(queue.dead_letters(queue="annotator")) == 1

    assert queue.retry_dead(int(delivery.id)) is True
    assert queue.retry_dead(int(delivery.id)) is False  # no longer dead
    assert queue.dead_letters() == []
    revived = queue.claim("annotator")
    assert revived is not None
    assert (revived.id, revived.attempt, revived.payload) == (
        delivery.id,
        1,
        {"job_id": "poison"},
    )
    assert queue.ack(revived) is True


@WITH_FAKE
def test_retry_dead_of_an_unknown_message_returns_false(make_queue):
    assert make_queue().retry_dead(123456) is False


@WITH_FAKE
def test_stats_counts_ready_leased_delayed_and_dead_per_queue(make_queue, clock):
    queue = make_queue(lease_seconds=30, max_attempts=1)
    assert queue.stats() == {}
    for n in range(3):
        queue.publish(JOB_REQUESTED, {"n": n})
    queue.publish(JOB_REQUESTED, {"n": 3}, delay=60)
    queue.publish(JOB_FAILED, {"n": 4})
    clock.advance(1)

    leased = queue.claim("annotator")
    doomed = queue.claim("annotator")
    assert leased is not None and doomed is not None
    queue.fail(doomed, "no more attempts")

    assert queue.stats() == {
        "annotator": counts(ready=1, leased=1, delayed=1, dead=1),
        "notifier": counts(ready=1),
    }
    clock.advance(31)  # the lease expired: the message is ready again
    assert queue.stats()["annotator"] == counts(ready=2, delayed=1, dead=1)
    clock.advance(30)  # the delay passed
    assert queue.stats()["annotator"] == counts(ready=3, dead=1)


# --- a message that always fails (real clock) ---------------------------------------------


@WITH_FAKE
def test_message_that_always_fails_ends_dead_lettered_after_n_attempts(make_queue):
    queue = make_queue(now=time.time, max_attempts=4, backoff_base=0.01, poll_seconds=0.01)
    queue.publish(JOB_REQUESTED, {"job_id": "always-fails"})
    attempts: list[int] = []

    def consume_once() -> bool:
        delivery = queue.claim("annotator")
        if delivery is None:
            return queue.stats().get("annotator", {}).get("dead") == 1
        attempts.append(delivery.attempt)
        queue.fail(delivery, f"RuntimeError: handler failed on attempt {delivery.attempt}")
        return False

    poll(consume_once, deadline=10, interval=0.005)

    assert attempts == [1, 2, 3, 4]
    (dead,) = queue.dead_letters("annotator")
    assert dead["attempts"] == 4
    assert dead["last_error"] == "RuntimeError: handler failed on attempt 4"
    assert queue.stats() == {"annotator": counts(dead=1)}


# --- real processes -----------------------------------------------------------------------
# Consumers are plain ``python -c`` processes: they start faster than multiprocessing's spawn,
# which would re-import this module (and pytest) in every child.

CONSUMER = """
import pathlib, sys, time
from gas.adapters.sql.database import create_engine
from gas.adapters.sql.queue import SqlQueue

url, out, ready, go = sys.argv[1:5]
queue = SqlQueue(create_engine(url), lease_seconds=60)
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():  # all consumers start together
    time.sleep(0.005)
with open(out, "w") as fh:
    while (delivery := queue.claim("annotator")) is not None:
        fh.write(f"{delivery.payload['n']}\\n")  # the handler's work
        fh.flush()
        if not queue.ack(delivery):
            fh.write("lease-lost\\n")
"""

HANGING_CONSUMER = """
import os, sys, time
from gas.adapters.sql.database import create_engine
from gas.adapters.sql.queue import SqlQueue

url, lease, signal_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
queue = SqlQueue(create_engine(url), lease_seconds=lease)
deadline = time.monotonic() + 30
while True:
    before_claim = time.time()
    delivery = queue.claim("annotator")
    if delivery is not None:
        break
    if time.monotonic() > deadline:
        sys.exit("nothing to claim")
    time.sleep(0.01)
with open(signal_file + ".tmp", "w") as fh:
    fh.write(f"{delivery.id} {delivery.attempt} {before_claim}")
os.replace(signal_file + ".tmp", signal_file)
time.sleep(3600)  # the handler hangs until the process is killed
"""


def python(code: str, *args: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)])


def all_ready(processes: list[subprocess.Popen[bytes]], readies: list[Path]) -> bool:
    if any(p.poll() is not None for p in processes):
        pytest.fail("a consumer process exited before starting")
    return all(r.exists() for r in readies)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_four_consumer_processes_handle_2000_messages_exactly_once(database_url, engine, tmp_path):
    queue = SqlQueue(engine)
    total = 2000
    with engine.begin() as connection:  # one transaction for the whole batch
        for n in range(total):
            queue.publish_in(connection, JOB_REQUESTED, {"n": n})
    assert queue.stats() == {"annotator": counts(ready=total)}

    go = tmp_path / "go"
    outputs = [tmp_path / f"consumer-{i}.txt" for i in range(4)]
    readies = [tmp_path / f"ready-{i}" for i in range(4)]
    consumers = [
        python(CONSUMER, database_url, out, ready, go)
        for out, ready in zip(outputs, readies, strict=True)
    ]
    try:
        poll(lambda: all_ready(consumers, readies), deadline=60)
        go.touch()
        assert [c.wait(timeout=60) for c in consumers] == [0, 0, 0, 0]
    finally:
        stop_all(consumers)

    handled = [out.read_text().split() for out in outputs]
    assert not any("lease-lost" in lines for lines in handled)
    seen = Counter(int(n) for lines in handled for n in lines)
    assert {n: c for n, c in seen.items() if c > 1} == {}  # no duplicates
    assert sorted(seen) == list(range(total))  # none lost
    assert sum(1 for lines in handled if lines) >= 2  # the work was actually shared
    assert queue.stats() == {}
    assert rows(engine) == []


def test_message_of_a_consumer_killed_mid_message_is_handled_by_another_after_the_lease(
    database_url, engine, tmp_path
):
    lease = 1.5
    survivor = SqlQueue(engine, lease_seconds=lease, poll_seconds=0.05)
    survivor.publish(JOB_REQUESTED, {"job_id": "j-killed"})
    signal_file = tmp_path / "claimed"
    victim = python(HANGING_CONSUMER, database_url, lease, signal_file)
    try:
        poll(signal_file.exists, deadline=30)
        message_id, attempt, claimed_not_before = signal_file.read_text().split()
        assert attempt == "1"
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop_all([victim])

    def claim() -> Any:
        delivery = survivor.claim("annotator")
        if delivery is None:
            survivor.wait(["annotator"], 0.05)
        return delivery

    delivery = poll(claim, deadline=lease + 15, interval=0)
    assert time.time() >= float(claimed_not_before) + lease  # not before the lease expired
    assert (delivery.id, delivery.attempt, delivery.payload) == (
        message_id,
        2,
        {"job_id": "j-killed"},
    )
    assert survivor.ack(delivery) is True
    assert survivor.stats() == {}
    survivor.close()


# --- waiting for work ---------------------------------------------------------------------


@pytest.fixture
def private_queue(monkeypatch) -> str:
    """A queue name of this test alone subscribed to ``user.upgraded``: PostgreSQL's
    notification channel is shared by every schema of the database (parallel test runs)."""
    name = f"q_{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(events.SUBSCRIPTIONS, name, (USER_UPGRADED,))
    return name


def _publish_soon(engine: Engine, action: Callable[[SqlQueue, Engine], None]) -> threading.Timer:
    """Run ``action`` from another thread (its own connection) 0.2 s from now."""
    with engine.connect():  # the publisher's connection is ready before the clock starts
        pass
    timer = threading.Timer(0.2, action, args=(SqlQueue(engine), engine))
    timer.start()
    return timer


def test_wait_returns_promptly_when_a_message_is_published_on_a_listened_queue(
    engine, database_url, private_queue
):
    is_pg = engine.dialect.name == "postgresql"
    # PostgreSQL must be woken by LISTEN/NOTIFY, not by polling; SQLite polls.
    waiter = SqlQueue(engine, poll_seconds=30 if is_pg else 0.2)
    publisher_engine = create_engine(database_url)
    publishing: list[float] = []

    def publish(queue: SqlQueue, _engine: Engine) -> None:
        publishing.append(time.monotonic())
        queue.publish(USER_UPGRADED, {"user_id": "u1"})

    try:
        waiter.wait([private_queue], 0.01)  # on PostgreSQL, this starts listening
        timer = _publish_soon(publisher_engine, publish)
        started = time.monotonic()
        waiter.wait(["annotator", private_queue], timeout=20)
        returned = time.monotonic()
        timer.join()
        if is_pg:  # woken by the publication itself
            assert publishing[0] <= returned < publishing[0] + 1.0
        else:  # one poll interval
            assert returned - started < 1.0
        assert waiter.claim(private_queue) is not None
    finally:
        waiter.close()
        publisher_engine.dispose()


def test_wait_without_a_message_for_its_queues_lasts_the_timeout_or_one_poll(
    engine, database_url, private_queue
):
    is_pg = engine.dialect.name == "postgresql"
    waiter = SqlQueue(engine, poll_seconds=30 if is_pg else 0.3)
    publisher_engine = create_engine(database_url)

    def unrelated_activity(queue: SqlQueue, eng: Engine) -> None:
        queue.publish(JOB_REQUESTED, {"job_id": "for another queue"})
        with eng.connect() as connection:  # rolled back: never notified
            connection.begin()
            queue.publish_in(connection, USER_UPGRADED, {"user_id": "u1"})
            connection.rollback()

    try:
        waiter.wait([private_queue], 0.01)
        timer = _publish_soon(publisher_engine, unrelated_activity)
        started = time.monotonic()
        waiter.wait([private_queue], timeout=0.8 if is_pg else 20)
        elapsed = time.monotonic() - started
        timer.join()
        if is_pg:
            assert 0.75 <= elapsed < 2.0
        else:
            assert 0.25 <= elapsed < 1.0  # one poll interval, not the whole timeout
        assert waiter.claim(private_queue) is None

        started = time.monotonic()
        waiter.wait([private_queue], timeout=0)
        assert time.monotonic() - started < 0.1
    finally:
        waiter.close()
        publisher_engine.dispose()
