"""Running an annotation: the annotator worker's use case."""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gas.domain.jobs import Job, JobStatus, object_key
from gas.ports import Clock, ObjectStore, UnitOfWork
from gas.services.scratch import remove_abandoned, scratch_dir

log = logging.getLogger(__name__)

INTERNAL_ERROR = "An internal error stopped the annotation; the operators have been told."
CRASHED = (
    "The annotation stopped unexpectedly several times (the worker running it died); "
    "the input may be unusually large or complex. The operators have been told."
)


class EngineOutputs(Protocol):
    annotated_vcf: Path
    count_log: Path
    summary_json: Path


class Engine(Protocol):
    def __call__(
        self,
        input_path: Path,
        output_dir: Path,
        *,
        output_name: str,
        assembly: str | None,
        progress: Callable[[float], None],
    ) -> EngineOutputs: ...


@dataclass
class AnnotationRun:
    uow: Callable[[], UnitOfWork]
    storage: ObjectStore
    clock: Clock
    engine: Engine
    bad_input: tuple[type[Exception], ...]  # the engine's exceptions meaning "bad input"
    output_stem: Callable[[str], str]  # the engine's naming: "x.vcf.gz" -> "x"
    workdir: Path | None = None
    progress_interval: float = 1.0
    # told of each job this run completed and the seconds it took (the worker's metrics)
    on_completed: Callable[[Job, float], None] | None = None


def run_annotation(
    run: AnnotationRun, job_id: str, *, redelivered: bool, last_attempt: bool
) -> None:
    """Annotate ``job_id``: set RUNNING only if PENDING (or resume a RUNNING job whose worker
    died), annotate a private copy of the input, store the outputs next to the input, set
    COMPLETED and announce it — or set FAILED with a reason the user can act on.

    Unexpected errors propagate so the message is retried; on the last attempt the job is
    failed instead, so that it never stays RUNNING forever.
    """
    with run.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        if job is None:
            log.warning("job %s: not found; nothing to annotate", job_id)
            return
        if job.status is JobStatus.PENDING:
            job.start(run.clock.now())
            uow.jobs.save(job)
            uow.commit()
        elif job.status is JobStatus.RUNNING:
            # We hold the job's only request under a lease, so whoever ran it is gone. Resume
            # even on a "first" attempt: a message released at shutdown (or re-queued from the
            # dead letters) comes back without its attempt counted, and skipping it here would
            # leave the job RUNNING forever.
            log.info(
                "job %s: resuming an interrupted attempt%s",
                job_id,
                "" if redelivered else " (released message)",
            )
        else:
            log.info("job %s: already %s; nothing to do", job_id, job.status.value)
            return

    try:
        _annotate(run, job)
    except Exception as exc:
        if not last_attempt:
            raise
        log.exception("job %s: failed on its last attempt", job_id)
        _finish_failed(
            run.uow,
            run.storage,
            run.clock,
            run.output_stem,
            job,
            INTERNAL_ERROR,
            _failure_log(job, INTERNAL_ERROR, exc),
        )


