"""Running an annotation: the annotator worker's use case."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from gas.domain import events
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import PlanPolicy
from gas.domain.users import User
from gas.services.annotate import INTERNAL_ERROR, AnnotationRun, run_annotation
from gas.services.jobs import submit_job
from tests.fakes import (
    EngineCrash,
    FakeBadInput,
    FakeClock,
    FakeDatabase,
    FakeEngine,
    FakeObjectStore,
    FakeUnitOfWorkFactory,
    fake_engine,
    fake_output_stem,
)

MakeUser = Callable[..., User]
VCF = (
    b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    b"1\t12345\t.\tA\tG\t.\tPASS\t.\n"
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def engine() -> FakeEngine:
    return fake_engine()


@pytest.fixture
def run(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    clock: FakeClock,
    engine: FakeEngine,
    workdir: Path,
) -> AnnotationRun:
    return AnnotationRun(
        uow=uow,
        storage=store,
        clock=clock,
        engine=engine,
        bad_input=(FakeBadInput,),
        output_stem=fake_output_stem,
        workdir=workdir,
        progress_interval=0.0,
    )


@pytest.fixture
def job(
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
) -> Job:
    """A job just submitted: PENDING, its input stored, its request published."""
    user = make_user()
    submitted = submit_job(
        uow(),
        store,
        policy,
        clock,
        user_id=user.id,
        file_name="sample.vcf",
        stream=io.BytesIO(VCF),
    )
    clock.advance(5)
    return submitted


def topics_since_submission(db: FakeDatabase) -> list[str]:
    return [t for t in db.queue.topics() if t != events.JOB_REQUESTED]


def set_running(uow: FakeUnitOfWorkFactory, clock: FakeClock, job_id: str) -> None:
    """As if a worker had started the job and then died."""
    with uow() as tx:
        job = tx.jobs.get(job_id)
        assert job is not None and job.start(clock.now())
        tx.jobs.save(job)
        tx.commit()


def annotate(
    run: AnnotationRun, job_id: str, *, redelivered: bool = False, last: bool = False
) -> None:
    run_annotation(run, job_id, redelivered=redelivered, last_attempt=last)


# --- success --------------------------------------------------------------------------------


def test_a_pending_job_is_annotated_and_completed(
    run: AnnotationRun, job: Job, db: FakeDatabase, clock: FakeClock
) -> None:
    annotate(run, job.id)
    done = db.jobs[job.id]
    assert done.status is JobStatus.COMPLETED
    assert done.started_at == done.completed_at == clock.now()
    assert done.results_state is ResultsState.AVAILABLE
    assert done.error is None
    assert done.progress == 1.0


def test_the_job_is_running_while_the_engine_works(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase
) -> None:
    seen: list[tuple[JobStatus, float | None]] = []
    engine.during = lambda: seen.append((db.jobs[job.id].status, db.jobs[job.id].progress))
    annotate(run, job.id)
    assert seen == [(JobStatus.RUNNING, 0.5)]  # committed before the engine ran; progress shown
    assert db.jobs[job.id].status is JobStatus.COMPLETED


def test_the_engine_annotates_a_private_copy_of_the_input(
    run: AnnotationRun, engine: FakeEngine, job: Job, workdir: Path
) -> None:
    annotate(run, job.id)
    (call,) = engine.calls
    assert call.input_bytes == VCF
    assert call.input_path.name == "sample.vcf"
    assert call.output_name == "sample.vcf"
    assert call.input_path.is_relative_to(workdir)


def test_the_outputs_are_stored_next_to_the_input(
    run: AnnotationRun, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    annotate(run, job.id)
    done = db.jobs[job.id]
    prefix = f"{job.user_id}/{job.id}~"
    assert done.results_key == prefix + "sample.annot.vcf"
    assert done.log_key == prefix + "sample.count.log"
    assert done.summary_key == prefix + "sample.summary.json"
    assert sorted(store.keys(prefix)) == sorted(
        [job.input_key, done.results_key, done.log_key, done.summary_key]
    )
    assert store.objects[done.results_key].endswith(VCF)
    assert store.objects[job.input_key] == VCF  # the input is kept


def test_completion_publishes_job_completed_once_with_the_job_row(
    run: AnnotationRun, job: Job, db: FakeDatabase
) -> None:
    annotate(run, job.id)
    assert topics_since_submission(db) == [events.JOB_COMPLETED]
    assert db.queue.payloads("notifier") == [(events.JOB_COMPLETED, {"job_id": job.id})]
    last = db.commits[-1]
    assert last.changed == {"jobs": frozenset({job.id})}
    assert last.topics == [events.JOB_COMPLETED]


def test_the_temporary_directory_is_removed_after_success(
    run: AnnotationRun, engine: FakeEngine, job: Job, workdir: Path
) -> None:
    annotate(run, job.id)
    assert engine.temp_dirs and not engine.temp_dirs[0].exists()
    assert list(workdir.iterdir()) == []


def test_a_retry_removes_the_temporary_directory_an_interrupted_attempt_left(
    run: AnnotationRun, engine: FakeEngine, job: Job, workdir: Path
) -> None:
    """A killed worker's scratch directory (its lock file held by nobody now) goes when the
    job is tried again; another job's, and one still in use, stay."""
    left = workdir / f"gas-{job.id}-killed"
    (left / "output").mkdir(parents=True)
    (left / ".in-use").touch()
    (left / "output" / "half.vcf").write_bytes(b"x" * 1000)
    other = workdir / "gas-another-job-x"
    (other / "input").mkdir(parents=True)
    (other / ".in-use").touch()
    annotate(run, job.id)
    assert not left.exists()
    assert other.exists()  # not this job's: the sweep at start decides, by age
    assert engine.temp_dirs and not engine.temp_dirs[0].exists()


