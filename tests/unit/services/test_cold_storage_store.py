"""The results store follows the annotated VCF to the cold store and back: one archive (a
bundle of both), verified, recorded, then the hot copies deleted; restored together — and
crash-safe at every step, as the VCF alone is (test_cold_storage_crash.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gas.domain import events
from gas.domain.jobs import JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.services.archive_bundle import BundleReader, member_name, unpack
from tests.fakes import FakeObjectStore
from tests.unit.services.test_cold_storage import DELAYS, WINDOW, World

BACKOFF = 1.0


def store_world(path: Path) -> World:
    world = World(path)
    world.engine.store = True
    return world


def hot(world: World, job_id: str) -> tuple[bytes | None, bytes | None]:
    job = world.job(job_id)
    assert job.results_key and job.store_key
    return world.store.objects.get(job.results_key), world.store.objects.get(job.store_key)


def _members(bundle: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def assert_at_rest(world: World, job_id: str, vcf: bytes, store: bytes) -> None:
    """Available: both hot, nothing cold. Archived/restoring: neither hot, one bundle cold."""
    job = world.job(job_id)
    assert job.status is JobStatus.COMPLETED
    if job.results_state is ResultsState.AVAILABLE:
        assert hot(world, job_id) == (vcf, store)
        assert job.archive_id is None and world.cold.archives == {}
    else:
        assert hot(world, job_id) == (None, None)
        assert job.archive_id is not None
        assert _members(world.cold.archives[job.archive_id]) == {
            member_name(job.results_key or ""): vcf,
            member_name(job.store_key or ""): store,
        }
    assert job.log_key in world.store.objects and job.summary_key in world.store.objects


def test_the_store_is_stored_archived_and_restored_with_the_vcf(tmp_path: Path) -> None:
    world = store_world(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    job = world.job(job_id)
    assert job.store_key is not None and job.store_key.endswith("~sample.variants.parquet")
    vcf, store = hot(world, job_id)
    assert vcf and store and store.startswith(b"PAR1")
    assert_at_rest(world, job_id, vcf, store)

    world.advance(WINDOW)
    job = world.job(job_id)
    assert job.results_state is ResultsState.ARCHIVED
    assert_at_rest(world, job_id, vcf, store)
    assert len(world.cold.archives) == 1
    assert job.archive_size == len(world.cold.archives[job.archive_id or ""])

    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert world.job(job_id).results_state is ResultsState.RESTORING
    assert hot(world, job_id) == (None, None)
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert_at_rest(world, job_id, vcf, store)
    assert len(world.restored_emails(job_id)) == 1


def test_a_job_without_a_store_archives_the_vcf_itself(tmp_path: Path) -> None:
    world = World(tmp_path)  # an engine of before the results store
    ada = world.user()
    job_id = world.complete(ada)
    assert world.job(job_id).store_key is None
    vcf = world.hot(job_id)
    world.advance(WINDOW)
    job = world.job(job_id)
    assert world.cold.archives[job.archive_id or ""] == vcf  # not a bundle: as before


def test_a_store_gone_missing_does_not_hold_the_archive_back(tmp_path: Path) -> None:
    world = store_world(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    vcf, _ = hot(world, job_id)
    world.store.delete(world.job(job_id).store_key or "")
    world.advance(WINDOW)
    job = world.job(job_id)
    assert job.results_state is ResultsState.ARCHIVED
    assert _members(world.cold.archives[job.archive_id or ""]) == {
        member_name(job.results_key or ""): vcf
    }
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert hot(world, job_id) == (vcf, None)


def test_a_corrupted_bundle_is_not_restored(tmp_path: Path) -> None:
    world = store_world(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    archive_id = world.job(job_id).archive_id or ""
    bundle = world.cold.archives[archive_id]
    world.cold.archives[archive_id] = bundle[:600] + b"X" + bundle[601:]
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    job = world.job(job_id)
    assert job.results_state is ResultsState.RESTORING  # retried, never marked restored
    assert hot(world, job_id) == (None, None)
    assert any("VerificationFailed" in err for _, err in world.failures())


# --- crashes around every side effect ------------------------------------------------------------


def _crash_archive(tmp_path: Path, nth: int, when: str) -> tuple[World, str, bytes, bytes, bool]:
    world = store_world(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    vcf, store = hot(world, job_id)
    assert vcf and store
    plan = world.crash(events.RESULTS_ARCHIVE_DUE, None, nth=nth, when=when)
    world.advance(WINDOW)
    if plan.fired:
        job = world.job(job_id)
        if job.results_state is ResultsState.AVAILABLE:  # never zero places, mid-crash
            assert hot(world, job_id) == (vcf, store)
        else:
            assert _members(world.cold.archives[job.archive_id or ""])
        world.advance(BACKOFF)
    return world, job_id, vcf, store, plan.fired


def test_a_crash_around_every_side_effect_of_archiving_both(tmp_path: Path) -> None:
    clean, *_ = _crash_archive(tmp_path / "clean", 10_000, "after")
    effects = [op for topic, op in clean.effects if topic == events.RESULTS_ARCHIVE_DUE]
    assert effects == ["cold.archive", "commit", "store.delete", "store.delete"]
    for nth in range(1, len(effects) + 1):
        for when in ("before", "after"):
            world, job_id, vcf, store, fired = _crash_archive(tmp_path / f"{nth}{when}", nth, when)
            assert fired, (nth, when)
            assert world.job(job_id).results_state is ResultsState.ARCHIVED
            assert_at_rest(world, job_id, vcf, store)
            assert len(world.cold.archives) == 1


def _crash_thaw(tmp_path: Path, nth: int, when: str) -> tuple[World, str, bytes, bytes, bool]:
    world = store_world(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    vcf, store = hot(world, job_id)
    assert vcf and store
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    plan = world.crash(events.RESULTS_RESTORE_READY, None, nth=nth, when=when)
    world.advance(DELAYS["Expedited"])
    if plan.fired:
        job = world.job(job_id)
        if job.results_state is ResultsState.AVAILABLE:
            assert hot(world, job_id) == (vcf, store)
        else:
            assert job.archive_id in world.cold.archives
        world.advance(BACKOFF)
    return world, job_id, vcf, store, plan.fired


def test_a_crash_around_every_side_effect_of_restoring_both(tmp_path: Path) -> None:
    clean, *_ = _crash_thaw(tmp_path / "clean", 10_000, "after")
    effects = [op for topic, op in clean.effects if topic == events.RESULTS_RESTORE_READY]
    assert effects == ["store.put", "store.put", "commit", "cold.delete", "commit"]
    for nth in range(1, len(effects) + 1):
        for when in ("before", "after"):
            world, job_id, vcf, store, fired = _crash_thaw(tmp_path / f"{nth}{when}", nth, when)
            assert fired, (nth, when)
            assert world.job(job_id).results_state is ResultsState.AVAILABLE
            assert_at_rest(world, job_id, vcf, store)
            assert len(world.restored_emails(job_id)) == 1


# --- the bundle format ---------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(0, 0), (1, 511), (512, 513), (70_000, 3)])
def test_a_bundle_is_a_tar_that_unpacks_to_the_objects(sizes: tuple[int, int]) -> None:
    store = FakeObjectStore()
    long_name = "u/" + "j" * 36 + "~" + "n" * 180 + ".annot.vcf"  # longer than ustar allows
    keys = [long_name, "u/j~s.variants.parquet"]
    for key, size in zip(keys, sizes, strict=True):
        store.put(key, io.BytesIO(bytes(range(256)) * (size // 256) + b"z" * (size % 256)))
    reader = BundleReader(store, keys)
    pieces = []
    while chunk := reader.read(1000):
        pieces.append(chunk)
    bundle = b"".join(pieces)
    assert len(bundle) % 512 == 0
    assert _members(bundle) == {member_name(k): store.objects[k] for k in keys}
    got: dict[str, bytes] = {}
    stream = io.BytesIO(bundle)
    names = unpack(stream, lambda name, fh: got.__setitem__(name, fh.read()))
    assert names == [member_name(k) for k in keys]
    assert got == {member_name(k): store.objects[k] for k in keys}
    assert stream.read() == b""  # read to its end
    assert BundleReader(store, keys).read() == bundle  # read(-1) too, and deterministic
