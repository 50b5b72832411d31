"""Emails about finished jobs: sent once per event, never lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from gas.domain import events
from gas.domain.jobs import Job
from gas.domain.users import User
from gas.services.notify import MailSettings, notify_job_finished
from tests.fakes import FakeClock, FakeDatabase, FakeMailer, FakeUnitOfWorkFactory

MakeUser = Callable[..., User]
SETTINGS = MailSettings(base_url="http://gas.test", sender="GAS <gas@gas.test>")


def add_job(
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    user: User,
    *,
    end: str | None,
    reason: str = "The file is not a VCF.",
    assembly_report: dict[str, Any] | None = None,
) -> Job:
    """A job of ``user``: left RUNNING (``end=None``), or ended "completed" / "failed" at the
    clock's time."""
    job_id = str(uuid.uuid4())
    job = Job(
        id=job_id,
        user_id=user.id,
        input_file_name="sample.vcf",
        input_key=f"{user.id}/{job_id}~sample.vcf",
        submitted_at=clock.now() - timedelta(minutes=2),
    )
    job.start(clock.now() - timedelta(minutes=1))
    if end == "completed":
        job.complete(
            clock.now(),
            results_key="r",
            log_key="l",
            summary_key=None,
            assembly_report=assembly_report,
        )
    elif end == "failed":
        job.fail(clock.now(), reason, log_key="l")
    with uow() as tx:
        tx.jobs.add(job)
        tx.commit()
    return job


Notify = Callable[..., bool]


@pytest.fixture
def notify(uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock) -> Notify:
    def call(job: Job, topic: str) -> bool:
        return notify_job_finished(uow(), mailer, clock, SETTINGS, job_id=job.id, topic=topic)

    return call


def body(mailer: FakeMailer, index: int = 0) -> str:
    return str(mailer.sent[index].get_content())


# --- completed ------------------------------------------------------------------------------


