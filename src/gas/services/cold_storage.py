"""The Free plan's cold storage: archive results when the window ends, restore them when the
owner upgrades, thaw them when the retrieval completes.

Every handler is idempotent and crash-safe. Destructive steps come last — write the new copy,
verify it, record it, and only then delete the old one — so a crash at any point leaves the
results in at least one readable or restorable place, and running the handler again (the
message is redelivered) finishes the work. The plan is read when a rule applies, never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from gas.domain import events
from gas.domain.jobs import Job, ResultsState
from gas.domain.plans import Plan, PlanPolicy
from gas.ports import Clock, ColdStore, ObjectStore, RetrievalRefused, UnitOfWork
from gas.services.archive_bundle import BundleError, BundleReader, member_name, unpack

log = logging.getLogger(__name__)


class VerificationFailed(Exception):
    """A copy does not match its original (size or SHA-256): nothing is deleted; retried."""


@dataclass
class ColdStorage:
    uow: Callable[[], UnitOfWork]
    storage: ObjectStore
    cold: ColdStore
    clock: Clock
    policy: PlanPolicy


class HashingReader:
    """Wraps a binary stream, counting and hashing what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # for shutil.copyfileobj users
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


# --- what is archived: the annotated VCF, with the results store when the job has one ---------


def hot_keys(job: Job) -> list[str]:
    """The objects that go to the cold store and come back together: the annotated VCF and
    the results store (the summary and the log always stay hot)."""
    return [key for key in (job.results_key, job.store_key) if key]


@contextlib.contextmanager
def _archive_source(storage: ObjectStore, job: Job) -> Iterator[BinaryIO]:
    """What is written to the cold store: the annotated VCF itself for a job without a
    results store (as before stores existed), else one bundle of both (archive_bundle.py) —
    one archive, so that one retrieval brings both back. A store that has gone missing is
    left out rather than holding the archive back (the browser then says it is unavailable)."""
    assert job.results_key is not None
    if job.store_key is None:
        with storage.open(job.results_key) as src:
            yield src
        return
    keys = [job.results_key]
    if storage.exists(job.store_key):
        keys.append(job.store_key)
    else:
        log.warning("job %s: results store %s is missing; archiving the VCF", job.id, job.store_key)
    yield BundleReader(storage, keys)  # type: ignore[misc]


def _restore_hot_copies(storage: ObjectStore, job: Job, src: BinaryIO) -> None:
    """Write the retrieved archive back to the job's keys (the VCF, or a bundle's objects)."""
    assert job.results_key is not None
    if job.store_key is None:
        storage.put(job.results_key, src)
        return
    by_name = {member_name(key): key for key in hot_keys(job)}

    def put(name: str, stream: BinaryIO) -> None:
        key = by_name.get(name)
        if key is None:
            raise BundleError(f"job {job.id}: unexpected object {name!r} in the archive")
        storage.put(key, stream)

    if member_name(job.results_key) not in unpack(src, put):
        raise BundleError(f"job {job.id}: the archive holds no annotated VCF")


def _delete_hot_copies(storage: ObjectStore, job: Job) -> None:
    for key in hot_keys(job):
        if storage.exists(key):
            storage.delete(key)


def _seconds_until(moment: datetime, now: datetime) -> float:
    return max(0.0, (moment - now).total_seconds())


def _schedule(uow: UnitOfWork, job: Job, due: datetime, now: datetime) -> None:
    """Record the archive timer on the job and as a delayed message, in one transaction."""
    job.schedule_archive(due)
    uow.jobs.save(job)
    uow.publish(events.RESULTS_ARCHIVE_DUE, {"job_id": job.id}, delay=_seconds_until(due, now))


# --- job.completed / user.downgraded: start the Free window ----------------------------------


def start_free_window_for_job(cs: ColdStorage, job_id: str) -> bool:
    """On ``job.completed``: if the owner is Free now, the results are archived when the
    window (counted from completion) ends. Returns whether a timer was recorded."""
    now = cs.clock.now()
    with cs.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        if job is None:
            log.info("job %s: no such job (deleted); no download window to start", job_id)
            return False
        if job.results_state is not ResultsState.AVAILABLE:
            return False
        if job.archive_after is not None:  # already scheduled (a redelivery)
            return False
        user = uow.users.get(job.user_id)
        if user is None or user.plan is not Plan.FREE:
            return False
        assert job.completed_at is not None
        due = job.completed_at + timedelta(seconds=cs.policy.free_retention_seconds)
        _schedule(uow, job, due, now)
        uow.commit()
    log.info("job %s: results will be archived at %s unless the owner upgrades", job_id, due)
    return True


