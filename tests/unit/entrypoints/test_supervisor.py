"""``gas serve``'s supervisor over tiny stand-in children: a crash-looping worker is backed off
and reported while the others keep running; only the web failing at start stops the service."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gas.entrypoints import supervisor as sup
from gas.entrypoints.supervisor import Child, Supervisor, supervised_status

# A role that fails at start while ``flag`` exists (saying why on stderr), else runs.
ROLE = (
    "import os, sys, time\n"
    "if os.path.exists(sys.argv[1]):\n"
    "    sys.exit('cannot start: ' + open(sys.argv[1]).read())\n"
    "time.sleep(120)\n"
)


def role(flag: Path) -> list[str]:
    return [sys.executable, "-c", ROLE, str(flag)]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seconds become tenths: the same rules, a test of a second or two."""
    monkeypatch.setattr(sup, "FIRST_RESTART_DELAY", 0.1)
    monkeypatch.setattr(sup, "FAST_FAILURE_SECONDS", 0.8)
    monkeypatch.setattr(sup, "STABLE_SECONDS", 1.0)


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for s in made:
        s.grace_seconds = 0
        s._stop_all()


def drive(s: Supervisor, until: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s.step()
        status = s.status()
        if until(status):
            return status
        assert time.monotonic() < deadline, json.dumps(status, indent=1)
        time.sleep(0.05)


def test_a_crash_looping_worker_is_backed_off_and_reported_while_the_others_serve(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("the disk is full")
    fine = tmp_path / "absent"
    status_file = tmp_path / sup.STATUS_FILE
    s = Supervisor(
        [
            Child("web", role(fine), essential=True),
            Child("annotator", role(broken)),
            Child("notifier", role(fine)),
        ],
        status_path=status_file,
        max_restart_delay=0.4,
    )
    supervisors.append(s)
    s.start()
    status = drive(s, lambda st: st["roles"]["annotator"]["failures_in_a_row"] >= 4)

    assert not s.stopping and s.exit_code == 0
    annotator = status["roles"]["annotator"]
    assert annotator["state"] == "crash-looping"
    assert annotator["last_exit"] == "exit code 1"
    assert annotator["last_error"] == "cannot start: the disk is full"
    assert annotator["restarts"] >= 3 and annotator["last_failure_at"]
    assert status["status"] == "degraded"
    for name in ("web", "notifier"):  # untouched: the same processes all along
        assert status["roles"][name]["state"] == "running"
        assert status["roles"][name]["restarts"] == 0
    on_disk = json.loads(status_file.read_text())
    assert on_disk["pid"] == os.getpid()
    assert on_disk["roles"]["annotator"]["last_error"] == "cannot start: the disk is full"

    # The cause goes away: the role comes back at its next restart and is healthy again.
    broken.unlink()
    status = drive(
        s,
        lambda st: (
            st["roles"]["annotator"]["state"] == "running"
            and st["roles"]["annotator"]["failures_in_a_row"] == 0
        ),
    )
    assert status["status"] == "ok"


def test_the_restart_delay_doubles_and_is_capped() -> None:
    s = Supervisor([], max_restart_delay=60)
    delays = [s.restart_delay(n) for n in range(1, 14)]
    first = sup.FIRST_RESTART_DELAY
    assert delays[:4] == [first, 2 * first, 4 * first, 8 * first]
    assert max(delays) == 60 and delays == sorted(delays)


def test_a_killed_child_is_restarted_and_its_end_reported(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    child = Child("archiver", role(tmp_path / "absent"))
    s = Supervisor([child])
    supervisors.append(s)
    s.start()
    first = child.process
    assert first is not None
    first.send_signal(signal.SIGKILL)
    drive(s, lambda st: child.restarts == 1 and child.alive())
    assert child.last_exit == "killed by SIGKILL"
    assert child.process is not first


def test_the_web_failing_at_start_again_and_again_stops_the_service(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    busy = tmp_path / "busy"
    busy.write_text("address already in use")
    s = Supervisor([Child("web", role(busy), essential=True)])
    supervisors.append(s)
    s.start()
    drive(s, lambda st: s.stopping)
    assert s.exit_code == 1
    assert s.children[0].last_error == "cannot start: address already in use"


def test_the_status_is_shown_only_to_the_supervisors_own_children(tmp_path: Path) -> None:
    status_file = tmp_path / sup.STATUS_FILE
    assert supervised_status(tmp_path) is None  # no file
    document = {"pid": os.getppid(), "status": "ok", "roles": {"web": {"state": "running"}}}
    status_file.write_text(json.dumps(document))
    assert supervised_status(tmp_path) == document
    status_file.write_text(json.dumps({**document, "pid": os.getpid()}))  # not our parent
    assert supervised_status(tmp_path) is None
    status_file.write_text("{not json")
    assert supervised_status(tmp_path) is None
