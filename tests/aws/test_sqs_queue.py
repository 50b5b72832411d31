"""Contract of the SNS/SQS queue (``SnsSqsQueue``), against moto's server.

Mirrors tests/integration/test_sql_queue.py where SQS semantics allow. SQS counts visibility
timeouts in whole seconds and has no injectable clock, so leases here are 1–2 s of real time and
the tests poll with deadlines. Each test has its own name prefix, hence its own topics and
queues, on the one moto server of the session.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gas.adapters.sqs_sns import (
    ATTR_TOPIC,
    QueueNotFound,
    SnsSqsQueue,
    envelope,
    parse_body,
    parse_queue_url,
    queue_name,
    topic_name,
)
from gas.domain import events
from gas.domain.events import JOB_COMPLETED, JOB_FAILED, JOB_REQUESTED, USER_UPGRADED
from gas.entrypoints.aws_bootstrap import Bootstrap, Plan
from tests.aws.moto_server import make_client

PINNED = {"annotator": (JOB_REQUESTED,), "notifier": (JOB_COMPLETED, JOB_FAILED)}


def counts(ready: int = 0, leased: int = 0, delayed: int = 0, dead: int = 0) -> dict[str, int]:
    return {"ready": ready, "leased": leased, "delayed": delayed, "dead": dead}


@pytest.fixture(autouse=True)
def quiet_moto_server() -> Iterator[None]:
    """moto's server logs every request at INFO; capturing thousands of them costs seconds."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def subscriptions(monkeypatch) -> dict[str, tuple[str, ...]]:
    """Pin who subscribes to what, so the contract does not depend on the product's wiring."""
    pinned = dict(PINNED)
    monkeypatch.setattr(events, "SUBSCRIPTIONS", pinned)
    return pinned


@pytest.fixture
def sns(aws_settings) -> Any:
    return make_client("sns", aws_settings)


@pytest.fixture
def sqs(aws_settings) -> Any:
    return make_client("sqs", aws_settings)


def provision(sns: Any, sqs: Any, prefix: str, *, max_attempts: int, lease_seconds: int) -> None:
    """The topics, queues, DLQs and subscriptions of ``prefix``, as ``gas aws bootstrap``
    makes them."""
    plan = Plan(
        queue_prefix=prefix,
        storage=None,
        cold=None,
        base_url="http://127.0.0.1:8000",
        max_attempts=max_attempts,
        lease_seconds=lease_seconds,
    )
    Bootstrap(plan, sns=sns, sqs=sqs, echo=lambda _line: None).ensure_messaging(prefix)


