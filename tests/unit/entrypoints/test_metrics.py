"""Prometheus metrics: processes counting into one directory are added up by one scrape; the
live-process gauge forgets dead processes; a fresh start sweeps their files; a worker counts
what happens to its messages and logs with the message's job; who may read /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gas.domain import events
from gas.entrypoints import logs, metrics
from gas.entrypoints.workers import Worker
from gas.ports import Delivery
from tests.fakes import FakeClock, FakeQueue

# A process of GAS as far as metrics go: counts into the directory argv[1], then waits for a
# line on stdin (so that it is alive while scraped) unless told to exit at once.
PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gas.entrypoints import metrics
    metrics.enable_multiprocess(Path(sys.argv[1]))
    metrics.worker_running("annotator")
    metrics.count_message("annotator", "job.requested", "handled")
    metrics.observe_request("/annotations/<job_id>", "GET", 200, 0.02)
    metrics.observe_job(1000, 2.0)
    print("counted", flush=True)
    if sys.argv[2] == "wait":
        sys.stdin.readline()
    """
)


def start(directory: Path, mode: str = "wait", **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    environment.update(env)
    process = subprocess.Popen(
        [sys.executable, "-c", PROCESS, str(directory), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "counted"
    return process


def stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape of ``directory``: (name, labels) -> value."""
    body, _ = metrics.render(metrics.scrape_registry(directory=directory))
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


MESSAGES = (
    "gas_worker_messages_total",
    (("outcome", "handled"), ("topic", "job.requested"), ("worker", "annotator")),
)
REQUESTS = (
    "gas_http_requests_total",
    (("method", "GET"), ("route", "/annotations/<job_id>"), ("status", "2xx")),
)
WORKERS = ("gas_worker_processes", (("worker", "annotator"),))
JOBS = ("gas_job_duration_seconds_count", ())
RATE_SUM = ("gas_job_variants_per_second_sum", ())


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def test_two_processes_count_and_one_scrape_adds_them_up(directory: Path) -> None:
    first, second = start(directory), start(directory)
    try:
        samples = scrape(directory)
        assert samples[MESSAGES] == 2
        assert samples[REQUESTS] == 2
        assert samples[WORKERS] == 2
        assert samples[JOBS] == 2
        assert samples[RATE_SUM] == 1000  # 500 variants/s, twice
    finally:
        stop(first)
    try:
        samples = scrape(directory)
        assert samples[WORKERS] == 1  # the exited process no longer counts as running …
        assert samples[MESSAGES] == 2  # … but what it counted stays while the service runs
    finally:
        stop(second)


def test_a_fresh_start_sweeps_the_files_of_processes_that_are_gone(directory: Path) -> None:
    stop(start(directory))
    assert any(directory.iterdir())
    # a child of a supervisor that prepared the directory leaves it alone …
    child = start(directory, "exit", **{metrics.MULTIPROC_ENV: str(directory)})
    child.wait(timeout=30)
    assert scrape(directory)[MESSAGES] == 2
    # … a process started alone (gas serve, gas web, gas worker) sweeps it first
    alone = start(directory)
    try:
        assert scrape(directory)[MESSAGES] == 1
        assert {p.name.rsplit("_", 1)[1] for p in directory.iterdir()} == {f"{alone.pid}.db"}
    finally:
        stop(alone)
    assert metrics.sweep(directory) > 0
    assert not any(directory.iterdir())


def test_live_workers_counts_this_machines_worker_processes(directory: Path) -> None:
    assert metrics.live_workers(directory / "missing") == {}
    first, second = start(directory), start(directory)
    try:
        assert metrics.live_workers(directory) == {"annotator": 2}
    finally:
        stop(first)
        stop(second)
    assert metrics.live_workers(directory) == {}


# --- a worker's messages ------------------------------------------------------------------------


def local(name: str, labels: dict[str, str]) -> float:
    metrics.instruments()
    return metrics._local_registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue(FakeClock())


def test_a_worker_counts_outcomes_and_logs_with_the_messages_job(queue: FakeQueue) -> None:
    seen: list[dict[str, Any]] = []

    def handler(d: Delivery) -> None:
        seen.append(logs.current_context())
        if d.payload["job_id"] == "bad":
            raise RuntimeError("boom")

    worker = Worker(
        kind="annotator",
        queue=metrics.InstrumentedQueue(queue, "annotator"),
        handlers={events.JOB_REQUESTED: handler},
    )
    labels = {"worker": "annotator", "topic": events.JOB_REQUESTED}
    handled = local("gas_worker_messages_total", {**labels, "outcome": "handled"})
    failed = local("gas_worker_messages_total", {**labels, "outcome": "failed"})
    queue.publish(events.JOB_REQUESTED, {"job_id": "j-1", "user_id": "u-1"})
    queue.publish(events.JOB_REQUESTED, {"job_id": "bad"})
    assert worker.run_once() and worker.run_once()
    assert seen[0]["job_id"] == "j-1" and seen[0]["user_id"] == "u-1"
    assert seen[1]["job_id"] == "bad" and seen[1]["user_id"] is None
    assert logs.current_context()["job_id"] is None  # not after the message
    assert local("gas_worker_messages_total", {**labels, "outcome": "handled"}) == handled + 1
    assert local("gas_worker_messages_total", {**labels, "outcome": "failed"}) == failed + 1
    assert not worker.run_once()  # (the failed one waits for its backoff)
    assert metrics.InstrumentedQueue(queue, "annotator").stats() == queue.stats()


def test_the_user_of_a_message_naming_only_its_job_is_looked_up(queue: FakeQueue) -> None:
    seen: list[dict[str, Any]] = []
    owners = {"j-1": "u-7"}

    def lookup(job_id: str) -> str | None:
        if job_id == "broken":
            raise RuntimeError("database down")
        return owners.get(job_id)

    worker = Worker(
        kind="notifier",
        queue=metrics.InstrumentedQueue(queue, "notifier", user_of_job=lookup),
        handlers={events.JOB_COMPLETED: lambda d: seen.append(logs.current_context())},
    )
    for job_id in ("j-1", "unknown", "broken"):
        queue.publish(events.JOB_COMPLETED, {"job_id": job_id})
    while worker.run_once():
        pass
    assert [(c["job_id"], c["user_id"]) for c in seen] == [
        ("j-1", "u-7"),
        ("unknown", None),
        ("broken", None),  # the message is handled all the same
    ]


def test_a_completed_job_is_timed_with_its_variants_per_second() -> None:
    count = local("gas_job_duration_seconds_count", {})
    rates = local("gas_job_variants_per_second_count", {})
    metrics.observe_job(3000, 1.5)
    metrics.observe_job(None, 1.5)  # the variants unknown: timed only
    assert local("gas_job_duration_seconds_count", {}) == count + 2
    assert local("gas_job_variants_per_second_count", {}) == rates + 1


# --- the scrape-time figures --------------------------------------------------------------------


def test_backlog_and_jobs_are_read_at_scrape_time_cached_and_never_fail_a_scrape() -> None:
    now = [0.0]
    reads = []
    broken = [False]

    def stats() -> dict[str, dict[str, int]]:
        reads.append("queue")
        if broken[0]:
            raise OSError("database down")
        return {"annotator": {"ready": 3, "leased": 1, "delayed": 0, "dead": 2}}

    collector = metrics.StateCollector(
        stats, lambda: {"PENDING": 4}, cache_seconds=5, monotonic=lambda: now[0]
    )
    registry = metrics.scrape_registry(collector, directory=None)
    assert registry.get_sample_value("gas_queue_backlog", {"queue": "annotator"}) == 3
    assert registry.get_sample_value("gas_queue_backlog", {"queue": "notifier"}) == 0
    assert (
        registry.get_sample_value("gas_queue_messages", {"queue": "annotator", "state": "dead"})
        == 2
    )
    assert registry.get_sample_value("gas_jobs", {"state": "PENDING"}) == 4
    assert registry.get_sample_value("gas_jobs", {"state": "FAILED"}) == 0
    assert reads == ["queue"]  # (three look-ups above, one read: cached)
    broken[0] = True
    now[0] = 10
    assert registry.get_sample_value("gas_queue_backlog", {"queue": "annotator"}) is None
    assert registry.get_sample_value("gas_jobs", {"state": "PENDING"}) == 4


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "authorization", "token", "status"),
    [
        ("127.0.0.1", None, None, 200),
        ("::1", None, None, 200),
        ("::ffff:127.0.0.1", None, None, 200),
        ("10.0.0.5", None, None, 403),  # private is not enough: a load balancer is private
        ("203.0.113.9", None, None, 403),
        (None, None, None, 403),
        ("203.0.113.9", "Bearer s3cret", "s3cret", 200),
        ("203.0.113.9", "bearer  s3cret ", "s3cret", 200),
        ("203.0.113.9", "Bearer wrong", "s3cret", 401),
        ("127.0.0.1", None, "s3cret", 401),  # a token, once set, is needed from anywhere
        ("127.0.0.1", "Basic s3cret", "s3cret", 401),
    ],
)
def test_access(
    remote: str | None, authorization: str | None, token: str | None, status: int
) -> None:
    assert metrics.access(remote, authorization, token) == status


def test_a_relayed_request_needs_the_token() -> None:
    assert metrics.access("127.0.0.1", None, None, relayed=True) == 403
    assert metrics.access("127.0.0.1", "Bearer t", "t", relayed=True) == 200


@pytest.fixture
def worker_server() -> Iterator[Any]:
    servers: list[Any] = []

    def serve(token: str | None) -> str:
        server = metrics.serve_in_thread("127.0.0.1:0", metrics.scrape_registry(), token)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_gas_worker_serves_metrics_with_the_same_rules(worker_server) -> None:
    open_url = worker_server(None)
    status, body = get(open_url + "/metrics")
    assert status == 200 and "gas_job_duration_seconds" in body
    assert get(open_url + "/other")[0] == 404
    assert get(open_url + "/metrics", {"X-Real-IP": "203.0.113.9"})[0] == 403  # via a proxy
    locked = worker_server("s3cret")
    assert get(locked + "/metrics")[0] == 401
    assert get(locked + "/metrics", {"Authorization": "Bearer s3cret"})[0] == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [("9100", ("127.0.0.1", 9100)), ("0.0.0.0:9100", ("0.0.0.0", 9100)), ("[::1]:9", ("::1", 9))],
)
def test_metrics_listen(value: str, expected: tuple[str, int]) -> None:
    assert metrics.parse_listen(value) == expected


def test_metrics_listen_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="GAS_METRICS_LISTEN"):
        metrics.parse_listen("localhost:http")
