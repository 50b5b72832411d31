"""The ColdStore contract: what every cold store adapter (and the fake) must do.

Written against ``gas.ports.ColdStore`` only, parametrized over store kinds: "local" (the
Glacier-like adapter of the one-machine installation) and "fake" (``tests.fakes.FakeColdStore``,
so that the service tests' fake is held to the same contract). A Glacier adapter joins by adding
a kind to ``KINDS`` and a branch to ``kit``.

Time is injected (``now=`` / a FakeClock): nothing here sleeps. Announcements are captured by
the ``publish`` callable the store is given.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gas.adapters.coldstore_local import LocalColdStore
from gas.domain import events
from gas.domain.jobs import object_key
from gas.ports import ColdStore, NotRetrieved, RetrievalRefused
from tests.fakes import FakeClock, FakeColdStore

KINDS = ["local", "fake", "glacier"]
# Contract cases the "glacier" kind (GlacierColdStore on moto, tests/aws) cannot run, and why.
# S3 itself announces a completed restore (s3:ObjectRestore:Completed, to SQS): the adapter
# publishes nothing, so the cases about the adapter's announcement do not apply; and S3 does
# not tell how long an in-progress restore still has to go. tests/aws/test_glacier.py covers
# the same ground the S3 way (idempotent requests, refusals, the completion event).
S3_ANNOUNCES = "completion is announced by S3 (s3:ObjectRestore:Completed), not the adapter"
GLACIER_EXCEPTIONS = {
    "test_a_retrieval_request_announces_restore_ready_once_with_the_tier_delay": S3_ANNOUNCES,
    "test_a_second_request_is_idempotent_and_announces_nothing_more": S3_ANNOUNCES
    + "; and S3 does not tell the time left of an in-progress restore",
    "test_a_refused_expedited_retrieval_raises_and_standard_then_works": S3_ANNOUNCES,
    "test_a_failed_announcement_is_made_by_the_next_request": S3_ANNOUNCES,
    "test_re_archiving_makes_the_archive_cold_again": S3_ANNOUNCES,
}
DELAYS = {"Expedited": 1.0, "Standard": 3.0, "Bulk": 6.0}

Published = tuple[str, dict[str, Any], float]


@dataclass
class Kit:
    """A store under test and the levers the contract needs."""

    store: ColdStore
    published: list[Published]
    advance: Callable[[float], None]
    refuse_expedited: Callable[[bool], None]
    fail_next_publish: Callable[[], None]
    root: Path | None = None  # where a filesystem store keeps its files
    extra: dict[str, Any] = field(default_factory=dict)

    def restore_ready(self) -> list[Published]:
        return [p for p in self.published if p[0] == events.RESULTS_RESTORE_READY]


class PublishDown(Exception):
    """The queue could not take the announcement."""


@pytest.fixture(params=KINDS)
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    published: list[Published] = []
    publish_failures: list[int] = [0]

    def publish(topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        if publish_failures[0]:
            publish_failures[0] -= 1
            raise PublishDown("the queue is unavailable")
        published.append((topic, dict(payload), delay))

    def fail_next_publish() -> None:
        publish_failures[0] += 1

    if request.param == "local":
        now = [1_700_000_000.0]
        refusing = [False]
        root = tmp_path / "cold"
        store = LocalColdStore(
            root,
            publish=publish,
            delays=DELAYS,
            refuse_expedited=lambda: refusing[0],
            now=lambda: now[0],
        )

        def advance(seconds: float) -> None:
            now[0] += seconds

        def refuse(flag: bool) -> None:
            refusing[0] = flag

        return Kit(store, published, advance, refuse, fail_next_publish, root=root)

    if request.param == "glacier":  # GlacierColdStore on moto's server (tests/aws/moto_server.py)
        reason = GLACIER_EXCEPTIONS.get(request.node.originalname)
        if reason:
            pytest.skip(reason)
        held = request.getfixturevalue("held_glacier")(expected_waits=DELAYS)
        return Kit(held, published, held.advance, held.refuse_expedited, fail_next_publish)

    if request.param == "fake":
        clock = FakeClock()
        fake = FakeColdStore(publish, clock=clock, delays=DELAYS)

        def refuse_fake(flag: bool) -> None:
            fake.refuse_expedited = flag

        def advance_fake(seconds: float) -> None:
            clock.advance(seconds)

        return Kit(fake, published, advance_fake, refuse_fake, fail_next_publish)
    raise AssertionError(request.param)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def an_id() -> str:
    """An archive id shaped like the service's: a results key."""
    return object_key(str(uuid.uuid4()), str(uuid.uuid4()), "sample.annot.vcf")


