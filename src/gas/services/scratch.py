"""Private scratch directories that a crash cannot leak.

A scratch directory is made under a work directory as ``<prefix><random>`` (mode 0700) with a
lock file, ``.in-use``, that its process holds locked (a POSIX record lock) for as long as it
works there. The kernel drops such a lock when its process ends, however it ends — SIGKILL and
the OOM killer included — and, unlike ``flock``, a lock is not inherited by forked children (the
engine's worker pool), so a directory whose lock anyone can take belongs to no live process:
:func:`remove_abandoned` removes it. A process never tests its own directories' locks (POSIX
locks are per process, and closing any descriptor of the file would drop them): it knows them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locks, age alone decides
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".in-use"
# A directory without a lock file (made by an older GAS, or caught between its creation and
# its lock) is removed only once it is at least this old.
UNLOCKED_GRACE_SECONDS = 60.0

_mine: set[str] = set()  # this process's directories in use
_mine_lock = threading.Lock()


@contextlib.contextmanager
def scratch_dir(workdir: Path | None, prefix: str) -> Iterator[Path]:
    """A new private directory, held while the block runs and removed when it ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))
    with _mine_lock:
        _mine.add(str(path))
    fd = -1
    try:
        path.chmod(0o700)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd >= 0:
            os.close(fd)
        with _mine_lock:
            _mine.discard(str(path))


def _abandoned(path: Path, age: float, grace: float) -> tuple[bool, int | None]:
    """Whether no process holds ``path``, and the descriptor of its lock file, locked, to close
    once the directory is removed (so that no other sweeper takes it meanwhile)."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return age >= grace, None
    except OSError:
        return False, None
    if fcntl is None:
        held = age < grace
    else:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except OSError:  # held: its process is alive
            held = True
    if held:
        os.close(fd)
        return False, None
    return True, fd


def remove_abandoned(
    workdir: Path | None,
    prefix: str,
    *,
    older_than: float = 0.0,
    now: Callable[[], float] = time.time,
) -> list[Path]:
    """Remove the scratch directories ``<prefix>*`` under ``workdir`` that no live process
    holds and that were made at least ``older_than`` seconds ago; returns them."""
    directory = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    removed: list[Path] = []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        path = Path(entry.path)
        with _mine_lock:
            if str(path) in _mine:
                continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            age = now() - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if age < older_than:
            continue
        abandoned, fd = _abandoned(path, age, max(older_than, UNLOCKED_GRACE_SECONDS))
        if not abandoned:
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)  # still holding its lock: nobody takes it
        finally:
            if fd is not None:
                os.close(fd)
        if not path.exists():
            removed.append(path)
            log.info("removed %s, left by an interrupted attempt", path)
    return removed
