"""Deleting a job: its row, then every file it has — input, annotated VCF, log, summary,
results store, any cold copy — and nothing of anyone else's.

The row goes first, in one transaction with a ``job.deleted`` message that lists what to
purge (transactional outbox): from that moment the job is gone for its owner (404) and for
every worker (each finds no job and logs it: a pending annotation request, an archive timer,
a retrieval completing). The files are then deleted at once, and again by the archiver when
the message comes due a little later: that second sweep finishes the work if this process
died before it, and removes what a worker still busy with the job when it was deleted (a
results thaw copying the file back) wrote after the first. Purging is idempotent.

A RUNNING job is refused (Conflict): its annotator would store its outputs after they were
deleted. Annotations end, so the user can delete it a little later; marking the job and
having the annotator drop its outputs would leave a window in which files outlive the row.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from gas.domain import events
from gas.domain.errors import Conflict, Forbidden, NotFound
from gas.domain.jobs import Job, job_prefix
from gas.ports import ColdStore, ObjectStore, UnitOfWork

log = logging.getLogger(__name__)

# When the archiver sweeps a deleted job's files again: after any handler that had read the
# job before it was deleted is done with it (a queue lease is a minute by default).
SWEEP_DELAY_SECONDS = 120.0


class LocalCopies(Protocol):
    """The web's cache of results files (adapters/store_cache.py)."""

    def discard(self, key: str, suffixes: tuple[str, ...] = ...) -> None: ...


def delete_job(
    uow: UnitOfWork,
    storage: ObjectStore,
    cold: ColdStore,
    *,
    job_id: str,
    user_id: str,
    local: LocalCopies | None = None,
    sweep_delay: float = SWEEP_DELAY_SECONDS,
) -> Job:
    """Delete the user's job ``job_id`` and its files; returns the job as it was.

    NotFound for an unknown job (so a second delete is a 404), Forbidden for someone else's,
    Conflict while it is RUNNING. Pending archive timers, restores and annotation requests
    find no job when they come due and do nothing. ``local``: this machine's cache of
    results files, whose copies of the job's are dropped too (other machines' caches are
    unreachable for the job from now on and age out)."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound("No such annotation job.") from None
    with uow:
        job = uow.jobs.get(job_id, for_update=True)  # waits for an annotator starting it
        if job is None:
            raise NotFound("No such annotation job.")
        if not job.owned_by(user_id):
            raise Forbidden("This annotation job belongs to another user.")
        if not job.deletable:
            raise Conflict(
                f"Job {job.id} is {job.status.value}: it can be deleted once it has ended."
            )
        files = files_of(job)
        uow.jobs.delete(job.id)
        uow.publish(events.JOB_DELETED, files, delay=sweep_delay)
        uow.commit()
    log.info("job %s (%s) deleted by its owner", job.id, job.input_file_name)
    try:
        purge_job_files(storage, cold, files)
    except Exception:  # the job is deleted; the sweep finishes with its files
        log.warning("job %s: files not purged yet; the archiver will", job.id, exc_info=True)
    if local is not None:
        try:
            forget_local_copies(local, job)
        except Exception:  # a cache: what is left is evicted in time
            log.warning("job %s: cached results not dropped", job.id, exc_info=True)
    return job


def forget_local_copies(local: LocalCopies, job: Job) -> None:
    """Drop the cached copies of a job's results: its results store, and the bgzipped VCF and
    tabix index made from its annotated VCF (named as services/results.py names them)."""
    if job.store_key:
        local.discard(job.store_key)
    if job.results_key:
        local.discard(job.results_key, (".vcf.gz", ".vcf.gz.tbi"))


def files_of(job: Job) -> dict[str, Any]:
    """What ``purge_job_files`` needs once the row is gone (the ``job.deleted`` payload)."""
    keys = [job.input_key, job.results_key, job.log_key, job.summary_key]
    keys.append(job.store_key)  # the results store (jobs annotated before it have none)
    return {
        "job_id": job.id,
        "user_id": job.user_id,
        "keys": [key for key in keys if key],
        "archive_id": job.archive_id,
    }


def purge_job_files(storage: ObjectStore, cold: ColdStore, files: dict[str, Any]) -> int:
    """Delete a deleted job's objects — those it recorded and any other stored under its
    prefix ``<user_id>/<job_id>`` (outputs written by a later version, a half-finished
    upload) — and its cold copy. Never a key outside that prefix, whatever the payload says.
    Idempotent; returns how many objects were deleted."""
    prefix = job_prefix(str(files["user_id"]), str(files["job_id"]))
    recorded = {str(key) for key in files.get("keys") or ()}
    outside = sorted(key for key in recorded if not key.startswith(prefix))
    if outside:
        log.warning("job %s: not deleting keys outside its prefix: %s", files["job_id"], outside)
    keys = {key for key in recorded if key.startswith(prefix)}
    keys.update(storage.keys(prefix))
    deleted = 0
    for key in sorted(keys):
        if storage.exists(key):
            storage.delete(key)
            deleted += 1
    archive_id = files.get("archive_id")
    if archive_id:
        cold.delete(str(archive_id))
    if deleted or archive_id:
        log.info(
            "job %s: %d file(s)%s deleted",
            files["job_id"],
            deleted,
            " and the cold copy" if archive_id else "",
        )
    return deleted
