"""Repositories and the unit of work on SQLite and on PostgreSQL — and, for every case marked
``@WITH_FAKE``, on the in-memory fakes the service tests use (tests/fakes.py), so that the fakes
keep the adapters' semantics. Cases only a real database can run: row locks, SQL NULLs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.tables import jobs
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.domain.errors import Conflict
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import ApiToken
from tests.conftest import FAKE_DATABASE, WITH_FAKE
from tests.fakes import FakeIntegrityError, FakeUnitOfWorkFactory

T = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
ASSEMBLY_REPORT = {
    "requested": "auto",
    "input": "GRCh37",
    "annotated_on": "GRCh38",
    "lifted": True,
    "evidence": "reference_sequence=/data/ref/human_g1k_v37.fasta — «b37» in the header",
    "warnings": ["1 record could not be lifted.", "Ünïcode & <markup> stay as they are."],
    "lifted_records": 10,
    "not_lifted": 1,
}
PARIS = timezone(timedelta(hours=2))


# what a constraint of the schema (unique index, foreign key) raises, in each kind
INTEGRITY_ERRORS = (sa.exc.IntegrityError, FakeIntegrityError)


@pytest.fixture
def uows(request: pytest.FixtureRequest, database_url: str) -> SqlUnitOfWorkFactory:
    if database_url == FAKE_DATABASE:
        return FakeUnitOfWorkFactory()  # type: ignore[return-value]
    engine: Engine = request.getfixturevalue("engine")
    return SqlUnitOfWorkFactory(engine, SqlQueue(engine))


def make_user(email: str | None = None, **changes) -> User:
    uid = str(uuid.uuid4())
    values = {
        "id": uid,
        "email": email or f"{uid}@example.org",
        "name": "Ada Lovelace",
        "institution": "Analytical Engines",
        "plan": Plan.FREE,
        "password_hash": "$scrypt$not-a-real-hash",
        "created_at": T,
        "updated_at": T,
    }
    values.update(changes)
    return User(**values)


def make_job(user: User, submitted_at: datetime = T, **changes) -> Job:
    jid = str(uuid.uuid4())
    values = {
        "id": jid,
        "user_id": user.id,
        "input_file_name": "sample.vcf",
        "input_key": f"{user.id}/{jid}~sample.vcf",
        "submitted_at": submitted_at,
        "input_size": 1234,
    }
    values.update(changes)
    return Job(**values)


def add_user(uows, **changes) -> User:
    user = make_user(**changes)
    with uows() as uow:
        uow.users.add(user)
        uow.commit()
    return user


def add_job(uows, user: User, **changes) -> Job:
    job = make_job(user, **changes)
    with uows() as uow:
        uow.jobs.add(job)
        uow.commit()
    return job


# --- users --------------------------------------------------------------------------------


@WITH_FAKE
def test_user_is_added_then_found_by_id_and_by_email(uows):
    user = make_user(email="ada@example.org", plan=Plan.PREMIUM)
    with uows() as uow:
        uow.users.add(user)
        uow.commit()

    with uows(readonly=True) as uow:
        assert uow.users.get(user.id) == user
        assert uow.users.get_by_email("ada@example.org") == user
        assert uow.users.get(str(uuid.uuid4())) is None
        assert uow.users.get_by_email("nobody@example.org") is None
        assert uow.users.get(user.id).plan is Plan.PREMIUM


@WITH_FAKE
def test_user_without_password_hash_round_trips(uows):
    user = add_user(uows, password_hash=None)
    with uows() as uow:
        assert uow.users.get(user.id).password_hash is None


@WITH_FAKE
def test_saving_a_user_updates_everything_but_id_and_creation_time(uows):
    user = add_user(uows)
    later = T + timedelta(days=3)
    changed = make_user(
        email="new@example.org",
        id=user.id,
        name="Ada King",
        institution="Royal Society",
        plan=Plan.PREMIUM,
        password_hash="$scrypt$other",
        created_at=later,  # ignored: the creation time never changes
        updated_at=later,
    )
    with uows() as uow:
        uow.users.save(changed)
        uow.commit()

    with uows() as uow:
        stored = uow.users.get(user.id)
    assert stored == User(
        id=user.id,
        email="new@example.org",
        name="Ada King",
        institution="Royal Society",
        plan=Plan.PREMIUM,
        password_hash="$scrypt$other",
        created_at=T,
        updated_at=later,
    )


@WITH_FAKE
def test_two_users_cannot_share_an_email(uows):
    add_user(uows, email="ada@example.org")
    # The unique index decides even when two sign-ups race past the service's own check.
    with pytest.raises(Conflict, match="already exists"), uows() as uow:
        uow.users.add(make_user(email="ada@example.org"))
        uow.commit()

    other = add_user(uows, email="other@example.org")
    with pytest.raises(INTEGRITY_ERRORS), uows() as uow:
        uow.users.save(make_user(id=other.id, email="ada@example.org"))
        uow.commit()
    with uows() as uow:
        assert uow.users.get(other.id).email == "other@example.org"


# --- jobs ---------------------------------------------------------------------------------


@WITH_FAKE
def test_job_round_trips_every_field(uows):
    user = add_user(uows)
    job = make_job(
        user,
        status=JobStatus.COMPLETED,
        assembly="GRCh38",
        started_at=T + timedelta(seconds=1),
        completed_at=T + timedelta(seconds=2),
        error=None,
        results_key=f"{user.id}/x~sample.annot.vcf",
        log_key=f"{user.id}/x~sample.vcf.count.log",
        summary_key=f"{user.id}/x~sample.summary.json",
        assembly_report=ASSEMBLY_REPORT,
        results_state=ResultsState.ARCHIVED,
        progress=1.0,
        archive_id="archive-1",
        archived_at=T + timedelta(minutes=5),
        restore_requested_at=T + timedelta(hours=1),
        restore_tier="Standard",
        restored_at=T + timedelta(hours=5),
    )
    with uows() as uow:
        uow.jobs.add(job)
        uow.commit()

    with uows(readonly=True) as uow:
        stored = uow.jobs.get(job.id)
    assert stored == job
    assert stored.status is JobStatus.COMPLETED
    assert stored.results_state is ResultsState.ARCHIVED


@WITH_FAKE
def test_the_assembly_report_is_saved_on_completion(uows):
    user = add_user(uows)
    job = add_job(uows, user)
    with uows() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        assert current.assembly_report is None
        assert current.start(T + timedelta(seconds=1))
        assert current.complete(
            T + timedelta(seconds=2),
            results_key="r",
            log_key="l",
            summary_key="s",
            assembly_report=ASSEMBLY_REPORT,
        )
        uow.jobs.save(current)
        uow.commit()
    with uows(readonly=True) as uow:
        assert uow.jobs.get(job.id).assembly_report == ASSEMBLY_REPORT
        assert uow.jobs.list_for_user(user.id)[0].assembly_report == ASSEMBLY_REPORT


def test_no_assembly_report_is_sql_null(uows, engine):
    user = add_user(uows)
    other = add_job(uows, user)  # no report: NULL, not the JSON text 'null'
    with engine.connect() as connection:
        query = sa.select(jobs.c.assembly_report.is_(None)).where(jobs.c.id == other.id)
        assert connection.execute(query).scalar_one() in (True, 1)


@WITH_FAKE
def test_unknown_job_is_none(uows):
    with uows() as uow:
        assert uow.jobs.get(str(uuid.uuid4())) is None
        assert uow.jobs.get(str(uuid.uuid4()), for_update=True) is None


@WITH_FAKE
def test_timestamps_round_trip_as_timezone_aware_utc(uows):
    submitted = datetime(2026, 7, 14, 9, 0, 0, 654321, tzinfo=PARIS)  # 07:00 UTC
    user = add_user(uows)
    job = add_job(uows, user, submitted_at=submitted)

    with uows() as uow:
        stored = uow.jobs.get(job.id)
        stored_user = uow.users.get(user.id)
    assert stored.submitted_at == submitted
    assert stored.submitted_at.utcoffset() == timedelta(0)
    assert stored.submitted_at.replace(tzinfo=None) == datetime(2026, 7, 14, 7, 0, 0, 654321)
    assert stored_user.created_at == T and stored_user.created_at.tzinfo is not None
    assert stored_user.created_at.utcoffset() == timedelta(0)


@WITH_FAKE
def test_naive_timestamps_are_refused(uows):
    user = add_user(uows)
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"), uows() as uow:
        uow.jobs.add(make_job(user, submitted_at=datetime(2026, 1, 1)))


@WITH_FAKE
def test_saving_a_job_records_its_transitions(uows):
    user = add_user(uows)
    job = add_job(uows, user)
    with uows() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        assert current.start(T + timedelta(seconds=5))
        uow.jobs.save(current)
        uow.commit()
    with uows() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        assert current.status is JobStatus.RUNNING
        assert current.started_at == T + timedelta(seconds=5)
        assert current.fail(T + timedelta(seconds=9), "not a VCF file\nline 2")
        uow.jobs.save(current)
        uow.commit()

    with uows() as uow:
        stored = uow.jobs.get(job.id)
    assert stored.status is JobStatus.FAILED
    assert stored.error == "not a VCF file line 2"
    assert stored.completed_at == T + timedelta(seconds=9)
    assert (stored.user_id, stored.input_key, stored.submitted_at) == (
        job.user_id,
        job.input_key,
        job.submitted_at,
    )


@WITH_FAKE
def test_jobs_of_a_user_are_listed_newest_first_and_paged(uows):
    ada = add_user(uows)
    bob = add_user(uows)
    # ids in the opposite order of submission: the order must come from the times
    ada_jobs = [
        add_job(uows, ada, id=f"{9 - m}-{uuid.uuid4()}"[:36], submitted_at=T + timedelta(minutes=m))
        for m in (5, 1, 9, 3)
    ]
    add_job(uows, bob, submitted_at=T + timedelta(minutes=7))

    newest_first = sorted(ada_jobs, key=lambda j: j.submitted_at, reverse=True)
    with uows(readonly=True) as uow:
        assert [j.id for j in uow.jobs.list_for_user(ada.id)] == [j.id for j in newest_first]
        page = uow.jobs.list_for_user(ada.id, limit=2, offset=1)
        assert [j.id for j in page] == [j.id for j in newest_first[1:3]]
        assert uow.jobs.list_for_user(str(uuid.uuid4())) == []
        assert len(uow.jobs.list_for_user(bob.id)) == 1


@WITH_FAKE
def test_jobs_are_listed_by_results_state(uows):
    user = add_user(uows)
    archived = add_job(uows, user, results_state=ResultsState.ARCHIVED)
    add_job(uows, user, results_state=ResultsState.AVAILABLE)
    add_job(uows, user)
    with uows() as uow:
        found = uow.jobs.list_by_results_state(user.id, ResultsState.ARCHIVED)
    assert [j.id for j in found] == [archived.id]


@WITH_FAKE
def test_set_progress_only_affects_running_jobs(uows):
    user = add_user(uows)
    job = add_job(uows, user)

    def progress_after_setting(value: float) -> float | None:
        with uows() as uow:
            uow.jobs.set_progress(job.id, value)
            uow.commit()
        with uows() as uow:
            return uow.jobs.get(job.id).progress

    assert progress_after_setting(0.5) is None  # still PENDING
    with uows() as uow:
        running = uow.jobs.get(job.id)
        running.start(T)
        uow.jobs.save(running)
        uow.commit()
    assert progress_after_setting(0.25) == 0.25
    assert progress_after_setting(0.75) == 0.75
    with uows() as uow:
        done = uow.jobs.get(job.id)
        done.complete(T, results_key="r", log_key="l", summary_key=None)
        uow.jobs.save(done)
        uow.commit()
    assert progress_after_setting(0.3) == 1.0  # ignored once it has ended


@WITH_FAKE
def test_job_row_needs_an_existing_owner(uows):
    ghost = make_user()
    with pytest.raises(INTEGRITY_ERRORS), uows() as uow:
        uow.jobs.add(make_job(ghost))
        uow.commit()


def test_get_for_update_serialises_concurrent_read_modify_write(uows):
    """Two workers appending to the same job: with the row locked, neither update is lost."""
    user = add_user(uows)
    job = add_job(uows, user, error="")
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with uows() as uow:
                current = uow.jobs.get(job.id, for_update=True)  # waits for the first
                current.error += "B"
                uow.jobs.save(current)
                uow.commit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with uows() as uow:
        current = uow.jobs.get(job.id, for_update=True)
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the second writer did not wait for the lock"
        current.error += "A"
        uow.jobs.save(current)
        uow.commit()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []

    with uows() as uow:
        assert uow.jobs.get(job.id).error == "AB"


# --- API tokens ---------------------------------------------------------------------------


@WITH_FAKE
def test_tokens_are_added_found_by_hash_touched_listed_and_revoked(uows):
    ada = add_user(uows)
    bob = add_user(uows)
    first = ApiToken(str(uuid.uuid4()), ada.id, "a" * 64, "laptop", T)
    second = ApiToken(str(uuid.uuid4()), ada.id, "b" * 64, "", T + timedelta(days=1))
    with uows() as uow:
        uow.tokens.add(first)
        uow.tokens.add(second)
        uow.commit()

    with uows() as uow:
        assert uow.tokens.get_by_hash("a" * 64) == first
        assert uow.tokens.get_by_hash("c" * 64) is None
        assert [t.id for t in uow.tokens.list_for_user(ada.id)] == [second.id, first.id]
        assert uow.tokens.list_for_user(bob.id) == []

        used = T + timedelta(hours=3)
        uow.tokens.touch(first.id, used)
        assert uow.tokens.revoke(first.id, bob.id, used) is False  # not Bob's token
        assert uow.tokens.revoke(first.id, ada.id, used) is True
        assert uow.tokens.revoke(first.id, ada.id, used + timedelta(1)) is False  # already
        uow.commit()

    with uows() as uow:
        stored = uow.tokens.get_by_hash("a" * 64)
    assert stored.last_used_at == used
    assert stored.revoked_at == used
    assert stored.created_at == T


@WITH_FAKE
def test_token_hashes_are_unique(uows):
    user = add_user(uows)
    with pytest.raises(INTEGRITY_ERRORS), uows() as uow:
        uow.tokens.add(ApiToken(str(uuid.uuid4()), user.id, "d" * 64, "one", T))
        uow.tokens.add(ApiToken(str(uuid.uuid4()), user.id, "d" * 64, "two", T))


# --- notification log ---------------------------------------------------------------------


@WITH_FAKE
def test_notification_log_remembers_what_was_sent_once_committed(uows):
    with uows() as uow:
        assert uow.notifications.was_sent("job.completed:j1") is False
        uow.notifications.record("job.completed:j1", T)
        assert uow.notifications.was_sent("job.completed:j1") is True
        # not committed: forgotten

    with uows() as uow:
        assert uow.notifications.was_sent("job.completed:j1") is False
        uow.notifications.record("job.completed:j1", T)
        uow.commit()

    with uows() as uow:
        assert uow.notifications.was_sent("job.completed:j1") is True
        assert uow.notifications.was_sent("job.failed:j1") is False


# --- unit of work -------------------------------------------------------------------------


@WITH_FAKE
def test_nothing_is_kept_unless_committed(uows):
    user = make_user()
    with uows() as uow:
        uow.users.add(user)
    with pytest.raises(RuntimeError), uows() as uow:
        uow.users.add(user)
        raise RuntimeError("boom")
    with uows() as uow:
        assert uow.users.get(user.id) is None


@WITH_FAKE
def test_changes_after_a_commit_need_another_commit(uows):
    kept = make_user()
    dropped = make_user()
    with uows() as uow:
        uow.users.add(kept)
        uow.commit()
        uow.users.add(dropped)
    with uows() as uow:
        assert uow.users.get(kept.id) == kept
        assert uow.users.get(dropped.id) is None


@WITH_FAKE
def test_explicit_rollback_discards_changes(uows):
    discarded = make_user()
    kept = make_user()
    with uows() as uow:
        uow.users.add(discarded)
        uow.rollback()
        uow.users.add(kept)
        uow.commit()
    with uows() as uow:
        assert uow.users.get(discarded.id) is None
        assert uow.users.get(kept.id) == kept


@WITH_FAKE
def test_readonly_unit_of_work_reads_while_a_writer_holds_its_transaction(uows):
    user = add_user(uows)
    renamed = make_user(id=user.id, email=user.email, name="Renamed")
    result: list[str] = []

    with uows() as writer:
        writer.users.save(renamed)

        def read() -> None:
            with uows(readonly=True) as reader:
                result.append(reader.users.get(user.id).name)

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the reader waited for the writer"
        assert result == ["Ada Lovelace"]  # the committed state, not the writer's
        writer.commit()

    with uows(readonly=True) as reader:
        assert reader.users.get(user.id).name == "Renamed"
