"""The job state machine, file names and object keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gas.domain import events
from gas.domain.errors import InvalidInput
from gas.domain.jobs import (
    MAX_FILE_NAME_LENGTH,
    Job,
    JobStatus,
    ResultsState,
    clean_file_name,
    object_key,
    one_line,
)

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def complete(job: Job, when: datetime) -> bool:
    return job.complete(
        when, results_key="u/j~x.annot.vcf", log_key="u/j~x.count.log", summary_key=None
    )


def new_job() -> Job:
    return Job(
        id="j",
        user_id="u",
        input_file_name="x.vcf",
        input_key="u/j~x.vcf",
        submitted_at=T0,
    )


def running_job() -> Job:
    job = new_job()
    assert job.start(T1)
    return job


def completed_job() -> Job:
    job = running_job()
    assert complete(job, T2)
    return job


def failed_job() -> Job:
    job = running_job()
    assert job.fail(T2, "bad input")
    return job


# --- the state machine ----------------------------------------------------------------------


def test_a_new_job_is_pending_with_no_results_and_no_events() -> None:
    job = new_job()
    assert job.status is JobStatus.PENDING
    assert job.started_at is None and job.completed_at is None
    assert job.results_state is None
    assert job.events == []


def test_start_moves_a_pending_job_to_running_and_records_the_start_time() -> None:
    job = new_job()
    assert job.start(T1) is True
    assert job.status is JobStatus.RUNNING
    assert job.started_at == T1
    assert job.progress == 0.0
    assert job.events == []


@pytest.mark.parametrize("make", [running_job, completed_job, failed_job])
def test_start_refuses_a_job_that_is_not_pending_and_changes_nothing(make) -> None:
    job = make()
    before = (job.status, job.started_at, job.completed_at, list(job.events))
    assert job.start(T2 + timedelta(hours=1)) is False
    assert (job.status, job.started_at, job.completed_at, job.events) == before


def test_complete_moves_a_running_job_to_completed_with_results_available() -> None:
    job = running_job()
    assert complete(job, T2) is True
    assert job.status is JobStatus.COMPLETED
    assert job.completed_at == T2
    assert job.results_key == "u/j~x.annot.vcf"
    assert job.log_key == "u/j~x.count.log"
    assert job.results_state is ResultsState.AVAILABLE
    assert job.progress == 1.0
    assert job.error is None


def test_complete_records_the_job_completed_event_once() -> None:
    job = running_job()
    complete(job, T2)
    complete(job, T2)
    assert job.events == [(events.JOB_COMPLETED, {"job_id": "j"})]


@pytest.mark.parametrize("make", [new_job, completed_job, failed_job])
def test_complete_refuses_a_job_that_is_not_running(make) -> None:
    job = make()
    status, events_before = job.status, list(job.events)
    assert complete(job, T2 + timedelta(hours=1)) is False
    assert job.status is status
    assert job.events == events_before


@pytest.mark.parametrize("make", [new_job, running_job])
def test_fail_ends_a_pending_or_running_job_with_the_reason_and_an_event(make) -> None:
    job = make()
    assert job.fail(T2, "The file is not a VCF.", log_key="u/j~x.count.log") is True
    assert job.status is JobStatus.FAILED
    assert job.completed_at == T2
    assert job.error == "The file is not a VCF."
    assert job.log_key == "u/j~x.count.log"
    assert job.results_state is None
    assert job.events == [(events.JOB_FAILED, {"job_id": "j"})]


def test_fail_keeps_the_reason_on_one_line() -> None:
    job = running_job()
    job.fail(T2, "line 3:\n  wrong number\tof columns\r\n")
    assert job.error == "line 3: wrong number of columns"


def test_fail_truncates_a_long_reason_with_an_ellipsis() -> None:
    job = running_job()
    job.fail(T2, "x" * 1000)
    assert job.error is not None
    assert len(job.error) == 300
    assert job.error.endswith("…")


@pytest.mark.parametrize("make", [completed_job, failed_job])
def test_final_states_are_immutable(make) -> None:
    job = make()
    snapshot = (job.status, job.completed_at, job.error, job.results_key, job.log_key)
    events_before = list(job.events)
    assert job.status.is_final
    assert job.start(T2 + timedelta(hours=1)) is False
    assert complete(job, T2 + timedelta(hours=1)) is False
    assert job.fail(T2 + timedelta(hours=1), "too late") is False
    assert (job.status, job.completed_at, job.error, job.results_key, job.log_key) == snapshot
    assert job.events == events_before


def test_only_completed_and_failed_are_final() -> None:
    assert {s for s in JobStatus if s.is_final} == {JobStatus.COMPLETED, JobStatus.FAILED}


def test_owned_by_is_true_only_for_the_owner() -> None:
    job = new_job()
    assert job.owned_by("u")
    assert not job.owned_by("someone-else")


def test_events_do_not_take_part_in_job_equality() -> None:
    a, b = running_job(), running_job()
    a.events.append((events.JOB_FAILED, {"job_id": "j"}))
    assert a == b


@pytest.mark.parametrize(
    ("text", "expected"),
    [("short", "short"), ("  a\n b  ", "a b"), ("", ""), ("y" * 300, "y" * 300)],
)
def test_one_line_collapses_whitespace_and_keeps_short_text(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_one_line_honours_its_limit() -> None:
    assert one_line("abcdef", limit=4) == "abc…"


# --- clean_file_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("sample.vcf", "sample.vcf"),
        ("sample.vcf.gz", "sample.vcf.gz"),
        ("/home/ada/data/sample.vcf", "sample.vcf"),
        ("C:\\Users\\ada\\sample.vcf", "sample.vcf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("my sample (1).vcf", "my_sample_1_.vcf"),
        ("x\x00y\n.vcf", "x_y_.vcf"),
    ],
)
def test_clean_file_name_strips_directories_and_unsafe_characters(sent: str, kept: str) -> None:
    assert clean_file_name(sent) == kept


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("résumé.vcf", "resume.vcf"),
        ("Ångström-ﬁle.vcf", "Angstrom-file.vcf"),
        ("日本語.vcf", "input.vcf"),
        ("データ.vcf.gz", "input.vcf.gz"),
    ],
)
def test_clean_file_name_transliterates_unicode_and_keeps_the_extension(
    sent: str, kept: str
) -> None:
    assert clean_file_name(sent) == kept


@pytest.mark.parametrize("sent", ["", ".", "..", "...", "/", "dir/", "___", "日本語", " "])
def test_clean_file_name_of_nothing_usable_is_input_vcf(sent: str) -> None:
    assert clean_file_name(sent) == "input.vcf"


def test_clean_file_name_removes_leading_dots_of_hidden_files() -> None:
    assert not clean_file_name(".bashrc").startswith(".")
    assert not clean_file_name("..vcf").startswith(".")


@pytest.mark.parametrize("ext", ["vcf", "vcf.gz", "bgz", "tsv"])
def test_clean_file_name_shortens_long_names_but_keeps_the_extension(ext: str) -> None:
    cleaned = clean_file_name("a" * 500 + "." + ext)
    assert len(cleaned) == MAX_FILE_NAME_LENGTH
    assert cleaned.endswith("." + ext)
    assert cleaned.startswith("aaaa")


def test_clean_file_name_cuts_a_long_name_whose_extension_is_too_long_to_keep() -> None:
    cleaned = clean_file_name("a" * 150 + "." + "b" * 150)
    assert len(cleaned) == MAX_FILE_NAME_LENGTH
    assert cleaned == ("a" * 150 + "." + "b" * 150)[:MAX_FILE_NAME_LENGTH]


@given(st.text(max_size=600))
def test_clean_file_name_is_always_a_safe_single_name(name: str) -> None:
    cleaned = clean_file_name(name)
    assert "/" not in cleaned and "\\" not in cleaned
    assert not cleaned.startswith(".")
    assert 0 < len(cleaned) <= MAX_FILE_NAME_LENGTH
    assert cleaned.isascii() and cleaned.isprintable()


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=300))
def test_clean_file_name_is_idempotent(name: str) -> None:
    once = clean_file_name(name)
    assert clean_file_name(once) == once


# --- object_key -----------------------------------------------------------------------------


def test_object_key_follows_the_original_layout() -> None:
    assert object_key("user-1", "job-2", "x.vcf") == "user-1/job-2~x.vcf"


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x"])
def test_object_key_refuses_names_that_are_not_a_single_file_name(bad: str) -> None:
    with pytest.raises(InvalidInput):
        object_key("user-1", "job-2", bad)


@given(st.text(max_size=300))
def test_object_key_of_a_cleaned_name_stays_under_the_job_prefix(name: str) -> None:
    key = object_key("user-1", "job-2", clean_file_name(name))
    prefix, _, rest = key.partition("~")
    assert prefix == "user-1/job-2"
    assert "/" not in rest