def test_a_completed_job_emails_its_owner_results_available(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    user = make_user("ada@example.org", name="Ada Lovelace")
    job = add_job(uow, clock, user, end="completed")
    assert notify(job, events.JOB_COMPLETED) is True
    (message,) = mailer.sent
    assert message["Subject"] == f"Results available for job {job.id}"
    assert message["To"] == "Ada Lovelace <ada@example.org>"
    assert message["From"] == SETTINGS.sender


def test_the_completed_email_has_the_completion_time_and_the_job_link(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    job = add_job(uow, clock, make_user(), end="completed")
    clock.advance(3600)  # the email goes out later; it tells when the job completed
    notify(job, events.JOB_COMPLETED)
    text = body(mailer)
    assert "2024-01-02 03:04:05 UTC" in text
    assert f"http://gas.test/annotations/{job.id}" in text
    assert "sample.vcf" in text


def test_the_completed_email_says_which_assembly_was_used_and_its_warnings(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    report = {
        "requested": "auto",
        "input": "GRCh37",
        "annotated_on": "GRCh38",
        "lifted": True,
        "evidence": "reference_sequence=/data/ref/human_g1k_v37.fasta in the ##UnifiedGenotyper "
        "line",
        "warnings": ["1 record is on GL000207.1, which GRCh38 does not have: not lifted."],
        "lifted_records": 10,
        "not_lifted": 1,
    }
    job = add_job(uow, clock, make_user(), end="completed", assembly_report=report)
    notify(job, events.JOB_COMPLETED)
    text = body(mailer)
    assert (
        "Genome assembly: GRCh37 (detected: reference_sequence=/data/ref/human_g1k_v37.fasta "
        "in the ##UnifiedGenotyper line) → lifted to GRCh38 for annotation; 1 record could not "
        "be lifted.\n" in text
    )
    assert (
        "Assembly warnings:\n  - 1 record is on GL000207.1, which GRCh38 does not have: "
        "not lifted.\n" in text
    )
    assert text.index("Genome assembly:") < text.index("View and download the results:")


def test_an_unknown_assembly_is_said_plainly_and_a_job_without_a_report_says_nothing(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    user = make_user()
    report = {"input": "unknown", "annotated_on": "GRCh38", "lifted": False, "warnings": []}
    unknown = add_job(uow, clock, user, end="completed", assembly_report=report)
    older = add_job(uow, clock, user, end="completed")  # annotated before reports existed
    notify(unknown, events.JOB_COMPLETED)
    notify(older, events.JOB_COMPLETED)
    assert (
        "Genome assembly: unknown (could not be detected from the file); annotated on GRCh38, "
        "positions not lifted." in body(mailer, 0)
    )
    assert "Assembly warnings" not in body(mailer, 0)
    assert "assembly" not in body(mailer, 1).lower()


def test_a_user_without_a_name_is_addressed_by_email_alone(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    job = add_job(uow, clock, make_user("bob@example.org", name=""), end="completed")
    notify(job, events.JOB_COMPLETED)
    assert mailer.sent[0]["To"] == "bob@example.org"
    assert body(mailer).startswith("Hello,\n")


# --- failed ---------------------------------------------------------------------------------


def test_a_failed_job_emails_the_reason_and_the_job_link(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    job = add_job(uow, clock, make_user(), end="failed", reason="line 3: expected 8 columns")
    assert notify(job, events.JOB_FAILED) is True
    (message,) = mailer.sent
    assert job.id in message["Subject"]
    assert "failed" in message["Subject"]
    assert "line 3: expected 8 columns" in body(mailer)
    assert f"http://gas.test/annotations/{job.id}" in body(mailer)


# --- exactly once (as far as possible) ------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "topic"), [("completed", events.JOB_COMPLETED), ("failed", events.JOB_FAILED)]
)
def test_a_second_delivery_of_the_event_does_not_email_again(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
    db: FakeDatabase,
    end: str,
    topic: str,
) -> None:
    job = add_job(uow, clock, make_user(), end=end)
    assert notify(job, topic) is True
    assert notify(job, topic) is False
    assert len(mailer.sent) == 1
    assert db.notifications == {f"{topic}:{job.id}": clock.now()}


def test_a_mailer_failure_raises_and_records_nothing_so_the_retry_sends(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
    db: FakeDatabase,
) -> None:
    job = add_job(uow, clock, make_user(), end="completed")
    mailer.fail_times = 2
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            notify(job, events.JOB_COMPLETED)
        assert db.notifications == {}
    assert notify(job, events.JOB_COMPLETED) is True
    assert len(mailer.sent) == 1
    assert mailer.attempts == 3
    assert f"{events.JOB_COMPLETED}:{job.id}" in db.notifications


def test_each_users_job_gets_its_own_email(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
) -> None:
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    jobs = [add_job(uow, clock, u, end="completed") for u in (ada, ada, bob)]
    for job in jobs:
        notify(job, events.JOB_COMPLETED)
    assert [m["Subject"] for m in mailer.sent] == [
        f"Results available for job {j.id}" for j in jobs
    ]
    assert [m["To"].addresses[0].addr_spec for m in mailer.sent] == [
        "ada@example.org",
        "ada@example.org",
        "bob@example.org",
    ]


# --- nothing to say -------------------------------------------------------------------------


def test_a_job_still_running_sends_nothing_and_records_nothing(
    notify: Notify,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
    db: FakeDatabase,
) -> None:
    job = add_job(uow, clock, make_user(), end=None)
    assert notify(job, events.JOB_COMPLETED) is False
    assert mailer.sent == []
    assert db.notifications == {}


def test_an_unknown_job_sends_nothing(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    sent = notify_job_finished(
        uow(), mailer, clock, SETTINGS, job_id=str(uuid.uuid4()), topic=events.JOB_COMPLETED
    )
    assert sent is False
    assert mailer.sent == []