# --- the input's genome assembly --------------------------------------------------------------

ASSEMBLY_REPORT = {
    "requested": "auto",
    "input": "GRCh37",
    "annotated_on": "GRCh38",
    "lifted": True,
    "evidence": "reference_sequence=/data/ref/human_g1k_v37.fasta in the ##UnifiedGenotyper line",
    "warnings": ["1 record could not be lifted to GRCh38."],
    "lifted_records": 10,
    "not_lifted": 1,
}


@pytest.mark.parametrize("summary_in_outputs", [True, False], ids=["outputs", "file"])
def test_the_engines_assembly_report_is_recorded_with_the_completed_job(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, summary_in_outputs: bool
) -> None:
    engine.summary = {"assembly": ASSEMBLY_REPORT}
    engine.summary_in_outputs = summary_in_outputs  # else read from summary.json
    annotate(run, job.id)
    done = db.jobs[job.id]
    assert done.status is JobStatus.COMPLETED
    assert done.assembly_report == ASSEMBLY_REPORT


@pytest.mark.parametrize("summary_in_outputs", [True, False], ids=["outputs", "file"])
def test_a_summary_without_an_assembly_report_completes_without_one(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, summary_in_outputs: bool
) -> None:
    engine.summary_in_outputs = summary_in_outputs
    annotate(run, job.id)
    assert db.jobs[job.id].status is JobStatus.COMPLETED
    assert db.jobs[job.id].assembly_report is None


def test_an_unreadable_summary_does_not_stop_the_job_completing(
    run: AnnotationRun, job: Job, db: FakeDatabase
) -> None:
    def engine_with_a_broken_summary(input_path: Path, output_dir: Path, **kwargs: object):  # type: ignore[no-untyped-def]
        outputs = fake_engine()(input_path, output_dir, **kwargs)  # type: ignore[arg-type]
        outputs.summary = None
        outputs.summary_json.write_text("{not json")
        return outputs

    run.engine = engine_with_a_broken_summary
    annotate(run, job.id)
    assert db.jobs[job.id].status is JobStatus.COMPLETED
    assert db.jobs[job.id].assembly_report is None


@pytest.mark.parametrize(("chosen", "given"), [(None, None), ("auto", None), ("NCBI36", "NCBI36")])
def test_the_engine_is_given_the_assembly_chosen_at_upload_or_none_to_detect_it(
    run: AnnotationRun,
    engine: FakeEngine,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    chosen: str | None,
    given: str | None,
) -> None:
    submitted = submit_job(
        uow(),
        store,
        policy,
        clock,
        user_id=make_user().id,
        file_name="sample.vcf",
        stream=io.BytesIO(VCF),
        assembly=chosen,
    )
    annotate(run, submitted.id)
    (call,) = engine.calls
    assert call.assembly == given


