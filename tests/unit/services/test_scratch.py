"""Scratch directories: whoever holds one keeps it; what a dead process left is removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gas.services.scratch import LOCK_NAME, remove_abandoned, scratch_dir

HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from gas.services.scratch import scratch_dir\n"
    "with scratch_dir(Path(sys.argv[1]), 'gas-held-') as path:\n"
    "    print(path, flush=True)\n"
    "    time.sleep(120)\n"
)


def age(path: Path, seconds: float) -> None:
    os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_a_scratch_directory_is_private_locked_and_removed_after_use(tmp_path: Path) -> None:
    with scratch_dir(tmp_path, "gas-job-") as path:
        assert path.parent == tmp_path and path.name.startswith("gas-job-")
        assert path.stat().st_mode & 0o777 == 0o700
        assert (path / LOCK_NAME).exists()
        age(path, 3600)
        assert remove_abandoned(tmp_path, "gas-") == []  # this process's own: in use
        assert path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_directory_held_by_a_live_process_stays_and_goes_once_it_is_killed(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        path = Path(holder.stdout.readline().strip())
        age(path, 3600)
        assert remove_abandoned(tmp_path, "gas-", older_than=60) == []  # held
        assert path.exists()
        holder.send_signal(signal.SIGKILL)  # no clean-up runs
        holder.wait()
        assert path.exists()
        assert remove_abandoned(tmp_path, "gas-", older_than=60) == [path]
        assert not path.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_age_and_prefix_decide_what_a_sweep_may_remove(tmp_path: Path) -> None:
    def left(name: str, seconds: float, *, lock: bool = True) -> Path:
        path = tmp_path / name
        (path / "output").mkdir(parents=True)
        if lock:
            (path / LOCK_NAME).touch()
        age(path, seconds)
        return path

    old = left("gas-j1-a", 3600)
    young = left("gas-j2-b", 10)  # perhaps its attempt has only just begun
    unlocked_old = left("gas-j3-c", 3600, lock=False)  # made by an older GAS
    unlocked_young = left("gas-j4-d", 10, lock=False)  # or caught before its lock was taken
    not_ours = left("cache-e", 3600)
    (tmp_path / "gas-file").write_text("not a directory")
    age(tmp_path / "gas-file", 3600)

    removed = remove_abandoned(tmp_path, "gas-", older_than=60)
    assert sorted(removed) == sorted([old, unlocked_old])
    assert young.exists() and unlocked_young.exists() and not_ours.exists()
    assert (tmp_path / "gas-file").exists()
    # a retry of job 2 removes its own, whatever its age (its lock is not held)
    assert remove_abandoned(tmp_path, "gas-j2-") == [young]
    assert remove_abandoned(tmp_path / "missing", "gas-") == []
