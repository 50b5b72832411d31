"""The engine's forked chunk workers do not outlive a SIGKILLed annotator: each is killed as
soon as its parent dies (PR_SET_PDEATHSIG, Linux), rather than finishing the chunk in hand as
an orphan and then failing on the closed pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

PARENT = """
import sys, time
from gas.annotation.pipeline.pool import ChunkPool

def busy(lines, first_no):
    end = time.monotonic() + 60  # a chunk that takes a minute
    while time.monotonic() < end:
        pass
    return None

pool = ChunkPool(3, busy, lambda out: None)
for n in range(6):
    pool.submit(["x"], n)
print(" ".join(str(p.pid) for p in pool._workers), flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_chunk_workers_die_with_a_killed_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 3, parent.stderr.read() if parent.stderr else ""
        time.sleep(0.3)  # each has a chunk in hand
        assert all(alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5  # not the minute their chunks would take
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers if "workers" in locals() else []:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_that_dies_mid_chunk_fails_the_run_instead_of_hanging() -> None:
    """A worker killed mid-chunk: the run fails within seconds, naming the exit code, and
    closing the pool does not hang (``multiprocessing.Pool`` forked a replacement that could
    hold its queue's lock when ``terminate()`` needed it: this test hung about one run in
    five)."""
    from gas.annotation.pipeline.pool import ChunkPool

    def work(lines: list[str], first_no: int) -> object:
        if first_no == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return first_no

    got: list[object] = []
    pool = ChunkPool(2, work, got.append)  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match=r"worker process died .*exit code -9"):
            for n in range(6):
                pool.submit(["x"], n)
            pool.flush()
    finally:
        pool.close()
    assert time.monotonic() - started < 15
    # what was delivered came in order and stops before the chunk whose worker died (chunks
    # still in flight then fail with the run)
    assert got == [0, 1, 2][: len(got)]