def read(store: ColdStore, archive_id: str) -> bytes:
    with store.open_retrieved(archive_id) as fh:
        return fh.read()


def cannot_read(store: ColdStore, archive_id: str) -> bool:
    try:
        read(store, archive_id)
    except NotRetrieved:
        return True
    return False


def retrieve(kit: Kit, archive_id: str, tier: str = "Standard") -> bytes:
    wait = kit.store.request_retrieval(archive_id, tier)
    kit.advance(wait)
    return read(kit.store, archive_id)


CONTENT = b"##fileformat=VCFv4.2\n#CHROM\tPOS\n" + bytes(range(256)) * 3


# --- archive and describe -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"x", CONTENT, os.urandom(3 * 1024 * 1024 + 17)], ids=["empty", "1", "vcf", "3MB"]
)
def test_archive_returns_the_size_and_sha256_of_the_input(kit: Kit, data: bytes) -> None:
    archive_id = an_id()
    info = kit.store.archive(archive_id, io.BytesIO(data))
    assert (info.archive_id, info.size, info.sha256) == (archive_id, len(data), sha(data))


def test_describe_tells_what_is_stored_and_none_for_unknown(kit: Kit) -> None:
    archive_id = an_id()
    assert kit.store.describe(archive_id) is None
    info = kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert kit.store.describe(archive_id) == info


def test_archive_replaces_an_earlier_copy(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(b"old"))
    info = kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert kit.store.describe(archive_id) == info
    assert retrieve(kit, archive_id) == CONTENT


def test_archiving_announces_nothing(kit: Kit) -> None:
    kit.store.archive(an_id(), io.BytesIO(CONTENT))
    assert kit.published == []


# --- an archive is cold ---------------------------------------------------------------------


