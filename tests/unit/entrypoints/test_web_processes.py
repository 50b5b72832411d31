"""GAS_WEB_PROCESSES: several web processes share one port (SO_REUSEPORT), so that one
machine's web tier uses more than the one core a Python process gets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gas.config import ConfigError, Settings
from gas.entrypoints.supervisor import serve_children
from gas.entrypoints.web_server import shared_port_socket


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY": "k", **env})


def test_one_web_process_unless_told(tmp_path: Path) -> None:
    assert settings(tmp_path).web_processes == 1
    assert settings(tmp_path, GAS_WEB_PROCESSES="2").web_processes == 2
    with pytest.raises(ConfigError, match="GAS_WEB_PROCESSES"):
        settings(tmp_path, GAS_WEB_PROCESSES="0")


def test_gas_serve_starts_that_many_web_processes_on_the_same_port() -> None:
    one = serve_children("127.0.0.1", 8000, annotators=1)
    assert [c.name for c in one if "web" in c.name] == ["web"]
    two = serve_children("127.0.0.1", 8000, annotators=1, web=2)
    webs = [c for c in two if c.name.startswith("web")]
    assert [c.name for c in webs] == ["web-1", "web-2"]
    assert all(c.essential for c in webs)
    assert all(c.argv[-2:] == ["--port", "8000"] for c in webs)
    assert {c.name for c in two} >= {"annotator", "notifier", "archiver", "restorer"}


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_shared_port_sockets_listen_together_and_both_accept() -> None:
    first = shared_port_socket("127.0.0.1", 0, 64)
    port = first.getsockname()[1]
    second = shared_port_socket("127.0.0.1", port, 64)
    try:
        assert second.getsockname()[1] == port
        for listener in (first, second):
            listener.settimeout(0.01)
        accepted = 0
        clients = []
        for _ in range(16):  # the kernel spreads connections over both listeners
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for listener in (first, second):
            while True:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    break
                conn.close()
                accepted += 1
        assert accepted == 16
        # a plain socket (one process, GAS_WEB_PROCESSES=1) could not bind the port now
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
    finally:
        for s in (first, second, *clients):
            s.close()
