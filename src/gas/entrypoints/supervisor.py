"""``gas serve``: the web server and every worker as child processes, supervised.

Children that exit unexpectedly are restarted with a growing delay; one that keeps failing
right after start (a port already in use, a bad setting) stops the whole service with an error.
On SIGTERM or Ctrl-C each child is asked to stop (workers finish the message in hand); children
still running after the grace period are asked again (workers then give their message back for
redelivery) and finally killed — an interrupted job is never lost: its lease expires and another
worker takes it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger("gas.supervisor")

FAST_FAILURE_SECONDS = 5.0
MAX_FAST_FAILURES = 5


def _child_setup() -> None:  # runs in the child between fork and exec
    os.setpgrp()  # Ctrl-C in the terminal reaches the supervisor only; it tells the children
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, preexec_fn=_child_setup)  # noqa: PLW1509
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


class Supervisor:
    def __init__(self, children: list[Child], *, grace_seconds: float = 30.0) -> None:
        self.children = children
        self.grace_seconds = grace_seconds
        self._stopping = False
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
        for child in self.children:
            child.start()
        while not self._stopping:
            self._watch()
            time.sleep(0.2)
        self._stop_all()
        return self.exit_code

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    child.start()
                continue
            if child.alive():
                if now - child.started > FAST_FAILURE_SECONDS:
                    child.fast_failures = 0
                continue
            assert child.process is not None
            code = child.process.returncode
            if now - child.started < FAST_FAILURE_SECONDS:
                child.fast_failures += 1
            if child.fast_failures >= MAX_FAST_FAILURES:
                log.error(
                    "%s keeps failing right after start (exit code %s); stopping GAS",
                    child.name,
                    code,
                )
                self.exit_code = 1
                self._stopping = True
                return
            delay = min(30.0, 2.0**child.fast_failures)
            log.warning("%s exited with code %s; restarting in %.0f s", child.name, code, delay)
            child.restart_at = now + delay

    def _stop_all(self) -> None:
        for child in self.children:
            child.signal(signal.SIGTERM)
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
        log.info("GAS stopped")

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(c.alive() for c in self.children):
            time.sleep(0.1)


def serve_children(host: str, port: int, annotators: int) -> list[Child]:
    gas = [sys.executable, "-m", "gas"]
    children = [Child("web", [*gas, "web", "--host", host, "--port", str(port)])]
    for i in range(annotators):
        suffix = f"-{i + 1}" if annotators > 1 else ""
        children.append(Child(f"annotator{suffix}", [*gas, "worker", "annotator"]))
    for kind in ("notifier", "archiver", "restorer"):
        children.append(Child(kind, [*gas, "worker", kind]))
    return children
