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
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
    the order the chunks were submitted. Without fork, the chunks are done here.

    Built on :class:`concurrent.futures.ProcessPoolExecutor` rather than
    ``multiprocessing.Pool``: when a worker dies (out of memory, a signal) the executor fails
    every chunk still pending (BrokenProcessPool) and shuts down without waiting for it,
    where ``Pool`` quietly forks a replacement — which can take its task queue's lock just as
    ``Pool.terminate()`` needs it, and then ``terminate()`` waits for ever (seen in the test of
    a worker killed mid-chunk)."""

    def __init__(
        self,
        workers: int,
        work: Callable[[list[str], int], ChunkOutput],
        deliver: Callable[[ChunkOutput], None],
    ) -> None:
        self.workers = workers
        self._work = work
        self._deliver = deliver
        self._pool: ProcessPoolExecutor | None = None
        self._failed = False
        self._pending: deque[Future[ChunkOutput]] = deque()
        self._workers: list[Any] = []

    def submit(self, lines: list[str], first_no: int) -> None:
        if self._pool is None and not self._failed:
            self._open()
        if self._pool is None:
            self._deliver(self._work(lines, first_no))
            return
        self._pending.append(self._submit(lines, first_no))
        while len(self._pending) > 2 * self.workers:
            self._deliver(self._result(self._pending.popleft()))

    def flush(self) -> None:
        """Wait for every chunk handed out and deliver it."""
        while self._pending:
            self._deliver(self._result(self._pending.popleft()))

    def _submit(self, lines: list[str], first_no: int) -> Future[ChunkOutput]:
        global _WORK
        assert self._pool is not None
        try:
            if self._workers:
                return self._pool.submit(_work, lines, first_no)
            # the first chunk forks the workers (all of them: fork start method): they
            # inherit ``_WORK``, the run's settings and the bundle's mapped pages
            _WORK = self._work
            try:
                future = self._pool.submit(_work, lines, first_no)
                self._workers = list(self._pool._processes.values())  # for _exit_codes
            finally:
                _WORK = None
            return future
        except BrokenProcessPool as exc:  # a worker died since the last chunk
            raise self._died() from exc

    def _result(self, pending: Future[ChunkOutput]) -> ChunkOutput:
        """A chunk's output; the run fails (RuntimeError) when a worker died."""
        try:
            return pending.result()
        except BrokenProcessPool as exc:
            raise self._died() from exc

    def _died(self) -> RuntimeError:
        return RuntimeError(
            "an annotation worker process died while annotating (exit code "
            f"{self._exit_codes()}); the run was stopped"
        )

    def _exit_codes(self) -> str:
        """The exit codes of the workers that died, the first cause first: the executor
        ends the others with SIGTERM once one is gone."""
        for p in self._workers:
            p.join(timeout=5)
        codes = [p.exitcode for p in self._workers if p.exitcode is not None]
        codes.sort(key=lambda code: code == -signal.SIGTERM)
        return ", ".join(str(code) for code in codes) or "unknown"

    def close(self) -> None:
        """Stop the workers (a run that ends early, e.g. on bad input, does not wait for the
        chunks still being annotated) and forget what is pending."""
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is None:
            return
        for p in self._workers:
            if p.is_alive():
                p.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        for p in self._workers:
            p.join()

    def _open(self) -> None:
        try:
            context = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform: annotate here
            self._failed = True
            return
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )
