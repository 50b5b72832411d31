"""Chunks annotated by forked worker processes, delivered back in input order.

The parent reads and hands out chunks of lines; each worker, forked after the header was
read (so it shares the bundle's memory-mapped pages and the run's settings), parses and
annotates a chunk into a :class:`ChunkOutput` that the parent writes and merges. The output
is byte-for-byte that of one process.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .protocol import ChunkOutput

#: what a worker process runs for each chunk (inherited from the parent by fork)
_WORK: Callable[[list[str], int], ChunkOutput] | None = None


def _work(lines: list[str], first_no: int) -> ChunkOutput:
    assert _WORK is not None
    return _WORK(lines, first_no)


#: allocations between two collections of the youngest generation (Python's default: 700)
GC_THRESHOLD0 = 500_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """A run allocates millions of short-lived objects (effects, entries, rows) that form no
    reference cycles; with Python's default thresholds the cyclic garbage collector runs
    every 700 allocations and, at each older-generation pass, walks every live object again —
    a fifth of a run's CPU time. For the run: objects that exist before it (modules, the
    bundle's tables) are frozen out of the collector's walks and the youngest generation is
    collected every 500,000 net allocations (more than a chunk keeps alive); both are undone
    afterwards (a worker process of the service runs many jobs). Forked workers inherit the
    settings. Output is unchanged; a run leaves a few dozen cyclic objects for the collector
    (measured on 200,000 variants), so memory does not grow."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD0, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _die_with_parent(parent: int) -> None:
    """Pool initializer: on Linux a worker is killed as soon as the process that forked it
    dies (a SIGKILLed annotator included: PR_SET_PDEATHSIG) rather than finishing its chunk as
    an orphan and failing on the closed pipe."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class ChunkPool:
    """``workers`` processes running ``work`` on chunks; ``deliver`` gets their outputs in
    the order the chunks were submitted. Without fork, the chunks are done here."""

    def __init__(
        self,
        workers: int,
        work: Callable[[list[str], int], ChunkOutput],
        deliver: Callable[[ChunkOutput], None],
    ) -> None:
        self.workers = workers
        self._work = work
        self._deliver = deliver
        self._pool: Any = None
        self._failed = False
        self._pending: deque[Any] = deque()
        self._workers: list[Any] = []

    def submit(self, lines: list[str], first_no: int) -> None:
        if self._pool is None and not self._failed:
            self._open()
        if self._pool is None:
            self._deliver(self._work(lines, first_no))
            return
        self._pending.append(self._pool.apply_async(_work, (lines, first_no)))
        while len(self._pending) > 2 * self.workers:
            self._deliver(self._result(self._pending.popleft()))

    def flush(self) -> None:
        """Wait for every chunk handed out and deliver it."""
        while self._pending:
            self._deliver(self._result(self._pending.popleft()))

    #: how often a wait for a chunk checks that the workers are alive (seconds)
    POLL_SECONDS = 1.0

    def _result(self, pending: Any) -> ChunkOutput:
        """A chunk's output. ``multiprocessing.Pool`` quietly replaces a worker that dies (out
        of memory, a signal) and the chunk it held never completes: rather than wait for ever
        (while the annotator's heartbeat keeps the job's lease), the run fails when one of
        the workers it started is gone."""
        while not pending.ready():
            pending.wait(self.POLL_SECONDS)
            if pending.ready():
                break
            dead = [p for p in self._workers if not p.is_alive()]
            if dead:
                codes = ", ".join(str(p.exitcode) for p in dead)
                raise RuntimeError(
                    f"an annotation worker process died while annotating (exit code {codes}); "
                    "the run was stopped"
                )
        output: ChunkOutput = pending.get()
        return output

    def close(self) -> None:
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is not None:
            pool.terminate()
            pool.join()

    def _open(self) -> None:
        global _WORK
        try:
            context = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform: annotate here
            self._failed = True
            return
        _WORK = self._work
        try:
            self._pool = context.Pool(
                self.workers, initializer=_die_with_parent, initargs=(os.getpid(),)
            )
            # the processes it started (Pool keeps them in ``_pool``; it replaces, never
            # reuses, one that died): watched by _result
            self._workers = list(self._pool._pool)
        finally:
            _WORK = None