# --- redelivery and idempotence -------------------------------------------------------------


def test_a_redelivered_running_job_is_resumed_and_completed(
    run: AnnotationRun,
    uow: FakeUnitOfWorkFactory,
    engine: FakeEngine,
    job: Job,
    db: FakeDatabase,
    clock: FakeClock,
) -> None:
    set_running(uow, clock, job.id)
    started = db.jobs[job.id].started_at
    clock.advance(600)
    annotate(run, job.id, redelivered=True)
    done = db.jobs[job.id]
    assert done.status is JobStatus.COMPLETED
    assert done.started_at == started
    assert len(engine.calls) == 1
    assert topics_since_submission(db) == [events.JOB_COMPLETED]


def test_a_running_job_whose_message_was_released_is_resumed_on_a_first_attempt(
    run: AnnotationRun,
    uow: FakeUnitOfWorkFactory,
    engine: FakeEngine,
    job: Job,
    db: FakeDatabase,
    clock: FakeClock,
) -> None:
    # A release at shutdown gives the message back without counting an attempt, so it comes
    # back as attempt 1 while the job is RUNNING: skipping it would leave the job RUNNING.
    set_running(uow, clock, job.id)
    annotate(run, job.id, redelivered=False)
    assert db.jobs[job.id].status is JobStatus.COMPLETED
    assert len(engine.calls) == 1


@pytest.mark.parametrize("redelivered", [False, True])
def test_a_completed_job_is_left_alone(
    run: AnnotationRun,
    engine: FakeEngine,
    job: Job,
    db: FakeDatabase,
    store: FakeObjectStore,
    redelivered: bool,
) -> None:
    annotate(run, job.id)
    before = (db.jobs[job.id], dict(store.objects), db.queue.topics(), len(db.commits))
    annotate(run, job.id, redelivered=redelivered)
    assert (db.jobs[job.id], dict(store.objects), db.queue.topics(), len(db.commits)) == before
    assert len(engine.calls) == 1


def test_a_failed_job_is_left_alone(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase
) -> None:
    engine.raises = FakeBadInput("The file is not a VCF.")
    annotate(run, job.id)
    before = (db.jobs[job.id], db.queue.topics())
    engine.raises = None
    annotate(run, job.id, redelivered=True)
    assert (db.jobs[job.id], db.queue.topics()) == before
    assert len(engine.calls) == 1


def test_a_request_for_an_unknown_job_does_nothing(
    run: AnnotationRun, engine: FakeEngine, db: FakeDatabase
) -> None:
    annotate(run, "no-such-job")
    assert engine.calls == []
    assert db.queue.topics() == []


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_fails_the_job_with_the_engines_one_line_reason(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, clock: FakeClock
) -> None:
    engine.raises = FakeBadInput("line 3: expected 8 columns, found 5", "line 3: 1\t2\t3\t4\t5")
    annotate(run, job.id)
    failed = db.jobs[job.id]
    assert failed.status is JobStatus.FAILED
    assert failed.error == "line 3: expected 8 columns, found 5"
    assert failed.completed_at == clock.now()
    assert failed.results_key is None and failed.results_state is None