def test_an_archive_cannot_be_read_before_a_retrieval_is_requested(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    kit.advance(10_000)
    with pytest.raises(NotRetrieved):
        read(kit.store, archive_id)


@pytest.mark.parametrize("tier", ["Expedited", "Standard", "Bulk"])
def test_an_archive_cannot_be_read_before_the_retrieval_completes(kit: Kit, tier: str) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    wait = kit.store.request_retrieval(archive_id, tier)
    assert wait == DELAYS[tier]
    assert cannot_read(kit.store, archive_id)
    kit.advance(wait - 0.01)
    assert cannot_read(kit.store, archive_id)
    kit.advance(0.01)
    assert read(kit.store, archive_id) == CONTENT


@pytest.mark.parametrize("tier", ["Expedited", "Standard", "Bulk"])
def test_a_retrieval_request_announces_restore_ready_once_with_the_tier_delay(
    kit: Kit, tier: str
) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    wait = kit.store.request_retrieval(archive_id, tier)
    assert wait == DELAYS[tier]
    assert kit.published == [(events.RESULTS_RESTORE_READY, {"archive_id": archive_id}, wait)]


def test_a_second_request_is_idempotent_and_announces_nothing_more(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    first = kit.store.request_retrieval(archive_id, "Standard")
    kit.advance(1.0)
    second = kit.store.request_retrieval(archive_id, "Standard")
    third = kit.store.request_retrieval(archive_id, "Expedited")  # another tier: still the same
    assert first == DELAYS["Standard"]
    assert second == pytest.approx(first - 1.0)
    assert third == pytest.approx(first - 1.0)
    assert len(kit.restore_ready()) == 1
    kit.advance(second)
    assert read(kit.store, archive_id) == CONTENT
    assert kit.store.request_retrieval(archive_id, "Standard") == 0.0  # done: nothing to wait
    assert len(kit.restore_ready()) == 1


def test_a_refused_expedited_retrieval_raises_and_standard_then_works(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    kit.refuse_expedited(True)
    with pytest.raises(RetrievalRefused):
        kit.store.request_retrieval(archive_id, "Expedited")
    assert kit.published == []
    assert cannot_read(kit.store, archive_id)
    wait = kit.store.request_retrieval(archive_id, "Standard")
    assert wait == DELAYS["Standard"]
    assert kit.published == [(events.RESULTS_RESTORE_READY, {"archive_id": archive_id}, wait)]
    kit.advance(wait)
    assert read(kit.store, archive_id) == CONTENT


def test_expedited_works_again_when_capacity_returns(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    kit.refuse_expedited(True)
    with pytest.raises(RetrievalRefused):
        kit.store.request_retrieval(archive_id, "Expedited")
    kit.refuse_expedited(False)
    assert kit.store.request_retrieval(archive_id, "Expedited") == DELAYS["Expedited"]


def test_after_completion_the_content_reads_back_identical_and_stays_readable(kit: Kit) -> None:
    archive_id = an_id()
    data = os.urandom(2 * 1024 * 1024 + 3)
    kit.store.archive(archive_id, io.BytesIO(data))
    assert retrieve(kit, archive_id, "Bulk") == data
    assert read(kit.store, archive_id) == data  # reading does not consume the retrieval


def test_a_failed_announcement_is_made_by_the_next_request(kit: Kit) -> None:
    """If the completion event cannot be published, the request fails (the caller retries);
    the retry must announce — else the results would stay "restoring" forever."""
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    kit.fail_next_publish()
    with pytest.raises(PublishDown):
        kit.store.request_retrieval(archive_id, "Expedited")
    kit.store.request_retrieval(archive_id, "Expedited")
    (announcement,) = kit.restore_ready()
    assert announcement[1] == {"archive_id": archive_id}
    kit.advance(announcement[2])
    assert read(kit.store, archive_id) == CONTENT


def test_unknown_archives_and_tiers_are_refused(kit: Kit) -> None:
    archive_id = an_id()
    with pytest.raises(KeyError):
        kit.store.request_retrieval(archive_id, "Standard")
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    with pytest.raises(ValueError, match="tier"):
        kit.store.request_retrieval(archive_id, "Instant")
    assert kit.published == []


# --- delete, re-archive ---------------------------------------------------------------------


def test_delete_removes_the_archive_and_is_idempotent(kit: Kit) -> None:
    archive_id, other = an_id(), an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    kit.store.archive(other, io.BytesIO(b"other"))
    retrieve(kit, archive_id)
    kit.store.delete(archive_id)
    kit.store.delete(archive_id)
    kit.store.delete(an_id())  # never existed
    assert kit.store.describe(archive_id) is None
    with pytest.raises((NotRetrieved, KeyError)):
        read(kit.store, archive_id)
    with pytest.raises(KeyError):
        kit.store.request_retrieval(archive_id, "Standard")
    assert kit.store.describe(other) is not None  # the neighbour is untouched


def test_delete_leaves_no_files_behind(kit: Kit) -> None:
    if kit.root is None:
        pytest.skip("not a filesystem store")
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    retrieve(kit, archive_id)
    kit.store.delete(archive_id)
    assert [p for p in kit.root.rglob("*") if p.is_file()] == []


def test_the_sweep_removes_what_interrupted_archives_left_once_older_than_asked(
    tmp_path: Path,
) -> None:
    """An archive killed mid-write leaves its ``.gas-tmp-*`` file (in ``archives/`` or, for
    the bookkeeping, ``state/``); the workers' sweep removes those older than the lease."""
    store = LocalColdStore(tmp_path / "cold", publish=lambda *a, **k: None)
    archive_id = an_id()
    store.archive(archive_id, io.BytesIO(CONTENT))
    stale = [
        tmp_path / "cold" / "archives" / archive_id.split("/")[0] / ".gas-tmp-stale",
        tmp_path / "cold" / "state" / ".gas-tmp-stale",
    ]
    fresh = tmp_path / "cold" / "archives" / ".gas-tmp-fresh"
    for path in [*stale, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    for path in stale:
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert store.sweep_temp(60) == 2
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert store.describe(archive_id) is not None


def test_re_archiving_makes_the_archive_cold_again(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert retrieve(kit, archive_id) == CONTENT
    kit.store.archive(archive_id, io.BytesIO(b"new content"))
    assert cannot_read(kit.store, archive_id)
    kit.advance(10_000)
    assert cannot_read(kit.store, archive_id)
    before = len(kit.restore_ready())
    wait = kit.store.request_retrieval(archive_id, "Expedited")
    assert wait == DELAYS["Expedited"]
    assert len(kit.restore_ready()) == before + 1  # a new retrieval, a new announcement
    kit.advance(wait)
    assert read(kit.store, archive_id) == b"new content"


def test_archive_after_delete_starts_afresh(kit: Kit) -> None:
    archive_id = an_id()
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    retrieve(kit, archive_id)
    kit.store.delete(archive_id)
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert cannot_read(kit.store, archive_id)


# --- archive ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["", "../escape", "a/../../escape", "/etc/passwd", "a//b", "a/./b", "a\\b", "a\x00b", ".."],
)
def test_malformed_and_escaping_archive_ids_are_refused(kit: Kit, bad: str) -> None:
    with pytest.raises(ValueError):
        kit.store.archive(bad, io.BytesIO(CONTENT))
    for call in (
        lambda: kit.store.describe(bad),
        lambda: kit.store.request_retrieval(bad, "Standard"),
        lambda: read(kit.store, bad),
        lambda: kit.store.delete(bad),
    ):
        with pytest.raises(ValueError):
            call()
    if kit.root is not None:
        outside = [p for p in kit.root.parent.rglob("*") if kit.root not in p.parents]
        assert all(p == kit.root for p in outside)  # nothing written next to the store


def test_the_longest_results_key_can_be_archived_and_restored(kit: Kit) -> None:
    """Every key the object store takes (segments up to 255 bytes: a job id, "~" and a file
    name cut at 200 characters plus ".annot.vcf") must round-trip through the cold store."""
    longest_name = "a" * 200 + ".annot.vcf"
    archive_id = object_key(str(uuid.uuid4()), str(uuid.uuid4()), longest_name)
    assert len(archive_id.rsplit("/", 1)[1]) <= 255
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert kit.store.describe(archive_id) is not None
    assert retrieve(kit, archive_id, "Expedited") == CONTENT
    kit.store.delete(archive_id)
    assert kit.store.describe(archive_id) is None
    # and at the object store's very limit
    archive_id = "u/" + "b" * 255
    kit.store.archive(archive_id, io.BytesIO(CONTENT))
    assert retrieve(kit, archive_id) == CONTENT


def test_archive_ids_do_not_collide_with_one_another(kit: Kit) -> None:
    """Ids that differ only by what a store might append internally stay separate."""
    base = an_id()
    kit.store.archive(base, io.BytesIO(b"base"))
    kit.store.archive(base + ".meta.json", io.BytesIO(b"meta"))
    kit.store.archive(base + ".retrieval.json", io.BytesIO(b"retrieval"))
    assert retrieve(kit, base) == b"base"
    assert retrieve(kit, base + ".meta.json") == b"meta"
    assert retrieve(kit, base + ".retrieval.json") == b"retrieval"
    kit.store.delete(base + ".meta.json")
    assert read(kit.store, base) == b"base"
