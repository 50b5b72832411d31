"""Crash injection: the archive and the thaw die between each of their steps, the message is
redelivered, and the re-run finishes the work — one copy at the end, nothing lost.

A crash is an exception raised right before or after one side effect (an object store write or
delete, a cold store write, delete or retrieval request, a commit) while the handler of one
topic runs; the real ``Worker`` loop fails the message and the queue redelivers it after its
backoff. The named cases follow the order of the steps; the exhaustive cases crash around
*every* side effect the handler makes, before and after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gas.domain import events
from gas.domain.jobs import JobStatus, ResultsState
from gas.domain.plans import Plan
from tests.unit.services.test_cold_storage import (
    DELAYS,
    WINDOW,
    Crash,
    assert_in_exactly_one_place,
)
from tests.unit.services.test_cold_storage import World as AnyWorld


class World(AnyWorld):
    """Only the injected crashes may fail a handler here: anything else fails the test."""

    strict = True


BACKOFF = 1.0  # the fake queue's first retry delay


def assert_never_zero_places(world: World, job_id: str, expected: bytes) -> None:
    """Mid-crash: the place the job's state points to holds the results (another copy may
    linger until the re-run), and an archive in flight is restorable."""
    job = world.job(job_id)
    assert job.status is JobStatus.COMPLETED
    if job.results_state is ResultsState.AVAILABLE:
        assert job.results_key is not None
        assert world.store.objects.get(job.results_key) == expected
    else:
        assert job.archive_id is not None
        assert world.cold.archives.get(job.archive_id) == expected
    if job.results_state is ResultsState.RESTORING:
        assert job.archive_id in world.cold.retrievals


def crashed(world: World, topic: str) -> list[str]:
    return [err for t, err in world.failures() if t == topic]


# --- the archive ------------------------------------------------------------------------------

ARCHIVE_STEPS = {
    # name: (side effect, before/after) — in the order archive_results makes them
    "after-cold-write": ("cold.archive", "after"),
    "after-verify": ("commit", "before"),  # verified; the record's commit never happens
    "after-record-commit": ("commit", "after"),
    "after-hot-delete": ("store.delete", "after"),
}


def archive_with_crash(
    world: World, op: str | None, when: str, nth: int = 1
) -> tuple[str, bytes, bool]:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    assert results is not None
    plan = world.crash(events.RESULTS_ARCHIVE_DUE, op, nth=nth, when=when)
    world.advance(WINDOW)
    if plan.fired:
        crash = f"crash {when} {op or _nth_effect(world, nth)}"
        assert crashed(world, events.RESULTS_ARCHIVE_DUE) == [f"{Crash.__module__}.Crash: {crash}"]
        assert_never_zero_places(world, job_id, results)
        world.advance(BACKOFF)  # the redelivery
    return job_id, results, plan.fired


def _nth_effect(world: World, nth: int) -> str:
    ops = [op for topic, op in world.effects if topic == events.RESULTS_ARCHIVE_DUE]
    return ops[nth - 1]


def check_archived_then_restorable(world: World, job_id: str, results: bytes) -> None:
    job = world.job(job_id)
    assert job.results_state is ResultsState.ARCHIVED
    assert_in_exactly_one_place(world, job_id, results)
    assert len(world.cold.archives) == 1  # one copy, no orphan
    # and the recorded archive really restores
    owner = world.db.users[job.user_id]
    world.set_plan(owner, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert_in_exactly_one_place(world, job_id, results)
    assert world.cold.archives == {}
    assert len(world.restored_emails(job_id)) == 1


@pytest.mark.parametrize("step", ARCHIVE_STEPS)
def test_a_crash_during_the_archive_is_finished_by_the_redelivery(
    tmp_path: Path, step: str
) -> None:
    world = World(tmp_path)
    op, when = ARCHIVE_STEPS[step]
    job_id, results, fired = archive_with_crash(world, op, when)
    assert fired
    check_archived_then_restorable(world, job_id, results)


def test_a_crash_around_every_side_effect_of_the_archive(tmp_path: Path) -> None:
    clean = World(tmp_path / "clean")
    archive_with_crash(clean, None, "after", nth=10_000)  # never fires: just count
    effects = [op for topic, op in clean.effects if topic == events.RESULTS_ARCHIVE_DUE]
    assert effects == ["cold.archive", "commit", "store.delete"]
    for nth in range(1, len(effects) + 1):
        for when in ("before", "after"):
            world = World(tmp_path / f"{nth}-{when}")
            job_id, results, fired = archive_with_crash(world, None, when, nth=nth)
            assert fired, (nth, when)
            check_archived_then_restorable(world, job_id, results)


def test_crashes_on_every_attempt_but_the_last_still_archive_once(tmp_path: Path) -> None:
    world = World(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    assert results is not None
    world.advance(WINDOW - 0.01)
    for attempt, (op, when) in enumerate(ARCHIVE_STEPS.values()):
        world.crash(events.RESULTS_ARCHIVE_DUE, op, when=when)
        world.advance(0.01 if attempt == 0 else 2**attempt)
        assert world.crash_plan is not None and world.crash_plan.fired, (op, when)
        assert_never_zero_places(world, job_id, results)
    world.crash_plan = None
    world.advance(2**4)
    assert_in_exactly_one_place(world, job_id, results)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert len(world.cold.archives) == 1


# --- the thaw ---------------------------------------------------------------------------------

THAW_STEPS = {
    "after-hot-write": ("store.put", "after"),
    "after-verify": ("commit", "before"),  # verified; mark_restored's commit never happens
    "after-mark-restored-commit": ("commit", "after"),
    "after-cold-delete": ("cold.delete", "after"),
}


def thaw_with_crash(
    world: World, op: str | None, when: str, nth: int = 1
) -> tuple[str, bytes, bool]:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    assert results is not None
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert world.job(job_id).results_state is ResultsState.RESTORING
    plan = world.crash(events.RESULTS_RESTORE_READY, op, nth=nth, when=when)
    world.advance(DELAYS["Expedited"])
    if plan.fired:
        assert len(crashed(world, events.RESULTS_RESTORE_READY)) == 1
        assert_never_zero_places(world, job_id, results)
        world.advance(BACKOFF)
    return job_id, results, plan.fired


def check_restored_once(world: World, job_id: str, results: bytes) -> None:
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE
    assert_in_exactly_one_place(world, job_id, results)
    assert world.cold.archives == {}
    assert [p["job_id"] for p in world.queue.published[events.RESULTS_RESTORED]] == [job_id]
    assert len(world.restored_emails(job_id)) == 1


@pytest.mark.parametrize("step", THAW_STEPS)
def test_a_crash_during_the_thaw_is_finished_by_the_redelivery(tmp_path: Path, step: str) -> None:
    world = World(tmp_path)
    op, when = THAW_STEPS[step]
    job_id, results, fired = thaw_with_crash(world, op, when)
    assert fired
    check_restored_once(world, job_id, results)


def test_a_crash_around_every_side_effect_of_the_thaw(tmp_path: Path) -> None:
    clean = World(tmp_path / "clean")
    thaw_with_crash(clean, None, "after", nth=10_000)
    effects = [op for topic, op in clean.effects if topic == events.RESULTS_RESTORE_READY]
    assert effects == ["store.put", "commit", "cold.delete", "commit"]
    for nth in range(1, len(effects) + 1):
        for when in ("before", "after"):
            world = World(tmp_path / f"{nth}-{when}")
            job_id, results, fired = thaw_with_crash(world, None, when, nth=nth)
            assert fired, (nth, when)
            check_restored_once(world, job_id, results)


# --- the restore request ----------------------------------------------------------------------


def test_a_crash_around_every_side_effect_of_the_restore_request(tmp_path: Path) -> None:
    """user.upgraded: retrieval requested, then marked restoring. A crash in between leaves
    the retrieval running while the job still says "archived"; the thaw takes it from there
    (or the redelivered request, idempotent, marks it restoring first)."""

    def scenario(world: World, when: str, nth: int) -> tuple[str, bytes, bool]:
        ada = world.user()
        job_id = world.complete(ada)
        results = world.hot(job_id)
        assert results is not None
        world.advance(WINDOW)
        plan = world.crash(events.USER_UPGRADED, None, nth=nth, when=when)
        world.set_plan(ada, Plan.PREMIUM)
        world.run()
        if plan.fired:
            assert_never_zero_places(world, job_id, results)
        world.advance(BACKOFF)
        world.advance(DELAYS["Standard"])
        return job_id, results, plan.fired

    clean = World(tmp_path / "clean")
    scenario(clean, "after", 10_000)
    effects = [op for topic, op in clean.effects if topic == events.USER_UPGRADED]
    assert effects == ["commit", "cold.request_retrieval", "commit"]
    for nth in range(1, len(effects) + 1):
        for when in ("before", "after"):
            world = World(tmp_path / f"{nth}-{when}")
            job_id, results, fired = scenario(world, when, nth)
            assert fired, (nth, when)
            check_restored_once(world, job_id, results)
            assert len(world.cold.announced) == 1, (nth, when)  # one retrieval, not two
