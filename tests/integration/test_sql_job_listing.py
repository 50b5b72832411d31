"""My Annotations' queries on SQLite and PostgreSQL: search by file name, filter by status,
sort, page and count; queue positions; the variant count; deleting a job's row."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.domain.jobs import JobStatus
from gas.ports import JobQuery
from tests.integration.test_sql_repositories import T, add_job, add_user


@pytest.fixture
def uows(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine, SqlQueue(engine))


def names(uows, user_id: str, **query) -> list[str]:  # type: ignore[no-untyped-def]
    with uows(readonly=True) as uow:
        page = uow.jobs.search_for_user(user_id, JobQuery(**query))
    return [job.input_file_name for job in page.jobs]


@pytest.fixture
def ada_jobs(uows):  # type: ignore[no-untyped-def]
    """Ada's five jobs, a minute apart (oldest first), and one of Bob's."""
    ada, bob = add_user(uows), add_user(uows)
    spec = [
        ("alpha.vcf", JobStatus.COMPLETED),
        ("Beta.vcf", JobStatus.FAILED),
        ("alphabet.vcf.gz", JobStatus.PENDING),
        ("100%_done.vcf", JobStatus.RUNNING),
        ("gamma.vcf", JobStatus.PENDING),
    ]
    for minute, (name, status) in enumerate(spec):
        add_job(
            uows,
            ada,
            submitted_at=T + timedelta(minutes=minute),
            input_file_name=name,
            status=status,
        )
    add_job(uows, bob, input_file_name="alpha.vcf")
    return ada


def test_search_is_a_case_insensitive_part_of_the_name(uows, ada_jobs) -> None:
    assert names(uows, ada_jobs.id, name="ALPHA") == ["alphabet.vcf.gz", "alpha.vcf"]
    assert names(uows, ada_jobs.id, name="bet") == ["alphabet.vcf.gz", "Beta.vcf"]
    assert names(uows, ada_jobs.id, name="nothing") == []


def test_search_takes_like_wildcards_literally(uows, ada_jobs) -> None:
    assert names(uows, ada_jobs.id, name="100%") == ["100%_done.vcf"]
    assert names(uows, ada_jobs.id, name="%") == ["100%_done.vcf"]
    assert names(uows, ada_jobs.id, name="_") == ["100%_done.vcf"]


def test_filter_by_status(uows, ada_jobs) -> None:
    assert names(uows, ada_jobs.id, statuses=(JobStatus.PENDING,)) == [
        "gamma.vcf",
        "alphabet.vcf.gz",
    ]
    both = names(uows, ada_jobs.id, statuses=(JobStatus.FAILED, JobStatus.RUNNING))
    assert both == ["100%_done.vcf", "Beta.vcf"]


def test_sorts(uows, ada_jobs) -> None:
    newest = ["gamma.vcf", "100%_done.vcf", "alphabet.vcf.gz", "Beta.vcf", "alpha.vcf"]
    assert names(uows, ada_jobs.id) == newest
    assert names(uows, ada_jobs.id, sort="oldest") == newest[::-1]
    by_name = names(uows, ada_jobs.id, sort="name")
    assert by_name[0] == "100%_done.vcf" and by_name[-1] == "gamma.vcf"
    assert by_name.index("alpha.vcf") < by_name.index("alphabet.vcf.gz") < by_name.index("Beta.vcf")
    # what needs attention first: running, pending (newest first), failed, completed
    assert names(uows, ada_jobs.id, sort="status") == [
        "100%_done.vcf",
        "gamma.vcf",
        "alphabet.vcf.gz",
        "Beta.vcf",
        "alpha.vcf",
    ]


def test_pages_cover_every_job_once_with_the_total(uows, ada_jobs) -> None:
    seen = []
    for offset in (0, 2, 4):
        with uows(readonly=True) as uow:
            page = uow.jobs.search_for_user(ada_jobs.id, JobQuery(limit=2, offset=offset))
        assert page.total == 5
        seen += [j.id for j in page.jobs]
    assert len(seen) == len(set(seen)) == 5
    with uows(readonly=True) as uow:
        filtered = uow.jobs.search_for_user(ada_jobs.id, JobQuery(name="alpha", limit=1))
    assert filtered.total == 2 and len(filtered.jobs) == 1


def test_jobs_with_the_same_time_keep_one_order_across_pages(uows) -> None:
    ada = add_user(uows)
    ids = sorted(add_job(uows, ada, submitted_at=T).id for _ in range(5))
    for sort, expected in (("newest", ids[::-1]), ("oldest", ids), ("name", ids[::-1])):
        pages = []
        for offset in range(0, 5, 2):
            with uows(readonly=True) as uow:
                query = JobQuery(sort=sort, limit=2, offset=offset)
                pages += [j.id for j in uow.jobs.search_for_user(ada.id, query).jobs]
        assert pages == expected, sort


def test_queue_positions_count_pending_jobs_of_every_user_submitted_before(uows) -> None:
    ada, bob = add_user(uows), add_user(uows)
    a1 = add_job(uows, ada, submitted_at=T, status=JobStatus.PENDING)
    b1 = add_job(uows, bob, submitted_at=T + timedelta(seconds=1), status=JobStatus.PENDING)
    running = add_job(uows, bob, submitted_at=T, status=JobStatus.RUNNING)
    # two jobs of the same instant: the id decides, so each has its own place
    same = sorted(
        (
            add_job(uows, ada, submitted_at=T + timedelta(seconds=2), status=JobStatus.PENDING)
            for _ in range(2)
        ),
        key=lambda j: j.id,
    )
    done = add_job(uows, ada, submitted_at=T, status=JobStatus.COMPLETED)
    with uows(readonly=True) as uow:
        positions = uow.jobs.queue_positions(
            [a1.id, b1.id, running.id, same[0].id, same[1].id, done.id, str(uuid.uuid4())]
        )
        assert uow.jobs.queue_positions([]) == {}
    assert positions == {a1.id: 1, b1.id: 2, same[0].id: 3, same[1].id: 4}


def test_the_variant_count_round_trips(uows) -> None:
    job = add_job(uows, add_user(uows), variant_count=1_234_567_890_123)
    with uows(readonly=True) as uow:
        assert uow.jobs.get(job.id).variant_count == 1_234_567_890_123


def test_deleting_a_row_leaves_the_others(uows) -> None:
    ada = add_user(uows)
    gone, kept = add_job(uows, ada), add_job(uows, ada)
    with uows() as uow:
        uow.jobs.delete(gone.id)
        uow.jobs.delete(str(uuid.uuid4()))  # no error for a row that is not there
        uow.commit()
    with uows(readonly=True) as uow:
        assert uow.jobs.get(gone.id) is None
        assert uow.jobs.get(kept.id) is not None


def test_a_delete_not_committed_is_not_kept(uows) -> None:
    job = add_job(uows, add_user(uows))
    with uows() as uow:
        uow.jobs.delete(job.id)
    with uows(readonly=True) as uow:
        assert uow.jobs.get(job.id) is not None
