"""Prometheus metrics: what GAS counts, where the counts live, and who may read them.

Every ``gas`` process of a machine (the web server, each worker, under ``gas serve`` or alone)
counts into its own memory-mapped files in one directory, ``GAS_METRICS_DIR`` (by default
``$GAS_DATA_DIR/metrics``): prometheus_client's multiprocess mode. A scrape of ``/metrics``
(the web's, or ``GAS_METRICS_LISTEN`` on a machine running only workers) adds up the files of
every process, and adds figures read at scrape time from the queue and the database: the
backlog per worker queue and the jobs per state (cached for ``STATE_CACHE_SECONDS``, so that
scrapers cannot load the database).

Files of processes that are gone: the live-process gauge of a dead process is dropped at the
next scrape (its pid no longer exists); its counters stay — a sum must not go down while the
service runs — until the next start: ``gas serve`` (or a ``gas web`` / ``gas worker`` started
alone) removes the files of processes no longer running before it starts counting. Children of
``gas serve`` inherit the prepared directory and leave it alone.

Access: with ``GAS_METRICS_TOKEN`` set, only a request carrying ``Authorization: Bearer
<token>`` (from anywhere); without it, only requests from a loopback address that no proxy
relayed. Behind a reverse proxy on the same machine, tell GAS who the proxy is
(``GAS_WEB_TRUSTED_PROXY``) so that the client's own address is the one checked, or set a
token.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from gas.entrypoints.operator_access import PROXY_HEADERS, access
from gas.ports import Delivery

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STATE_CACHE_SECONDS = 5.0
WORKER_KINDS = ("annotator", "notifier", "archiver", "restorer")
JOB_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FILE_PID = re.compile(r"_(\d+)\.db$")

# --- the instruments --------------------------------------------------------------------------
# Created at first use: by then the process has chosen where its values live (multiprocess
# files, or this process's memory in tests and `create_app` alone).


class Instruments:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.http_requests = Counter(
            "gas_http_requests_total",
            "HTTP requests answered, by route (the URL rule, never the raw path), method and "
            "status class.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "gas_http_request_duration_seconds",
            "Time to answer an HTTP request, by route and method.",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
            registry=registry,
        )
        self.worker_messages = Counter(
            "gas_worker_messages_total",
            "Queue messages a worker finished with, by worker kind, topic and outcome: handled "
            "(acknowledged), failed (to be retried, or dead-lettered), released (given back at "
            "shutdown), exhausted (its consumers kept dying; the failure was recorded), lost "
            "(the lease had expired before the acknowledgement).",
            ["worker", "topic", "outcome"],
            registry=registry,
        )
        self.worker_processes = Gauge(
            "gas_worker_processes",
            "Worker processes running on this machine, by kind.",
            ["worker"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.job_duration = Histogram(
            "gas_job_duration_seconds",
            "Time an annotator took for a job that completed (annotating and storing the outputs).",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
            registry=registry,
        )
        self.job_variants_per_second = Histogram(
            "gas_job_variants_per_second",
            "Input records annotated per second of a completed job's duration.",
            buckets=(10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000),
            registry=registry,
        )


_lock = threading.Lock()
_instruments: Instruments | None = None
# In a process that does not use multiprocess files: the registry its instruments are in.
_local_registry = CollectorRegistry(auto_describe=True)


def instruments() -> Instruments:
    global _instruments
    with _lock:
        if _instruments is None:
            registry = None if multiprocess_dir() else _local_registry
            _instruments = Instruments(registry)
        return _instruments


# --- the multiprocess directory -----------------------------------------------------------------


def multiprocess_dir() -> Path | None:
    """The directory this process counts into, or None (its memory only)."""
    if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
        return None
    raw = os.environ.get(MULTIPROC_ENV)
    return Path(raw) if raw else None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _file_pids(directory: Path) -> dict[int, list[Path]]:
    pids: dict[int, list[Path]] = {}
    for path in directory.glob("*.db"):
        match = _FILE_PID.search(path.name)
        if match:
            pids.setdefault(int(match.group(1)), []).append(path)
    return pids


def sweep(directory: Path) -> int:
    """Remove the files of processes that are no longer running; returns how many."""
    removed = 0
    for pid, paths in _file_pids(directory).items():
        if _pid_alive(pid):
            continue
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def forget_dead_processes(directory: Path) -> None:
    """Drop the live-process gauges of processes that are gone (their counters stay)."""
    for pid in _file_pids(directory):
        if not _pid_alive(pid):
            mark_process_dead(pid, str(directory))


def enable_multiprocess(directory: Path) -> Path:
    """Count into ``directory`` from now on (call before the first instrument is used).

    The first process to prepare the directory (``gas serve``, or a ``gas web`` / ``gas
    worker`` started alone) removes the files of processes no longer running; processes it
    starts inherit the prepared directory through the environment and leave it alone."""
    from gas.config import ensure_private_dir

    directory = ensure_private_dir(Path(directory))
    if os.environ.get(MULTIPROC_ENV) != str(directory):
        removed = sweep(directory)
        if removed:
            log.info("metrics: removed %d file(s) of processes no longer running", removed)
        os.environ[MULTIPROC_ENV] = str(directory)
    if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
        prometheus_values.ValueClass = prometheus_values.MultiProcessValue()
    return directory


def live_workers(directory: Path) -> dict[str, int]:
    """Worker processes running on this machine per kind, as they count themselves in the
    metrics directory ``directory`` ({} when there is none)."""
    if not directory.is_dir():
        return {}
    forget_dead_processes(directory)
    out: dict[str, int] = {}
    for family in MultiProcessCollector(None, path=str(directory)).collect():
        if family.name != "gas_worker_processes":
            continue
        for sample in family.samples:
            kind = sample.labels.get("worker")
            if kind and sample.value > 0:
                out[kind] = out.get(kind, 0) + int(sample.value)
    return out


def process_exited(pid: int) -> None:
    """For a supervisor: a child has exited; its live-process gauges no longer count."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory and os.path.isdir(directory):
        mark_process_dead(pid, directory)