def _annotate(run: AnnotationRun, job: Job) -> None:
    # An interrupted attempt at this job (its worker killed) left its scratch directory; ours
    # starts afresh without it.
    remove_abandoned(run.workdir, f"gas-{job.id}-")
    with scratch_dir(run.workdir, f"gas-{job.id}-") as tmp:
        local_input = tmp / "input" / job.input_file_name
        local_input.parent.mkdir()
        with run.storage.open(job.input_key) as src, open(local_input, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        out_dir = tmp / "output"
        out_dir.mkdir()
        started = time.monotonic()
        try:
            outputs = run.engine(
                local_input,
                out_dir,
                output_name=job.input_file_name,
                assembly=job.assembly,
                progress=_progress_reporter(run, job.id),
            )
        except run.bad_input as exc:
            reason = getattr(exc, "reason", str(exc))
            details = getattr(exc, "details", "")
            log.info("job %s: input refused: %s", job.id, reason)
            _finish_failed(
                run.uow,
                run.storage,
                run.clock,
                run.output_stem,
                job,
                reason,
                _failure_log(job, reason, None, details),
            )
            return
        assembly_report = _assembly_report(job.id, outputs)
        keys: dict[str, str] = {}
        files = [
            ("results", outputs.annotated_vcf),
            ("log", outputs.count_log),
            ("summary", outputs.summary_json),
        ]
        # The results store (the results browser's Parquet file), an output like the others;
        # an engine that writes none leaves the job without one (the browser says so).
        store = getattr(outputs, "results_store", None)
        if store is not None:
            files.append(("store", store))
        for name, path in files:
            keys[name] = object_key(job.user_id, job.id, path.name)
            with open(path, "rb") as fh:
                run.storage.put(keys[name], fh)
        with run.uow() as uow:
            current = uow.jobs.get(job.id, for_update=True)
            if current is None or not current.complete(
                run.clock.now(),
                results_key=keys["results"],
                log_key=keys["log"],
                summary_key=keys["summary"],
                store_key=keys.get("store"),
                assembly_report=assembly_report,
                variant_count=_variant_count(outputs),
            ):
                log.warning("job %s: finished but no longer RUNNING; results not recorded", job.id)
                return
            uow.jobs.save(current)
            for topic, payload in current.events:
                uow.publish(topic, payload)
            uow.commit()
        seconds = time.monotonic() - started
        log.info("job %s: COMPLETED in %.2f s", job.id, seconds)
        if run.on_completed is not None:
            try:
                run.on_completed(current, seconds)
            except Exception:  # noqa: BLE001 - the job is done; its statistics are extras
                log.warning("job %s: could not record its statistics", job.id, exc_info=True)


def _assembly_report(job_id: str, outputs: EngineOutputs) -> dict[str, Any] | None:
    """The engine's ``"assembly"`` report (what the input's assembly is and whether positions
    were lifted), from the outputs' ``summary`` or else the summary file; None when there is
    none (an engine that does not report it) or it cannot be read: it is shown, never needed."""
    summary = getattr(outputs, "summary", None)
    if not isinstance(summary, dict):
        try:
            summary = json.loads(outputs.summary_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("job %s: the summary could not be read", job_id, exc_info=True)
            return None
    report = summary.get("assembly") if isinstance(summary, dict) else None
    if not isinstance(report, dict):
        return None
    stored: dict[str, Any] = json.loads(json.dumps(report, default=str))  # JSON, as stored
    return stored


def _variant_count(outputs: EngineOutputs) -> int | None:
    """The input's records (the summary's ``input.records``), shown on My Annotations; None
    when the summary does not say (it is shown, never needed)."""
    summary = getattr(outputs, "summary", None)
    if not isinstance(summary, dict):
        try:
            summary = json.loads(outputs.summary_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    section = summary.get("input") if isinstance(summary, dict) else None
    records = section.get("records") if isinstance(section, dict) else None
    return records if isinstance(records, int) and not isinstance(records, bool) else None


def _progress_reporter(run: AnnotationRun, job_id: str) -> Callable[[float], None]:
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < run.progress_interval:
            return
        last[0] = now
        try:
            with run.uow() as uow:
                uow.jobs.set_progress(job_id, max(0.0, min(1.0, fraction)))
                uow.commit()
        except Exception:  # progress is cosmetic: never fail a job for it
            log.debug("job %s: could not record progress", job_id, exc_info=True)

    return report


def _failure_log(job: Job, reason: str, exc: BaseException | None, details: str = "") -> str:
    lines = [
        "GAS annotation log",
        f"Job: {job.id}",
        f"Input: {job.input_file_name}",
        "Status: FAILED",
        f"Reason: {reason}",
    ]
    if details:
        lines += ["", "Details:", details.rstrip()]
    if exc is not None:
        lines += ["", f"Error: {exc.__class__.__name__}"]
    return "\n".join(lines) + "\n"


def _finish_failed(
    uow_factory: Callable[[], UnitOfWork],
    storage: ObjectStore,
    clock: Clock,
    output_stem: Callable[[str], str],
    job: Job,
    reason: str,
    log_text: str,
) -> None:
    """Store the failure log next to the input and set FAILED (announcing ``job.failed``)."""
    log_key = object_key(job.user_id, job.id, output_stem(job.input_file_name) + ".count.log")
    storage.put(log_key, io.BytesIO(log_text.encode()))
    with uow_factory() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        if current is None or not current.fail(clock.now(), reason, log_key=log_key):
            return
        uow.jobs.save(current)
        for topic, payload in current.events:
            uow.publish(topic, payload)
        uow.commit()


def give_up_annotation(
    uow: Callable[[], UnitOfWork],
    storage: ObjectStore,
    clock: Clock,
    job_id: str,
    output_stem: Callable[[str], str],
) -> bool:
    """The request was dead-lettered because every worker that took it died mid-annotation:
    fail the job (never run it again). Returns whether the job was failed by this call."""
    with uow() as u:
        job = u.jobs.get(job_id)
    if job is None or job.status.is_final:
        return False
    log.error("job %s: workers kept dying while annotating it; failing the job", job_id)
    _finish_failed(uow, storage, clock, output_stem, job, CRASHED, _failure_log(job, CRASHED, None))
    return True