@pytest.fixture
def make_queue(sns, sqs, subscriptions) -> Callable[..., SnsSqsQueue]:
    """SnsSqsQueue on fresh resources (provisioned at the first call, with its max_attempts);
    every further call is another consumer of the same queues."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    provisioned: list[int] = []

    def make(**options: Any) -> SnsSqsQueue:
        options.setdefault("max_attempts", 5)
        options.setdefault("lease_seconds", 2)
        options.setdefault("wait_seconds", 0)
        if not provisioned:
            provision(
                sns,
                sqs,
                prefix,
                max_attempts=options["max_attempts"],
                lease_seconds=options["lease_seconds"],
            )
            provisioned.append(1)
        return SnsSqsQueue(prefix, sns=sns, sqs=sqs, **options)

    return make


def poll(fn: Callable[[], Any], *, deadline: float, interval: float = 0.05) -> Any:
    end = time.monotonic() + deadline
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"nothing after {deadline} s")
        time.sleep(interval)


# --- names and bodies ---------------------------------------------------------------------


def test_names_follow_the_prefix_and_have_no_dots():
    assert parse_queue_url("sqs://") == "gas"
    assert parse_queue_url("sqs://prod-gas") == "prod-gas"
    assert parse_queue_url("sqs://prod-gas/") == "prod-gas"
    assert topic_name("gas", "job.requested") == "gas-job-requested"
    assert topic_name("gas", "results.restore_ready") == "gas-results-restore-ready"
    assert queue_name("gas", "annotator") == "gas-annotator"
    for bad in ("sql", "sqs://has.dot", "sqs://" + "x" * 41, "s3://bucket"):
        with pytest.raises(ValueError):
            parse_queue_url(bad)


def test_body_parses_raw_and_sns_wrapped_deliveries():
    body = envelope(JOB_REQUESTED, {"job_id": "j1"})
    assert parse_body(body) == (JOB_REQUESTED, {"job_id": "j1"})
    wrapped = json.dumps(
        {
            "Type": "Notification",
            "Message": json.dumps({"payload": {"job_id": "j2"}}),
            "MessageAttributes": {ATTR_TOPIC: {"Type": "String", "Value": JOB_FAILED}},
        }
    )
    assert parse_body(wrapped) == (JOB_FAILED, {"job_id": "j2"})
    for bad in ("[]", "{}", '{"topic": "job.requested", "payload": 3}', "not json"):
        with pytest.raises(ValueError):
            parse_body(bad)


def test_missing_resources_name_the_bootstrap_command(sns, sqs):
    queue = SnsSqsQueue(f"none{uuid.uuid4().hex[:8]}", sns=sns, sqs=sqs, wait_seconds=0)
    with pytest.raises(QueueNotFound, match="gas aws bootstrap"):
        queue.claim("annotator")
    with pytest.raises(QueueNotFound, match="gas aws bootstrap"):
        queue.publish(JOB_REQUESTED, {"job_id": "j1"})


# --- publishing ---------------------------------------------------------------------------


def test_publish_fans_out_through_sns_to_every_subscriber_queue(make_queue, monkeypatch):
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
        assert delivery.max_attempts == 5
    assert queue.claim("annotator") is None
    # each copy lives on its own: acknowledging one leaves the other leased
    assert queue.ack(to_notifier)
    assert queue.stats() == {"auditor": counts(leased=1)}


def test_publish_on_a_topic_without_subscribers_delivers_nothing(make_queue):
    queue = make_queue()
    queue.publish(USER_UPGRADED, {"user_id": "u1"})
    assert queue.stats() == {}


def test_publish_on_an_unknown_topic_raises(make_queue):
    queue = make_queue()
    with pytest.raises(ValueError, match="unknown topic"):
        queue.publish("job.exploded", {"job_id": "j1"})


def test_publish_with_a_delay_needs_the_outbox(make_queue):
    queue = make_queue()
    with pytest.raises(ValueError, match="outbox relay"):
        queue.publish(JOB_REQUESTED, {"job_id": "j1"}, delay=60)
    assert queue.stats() == {}


def test_payload_round_trips_as_json(make_queue):
    queue = make_queue()
    payload = {"job_id": "j1", "n": 3, "ratio": 0.5, "tags": ["a", "é"], "nested": {"x": None}}
    queue.publish(JOB_REQUESTED, payload)
    delivery = queue.claim("annotator")
    assert delivery is not None and delivery.payload == payload


def test_long_poll_returns_as_soon_as_a_message_arrives(make_queue):
    queue = make_queue(wait_seconds=5)
    timer = threading.Timer(0.3, queue.publish, args=(JOB_REQUESTED, {"job_id": "j1"}))
    started = time.monotonic()
    timer.start()
    delivery = queue.claim("annotator")
    elapsed = time.monotonic() - started
    timer.join()
    assert delivery is not None and delivery.payload == {"job_id": "j1"}
    assert elapsed < 2.5
    started = time.monotonic()
    queue.wait(["annotator"], 10)  # claim long-polls: wait has nothing to add
    assert time.monotonic() - started < 0.1


# --- leases -------------------------------------------------------------------------------


def test_claimed_message_is_invisible_to_another_consumer_until_the_visibility_timeout(make_queue):
    consumer_a = make_queue(lease_seconds=2)
    consumer_b = make_queue(lease_seconds=2)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})

    first = consumer_a.claim("annotator")
    claimed_at = time.monotonic()
    assert first is not None and first.attempt == 1
    assert consumer_b.claim("annotator") is None
    assert consumer_a.stats() == {"annotator": counts(leased=1)}

    second = poll(lambda: consumer_b.claim("annotator"), deadline=10)
    assert time.monotonic() - claimed_at >= 1.9
    assert (second.id, second.payload, second.attempt) == (first.id, first.payload, 2)
    assert second.receipt != first.receipt
    assert consumer_b.ack(second)


def test_heartbeat_extends_the_lease(make_queue):
    consumer_a = make_queue(lease_seconds=2)
    consumer_b = make_queue(lease_seconds=2)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})
    delivery = consumer_a.claim("annotator")
    assert delivery is not None
    claimed_at = time.monotonic()

    time.sleep(1.0)
    assert consumer_a.heartbeat(delivery) is True  # visible again at +3.0
    time.sleep(1.3)  # +2.3: past the first lease, within the renewed one
    assert consumer_b.claim("annotator") is None

    again = poll(lambda: consumer_b.claim("annotator"), deadline=10)
    assert time.monotonic() - claimed_at >= 2.9
    assert again.attempt == 2


def test_stale_receipt_can_no_longer_ack_heartbeat_fail_or_release(make_queue):
    consumer_a = make_queue(lease_seconds=1)
    consumer_b = make_queue(lease_seconds=2)
    consumer_a.publish(JOB_REQUESTED, {"job_id": "j1"})
    stale = consumer_a.claim("annotator")
    assert stale is not None
    current = poll(lambda: consumer_b.claim("annotator"), deadline=10)
    assert current.attempt == 2

    # SQS (and moto) would accept the old receipt handle: the local lease refuses it
    assert consumer_a.ack(stale) is False
    assert consumer_a.heartbeat(stale) is False
    consumer_a.fail(stale, "too late")
    consumer_a.release(stale)

    assert consumer_b.stats() == {"annotator": counts(leased=1)}
    assert consumer_b.heartbeat(current) is True
    assert consumer_b.ack(current) is True
    assert consumer_b.ack(current) is False  # acknowledged once only
    assert consumer_b.stats() == {}


def test_release_gives_the_message_back_at_once_without_counting_an_attempt(make_queue):
    queue = make_queue(lease_seconds=30)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    first = queue.claim("annotator")
    assert first is not None

    queue.release(first)

    assert queue.stats() == {"annotator": counts(ready=1)}
    again = queue.claim("annotator")  # at once: no lease, no backoff to wait for
    assert again is not None
    assert (again.id, again.attempt, again.payload) == (first.id, 1, first.payload)
    assert queue.ack(first) is False  # the released receipt is dead
    assert queue.ack(again) is True
    assert queue.stats() == {}


def test_message_of_a_consumer_that_stops_without_acking_is_redelivered_after_the_lease(
    make_queue,
):
    victim = make_queue(lease_seconds=1)
    survivor = make_queue(lease_seconds=1)
    victim.publish(JOB_REQUESTED, {"job_id": "j-killed"})
    dropped = victim.claim("annotator")  # the process dies here: no ack, no release
    claimed_at = time.monotonic()
    assert dropped is not None and dropped.attempt == 1
    del victim

    delivery = poll(lambda: survivor.claim("annotator"), deadline=15)
    assert time.monotonic() - claimed_at >= 0.9  # not before the lease expired
    assert (delivery.id, delivery.attempt, delivery.payload) == (
        dropped.id,
        2,
        {"job_id": "j-killed"},
    )
    assert survivor.ack(delivery) is True
    assert survivor.stats() == {}


# --- failures, backoff, dead letters ------------------------------------------------------


def test_failed_message_comes_back_after_the_backoff_with_the_next_attempt(make_queue):
    queue = make_queue(backoff_base=2, backoff_cap=2, max_attempts=5)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    delivery = queue.claim("annotator")
    assert delivery is not None and delivery.attempt == 1

    queue.fail(delivery, "boom 1")
    failed_at = time.monotonic()

    assert queue.claim("annotator") is None  # waiting out the backoff (1–2 s)
    assert queue.stats() == {"annotator": counts(leased=1)}  # SQS: in flight
    retry = poll(lambda: queue.claim("annotator"), deadline=10)
    assert time.monotonic() - failed_at >= 0.9
    assert (retry.id, retry.attempt) == (delivery.id, 2)
    assert queue.ack(delivery) is False
    assert queue.ack(retry) is True


def test_message_that_always_fails_is_dead_lettered_after_max_attempts(make_queue):
    queue = make_queue(max_attempts=3, backoff_base=1, backoff_cap=1)
    queue.publish(JOB_REQUESTED, {"job_id": "always-fails"})
    attempts: list[int] = []

    def consume_once() -> bool:
        delivery = queue.claim("annotator")
        if delivery is None:
            return queue.stats().get("annotator", {}).get("dead") == 1
        attempts.append(delivery.attempt)
        queue.fail(delivery, f"RuntimeError: handler failed on attempt {delivery.attempt}")
        return False

    poll(consume_once, deadline=20, interval=0.1)

    assert attempts == [1, 2, 3]
    assert queue.stats() == {"annotator": counts(dead=1)}
    (dead,) = queue.dead_letters("annotator")
    assert (dead["queue"], dead["topic"], json.loads(dead["payload"])) == (
        "annotator",
        JOB_REQUESTED,
        {"job_id": "always-fails"},
    )
    assert dead["attempts"] == 3
    assert dead["last_error"] == "RuntimeError: handler failed on attempt 3"

    # an operator sends it back: a fresh set of attempts, the same id
    assert poll(lambda: queue.retry_dead(dead["id"]), deadline=10)
    back = queue.claim("annotator")
    assert back is not None and (back.id, back.attempt) == (dead["id"], 1)
    assert queue.ack(back)
    assert queue.stats() == {}


def test_consumer_dying_on_the_last_attempt_dead_letters_and_tells_the_next_claim(make_queue):
    queue = make_queue(max_attempts=2, lease_seconds=1)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    first = queue.claim("annotator")  # dies
    assert first is not None and first.attempt == 1
    last = poll(lambda: queue.claim("annotator"), deadline=10)  # dies too
    assert last.attempt == 2 and last.is_last_attempt

    notice = poll(lambda: queue.claim("annotator"), deadline=10)
    assert notice.id == first.id and notice.exhausted and notice.attempt == 3
    assert queue.ack(notice) is False and queue.heartbeat(notice) is False
    assert queue.claim("annotator") is None
    assert queue.stats() == {"annotator": counts(dead=1)}
    (dead,) = queue.dead_letters()
    assert dead["id"] == first.id
    assert "lease expired during attempt 2" in dead["last_error"]


def test_redrive_policy_dead_letters_a_message_received_too_often(make_queue, sqs):
    """The backstop: SQS itself moves a message after max_attempts + 1 receives, whoever
    received it."""
    queue = make_queue(max_attempts=2)
    queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    url = queue.queue_url("annotator")
    for _ in range(3):
        got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=0)
        assert len(got.get("Messages", [])) == 1
    assert queue.claim("annotator") is None
    assert queue.stats() == {"annotator": counts(dead=1)}
    (dead,) = queue.dead_letters("annotator")
    assert "redrive" in dead["last_error"]


def test_stats_reports_every_state(make_queue, sqs):
    queue = make_queue(max_attempts=1, lease_seconds=30)
    for n in range(3):
        queue.publish(JOB_REQUESTED, {"n": n})
    queue.publish(JOB_FAILED, {"n": 9})
    sqs.send_message(
        QueueUrl=queue.queue_url("annotator"),
        MessageBody=envelope(JOB_REQUESTED, {"n": 4}),
        DelaySeconds=60,
    )
    leased = queue.claim("annotator")
    doomed = queue.claim("annotator")
    assert leased is not None and doomed is not None
    queue.fail(doomed, "no more attempts")

    assert queue.stats() == {
        "annotator": counts(ready=1, leased=1, delayed=1, dead=1),
        "notifier": counts(ready=1),
    }


# --- many consumers -----------------------------------------------------------------------


def test_four_concurrent_consumers_handle_200_messages_without_loss(make_queue, sqs):
    queue = make_queue(lease_seconds=60)
    total = 200
    url = queue.queue_url("annotator")
    for start in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "MessageBody": envelope(JOB_REQUESTED, {"n": n})}
                for n in range(start, start + 10)
            ],
        )
    assert queue.stats() == {"annotator": counts(ready=total)}

    handled: list[list[Any]] = [[] for _ in range(4)]
    go = threading.Barrier(4)

    done = threading.Event()
    deadline = time.monotonic() + 100

    def consume(out: list[Any]) -> None:
        consumer = make_queue(lease_seconds=60)
        go.wait()
        # An empty receive does not mean the queue is drained (under load a message can be in
        # flight): stop once every message was handled, or at the deadline.
        while not done.is_set() and time.monotonic() < deadline:
            delivery = consumer.claim("annotator")
            if delivery is None:
                continue
            out.append(delivery.payload["n"])  # the handler's work
            if not consumer.ack(delivery):
                out.append("lease-lost")
            if sum(len(o) for o in handled) >= total:
                done.set()

    threads = [threading.Thread(target=consume, args=(out,)) for out in handled]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    assert not any("lease-lost" in out for out in handled)
    seen = Counter(n for out in handled for n in out)
    # SQS standard queues deliver at least once (AWS documents occasional duplicates, and
    # moto's emulation shows one now and then under four concurrent receivers): the handlers
    # are idempotent for that reason. No message may be lost; duplicates must stay rare.
    duplicates = {n: c for n, c in seen.items() if c > 1}
    assert sum(c - 1 for c in duplicates.values()) <= total // 100, duplicates
    assert sorted(seen) == list(range(total))  # none lost
    assert sum(1 for out in handled if out) >= 2  # the work was actually shared
    assert queue.stats() == {}


@pytest.fixture
def worker_queue(make_queue) -> Iterator[SnsSqsQueue]:
    yield make_queue(lease_seconds=1)


def test_the_worker_loop_runs_on_the_sqs_queue(worker_queue):
    """The Worker's claim/heartbeat/ack cycle, with a handler longer than the lease."""
    from gas.entrypoints.workers import Worker

    handled: list[int] = []

    def slow_handler(delivery) -> None:
        time.sleep(1.6)  # longer than the 1 s lease: the heartbeat keeps it
        handled.append(delivery.attempt)

    worker = Worker(
        kind="annotator",
        queue=worker_queue,
        handlers={JOB_REQUESTED: slow_handler},
        heartbeat_seconds=0.3,
    )
    worker_queue.publish(JOB_REQUESTED, {"job_id": "j1"})
    assert worker.run_once() is True
    assert handled == [1]
    assert worker_queue.stats() == {}
