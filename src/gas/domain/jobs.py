"""An annotation job and its state machine.

PENDING -> RUNNING -> COMPLETED, or FAILED with a one-line reason. Each transition happens once:
a method returns False (and changes nothing) when the job is not in the state it needs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gas.domain import events
from gas.domain.errors import InvalidInput


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class ResultsState(StrEnum):
    AVAILABLE = "available"
    ARCHIVED = "archived"
    RESTORING = "restoring"


MAX_FILE_NAME_LENGTH = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-]+")
_COMPRESSED = {"gz", "bgz"}


def clean_file_name(name: str) -> str:
    """A safe, readable file name from what the browser sent: no directories, no control
    characters, no leading dots, at most 200 characters, the extension kept."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base)
    stem, dot, ext = base.partition(".")
    if dot and not stem.strip("_") and ext.strip("._"):
        # Nothing readable before the extension ("日本語.vcf"): keep the extension anyway.
        base = "input." + ext.strip("._")
    base = base.strip("._") or "input.vcf"
    if len(base) > MAX_FILE_NAME_LENGTH:
        stem, dot, ext = base.rpartition(".")
        inner_stem, inner_dot, inner = stem.rpartition(".")
        if ext.lower() in _COMPRESSED and inner_dot and inner_stem and len(inner) <= 5:
            stem, ext = inner_stem, f"{inner}.{ext}"  # "x.vcf.gz" keeps ".vcf.gz"
        if dot and len(ext) <= 10:
            base = stem[: MAX_FILE_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            base = base[:MAX_FILE_NAME_LENGTH]
    return base


def object_key(user_id: str, job_id: str, file_name: str) -> str:
    """Key layout of the original service: ``<user_id>/<job_id>~<file name>``."""
    if "/" in file_name or file_name in {"", ".", ".."}:
        raise InvalidInput("invalid file name")
    return f"{user_id}/{job_id}~{file_name}"


@dataclass
class Job:
    id: str
    user_id: str
    input_file_name: str
    input_key: str
    submitted_at: datetime
    status: JobStatus = JobStatus.PENDING
    assembly: str | None = None  # as chosen at upload; None: detected from the file
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    results_key: str | None = None
    log_key: str | None = None
    summary_key: str | None = None
    # the results store (Parquet, the results browser's data); None for jobs annotated before
    # GAS wrote one. Archived and restored together with the annotated VCF.
    store_key: str | None = None
    # the engine's report of the input's assembly and what it did with it (see assembly.py)
    assembly_report: dict[str, Any] | None = None
    results_state: ResultsState | None = None
    input_size: int | None = None
    progress: float | None = None
    variant_count: int | None = None  # the input's records (summary.json's input.records)
    # cold storage (Free plan)
    archive_after: datetime | None = None  # the durable archive timer's due time
    archive_id: str | None = None
    archive_size: int | None = None
    archive_sha256: str | None = None
    archived_at: datetime | None = None
    restore_requested_at: datetime | None = None
    restore_tier: str | None = None
    restore_expected_at: datetime | None = None
    restored_at: datetime | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list, compare=False)

    # --- transitions -------------------------------------------------------------------
    def start(self, now: datetime) -> bool:
        """PENDING -> RUNNING. Returns False when the job is not PENDING."""
        if self.status is not JobStatus.PENDING:
            return False
        self.status = JobStatus.RUNNING
        self.started_at = now
        self.progress = 0.0
        return True

    def complete(
        self,
        now: datetime,
        *,
        results_key: str,
        log_key: str,
        summary_key: str | None,
        assembly_report: dict[str, Any] | None = None,
        store_key: str | None = None,
        variant_count: int | None = None,
    ) -> bool:
        """RUNNING -> COMPLETED, results available; announces ``job.completed``."""
        if self.status is not JobStatus.RUNNING:
            return False
        self.status = JobStatus.COMPLETED
        self.completed_at = now
        self.variant_count = variant_count
        self.results_key = results_key
        self.log_key = log_key
        self.summary_key = summary_key
        self.store_key = store_key
        self.assembly_report = assembly_report
        self.results_state = ResultsState.AVAILABLE
        self.progress = 1.0
        self.error = None
        self.events.append((events.JOB_COMPLETED, {"job_id": self.id}))
        return True

    def fail(self, now: datetime, reason: str, *, log_key: str | None = None) -> bool:
        """PENDING/RUNNING -> FAILED with a one-line reason; announces ``job.failed``."""
        if self.status.is_final:
            return False
        self.status = JobStatus.FAILED
        self.completed_at = now
        self.error = one_line(reason)
        self.log_key = log_key
        self.events.append((events.JOB_FAILED, {"job_id": self.id}))
        return True

    # --- cold storage (Free plan) -------------------------------------------------------
    # Destructive steps come last: write the new copy, verify it, record it, then delete the
    # old one. Each method returns False (changing nothing) when its step is already done or
    # does not apply, so a redelivered event is a no-op.

    def schedule_archive(self, due: datetime) -> bool:
        """Results available now should move to cold storage at ``due`` (Free plan)."""
        available = self.results_state is ResultsState.AVAILABLE
        if self.status is not JobStatus.COMPLETED or not available:
            return False
        self.archive_after = due
        return True

    def cancel_archive(self) -> bool:
        """The owner upgraded: the results stay hot."""
        if self.archive_after is None:
            return False
        self.archive_after = None
        return True

    def archive_due(self, now: datetime) -> bool:
        return (
            self.results_state is ResultsState.AVAILABLE
            and self.archive_after is not None
            and self.archive_after <= now
        )

    def mark_archived(self, now: datetime, *, archive_id: str, size: int, sha256: str) -> bool:
        """The verified cold copy is recorded; the hot copy may now be deleted."""
        if self.results_state is not ResultsState.AVAILABLE:
            return False
        self.results_state = ResultsState.ARCHIVED
        self.archive_id, self.archive_size, self.archive_sha256 = archive_id, size, sha256
        self.archived_at = now
        self.archive_after = None
        return True

    def mark_restoring(self, now: datetime, *, tier: str, expected_at: datetime) -> bool:
        if self.results_state is not ResultsState.ARCHIVED:
            return False
        self.results_state = ResultsState.RESTORING
        self.restore_requested_at = now
        self.restore_tier = tier
        self.restore_expected_at = expected_at
        return True

    def mark_restored(self, now: datetime) -> bool:
        """The verified hot copy is back at its key; the cold copy may now be deleted (then
        ``forget_archive``). Announces ``results.restored``.

        Also from ARCHIVED: a retrieval can complete before its request was recorded."""
        if self.results_state not in (ResultsState.RESTORING, ResultsState.ARCHIVED):
            return False
        self.results_state = ResultsState.AVAILABLE
        self.restored_at = now
        # each restore is its own event (results can be archived and restored again)
        self.events.append(
            (events.RESULTS_RESTORED, {"job_id": self.id, "restored_at": now.isoformat()})
        )
        return True

    def forget_archive(self) -> bool:
        """The cold copy of restored results is deleted."""
        if self.results_state is not ResultsState.AVAILABLE or self.archive_id is None:
            return False
        self.archive_id = self.archive_size = self.archive_sha256 = None
        return True

    # --- views -------------------------------------------------------------------------
    def owned_by(self, user_id: str) -> bool:
        return self.user_id == user_id

    @property
    def deletable(self) -> bool:
        """Anything but a RUNNING job: an annotator working on it would store its outputs
        after they were deleted (it can be deleted once it has ended)."""
        return self.status is not JobStatus.RUNNING

    @property
    def rerunnable(self) -> bool:
        """An ended job can be annotated again from its stored input, as a new job."""
        return self.status.is_final


def job_prefix(user_id: str, job_id: str) -> str:
    """The start of every object key of a job: its input, outputs and results store are all
    stored under ``<user_id>/<job_id>`` (job ids are UUIDs of one length, so no other job's
    keys start with it)."""
    return f"{user_id}/{job_id}"


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