def start_free_window_for_user(cs: ColdStorage, user_id: str) -> int:
    """On ``user.downgraded``: every result still available gets a fresh Free window."""
    now = cs.clock.now()
    due = now + timedelta(seconds=cs.policy.free_retention_seconds)
    scheduled = 0
    with cs.uow() as uow:
        user = uow.users.get(user_id)
        if user is None or user.plan is not Plan.FREE:
            return 0  # upgraded again since
        # A timer ending before a window counted from the downgrade (which stamped
        # updated_at) dates from before the upgrade — its user.upgraded not handled yet, or
        # handled after this downgrade — and would cut the fresh window short: replace it.
        # One this handler set (a redelivery) ends later and is kept.
        stale_before = user.updated_at + timedelta(seconds=cs.policy.free_retention_seconds)
        for job in uow.jobs.list_by_results_state(user_id, ResultsState.AVAILABLE):
            if job.archive_after is None or job.archive_after < stale_before:
                _schedule(uow, job, due, now)
                scheduled += 1
        uow.commit()
    log.info("user %s is Free again: %d result(s) will be archived at %s", user_id, scheduled, due)
    return scheduled


# --- results.archive_due: archive ------------------------------------------------------------


def archive_id_for(job: Job) -> str:
    """The cold store id of the results as they became available last (completed, or restored
    at ``restored_at``): ``<results_key>/<that time>``. A re-run of the same archive writes the
    same id (no orphan copies), while each new archive of the same results gets a new one, so
    a late message about an earlier archive (a redelivered ``restore_ready``, whose thaw
    deletes what it restored from) can never touch the current one."""
    assert job.results_key is not None and job.completed_at is not None
    since = (job.restored_at or job.completed_at).astimezone(UTC)
    return f"{job.results_key}/{since:%Y%m%dT%H%M%S%fZ}"


def archive_results(cs: ColdStorage, job_id: str) -> bool:
    """When the Free window ends: copy the results to the cold store, verify, record, delete
    the hot copy. A no-op if the owner upgraded, the timer was replaced, or it is done.
    Returns whether the results are archived by this call."""
    now = cs.clock.now()
    with cs.uow() as uow:
        job = uow.jobs.get(job_id)
        user = uow.users.get(job.user_id) if job else None
    if job is None:
        log.info("job %s: no such job (deleted); nothing to archive", job_id)
        return False
    if user is None or job.results_key is None:
        return False
    if job.results_state is ResultsState.ARCHIVED:
        # An earlier run recorded the archive but stopped before deleting the hot copy. Under
        # the job's lock: a thaw marks the job RESTORING (under the same lock) before it writes
        # the hot copy back, so this never deletes a copy being restored.
        with cs.uow() as uow:
            current = uow.jobs.get(job_id, for_update=True)
            archived = current is not None and current.results_state is ResultsState.ARCHIVED
            if archived:
                _delete_hot_copies(cs.storage, job)
        return False
    if not job.archive_due(now):
        return False
    if user.plan is not Plan.FREE:
        with cs.uow() as uow:
            current = uow.jobs.get(job_id, for_update=True)
            if current is not None and current.cancel_archive():
                uow.jobs.save(current)
                uow.commit()
        return False

    if job.archive_id is not None:
        # A thaw stopped before deleting the archive it restored from: finish that first.
        _forget_archive(cs, job.id, job.archive_id)
    archive_id = archive_id_for(job)
    with _archive_source(cs.storage, job) as src:
        reader = HashingReader(src)
        stored = cs.cold.archive(archive_id, reader)  # type: ignore[arg-type]
    if (stored.size, stored.sha256) != (reader.size, reader.sha256):
        _discard_unrecorded(cs, job_id, archive_id)
        raise VerificationFailed(f"job {job_id}: the cold copy does not match the results")

    with cs.uow() as uow:
        # Lock the owner: a plan change waits for this decision, so an upgrade either comes
        # first (we do not archive) or sees the archive (and restores it).
        owner = uow.users.get(job.user_id, for_update=True)
        current = uow.jobs.get(job_id, for_update=True)
        keep_hot = owner is None or owner.plan is not Plan.FREE
        if current is None or keep_hot or not current.archive_due(now):
            recorded = False
        else:
            recorded = current.mark_archived(
                now, archive_id=archive_id, size=stored.size, sha256=stored.sha256
            )
            uow.jobs.save(current)
            uow.commit()
    if not recorded:
        _discard_unrecorded(cs, job_id, archive_id)
        return False
    _delete_hot_copies(cs.storage, job)
    log.info("job %s: results archived (%d bytes)", job_id, stored.size)
    return True


def _discard_unrecorded(cs: ColdStorage, job_id: str, archive_id: str) -> None:
    """Delete a cold copy this run wrote but did not record — unless another run (a duplicate
    delivery) recorded the same archive meanwhile: then it is the results' only copy."""
    with cs.uow() as uow:
        current = uow.jobs.get(job_id, for_update=True)
        if current is None or current.archive_id != archive_id:
            cs.cold.delete(archive_id)


# --- user.upgraded: restore ------------------------------------------------------------------


