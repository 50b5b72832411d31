"""A real ``gas serve`` in a subprocess, on a free port, over an isolated data directory."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class GasServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *command: str) -> None:
        """Start ``gas serve`` (or another role, e.g. ``start("web")``) and wait until the web
        server answers."""
        port = self.url.rsplit(":", 1)[1]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gas", *(command or ("serve",)), "--port", port],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"gas serve exited early:\n{self.log()}")
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, 60, "gas serve to answer /healthz", interval=0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"gas serve did not stop within {timeout} s:\n{self.log()}"
            ) from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start another ``gas`` process (e.g. a worker) on this installation."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "gas", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.extra.append(process)
        return process

    def gas(self, *args: str, stdin: str | None = None) -> str:
        """Run the ``gas`` CLI against this installation and return its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "gas", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def outbox(self) -> list[Path]:
        return sorted((self.data_dir / "outbox").glob("*.eml"))

    def job_outbox(self) -> list[Path]:
        """The outbox's emails about jobs — not those about the account itself (the welcome
        after sign-up, …), whose subjects never name a job."""
        import email
        import email.policy

        def subject(path: Path) -> str:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            return str(message["Subject"])

        return [path for path in self.outbox() if " job " in f" {subject(path)} "]


@pytest.fixture
def make_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., GasServer]]:
    servers: list[GasServer] = []

    def make(**extra_env: str) -> GasServer:
        port = free_port()
        data_dir = tmp_path / "var"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GAS_")},
            "GAS_DATA_DIR": str(data_dir),
            "GAS_DATABASE_URL": database_url,
            "GAS_BASE_URL": f"http://127.0.0.1:{port}",
            "GAS_QUEUE_POLL_SECONDS": "0.2",
            "GAS_SHUTDOWN_GRACE_SECONDS": "20",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        server = GasServer(f"http://127.0.0.1:{port}", data_dir, env, tmp_path / "serve.log")
        servers.append(server)
        return server

    yield make
    for server in servers:
        for process in [server.process, *server.extra]:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
