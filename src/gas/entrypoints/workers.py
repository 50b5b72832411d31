"""Worker processes: each consumes its queue and hands messages to the services.

A worker holds a message under a lease that a heartbeat thread renews while the handler runs.
On SIGTERM/SIGINT it finishes the message in hand and stops; a second signal interrupts the
handler and gives the message back for redelivery. Nothing is lost either way.
"""

from __future__ import annotations

import functools
import itertools
import logging
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from gas import annotation
from gas.bootstrap import Container
from gas.domain import events
from gas.entrypoints import metrics
from gas.ports import Delivery, MessageQueue, ScaleInProtection
from gas.services.account_notices import notify_account
from gas.services.annotate import AnnotationRun, give_up_annotation, run_annotation
from gas.services.cold_storage import (
    ColdStorage,
    archive_results,
    restore_user_results,
    start_free_window_for_job,
    start_free_window_for_user,
    thaw_results,
)
from gas.services.deletion import purge_job_files
from gas.services.notify import notify_job_finished
from gas.services.scratch import remove_abandoned

log = logging.getLogger(__name__)

Handler = Callable[[Delivery], None]
WORKER_KINDS = ("annotator", "notifier", "archiver", "restorer")


class Interrupted(BaseException):
    """Raised in the main thread by a second stop signal."""