def restore_user_results(cs: ColdStorage, user_id: str) -> int:
    """On ``user.upgraded``: cancel pending archive timers and request the retrieval of every
    archived result (Expedited, falling back to slower tiers when refused). Returns how many
    retrievals were requested."""
    with cs.uow() as uow:
        user = uow.users.get(user_id)
        if user is None or user.plan is not Plan.PREMIUM:
            return 0  # downgraded again since: nothing to restore
        for job in uow.jobs.list_by_results_state(user_id, ResultsState.AVAILABLE):
            if job.cancel_archive():
                uow.jobs.save(job)
        archived = uow.jobs.list_by_results_state(user_id, ResultsState.ARCHIVED)
        uow.commit()
    # One result whose retrieval fails must not hold back the others: request them all, then
    # raise the first failure so the message is retried (for the failed ones only: the others
    # are "restoring" by then) and, if it keeps failing, dead-lettered where operators see it.
    failures: list[Exception] = []
    for job in archived:
        try:
            request_restore(cs, job)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            log.warning("job %s: retrieval request failed: %s", job.id, exc)
            failures.append(exc)
    if failures:
        raise failures[0]
    return len(archived)


def request_restore(cs: ColdStorage, job: Job) -> str:
    """Request the retrieval of one archived result and mark it restoring; returns the tier."""
    assert job.archive_id is not None
    last_refusal: RetrievalRefused | None = None
    for tier in cs.cold.tiers:
        try:
            wait = cs.cold.request_retrieval(job.archive_id, tier)
        except RetrievalRefused as exc:
            log.info("job %s: %s retrieval refused (%s); trying a slower tier", job.id, tier, exc)
            last_refusal = exc
            continue
        now = cs.clock.now()
        with cs.uow() as uow:
            current = uow.jobs.get(job.id, for_update=True)
            if current is not None and current.mark_restoring(
                now, tier=tier, expected_at=now + timedelta(seconds=wait)
            ):
                uow.jobs.save(current)
                uow.commit()
        log.info("job %s: %s retrieval requested (about %.0f s)", job.id, tier, wait)
        return tier
    raise last_refusal or RetrievalRefused("the cold store offers no retrieval tier")


# --- results.restore_ready: thaw -------------------------------------------------------------


def thaw_results(cs: ColdStorage, archive_id: str) -> bool:
    """When a retrieval completes: copy the results back to their original key, verify, mark
    them available (announcing ``results.restored``), then delete the archive. A Free owner
    (downgraded meanwhile) gets a fresh window. Returns whether this call restored them."""
    with cs.uow() as uow:
        job = uow.jobs.get_by_archive_id(archive_id)
    if job is None or job.results_key is None:
        log.warning("restore_ready for unknown archive %s: ignored", archive_id)
        return False
    if job.results_state is ResultsState.AVAILABLE:
        _forget_archive(cs, job.id, archive_id)  # an earlier run stopped before this step
        return False
    if job.results_state is ResultsState.ARCHIVED:
        # The retrieval completed before its request was recorded. Mark it RESTORING (under the
        # job's lock) before writing the hot copy, so that a late "archive due" redelivery —
        # which deletes hot copies of ARCHIVED results — cannot delete the copy we write.
        now = cs.clock.now()
        with cs.uow() as uow:
            current = uow.jobs.get(job.id, for_update=True)
            if current is not None and current.mark_restoring(
                now, tier=job.restore_tier or "unknown", expected_at=now
            ):
                uow.jobs.save(current)
                uow.commit()

    try:
        with cs.cold.open_retrieved(archive_id) as src:
            reader = HashingReader(src)
            _restore_hot_copies(cs.storage, job, reader)  # type: ignore[arg-type]
    except BundleError as exc:
        _delete_hot_copies(cs.storage, job)
        raise VerificationFailed(str(exc)) from None
    if (reader.size, reader.sha256) != (job.archive_size, job.archive_sha256):
        _delete_hot_copies(cs.storage, job)
        raise VerificationFailed(f"job {job.id}: the retrieved archive does not match")

    now = cs.clock.now()
    with cs.uow() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        owner = uow.users.get(job.user_id)
        if current is None or not current.mark_restored(now):
            return False
        uow.jobs.save(current)
        for topic, payload in current.events:
            uow.publish(topic, payload)
        if owner is not None and owner.plan is Plan.FREE:
            _schedule(uow, current, now + timedelta(seconds=cs.policy.free_retention_seconds), now)
        uow.commit()
    _forget_archive(cs, job.id, archive_id)
    log.info("job %s: results restored", job.id)
    return True


def _forget_archive(cs: ColdStorage, job_id: str, archive_id: str) -> None:
    cs.cold.delete(archive_id)
    with cs.uow() as uow:
        current = uow.jobs.get(job_id, for_update=True)
        if current is not None and current.forget_archive():
            uow.jobs.save(current)
            uow.commit()
