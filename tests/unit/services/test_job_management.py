"""Managing jobs: delete (everything of the job, nothing of anyone else's, harmless messages
afterwards), re-run on the stored input, My Annotations' listing and queue positions.

Deletion runs in the ``World`` of test_cold_storage.py: every worker wired as in production
over in-memory fakes, so that the archive timers, restores and annotation requests of a
deleted job really come due.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from gas.domain import events
from gas.domain.assembly import AUTO
from gas.domain.errors import Conflict, Forbidden, NotFound, UploadTooLarge
from gas.domain.jobs import JobStatus, ResultsState, job_prefix
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import JobQuery
from gas.services import deletion
from gas.services.deletion import delete_job, files_of, purge_job_files
from gas.services.jobs import queue_positions, rerun_job, search_jobs, submit_job
from tests.fakes import FakeBadInput
from tests.unit.services.test_cold_storage import VCF, WINDOW, World

BIG = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + (
    b"1\t1000\t.\tG\tA\t50\tPASS\t.\n" * 8000
)  # over the Free plan's 150 KB


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def delete(world: World, user: User, job_id: str) -> None:
    delete_job(world.uow(), world.store, world.cold, job_id=job_id, user_id=user.id)


def rerun(world: World, user: User, job_id: str, assembly: str | None = None) -> str:
    job = rerun_job(
        world.uow(),
        world.store,
        world.policy,
        world.clock,
        job_id=job_id,
        user_id=user.id,
        assembly=assembly,
    )
    return job.id


def objects_of(world: World, user: User, job_id: str) -> list[str]:
    return sorted(k for k in world.store.objects if k.startswith(job_prefix(user.id, job_id)))


def set_running(world: World, job_id: str) -> None:
    with world.uow() as uow:
        job = uow.jobs.get(job_id)
        assert job is not None and job.start(world.clock.now())
        uow.jobs.save(job)
        uow.commit()


# --- delete ----------------------------------------------------------------------------------


def test_deleting_a_completed_job_removes_its_row_and_every_file_and_nothing_else(
    world: World,
) -> None:
    # Premium: nothing of the other jobs moves to the cold store while the sweep is awaited
    ada = world.user(plan=Plan.PREMIUM)
    bob = world.user("bob@example.org", plan=Plan.PREMIUM)
    world.engine.store = True
    doomed, kept = world.complete(ada), world.complete(ada)
    bobs = world.complete(bob)
    assert len(objects_of(world, ada, doomed)) == 5  # input, VCF, log, summary, results store
    # something a later version wrote under the job's prefix goes too
    world.store.objects[job_prefix(ada.id, doomed) + "~sample.annot.vcf.gz"] = b"bgzf"
    before = {
        k: v for k, v in world.store.objects.items() if not k.startswith(ada.id + "/" + doomed)
    }

    delete(world, ada, doomed)

    assert doomed not in world.db.jobs
    assert objects_of(world, ada, doomed) == []
    assert {k: v for k, v in world.store.objects.items()} == before  # the others' untouched
    assert world.job(kept).status is JobStatus.COMPLETED and world.job(bobs) is not None
    (sweep,) = [m for m in world.queue.messages if m.topic == events.JOB_DELETED]
    assert sweep.queue == "archiver"
    assert sweep.available_at == world.clock.now() + timedelta(seconds=deletion.SWEEP_DELAY_SECONDS)
    # the sweep comes due, finds nothing left, and changes nothing
    world.advance(deletion.SWEEP_DELAY_SECONDS)
    assert world.delivered(events.JOB_DELETED) == ["done"]
    assert {k: v for k, v in world.store.objects.items()} == before


def test_deleting_archived_results_deletes_the_cold_copy(world: World) -> None:
    world.engine.store = True  # a results store, archived in one bundle with the VCF
    ada = world.user()
    job_id = world.complete(ada)
    assert world.job(job_id).store_key in world.store.objects
    world.advance(WINDOW)
    job = world.job(job_id)
    assert job.results_state is ResultsState.ARCHIVED and job.archive_id in world.cold.archives
    delete(world, ada, job_id)
    assert job.archive_id not in world.cold.archives
    assert objects_of(world, ada, job_id) == []


def test_a_pending_archive_timer_of_a_deleted_job_does_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    assert world.job(job_id).archive_after is not None  # the Free window's timer is pending
    delete(world, ada, job_id)
    with caplog.at_level(logging.INFO):
        world.advance(WINDOW + deletion.SWEEP_DELAY_SECONDS)
    assert f"job {job_id}: no such job (deleted); nothing to archive" in caplog.text
    assert world.delivered(events.RESULTS_ARCHIVE_DUE) == ["done"]
    assert world.cold.archives == {}
    assert world.failures() == []


def test_a_restore_completing_after_the_delete_is_ignored_and_leaves_nothing(
    world: World,
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)  # archived
    world.set_plan(ada, Plan.PREMIUM)
    world.run()  # retrieval requested: restoring
    assert world.job(job_id).results_state is ResultsState.RESTORING
    delete(world, ada, job_id)
    world.advance(10 + deletion.SWEEP_DELAY_SECONDS)  # the retrieval's restore_ready comes due
    assert world.failures() == []
    assert objects_of(world, ada, job_id) == []
    assert world.cold.archives == {}
    assert world.restored_emails(job_id) == []


def test_a_pending_job_is_deleted_and_its_annotation_request_finds_no_job(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ada = world.user()
    job_id = world.submit(ada)
    delete(world, ada, job_id)
    with caplog.at_level(logging.WARNING):
        world.run()
    assert world.engine.calls == []
    assert world.delivered(events.JOB_REQUESTED) == ["done"]
    assert f"job {job_id}: not found; nothing to annotate" in caplog.text
    assert objects_of(world, ada, job_id) == [] and world.mailer.sent == []


def test_a_running_job_cannot_be_deleted(world: World) -> None:
    ada = world.user()
    job_id = world.submit(ada)
    set_running(world, job_id)
    with pytest.raises(Conflict, match="RUNNING: it can be deleted once it has ended"):
        delete(world, ada, job_id)
    assert world.job(job_id).status is JobStatus.RUNNING
    assert objects_of(world, ada, job_id)  # the input is still there


def test_someone_elses_job_is_forbidden_and_kept(world: World) -> None:
    ada, bob = world.user(), world.user("bob@example.org")
    job_id = world.complete(ada)
    keys = objects_of(world, ada, job_id)
    with pytest.raises(Forbidden):
        delete(world, bob, job_id)
    assert world.job(job_id) is not None and objects_of(world, ada, job_id) == keys
    assert events.JOB_DELETED not in world.queue.topics()


@pytest.mark.parametrize("job_id", ["6f1c1e2a-0000-4000-8000-000000000000", "nope", "../x"])
def test_an_unknown_job_is_not_found(world: World, job_id: str) -> None:
    with pytest.raises(NotFound):
        delete(world, world.user(), job_id)


def test_a_second_delete_is_not_found(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    delete(world, ada, job_id)
    with pytest.raises(NotFound):
        delete(world, ada, job_id)


def test_the_sweep_finishes_the_job_when_the_first_purge_failed(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.store.delete = _failing(world.store.delete, times=1)  # type: ignore[method-assign]
    delete(world, ada, job_id)  # deleted for the user; its files not yet
    assert job_id not in world.db.jobs
    assert objects_of(world, ada, job_id)
    world.advance(deletion.SWEEP_DELAY_SECONDS)
    assert objects_of(world, ada, job_id) == []


def test_the_sweep_removes_what_a_busy_worker_wrote_after_the_delete(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results_key = world.job(job_id).results_key
    delete(world, ada, job_id)
    assert results_key is not None
    world.store.objects[results_key] = b"a thaw copying the results back, late"
    world.advance(deletion.SWEEP_DELAY_SECONDS)
    assert objects_of(world, ada, job_id) == []


def test_purging_never_deletes_a_key_outside_the_jobs_prefix(world: World) -> None:
    ada, bob = world.user(), world.user("bob@example.org")
    job_id, bobs = world.complete(ada), world.complete(bob)
    files = files_of(world.job(job_id))
    files["keys"].append(world.job(bobs).input_key)  # a payload that names another's file
    purge_job_files(world.store, world.cold, files)
    assert world.job(bobs).input_key in world.store.objects
    assert objects_of(world, ada, job_id) == []
    assert purge_job_files(world.store, world.cold, files) == 0  # idempotent


def _failing(original, *, times: int):  # type: ignore[no-untyped-def]
    left = [times]

    def call(key: str) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise OSError("storage unavailable")
        original(key)

    return call


# --- re-run ----------------------------------------------------------------------------------


def test_a_rerun_copies_the_input_to_a_new_pending_job(world: World) -> None:
    ada = world.user()
    first = world.complete(ada)
    second = rerun(world, ada, first)
    new, old = world.job(second), world.job(first)
    assert new.status is JobStatus.PENDING and new.id != old.id
    assert new.input_key == f"{ada.id}/{second}~sample.vcf" != old.input_key
    assert world.store.objects[new.input_key] == world.store.objects[old.input_key] == VCF
    assert new.input_file_name == old.input_file_name and new.input_size == len(VCF)
    assert world.queue.published[events.JOB_REQUESTED][-1] == {"job_id": second}
    world.run()
    assert world.job(second).status is JobStatus.COMPLETED
    assert old.status is JobStatus.COMPLETED  # the original is unchanged


def test_deleting_either_job_never_deletes_the_others_input(world: World) -> None:
    ada = world.user()
    first = world.complete(ada)
    second = rerun(world, ada, first)
    delete(world, ada, first)
    world.advance(deletion.SWEEP_DELAY_SECONDS)
    assert world.store.objects[world.job(second).input_key] == VCF
    world.run()
    assert world.job(second).status is JobStatus.COMPLETED


def test_a_rerun_keeps_the_chosen_assembly_unless_told_otherwise(world: World) -> None:
    ada = world.user()
    original = submit_job(
        world.uow(),
        world.store,
        world.policy,
        world.clock,
        user_id=ada.id,
        file_name="old.vcf",
        stream=io.BytesIO(VCF),
        assembly="GRCh37",
    )
    world.run()
    assert world.job(rerun(world, ada, original.id)).assembly == "GRCh37"
    assert world.job(rerun(world, ada, original.id, AUTO)).assembly is None  # auto: detect
    assert world.job(rerun(world, ada, original.id, "NCBI36")).assembly == "NCBI36"


def test_a_free_user_cannot_rerun_an_input_over_the_free_limit(world: World) -> None:
    ada = world.user(plan=Plan.PREMIUM)
    big = world.submit(ada, BIG, "big.vcf")
    world.run()
    world.set_plan(ada, Plan.FREE)
    keys_before = set(world.store.objects)
    with pytest.raises(UploadTooLarge, match="Upgrade to Premium"):
        rerun(world, ada, big)
    assert set(world.store.objects) == keys_before  # nothing kept
    assert len(world.db.jobs) == 1


def test_only_an_ended_job_with_its_input_can_be_rerun(world: World) -> None:
    ada, bob = world.user(), world.user("bob@example.org")
    pending = world.submit(ada)
    with pytest.raises(Conflict, match="PENDING: it can be re-run once it has ended"):
        rerun(world, ada, pending)
    world.run()
    with pytest.raises(Forbidden):
        rerun(world, bob, pending)
    with pytest.raises(NotFound):
        rerun(world, ada, "b0b0b0b0-0000-4000-8000-000000000000")
    del world.store.objects[world.job(pending).input_key]
    with pytest.raises(Conflict, match="no longer stored"):
        rerun(world, ada, pending)


def test_a_failed_job_can_be_rerun(world: World) -> None:
    ada = world.user()
    broken = world.submit(ada, VCF.replace(b"\t50\tPASS\t.\n", b"\n"), "broken.vcf")
    world.engine.raises = FakeBadInput("line 3 has 5 columns")
    world.engine.fail_times = 1
    world.run()
    assert world.job(broken).status is JobStatus.FAILED
    again = rerun(world, ada, broken)
    world.run()
    assert world.job(again).status is JobStatus.COMPLETED


# --- listing and queue positions -------------------------------------------------------------


def test_queue_positions_count_every_users_pending_jobs_submitted_before(world: World) -> None:
    ada, bob = world.user(), world.user("bob@example.org")
    a1 = world.submit(ada)
    world.clock.advance(1)
    b1 = world.submit(bob)
    world.clock.advance(1)
    a2 = world.submit(ada)
    with world.uow() as uow:
        jobs_of_ada = [uow.jobs.get(a1), uow.jobs.get(a2)]
    assert queue_positions(world.uow(), jobs_of_ada) == {a1: 1, a2: 3}  # type: ignore[arg-type]
    set_running(world, a1)  # a running job is no longer waiting
    listing = search_jobs(world.uow(), ada.id, JobQuery())
    assert listing.queue_positions == {a2: 2}
    assert [j.id for j in listing.jobs] == [a2, a1] and listing.total == 2
    assert b1 not in listing.queue_positions


def test_search_filters_sorts_and_pages(world: World) -> None:
    ada = world.user()
    names = ["Alpha.vcf", "beta.vcf", "alphabet.vcf", "gamma.vcf.gz"]
    ids = []
    for name in names:
        ids.append(world.submit(ada, VCF, name))
        world.clock.advance(1)
    world.run()  # all COMPLETED
    set_running(world, world.submit(ada, VCF, "delta.vcf"))

    def names(**query: object) -> list[str]:
        listing = search_jobs(world.uow(), ada.id, JobQuery(**query))  # type: ignore[arg-type]
        return [world.job(j.id).input_file_name for j in listing.jobs]

    assert names(name="ALPHA") == ["alphabet.vcf", "Alpha.vcf"]  # any case, newest first
    assert names(sort="name") == [
        "Alpha.vcf",
        "alphabet.vcf",
        "beta.vcf",
        "delta.vcf",
        "gamma.vcf.gz",
    ]
    assert names(sort="oldest")[0] == "Alpha.vcf"
    assert names(sort="status")[0] == "delta.vcf"  # RUNNING first
    assert names(statuses=(JobStatus.RUNNING,)) == ["delta.vcf"]
    page = search_jobs(world.uow(), ada.id, JobQuery(sort="name", limit=2, offset=2))
    assert [j.input_file_name for j in page.jobs] == ["beta.vcf", "delta.vcf"]
    assert page.total == 5


def test_the_variant_count_is_recorded_at_completion(world: World) -> None:
    world.engine.summary = {"input": {"name": "sample.vcf", "records": 3, "alleles": 4}}
    job_id = world.complete(world.user())
    assert world.job(job_id).variant_count == 3


class RecordingCache:
    def __init__(self) -> None:
        self.discarded: list[tuple[str, tuple[str, ...]]] = []

    def discard(self, key: str, suffixes: tuple[str, ...] = (".parquet",)) -> None:
        self.discarded.append((key, suffixes))


def test_the_webs_cached_copies_of_the_results_are_dropped(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    job = world.job(job_id)
    cache = RecordingCache()
    delete_job(world.uow(), world.store, world.cold, job_id=job_id, user_id=ada.id, local=cache)
    assert job.results_key is not None
    expected = [(job.results_key, (".vcf.gz", ".vcf.gz.tbi"))]
    if job.store_key:
        expected.insert(0, (job.store_key, (".parquet",)))
    assert cache.discarded == expected