# --- what processes record ----------------------------------------------------------------------


def status_class(status_code: int) -> str:
    return f"{status_code // 100}xx" if 100 <= status_code < 600 else "other"


def observe_request(route: str, method: str, status_code: int, seconds: float | None) -> None:
    """One HTTP request answered. ``route`` must be a URL rule (bounded), never a raw path."""
    m = instruments()
    method = method if method in HTTP_METHODS else "other"
    m.http_requests.labels(route, method, status_class(status_code)).inc()
    if seconds is not None:
        m.http_duration.labels(route, method).observe(seconds)


def observe_job(variant_count: int | None, seconds: float) -> None:
    """An annotation job completed in ``seconds`` (``variant_count`` input records, if known)."""
    m = instruments()
    m.job_duration.observe(seconds)
    if variant_count is not None and seconds > 0:
        m.job_variants_per_second.observe(variant_count / seconds)


def worker_running(kind: str) -> None:
    """This process is a worker of ``kind`` (until it exits). Its message counters start at
    zero for the topics it handles, so that rates are known before the first message."""
    from gas.domain.events import SUBSCRIPTIONS

    m = instruments()
    m.worker_processes.labels(kind).set(1)
    for topic in SUBSCRIPTIONS.get(kind, ()):
        for outcome in ("handled", "failed"):
            m.worker_messages.labels(kind, topic, outcome)


def count_message(kind: str, topic: str, outcome: str) -> None:
    instruments().worker_messages.labels(kind, topic, outcome).inc()


class InstrumentedQueue:
    """A worker's view of the queue that counts what happens to its messages and puts the
    message's job and user in the log context from its claim to its ack, fail or release (the
    user of a message that names only its job from ``user_of_job``, when given). Everything
    else is passed through."""

    def __init__(
        self, queue: Any, kind: str, user_of_job: Callable[[str], str | None] | None = None
    ) -> None:
        self._queue = queue
        self._kind = kind
        self._user_of_job = user_of_job

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def __repr__(self) -> str:
        return f"InstrumentedQueue({self._queue!r}, {self._kind!r})"

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        self._queue.publish(topic, payload, delay=delay)

    def heartbeat(self, delivery: Delivery) -> bool:
        return bool(self._queue.heartbeat(delivery))

    def wait(self, queues: list[str], timeout: float) -> None:
        self._queue.wait(queues, timeout)

    def stats(self) -> dict[str, dict[str, int]]:
        return self._queue.stats()  # type: ignore[no-any-return]

    def claim(self, queue: str) -> Delivery | None:
        from gas.entrypoints import logs

        delivery: Delivery | None = self._queue.claim(queue)
        payload = delivery.payload if delivery is not None else {}
        fields: dict[str, str | None] = {}
        for name in ("job_id", "user_id"):
            value = payload.get(name) if isinstance(payload, dict) else None
            fields[name] = str(value) if value is not None else None
        if fields["job_id"] and not fields["user_id"] and self._user_of_job is not None:
            try:
                fields["user_id"] = self._user_of_job(fields["job_id"])
            except Exception:  # noqa: BLE001 - only for the log lines: the handler will tell
                log.debug("could not look up the user of job %s", fields["job_id"], exc_info=True)
        for name, field_value in fields.items():
            logs.set_context(name, field_value)
        return delivery

    def _done(self, delivery: Delivery, outcome: str) -> None:
        from gas.entrypoints import logs

        try:
            count_message(self._kind, delivery.topic, outcome)
        except Exception:  # noqa: BLE001 - counting must never break the worker
            log.warning("metrics: could not count a message", exc_info=True)
        logs.set_context("job_id", None)
        logs.set_context("user_id", None)

    def ack(self, delivery: Delivery) -> bool:
        acked = bool(self._queue.ack(delivery))
        self._done(delivery, "handled" if acked else "lost")
        return acked

    def fail(self, delivery: Delivery, error: str) -> None:
        self._queue.fail(delivery, error)
        self._done(delivery, "exhausted" if delivery.exhausted else "failed")

    def release(self, delivery: Delivery) -> None:
        self._queue.release(delivery)
        self._done(delivery, "released")


# --- figures read at scrape time ----------------------------------------------------------------


class StateCollector(Collector):
    """The queue's backlog and the jobs per state, read when scraped (at most every
    ``cache_seconds``; a failure to read them leaves them out of that scrape)."""

    def __init__(
        self,
        queue_stats: Callable[[], dict[str, dict[str, int]]],
        jobs_by_status: Callable[[], dict[str, int]],
        *,
        cache_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue_stats = queue_stats
        self._jobs_by_status = jobs_by_status
        self._cache_seconds = STATE_CACHE_SECONDS if cache_seconds is None else cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Any]] = {}

    def describe(self) -> Iterable[Any]:
        return []  # computed at scrape time: nothing to check at registration

    def _read(self, name: str, read: Callable[[], Any]) -> Any:
        now = self._monotonic()
        with self._lock:
            hit = self._cached.get(name)
            if hit is not None and now - hit[0] < self._cache_seconds:
                return hit[1]
            try:
                value = read()
            except Exception:  # noqa: BLE001 - a scrape never fails for the database
                log.warning("metrics: could not read %s", name, exc_info=True)
                value = None
            self._cached[name] = (now, value)
            return value

    def collect(self) -> Iterator[Any]:
        stats = self._read("queue", self._queue_stats)
        if stats is not None:
            backlog = GaugeMetricFamily(
                "gas_queue_backlog",
                "Messages ready to be handled (visible: not leased, delayed or dead) per worker "
                "queue: the figure to scale workers on (divided by the workers of that kind).",
                labels=["queue"],
            )
            messages = GaugeMetricFamily(
                "gas_queue_messages",
                "Messages per worker queue and state (ready, leased, delayed, dead).",
                labels=["queue", "state"],
            )
            for queue in sorted(set(WORKER_KINDS) | set(stats)):
                counts = stats.get(queue, {})
                backlog.add_metric([queue], counts.get("ready", 0))
                for state in ("ready", "leased", "delayed", "dead"):
                    messages.add_metric([queue, state], counts.get(state, 0))
            yield backlog
            yield messages
        jobs = self._read("jobs", self._jobs_by_status)
        if jobs is not None:
            family = GaugeMetricFamily(
                "gas_jobs", "Annotation jobs per state (every user's).", labels=["state"]
            )
            for status in sorted(set(JOB_STATUSES) | set(jobs)):
                family.add_metric([status], jobs.get(status, 0))
            yield family


