"""``gas serve``: the web server and every worker as child processes, supervised.

Children that exit unexpectedly are restarted with an exponentially growing delay (1 s, 2 s,
4 s … capped at ``GAS_RESTART_MAX_DELAY_SECONDS``, 60 s); the delay starts again from 1 s once a
child has stayed up for ``STABLE_SECONDS``. A worker that keeps failing is reported as
crash-looping — in the log, in the status file ``$GAS_DATA_DIR/serve.status.json`` and in the
web's ``/healthz`` — and kept being retried while the web server and the other roles go on
serving. Only the web server failing right after start several times in a row (a port already
in use) stops the whole service with an error. A child's standard error passes through the
supervisor, which keeps its last line as the role's ``last_error``.
On SIGTERM or Ctrl-C each child is asked to stop (workers finish the message in hand); children
still running after the grace period are asked again (workers then give their message back for
redelivery) and finally killed — an interrupted job is never lost: its lease expires and another
worker takes it.
"""

from __future__ import annotations

import collections
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("gas.supervisor")

FAST_FAILURE_SECONDS = 5.0  # a child that dies sooner than this after its start "fails at start"
STABLE_SECONDS = 30.0  # a child up this long has recovered: its failures in a row are forgotten
CRASH_LOOP_FAILURES = 3  # failures in a row before a role is reported as crash-looping
MAX_FAST_FAILURES = 5  # failures at start in a row of an essential child (the web) stop GAS
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
STATUS_FILE = "serve.status.json"


def _child_setup() -> None:  # runs in the child between fork and exec
    os.setpgrp()  # Ctrl-C in the terminal reaches the supervisor only; it tells the children
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _metrics_process_exited(pid: int) -> None:
    """A child is gone: its live-process gauges (gas_worker_processes) stop counting."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from gas.entrypoints.metrics import process_exited

        process_exited(pid)
    except Exception:  # noqa: BLE001 - bookkeeping must never stop the supervisor
        log.debug("metrics: could not forget process %d", pid, exc_info=True)


def _iso(wall: float | None) -> str | None:
    return None if wall is None else datetime.fromtimestamp(wall, UTC).isoformat()


def _relay(stream: IO[bytes], tail: collections.deque[str]) -> None:
    """Copy a child's standard error to ours line by line, keeping its last lines."""
    out = getattr(sys.stderr, "buffer", None)
    for line in iter(stream.readline, b""):
        if out is not None:
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                pass
        text = line.decode("utf-8", "replace").strip()
        if text:
            tail.append(text[:500])
    stream.close()