@dataclass
class Worker:
    kind: str
    queue: MessageQueue
    handlers: Mapping[str, Handler]
    heartbeat_seconds: float = 10.0
    idle_wait_seconds: float = 5.0
    # called instead of the handler for a message whose consumers kept dying (never re-run)
    on_exhausted: Mapping[str, Handler] = field(default_factory=dict)
    # clean-up run beside the loop, in a thread (the temporary files of interrupted attempts):
    # after each of ``housekeeping_delays`` (seconds, one after the other), then every
    # ``housekeeping_every`` seconds
    housekeeping: Callable[[], None] | None = None
    housekeeping_delays: tuple[float, ...] = (0.0,)
    housekeeping_every: float = 3600.0
    # the annotator's: on while a job runs, so that autoscaling scale-in spares this instance
    scale_in_protection: ScaleInProtection | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()

    def _housekeeping_loop(self) -> None:
        assert self.housekeeping is not None
        delays = itertools.chain(
            self.housekeeping_delays, itertools.repeat(self.housekeeping_every)
        )
        for delay in delays:
            if self._stop.wait(delay):
                return
            try:
                self.housekeeping()
            except Exception:
                log.warning("%s: housekeeping failed; will try again", self.kind, exc_info=True)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self) -> bool:
        """Handle one message if there is one; returns whether there was."""
        delivery = self.queue.claim(self.kind)
        if delivery is None:
            return False
        if delivery.exhausted:
            give_up = self.on_exhausted.get(delivery.topic)
            try:
                if give_up is not None:
                    give_up(delivery)
            except Exception:
                # Keep the lease: when it expires the notice comes back and we try again.
                log.exception(
                    "%s: could not record the failure of message %s; will retry",
                    self.kind,
                    delivery.id,
                )
            else:
                self.queue.fail(delivery, "its consumers kept dying; the failure was recorded")
            return True
        handler = self.handlers.get(delivery.topic)
        if handler is None:
            self.queue.fail(delivery, f"worker {self.kind!r} has no handler for {delivery.topic}")
            return True
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(delivery, beat_stop), daemon=True, name="heartbeat"
        )
        beat.start()
        if self.scale_in_protection is not None:
            self.scale_in_protection.set_protected(True)
        try:
            handler(delivery)
        except Interrupted:
            log.warning(
                "%s: interrupted; message %s released for redelivery", self.kind, delivery.id
            )
            self.queue.release(delivery)
            raise
        except Exception:
            log.exception(
                "%s: %s message %s failed (attempt %d of %d)",
                self.kind,
                delivery.topic,
                delivery.id,
                delivery.attempt,
                delivery.max_attempts,
            )
            self.queue.fail(delivery, traceback.format_exc())
        else:
            if not self.queue.ack(delivery):
                log.warning("%s: lease of message %s was lost before ack", self.kind, delivery.id)
        finally:
            beat_stop.set()
            beat.join()
            if self.scale_in_protection is not None:
                self.scale_in_protection.set_protected(False)
        return True

    def _heartbeat(self, delivery: Delivery, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                if not self.queue.heartbeat(delivery):
                    log.warning("%s: lost the lease of message %s", self.kind, delivery.id)
                    return
            except Exception:
                log.warning("%s: heartbeat failed", self.kind, exc_info=True)

    def run_forever(self) -> None:
        log.info("%s worker started", self.kind)
        if self.housekeeping is not None:
            threading.Thread(
                target=self._housekeeping_loop, daemon=True, name="housekeeping"
            ).start()
        try:
            while not self.stopping:
                try:
                    if self.run_once():
                        continue
                    self.queue.wait([self.kind], self.idle_wait_seconds)
                except Interrupted:
                    break
                except Exception:
                    # The database or broker is unreachable: wait and try again.
                    log.exception("%s: cannot reach the queue; retrying", self.kind)
                    self._stop.wait(min(30.0, self.idle_wait_seconds))
        finally:
            log.info("%s worker stopped", self.kind)


def install_signal_handlers(worker: Worker) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping:
            raise Interrupted()
        log.info(
            "%s: %s received; finishing the current message",
            worker.kind,
            signal.Signals(signum).name,
        )
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


# --- handlers per worker kind --------------------------------------------------------------


def annotator_handlers(c: Container, workdir: Path | None = None) -> dict[str, Handler]:
    run = AnnotationRun(
        uow=c.uow,
        storage=c.storage,
        clock=c.clock,
        engine=functools.partial(
            annotation.annotate_file,
            refdata=c.settings.refdata,
            # several annotator processes already share the cores: one process per job each
            workers=1 if c.settings.annotator_processes > 1 else None,
        ),
        bad_input=(annotation.InvalidInputError,),
        output_stem=annotation.output_stem,
        workdir=workdir,
        on_completed=lambda job, seconds: metrics.observe_job(job.variant_count, seconds),
    )

    def on_job_requested(d: Delivery) -> None:
        run_annotation(
            run, d.payload["job_id"], redelivered=d.attempt > 1, last_attempt=d.is_last_attempt
        )

    return {events.JOB_REQUESTED: on_job_requested}


def notifier_handlers(c: Container) -> dict[str, Handler]:
    def on_job_finished(d: Delivery) -> None:
        notify_job_finished(
            c.uow(),
            c.mailer,
            c.clock,
            c.mail_settings,
            job_id=d.payload["job_id"],
            topic=d.topic,
            occurrence=d.payload.get("restored_at"),
        )

    def on_account_notice(d: Delivery) -> None:
        notify_account(
            c.uow(),
            c.mailer,
            c.clock,
            c.mail_settings,
            user_id=d.payload["user_id"],
            kind=d.payload["kind"],
            notice_id=d.payload["id"],
            at=d.payload.get("at"),
            link_id=d.payload.get("link_id"),
            address=d.payload.get("address"),
            name=d.payload.get("name"),
        )

    return {
        events.JOB_COMPLETED: on_job_finished,
        events.JOB_FAILED: on_job_finished,
        events.RESULTS_RESTORED: on_job_finished,
        events.ACCOUNT_NOTICE: on_account_notice,
    }


def _cold_storage(c: Container) -> ColdStorage:
    return ColdStorage(uow=c.uow, storage=c.storage, cold=c.cold, clock=c.clock, policy=c.policy)


def archiver_handlers(c: Container) -> dict[str, Handler]:
    cs = _cold_storage(c)
    return {
        events.JOB_COMPLETED: lambda d: start_free_window_for_job(cs, d.payload["job_id"]),
        events.RESULTS_ARCHIVE_DUE: lambda d: archive_results(cs, d.payload["job_id"]),
        events.USER_DOWNGRADED: lambda d: start_free_window_for_user(cs, d.payload["user_id"]),
        # the second sweep of a deleted job's files (see services/deletion.py)
        events.JOB_DELETED: lambda d: purge_job_files(c.storage, c.cold, d.payload),
    }


def restorer_handlers(c: Container) -> dict[str, Handler]:
    cs = _cold_storage(c)
    return {
        events.USER_UPGRADED: lambda d: restore_user_results(cs, d.payload["user_id"]),
        events.RESULTS_RESTORE_READY: lambda d: thaw_results(cs, d.payload["archive_id"]),
    }


def annotator_give_up(c: Container) -> dict[str, Handler]:
    def on_exhausted(d: Delivery) -> None:
        give_up_annotation(c.uow, c.storage, c.clock, d.payload["job_id"], annotation.output_stem)

    return {events.JOB_REQUESTED: on_exhausted}


def sweeper(kind: str, c: Container) -> Callable[[], None] | None:
    """What a worker of ``kind`` cleans up: the temporary files that attempts interrupted by a
    crash (SIGKILL, the OOM killer, a power cut) left where it writes — the annotator's scratch
    directories, the object store's, the cold store's (S3: multipart uploads) — once older than
    the queue's lease, by when no live attempt can still be writing them."""
    lease = c.settings.queue_lease_seconds
    writes: dict[str, list[object]] = {
        "annotator": [c.storage],
        "archiver": [c.cold, c.storage],
        "restorer": [c.cold, c.storage],
    }
    stores = writes.get(kind, [])
    workdir = c.settings.data_dir / "tmp" if kind == "annotator" else None
    if workdir is None and not stores:
        return None

    def sweep() -> None:
        if workdir is not None:
            remove_abandoned(workdir, "gas-", older_than=lease)
        for store in stores:
            sweep_temp = getattr(store, "sweep_temp", None)
            if sweep_temp is not None:
                removed = sweep_temp(lease)
                if removed:
                    log.info("%s: removed %d temporary file(s) left in %r", kind, removed, store)

    return sweep


def _user_of_job(c: Container) -> Callable[[str], str | None]:
    """The owner of a job (for the log lines of messages that name only the job)."""

    def lookup(job_id: str) -> str | None:
        with c.uow(readonly=True) as uow:
            job = uow.jobs.get(job_id)
        return job.user_id if job is not None else None

    return lookup


def build_worker(kind: str, c: Container) -> Worker:
    handlers: dict[str, Handler]
    on_exhausted: dict[str, Handler] = {}
    if kind == "annotator":
        handlers = annotator_handlers(c, c.settings.data_dir / "tmp")
        on_exhausted = annotator_give_up(c)
        (c.settings.data_dir / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
    elif kind == "notifier":
        handlers = notifier_handlers(c)
    elif kind == "archiver":
        handlers = archiver_handlers(c)
    elif kind == "restorer":
        handlers = restorer_handlers(c)
    else:
        raise ValueError(f"unknown worker kind {kind!r}; choose from {', '.join(WORKER_KINDS)}")
    return Worker(
        kind=kind,
        # counts each message's outcome; its job and user go on the log lines while handled
        queue=metrics.InstrumentedQueue(c.queue, kind, user_of_job=_user_of_job(c)),
        handlers=handlers,
        heartbeat_seconds=max(0.5, c.settings.queue_lease_seconds / 3),
        idle_wait_seconds=5.0,
        on_exhausted=on_exhausted,
        housekeeping=sweeper(kind, c),
        # at start; and when what the worker this one may replace left is older than the lease
        housekeeping_delays=(0.0, 2 * c.settings.queue_lease_seconds),
        scale_in_protection=_scale_in_protection(c) if kind == "annotator" else None,
    )


def _scale_in_protection(c: Container) -> ScaleInProtection | None:
    if not c.settings.aws_scale_in_protection:
        return None
    from gas.adapters.autoscaling import scale_in_protection

    protection: ScaleInProtection = scale_in_protection(c.settings)
    # A worker killed mid-job (out of memory, SIGKILL) never cleared its protection: start
    # unprotected, or an idle instance would stay protected from every scale-in.
    protection.set_protected(False)
    return protection