def state_collector(container: Any) -> StateCollector:
    """The scrape-time figures of ``container``'s queue and database."""
    from gas.adapters.sql.stats import count_jobs_by_status

    return StateCollector(container.queue.stats, lambda: count_jobs_by_status(container.engine))


class _LiveFilesCollector(Collector):
    """Multiprocess files, after dropping the live gauges of processes that are gone."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, path=str(directory))

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        forget_dead_processes(self._directory)
        return self._files.collect()  # type: ignore[no-any-return]


def scrape_registry(
    state: Collector | None = None, *, directory: Path | None = None
) -> CollectorRegistry:
    """What ``/metrics`` shows: every process's counts (the multiprocess ``directory``: by
    default this process's, if it counts into one; else this process alone) and ``state``."""
    registry = CollectorRegistry(auto_describe=False)
    directory = directory or multiprocess_dir()
    if directory is not None:
        registry.register(_LiveFilesCollector(directory))
    else:
        instruments()
        registry.register(_LocalCollector())
    if state is not None:
        registry.register(state)
    return registry


class _LocalCollector(Collector):
    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        return _local_registry.collect()


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --- who may read them: the operator (gas.entrypoints.operator_access) --------------------------

REFUSED = {
    401: "401 Unauthorized: send the metrics token as 'Authorization: Bearer <token>'\n",
    403: "403 Forbidden: metrics are served to loopback addresses only (or set "
    "GAS_METRICS_TOKEN)\n",
}


# --- /metrics outside the web: `gas worker` with GAS_METRICS_LISTEN ------------------------------


def wsgi_app(registry: CollectorRegistry, token: str | None) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering ``GET /metrics`` with the same access rules as the web."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"404 Not Found\n"]
        if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"405 Method Not Allowed\n"]
        relayed = any(
            environ.get("HTTP_" + name.upper().replace("-", "_")) for name in PROXY_HEADERS
        )
        status = access(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"), token, relayed=relayed
        )
        if status != 200:
            headers = [("Content-Type", "text/plain; charset=utf-8")]
            if status == 401:
                headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
            start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
            return [REFUSED[status].encode()]
        body, content_type = render(registry)
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    return app


def parse_listen(value: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (an IPv6 host in brackets) → (host, port); the host defaults to
    127.0.0.1."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"GAS_METRICS_LISTEN must be [HOST:]PORT, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"GAS_METRICS_LISTEN: no such port {number}")
    return host, number


def serve_in_thread(listen: str, registry: CollectorRegistry, token: str | None) -> Any:
    """Serve ``/metrics`` on ``listen`` from a daemon thread; returns the server (its
    ``server_address``; ``shutdown()`` stops it)."""
    import socket
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    host, port = parse_listen(listen)

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = make_server(
        host, port, wsgi_app(registry, token), server_class=Server, handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    log.info("metrics served at http://%s:%d/metrics", host, server.server_address[1])
    return server
