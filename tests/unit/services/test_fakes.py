"""The fakes keep the semantics of the real adapters that the service tests rely on."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from gas.domain import events
from gas.domain.jobs import Job, JobStatus
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import ObjectTooLarge
from tests.fakes import (
    FakeClock,
    FakeDatabase,
    FakeHasher,
    FakeMailer,
    FakeObjectStore,
    FakeQueue,
    FakeUnitOfWorkFactory,
)

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def a_job(job_id: str = "j1") -> Job:
    return Job(
        id=job_id, user_id="u", input_file_name="x.vcf", input_key="u/j~x.vcf", submitted_at=NOW
    )


def with_owner() -> FakeUnitOfWorkFactory:
    """A fake database holding user "u", the owner of ``a_job()`` (jobs need one)."""
    uow = FakeUnitOfWorkFactory()
    with uow() as tx:
        tx.users.add(User("u", "u@example.org", "U", "", Plan.FREE, None, NOW, NOW))
        tx.commit()
    return uow


def test_unit_of_work_keeps_nothing_without_commit() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as tx:
        tx.jobs.add(a_job())
        tx.publish(events.JOB_REQUESTED, {"job_id": "j1"})
    assert uow.db.jobs == {}
    assert uow.db.queue.topics() == []


def test_unit_of_work_commit_keeps_the_rows_and_delivers_the_messages_together() -> None:
    uow = with_owner()
    with uow() as tx:
        tx.jobs.add(a_job())
        tx.publish(events.JOB_REQUESTED, {"job_id": "j1"})
        assert uow.db.queue.topics() == []  # not before the commit
        tx.commit()
    assert set(uow.db.jobs) == {"j1"}
    assert uow.db.queue.payloads("annotator") == [(events.JOB_REQUESTED, {"job_id": "j1"})]


def test_unit_of_work_rollback_drops_changes_and_messages() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as tx:
        tx.jobs.add(a_job())
        tx.publish(events.JOB_REQUESTED, {"job_id": "j1"})
        tx.rollback()
        tx.commit()
    assert uow.db.jobs == {}
    assert uow.db.queue.topics() == []


def test_a_failing_commit_keeps_neither_rows_nor_messages() -> None:
    db = FakeDatabase()
    db.fail_commits = 1
    uow = FakeUnitOfWorkFactory(db)
    with pytest.raises(Exception, match="refused"), uow() as tx:
        tx.jobs.add(a_job())
        tx.publish(events.JOB_REQUESTED, {"job_id": "j1"})
        tx.commit()
    assert db.jobs == {}
    assert db.queue.topics() == []


def test_repositories_hand_out_copies_so_unsaved_changes_are_not_kept() -> None:
    uow = with_owner()
    with uow() as tx:
        tx.jobs.add(a_job())
        tx.commit()
    with uow() as tx:
        job = tx.jobs.get("j1")
        assert job is not None
        job.start(NOW)
        tx.commit()  # never saved
    assert uow.db.jobs["j1"].status is JobStatus.PENDING


def test_stored_jobs_do_not_carry_their_announcements() -> None:
    uow = with_owner()
    job = a_job()
    job.start(NOW)
    job.complete(NOW, results_key="r", log_key="l", summary_key=None)
    with uow() as tx:
        tx.jobs.add(job)
        tx.commit()
    with uow() as tx:
        stored = tx.jobs.get("j1")
    assert stored is not None and stored.events == []


def test_publishing_an_unknown_topic_is_refused() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as tx, pytest.raises(ValueError):
        tx.publish("no.such.topic", {})


def test_the_queue_fans_out_to_subscribers_and_leases_messages() -> None:
    clock = FakeClock(NOW)
    queue = FakeQueue(clock, max_attempts=2)
    queue.publish(events.JOB_COMPLETED, {"job_id": "j1"})
    queue.publish(events.USER_UPGRADED, {"user_id": "u"})  # nobody subscribes
    assert queue.claim("annotator") is None
    first = queue.claim("notifier")
    assert first is not None and first.attempt == 1 and not first.is_last_attempt
    assert queue.claim("notifier") is None  # leased
    queue.fail(first, "boom")
    clock.advance(1)
    second = queue.claim("notifier")
    assert second is not None and second.attempt == 2 and second.is_last_attempt
    assert queue.ack(first) is False  # a stale lease
    queue.fail(second, "boom again")
    assert queue.stats()["notifier"]["dead"] == 1


def test_a_released_message_comes_back_without_counting_an_attempt() -> None:
    queue = FakeQueue()
    queue.publish(events.JOB_REQUESTED, {"job_id": "j1"})
    delivery = queue.claim("annotator")
    assert delivery is not None
    queue.release(delivery)
    again = queue.claim("annotator")
    assert again is not None and again.attempt == 1
    assert queue.ack(again) is True


def test_the_object_store_refuses_an_object_over_max_bytes_and_keeps_nothing() -> None:
    store = FakeObjectStore()
    with pytest.raises(ObjectTooLarge) as refused:
        store.put("k", io.BytesIO(b"x" * 11), max_bytes=10)
    assert refused.value.limit == 10
    assert not store.exists("k")
    assert store.put("k", io.BytesIO(b"x" * 10), max_bytes=10) == 10
    with store.open("k") as fh:
        assert fh.read() == b"x" * 10


def test_the_object_store_lists_deletes_and_links() -> None:
    store = FakeObjectStore()
    store.put("u/a", io.BytesIO(b"1"))
    store.put("v/b", io.BytesIO(b"22"))
    assert list(store.keys("u/")) == ["u/a"]
    assert store.size("v/b") == 2
    assert store.download_url("v/b", file_name="b c.vcf", expires_in=60) == (
        "fake://v/b?name=b+c.vcf&ttl=60"
    )
    store.delete("v/b")
    store.delete("v/b")  # already gone: no error
    with pytest.raises(KeyError):
        store.open("v/b")


def test_the_mailer_fails_as_often_as_told_then_sends() -> None:
    from email.message import EmailMessage

    mailer = FakeMailer(fail_times=1)
    with pytest.raises(ConnectionRefusedError):
        mailer.send(EmailMessage())
    mailer.send(EmailMessage())
    assert len(mailer.sent) == 1


def test_the_hasher_never_returns_the_password_and_verifies_it() -> None:
    hasher = FakeHasher()
    for password in ["", "abc", "racecar"]:
        hashed = hasher.hash(password)
        assert hashed != password
        assert hasher.verify(hashed, password)
        assert not hasher.verify(hashed, password + "x")


def test_the_clock_moves_only_when_told() -> None:
    clock = FakeClock(NOW)
    assert clock.now() == NOW
    assert clock.advance(90) == NOW + timedelta(seconds=90)
    clock.set(NOW)
    assert clock.now() == NOW