@dataclass
class Child:
    name: str
    argv: list[str]
    # an essential child failing at start again and again stops the service (the web server:
    # without it nothing is reachable); any other is retried, backing off, for ever
    essential: bool = False
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0  # in a row, each less than STABLE_SECONDS after its start
    fast_failures: int = 0  # in a row, each less than FAST_FAILURE_SECONDS after its start
    restart_at: float | None = None
    restart_at_wall: float | None = None  # the same moment, wall-clock (for the status file)
    restarts: int = field(default=0)
    last_exit: str | None = None
    last_error: str | None = None
    last_failure_at: float | None = None  # wall-clock time
    _stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=20), repr=False
    )
    _relay: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self._stderr_tail.clear()
        self.process = subprocess.Popen(  # noqa: PLW1509
            self.argv, preexec_fn=_child_setup, stderr=subprocess.PIPE
        )
        assert self.process.stderr is not None
        self._relay = threading.Thread(
            target=_relay,
            args=(self.process.stderr, self._stderr_tail),
            daemon=True,
            name=f"stderr-{self.name}",
        )
        self._relay.start()
        self.started = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass

    def record_exit(self, now: float) -> None:
        """Note how the child ended: its exit status and the last line it wrote on stderr."""
        assert self.process is not None
        if self._relay is not None:
            # the rest of its stderr (not for long: a grandchild may still hold the pipe)
            self._relay.join(timeout=0.5)
        code = self.process.returncode
        if code is not None and code < 0:
            try:
                self.last_exit = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                self.last_exit = f"killed by signal {-code}"
        else:
            self.last_exit = f"exit code {code}"
        self.last_error = self._stderr_tail[-1] if self._stderr_tail else None
        self.last_failure_at = time.time()
        _metrics_process_exited(self.process.pid)
        up = now - self.started
        self.failures = self.failures + 1 if up < STABLE_SECONDS else 1
        self.fast_failures = self.fast_failures + 1 if up < FAST_FAILURE_SECONDS else 0

    def state(self, now: float) -> str:
        """running, restarting, crash-looping (failing again and again) or stopped."""
        if self.alive():
            recent = now - self.started < FAST_FAILURE_SECONDS
            return "crash-looping" if recent and self.failures >= CRASH_LOOP_FAILURES else "running"
        if self.restart_at is None:
            return "stopped"
        return "crash-looping" if self.failures >= CRASH_LOOP_FAILURES else "restarting"

    def status(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state(now),
            "pid": self.process.pid if self.alive() and self.process is not None else None,
            "restarts": self.restarts,
            "failures_in_a_row": self.failures,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "last_failure_at": _iso(self.last_failure_at),
            "next_restart_at": None if self.restart_at is None else _iso(self.restart_at_wall),
        }


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        *,
        grace_seconds: float = 30.0,
        status_path: Path | None = None,
        max_restart_delay: float = MAX_RESTART_DELAY,
    ) -> None:
        self.children = children
        self.grace_seconds = grace_seconds
        self.status_path = status_path
        self.max_restart_delay = max(FIRST_RESTART_DELAY, max_restart_delay)
        self._stopping = False
        self._last_status: dict[str, Any] | None = None
        self.exit_code = 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            log.info("%s received: stopping (Ctrl-C again to hurry)", signal.Signals(signum).name)
            self._stopping = True
        else:
            self.grace_seconds = 0  # second request: stop now

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.start()
        while not self._stopping:
            self.step()
            time.sleep(0.2)
        self._stop_all()
        return self.exit_code

    def start(self) -> None:
        for child in self.children:
            child.start()
        self.write_status()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def restart_delay(self, failures: int) -> float:
        """1 s after a failure, then twice as long after each further one in a row, capped."""
        return float(min(self.max_restart_delay, FIRST_RESTART_DELAY * 2 ** max(0, failures - 1)))

    def step(self) -> None:
        """Restart the children that are due, notice the ones that ended, report."""
        self._watch()
        self.write_status()

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    child.start()
                continue
            if child.alive():
                if now - child.started > STABLE_SECONDS:
                    child.failures = 0
                if now - child.started > FAST_FAILURE_SECONDS:
                    child.fast_failures = 0
                continue
            child.record_exit(now)
            detail = f"{child.last_exit}" + (f": {child.last_error}" if child.last_error else "")
            if child.essential and child.fast_failures >= MAX_FAST_FAILURES:
                log.error(
                    "%s keeps failing right after start (%s); stopping GAS", child.name, detail
                )
                self.exit_code = 1
                self._stopping = True
                return
            delay = self.restart_delay(child.failures)
            child.restart_at = now + delay
            child.restart_at_wall = time.time() + delay
            if child.failures == CRASH_LOOP_FAILURES:
                log.error(
                    "%s is crash-looping (%d failures in a row, last: %s); retrying with a "
                    "growing delay, up to %.0f s, while the rest of GAS keeps serving",
                    child.name,
                    child.failures,
                    detail,
                    self.max_restart_delay,
                )
            else:
                log.warning("%s exited (%s); restarting in %.0f s", child.name, detail, delay)

    def status(self) -> dict[str, Any]:
        """What the status file holds: every role's state, restarts and last error."""
        now = time.monotonic()
        roles = {child.name: child.status(now) for child in self.children}
        healthy = all(r["state"] == "running" for r in roles.values())
        return {
            "pid": os.getpid(),
            "status": "stopping" if self._stopping else "ok" if healthy else "degraded",
            "roles": roles,
        }

    def write_status(self) -> None:
        """Write the status file (atomically) when something in it changed."""
        if self.status_path is None:
            return
        current = self.status()
        if current == self._last_status:
            return
        document = {**current, "updated_at": datetime.now(UTC).isoformat()}
        tmp = self.status_path.with_name(f".{self.status_path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(document, indent=1) + "\n")
            os.replace(tmp, self.status_path)
        except OSError:
            log.warning("could not write %s", self.status_path, exc_info=True)
            return
        self._last_status = current

    def _stop_all(self) -> None:
        for child in self.children:
            child.restart_at = None  # none is started again
            child.signal(signal.SIGTERM)
        self.write_status()
        # At least a moment between the two requests: a process that receives the same signal
        # twice before Python runs its handler sees it only once.
        self._wait(max(self.grace_seconds, 1.0))
        if any(c.alive() for c in self.children):
            log.warning("still running after the grace period; interrupting")
            for child in self.children:
                child.signal(signal.SIGTERM)  # workers release their message for redelivery
            self._wait(5.0)
        for child in self.children:
            if child.alive():
                log.error("killing %s", child.name)
                child.signal(signal.SIGKILL)
        for child in self.children:
            if child.process is not None:
                child.process.wait()
            if child._relay is not None:
                child._relay.join(timeout=1.0)
        self.write_status()
        log.info("GAS stopped")

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(c.alive() for c in self.children):
            time.sleep(0.1)


def serve_children(host: str, port: int, annotators: int, web: int = 1) -> list[Child]:
    gas = [sys.executable, "-m", "gas"]
    children = [  # several web processes share the port (GAS_WEB_PROCESSES: SO_REUSEPORT)
        Child(
            f"web-{i + 1}" if web > 1 else "web",
            [*gas, "web", "--host", host, "--port", str(port)],
            essential=True,
        )
        for i in range(web)
    ]
    for i in range(annotators):
        suffix = f"-{i + 1}" if annotators > 1 else ""
        children.append(Child(f"annotator{suffix}", [*gas, "worker", "annotator"]))
    for kind in ("notifier", "archiver", "restorer"):
        children.append(Child(kind, [*gas, "worker", kind]))
    return children


def supervised_status(data_dir: Path) -> dict[str, Any] | None:
    """For a child of ``gas serve`` (the web server's health check): the roles of the service
    as its supervisor last reported them; None when this process is not supervised by a
    ``gas serve`` that keeps its status under ``data_dir``."""
    try:
        document = json.loads((data_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("pid") != os.getppid():
        return None  # another installation's, or a stale file of a stopped one
    return document
