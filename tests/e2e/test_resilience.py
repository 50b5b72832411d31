"""What a hostile test found, run again against real processes: idle connections do not lock
the web out, a crash-looping worker does not stop the service, and a killed annotator's
temporary files do not stay on disk. (SQLite only: what is tested here is the processes.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import GasServer, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

DAY = 24 * 3600


def test_110_idle_connections_leave_the_web_answering(make_server) -> None:  # type: ignore[no-untyped-def]
    """Waitress's default of 100 connections let 100 idle clients lock everyone out."""
    server: GasServer = make_server()
    server.start("web")
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        for i in range(110):
            sock = socket.create_connection((host, port), timeout=5)
            if i % 2:  # half say nothing, half start a request and never finish it
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        time.sleep(0.5)  # let the server accept them all
        started = time.monotonic()
        response = requests.get(server.url + "/healthz", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 2.0
    finally:
        for sock in idle:
            sock.close()
    assert server.stop() == 0


def status(server: GasServer) -> dict:
    response = requests.get(server.url + "/healthz", timeout=5)
    assert response.status_code == 200  # the web answers whatever the workers do
    return response.json()


@pytest.mark.slow
def test_a_crash_looping_worker_is_reported_while_the_rest_keeps_serving(make_server) -> None:  # type: ignore[no-untyped-def]
    # as behind a reverse proxy on this machine: clients are seen by their forwarded address
    server: GasServer = make_server(
        GAS_RESTART_MAX_DELAY_SECONDS="2", GAS_WEB_TRUSTED_PROXY="127.0.0.1"
    )
    server.data_dir.mkdir(parents=True)
    blocker = server.data_dir / "tmp"
    blocker.write_text("not a directory")  # the annotator cannot make its work directory
    server.start()

    def annotator_crash_looping() -> dict | None:
        health = status(server)
        return health if health["roles"]["annotator"]["state"] == "crash-looping" else None

    health = wait_for(annotator_crash_looping, 60, "the annotator to be crash-looping")
    assert health["status"] == "degraded"
    annotator = health["roles"]["annotator"]
    assert annotator["failures_in_a_row"] >= 3 and annotator["last_exit"] == "exit code 1"
    assert "FileExistsError" in annotator["last_error"] and "tmp" in annotator["last_error"]
    for role in ("web", "notifier", "archiver", "restorer"):
        assert health["roles"][role]["state"] == "running", health
        assert health["roles"][role]["restarts"] == 0
    assert server.process is not None and server.process.poll() is None
    # (the details above: this test is the operator, on loopback) — anyone else, here through
    # the proxy, learns only that the annotator is backing off
    public = requests.get(
        server.url + "/healthz", headers={"X-Forwarded-For": "203.0.113.1"}, timeout=5
    )
    assert public.status_code == 200
    assert public.json()["roles"]["annotator"] == {"status": "backing off"}
    assert "FileExistsError" not in public.text and '"pid"' not in public.text
    on_disk = json.loads((server.data_dir / "serve.status.json").read_text())
    assert "FileExistsError" in on_disk["roles"]["annotator"]["last_error"]
    assert "crash-looping" in server.log()
    # (coming back once the cause is gone: tests/unit/entrypoints/test_supervisor.py)
    assert server.stop() == 0


def plant(path: Path, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left by a killed process")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.mark.slow
def test_a_killed_annotators_temporary_files_are_removed(make_server) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL an annotator mid-job: its retry removes the scratch directory it left; and what
    older crashes left (annotator scratch, object store and cold store temp files older than
    the lease) is swept when the workers start."""
    server: GasServer = make_server(GAS_QUEUE_LEASE_SECONDS="3")
    var = server.data_dir
    stale_scratch = plant(var / "tmp" / "gas-0000-stale" / "input" / "x.vcf", DAY).parent.parent
    os.utime(stale_scratch, (time.time() - DAY, time.time() - DAY))
    stale_object = plant(var / "objects" / "someone" / ".gas-tmp-stale", DAY)
    stale_cold = plant(var / "cold" / "archives" / "someone" / ".gas-tmp-stale", DAY)
    server.start()
    wait_for(
        lambda: not (stale_scratch.exists() or stale_object.exists() or stale_cold.exists()),
        30,
        "the stale temporary files to be swept",
    )
    # (that what is younger than the lease stays: tests/integration, the stores' suites)

    server.gas(
        "users",
        "create",
        "kill@example.org",
        "--premium",
        "--password-stdin",
        stdin="a long passphrase here\n",
    )
    token = server.gas("tokens", "create", "kill@example.org").strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    body = "".join(f"17\t{7_000_000 + i * 7}\t.\tC\tT\t50\tPASS\t.\n" for i in range(60_000))
    created = requests.post(
        server.url + "/api/v1/jobs", headers=auth, files={"file": ("kill.vcf", header + body)}
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    scratch = wait_for(
        lambda: list((var / "tmp").glob(f"gas-{job_id}-*")), 60, "the job's scratch", 0.02
    )
    pid = json.loads((var / "serve.status.json").read_text())["roles"]["annotator"]["pid"]
    os.kill(pid, signal.SIGKILL)

    def job_status() -> str:
        return str(
            requests.get(f"{server.url}/api/v1/jobs/{job_id}", headers=auth).json()["status"]
        )

    final = wait_for(lambda: (st := job_status()) in {"COMPLETED", "FAILED"} and st, 120, "job")
    assert final == "COMPLETED", server.log()
    assert not scratch[0].exists()
    assert f"removed {scratch[0]}, left by an interrupted attempt" in server.log()
    assert list((var / "tmp").glob(f"gas-{job_id}-*")) == []
    assert "killed by SIGKILL" in json.dumps(status(server)["roles"]["annotator"])
    assert server.stop() == 0