def test_bad_input_stores_a_log_with_the_reason_and_details_next_to_the_input(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    engine.raises = FakeBadInput("line 3: expected 8 columns, found 5", "the offending line: x")
    annotate(run, job.id)
    failed = db.jobs[job.id]
    assert failed.log_key == f"{job.user_id}/{job.id}~sample.count.log"
    text = store.objects[failed.log_key].decode()
    assert "Status: FAILED" in text
    assert "Reason: line 3: expected 8 columns, found 5" in text
    assert "the offending line: x" in text
    assert job.id in text


def test_bad_input_publishes_job_failed_and_keeps_the_users_input(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    engine.raises = FakeBadInput("empty file")
    annotate(run, job.id)
    assert topics_since_submission(db) == [events.JOB_FAILED]
    assert db.queue.payloads("notifier") == [(events.JOB_FAILED, {"job_id": job.id})]
    assert store.objects[job.input_key] == VCF


def test_bad_input_is_not_retried(
    run: AnnotationRun, engine: FakeEngine, job: Job, workdir: Path
) -> None:
    engine.raises = FakeBadInput("not a VCF")
    annotate(run, job.id, last=False)  # returns normally: the message is done
    assert list(workdir.iterdir()) == []


def test_a_multi_line_reason_is_shown_on_one_line(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase
) -> None:
    engine.raises = FakeBadInput("first line\nsecond line")
    annotate(run, job.id)
    assert db.jobs[job.id].error == "first line second line"


# --- unexpected errors ----------------------------------------------------------------------


def test_an_unexpected_error_is_raised_for_a_retry_while_attempts_remain(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    engine.raises = EngineCrash("disk full")
    with pytest.raises(EngineCrash):
        annotate(run, job.id, last=False)
    assert db.jobs[job.id].status is JobStatus.RUNNING  # to be resumed by the retry
    assert topics_since_submission(db) == []
    assert list(store.keys()) == [job.input_key]


def test_a_retry_after_an_unexpected_error_completes_the_job(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase
) -> None:
    engine.raises, engine.fail_times = EngineCrash("flaky"), 1
    with pytest.raises(EngineCrash):
        annotate(run, job.id)
    annotate(run, job.id, redelivered=True)
    assert db.jobs[job.id].status is JobStatus.COMPLETED
    assert topics_since_submission(db) == [events.JOB_COMPLETED]


def test_an_unexpected_error_on_the_last_attempt_fails_the_job_with_the_internal_reason(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    engine.raises = EngineCrash("secret internal detail /srv/x")
    annotate(run, job.id, redelivered=True, last=True)  # does not raise
    failed = db.jobs[job.id]
    assert failed.status is JobStatus.FAILED
    assert failed.error == INTERNAL_ERROR
    assert topics_since_submission(db) == [events.JOB_FAILED]
    assert failed.log_key is not None
    text = store.objects[failed.log_key].decode()
    assert INTERNAL_ERROR in text
    assert "EngineCrash" in text
    assert "secret internal detail" not in text  # internals stay in the operators' log
    assert store.objects[job.input_key] == VCF


def test_a_missing_input_is_an_unexpected_error(
    run: AnnotationRun, engine: FakeEngine, job: Job, db: FakeDatabase, store: FakeObjectStore
) -> None:
    store.delete(job.input_key)
    with pytest.raises(KeyError):
        annotate(run, job.id)
    annotate(run, job.id, redelivered=True, last=True)
    assert db.jobs[job.id].error == INTERNAL_ERROR
    assert engine.calls == []


@pytest.mark.parametrize(
    ("raises", "last"),
    [
        (None, False),
        (FakeBadInput("bad"), False),
        (EngineCrash("boom"), False),
        (EngineCrash("boom"), True),
    ],
    ids=["success", "bad-input", "error-retried", "error-last-attempt"],
)
def test_the_temporary_directory_is_removed_in_every_case(
    run: AnnotationRun,
    engine: FakeEngine,
    job: Job,
    workdir: Path,
    raises: BaseException | None,
    last: bool,
) -> None:
    engine.raises = raises
    try:
        annotate(run, job.id, last=last)
    except EngineCrash:
        assert not last
    assert len(engine.calls) == 1
    assert not engine.temp_dirs[0].exists()
    assert list(workdir.iterdir()) == []


def test_the_temporary_directory_is_private(
    run: AnnotationRun, engine: FakeEngine, job: Job
) -> None:
    modes: list[int] = []
    engine.during = lambda: modes.append(engine.temp_dirs[0].stat().st_mode & 0o777)
    annotate(run, job.id)
    assert modes == [0o700]


def test_a_completed_job_is_reported_with_its_duration_for_the_workers_metrics(
    run: AnnotationRun, job: Job, db: FakeDatabase
) -> None:
    reported: list[tuple[Job, float]] = []
    run.on_completed = lambda done, seconds: reported.append((done, seconds))
    annotate(run, job.id)
    [(done, seconds)] = reported
    assert done.id == job.id and done.status is JobStatus.COMPLETED
    assert seconds >= 0


def test_a_failing_statistics_hook_does_not_fail_the_job(
    run: AnnotationRun, job: Job, db: FakeDatabase
) -> None:
    def broken(_job: Job, _seconds: float) -> None:
        raise RuntimeError("metrics are down")

    run.on_completed = broken
    annotate(run, job.id)
    assert db.jobs[job.id].status is JobStatus.COMPLETED
