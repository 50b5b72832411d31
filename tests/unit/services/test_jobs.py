"""Submitting jobs and reading them back."""

from __future__ import annotations

import gzip
import io
import random
import uuid
import zlib
from collections.abc import Callable

import pytest

from gas.domain import events
from gas.domain.errors import Forbidden, InvalidInput, NotFound, UploadTooLarge
from gas.domain.jobs import Job, JobStatus
from gas.domain.plans import Plan, PlanPolicy
from gas.domain.users import User
from gas.services import accounts
from gas.services.jobs import (
    INFLATE_STEP,
    SNIFF_BYTES,
    DecompressedSize,
    decompressed_size,
    get_job,
    list_jobs,
    register_uploaded_job,
    submit_job,
    vcf_problem,
)
from tests.fakes import (
    CommitFailed,
    FakeClock,
    FakeDatabase,
    FakeObjectStore,
    FakeUnitOfWorkFactory,
)
from tests.unit.services.conftest import FREE_LIMIT, PREMIUM_LIMIT

MakeUser = Callable[..., User]

HEADER = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
VCF = HEADER + b"1\t12345\t.\tA\tG\t.\tPASS\t.\n"


def vcf_of_size(n: int) -> bytes:
    """A VCF of exactly ``n`` bytes."""
    line = b"1\t12345\t.\tA\tG\t.\tPASS\t.\n"
    body = line * ((n - len(HEADER)) // len(line) + 1)
    data = (HEADER + body)[:n]
    assert len(data) == n
    return data


class UnreadableStream(io.RawIOBase):
    """An upload that must not be read at all."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: object) -> int:
        raise AssertionError("the upload was read although it was refused up front")


class Submit:
    """``submit_job`` with the fakes wired in."""

    def __init__(
        self,
        uow: FakeUnitOfWorkFactory,
        store: FakeObjectStore,
        policy: PlanPolicy,
        clock: FakeClock,
    ) -> None:
        self.uow, self.store, self.policy, self.clock = uow, store, policy, clock

    def __call__(
        self,
        user: User,
        data: bytes = VCF,
        *,
        file_name: str = "sample.vcf",
        content_length: int | None = None,
        assembly: str | None = None,
    ) -> Job:
        return submit_job(
            self.uow(),
            self.store,
            self.policy,
            self.clock,
            user_id=user.id,
            file_name=file_name,
            stream=io.BytesIO(data),
            content_length=content_length,
            assembly=assembly,
        )


@pytest.fixture
def submit(
    uow: FakeUnitOfWorkFactory, store: FakeObjectStore, policy: PlanPolicy, clock: FakeClock
) -> Submit:
    return Submit(uow, store, policy, clock)


def assert_nothing_kept(db: FakeDatabase, store: FakeObjectStore) -> None:
    assert store.objects == {}
    assert db.jobs == {}
    assert db.queue.topics() == []


# --- submitting -----------------------------------------------------------------------------


def test_submit_stores_the_upload_under_user_job_and_file_name(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    user = make_user()
    job = submit(user, VCF, file_name="sample.vcf")
    assert job.input_key == f"{user.id}/{job.id}~sample.vcf"
    assert store.objects == {job.input_key: VCF}
    uuid.UUID(job.id)  # job ids are UUIDs


def test_submit_saves_a_pending_job_describing_the_upload(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    job = submit(user, VCF, file_name="sample.vcf", assembly="GRCh37")
    stored = db.jobs[job.id]
    assert stored.status is JobStatus.PENDING
    assert stored.user_id == user.id
    assert stored.input_file_name == "sample.vcf"
    assert stored.input_key == job.input_key
    assert stored.input_size == len(VCF)
    assert stored.submitted_at == clock.now()
    assert stored.assembly == "GRCh37"


def test_submit_saves_the_job_and_publishes_its_request_in_the_same_commit(
    submit: Submit, make_user: MakeUser, db: FakeDatabase
) -> None:
    user = make_user()
    commits_before = len(db.commits)
    job = submit(user)
    assert len(db.commits) == commits_before + 1
    assert db.commits[-1].changed == {"jobs": frozenset({job.id})}
    assert db.commits[-1].messages == ((events.JOB_REQUESTED, {"job_id": job.id}),)
    assert db.queue.payloads("annotator") == [(events.JOB_REQUESTED, {"job_id": job.id})]


def test_submit_cleans_the_file_name_sent_by_the_browser(
    submit: Submit, make_user: MakeUser
) -> None:
    user = make_user()
    job = submit(user, file_name="C:\\Users\\ada\\../my sample.vcf")
    assert job.input_file_name == "my_sample.vcf"
    assert job.input_key.endswith("~my_sample.vcf")


def test_submit_without_a_file_name_calls_the_input_input_vcf(
    submit: Submit, make_user: MakeUser
) -> None:
    job = submit(make_user(), file_name="")
    assert job.input_file_name == "input.vcf"


def test_submit_for_an_unknown_user_is_not_found_and_keeps_nothing(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    db: FakeDatabase,
) -> None:
    with pytest.raises(NotFound):
        submit_job(
            uow(), store, policy, clock, user_id="nobody", file_name="x.vcf", stream=io.BytesIO(VCF)
        )
    assert_nothing_kept(db, store)


def test_submit_refuses_an_unknown_assembly_and_keeps_nothing(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore
) -> None:
    user = make_user()
    with pytest.raises(InvalidInput, match="GRCh38"):
        submit(user, assembly="hg19")
    assert_nothing_kept(db, store)


@pytest.mark.parametrize(
    ("chosen", "stored"),
    [
        (None, None),
        ("auto", None),
        ("GRCh38", "GRCh38"),
        ("GRCh37", "GRCh37"),
        ("NCBI36", "NCBI36"),
    ],
)
def test_the_assembly_is_detected_by_default_or_as_chosen(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, chosen: str | None, stored: str | None
) -> None:
    job = submit(make_user(), assembly=chosen)
    assert db.jobs[job.id].assembly == stored  # None: the engine reads the file's header


def test_submitted_jobs_get_distinct_ids_and_keys(submit: Submit, make_user: MakeUser) -> None:
    user = make_user()
    a, b = submit(user), submit(user)
    assert a.id != b.id and a.input_key != b.input_key


# --- size limits ----------------------------------------------------------------------------


def test_a_free_user_may_upload_exactly_the_free_limit(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    job = submit(make_user(), vcf_of_size(FREE_LIMIT), content_length=FREE_LIMIT)
    assert store.size(job.input_key) == FREE_LIMIT


def test_a_declared_size_over_the_free_limit_is_refused_unread_with_an_upgrade_prompt(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    make_user: MakeUser,
    db: FakeDatabase,
) -> None:
    user = make_user()
    with pytest.raises(UploadTooLarge) as refused:
        submit_job(
            uow(),
            store,
            policy,
            clock,
            user_id=user.id,
            file_name="big.vcf",
            stream=io.BufferedReader(UnreadableStream()),
            content_length=FREE_LIMIT + 1,
        )
    assert refused.value.limit == FREE_LIMIT
    assert str(refused.value) == (
        "Free accounts can annotate files of up to 150 KB. "
        "Upgrade to Premium to annotate larger files."
    )
    assert_nothing_kept(db, store)


@pytest.mark.parametrize("declared", [None, 1000], ids=["not-declared", "declared-too-small"])
def test_a_streamed_upload_over_the_free_limit_is_refused_and_nothing_kept(
    submit: Submit,
    make_user: MakeUser,
    db: FakeDatabase,
    store: FakeObjectStore,
    declared: int | None,
) -> None:
    user = make_user()
    with pytest.raises(UploadTooLarge, match="Upgrade to Premium") as refused:
        submit(user, vcf_of_size(FREE_LIMIT + 1), content_length=declared)
    assert refused.value.limit == FREE_LIMIT
    assert_nothing_kept(db, store)


def test_a_premium_user_may_upload_more_than_the_free_limit(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    data = vcf_of_size(PREMIUM_LIMIT)
    job = submit(user, data, content_length=len(data))
    assert store.objects[job.input_key] == data


@pytest.mark.parametrize("declared", [True, False])
def test_a_premium_user_is_held_to_the_premium_limit_without_an_upgrade_prompt(
    submit: Submit,
    make_user: MakeUser,
    db: FakeDatabase,
    store: FakeObjectStore,
    declared: bool,
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    data = vcf_of_size(PREMIUM_LIMIT + 1)
    with pytest.raises(UploadTooLarge) as refused:
        submit(user, data, content_length=len(data) if declared else None)
    assert refused.value.limit == PREMIUM_LIMIT
    assert str(refused.value) == "Input files can be at most 1 MB."
    assert_nothing_kept(db, store)


def test_the_limit_is_that_of_the_plan_in_force_at_each_submission(
    submit: Submit,
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    store: FakeObjectStore,
) -> None:
    user = make_user()
    big = vcf_of_size(FREE_LIMIT + 1)
    with pytest.raises(UploadTooLarge):
        submit(user, big)

    accounts.change_plan(uow(), clock, user.id, Plan.PREMIUM)
    job = submit(user, big)
    assert store.objects[job.input_key] == big

    accounts.change_plan(uow(), clock, user.id, Plan.FREE)
    with pytest.raises(UploadTooLarge):
        submit(user, big)
    assert list(store.keys()) == [job.input_key]


# --- content checks -------------------------------------------------------------------------


def _bad_gzip() -> bytes:
    return b"\x1f\x8b\x08\x00" + b"\xff" * 100


NOT_VCF = {
    "empty": b"",
    "plain text": b"hello world\nthis is not a VCF\n",
    "csv": b"chrom,pos,ref,alt\n1,100,A,G\n",
    "binary": b"##fileformat=VCFv4.2\n\x00\x01\x02\x03",
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
    "meta lines but no #CHROM": b"##source=x\n##reference=y\n1\t100\t.\tA\tG\t.\t.\t.\n",
    "bad gzip": _bad_gzip(),
    "gzip of nothing": gzip.compress(b""),
    "truncated gzip header": gzip.compress(VCF)[:8],
    "gzip of binary": gzip.compress(b"\x00" * 1000),
    "gzip of text": gzip.compress(b"just some text\n"),
}


@pytest.mark.parametrize("data", list(NOT_VCF.values()), ids=list(NOT_VCF))
def test_an_upload_that_is_not_a_vcf_is_refused_and_nothing_kept(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore, data: bytes
) -> None:
    user = make_user()
    with pytest.raises(InvalidInput, match=r"^upload\.vcf: "):
        submit(user, data, file_name="upload.vcf")
    assert_nothing_kept(db, store)


def _bgzip_like(data: bytes) -> bytes:
    """Several gzip members one after another, as bgzip writes them."""
    half = len(data) // 2
    return gzip.compress(data[:half]) + gzip.compress(data[half:]) + gzip.compress(b"")


def _bgzip_blocks(data: bytes) -> bytes:
    """Blocks of at most 65,280 bytes, one gzip member each, as bgzip writes them."""
    return b"".join(gzip.compress(data[i : i + 65280]) for i in range(0, len(data), 65280))


NO_FILEFORMAT = b"##source=lab-pipeline\n"
LONG_META = NO_FILEFORMAT + b"##comment=" + b"x" * 70_000 + b"\n"
COLUMNS = b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1\t.\tA\tG\t.\t.\t.\n"

VCF_LIKE = {
    "plain": VCF,
    "header line only first": b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
    "byte order mark": "\ufeff".encode() + VCF,
    "VCF 3.3": VCF.replace(b"VCFv4.2", b"VCFv3.3"),
    # the annotator reads the whole file and fails the job with a precise reason if need be
    "fileformat line only": b"##fileformat=VCFv4.2\n",
    "gzip": gzip.compress(VCF),
    "bgzip": _bgzip_like(VCF),
    # no ##fileformat line (a real-world quirk): accepted when #CHROM follows the meta lines,
    # even when they are in a later gzip member than the first
    "no fileformat line": NO_FILEFORMAT + COLUMNS,
    "gzip members: meta lines, then columns": gzip.compress(NO_FILEFORMAT) + gzip.compress(COLUMNS),
    "bgzip: meta lines longer than a block": _bgzip_blocks(LONG_META + COLUMNS),
    "meta lines longer than the sniffed part": b"##fileformat=VCFv4.2\n"
    + b"##comment="
    + b"x" * SNIFF_BYTES
    + b"\n"
    + VCF,
}


@pytest.mark.parametrize("data", list(VCF_LIKE.values()), ids=list(VCF_LIKE))
def test_an_upload_that_looks_like_a_vcf_is_accepted_as_sent(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore, data: bytes
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    job = submit(user, data, file_name="x.vcf.gz")
    assert store.objects[job.input_key] == data  # stored as uploaded, not decompressed


def test_a_large_gzip_vcf_is_judged_by_its_first_bytes(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    data = gzip.compress(vcf_of_size(10 * SNIFF_BYTES))
    job = submit(make_user(plan=Plan.PREMIUM), data)
    assert store.exists(job.input_key)


def test_vcf_problem_reasons_are_written_for_the_user() -> None:
    assert vcf_problem(b"") == "The file is empty."
    assert "binary" in (vcf_problem(b"\x00\x01") or "")
    assert "compressed" in (vcf_problem(_bad_gzip()) or "")
    assert "#CHROM" in (vcf_problem(b"##source=x\n") or "")
    assert vcf_problem(VCF) is None


# --- the limit applies to what the upload decompresses to ------------------------------------


def realistic_vcf(size: int) -> bytes:
    """A VCF of at least ``size`` bytes whose records vary as real ones do, so that gzip
    shrinks it by a factor of about 4 (not 1000, as with repeated lines)."""
    rng = random.Random(size)
    lines = [HEADER]
    total = len(HEADER)
    pos = 10_000
    while total < size:
        pos += rng.randint(1, 5000)
        ref, alt = rng.sample("ACGT", 2)
        line = (
            f"{rng.randint(1, 22)}\t{pos}\trs{rng.randint(1, 10**9)}\t{ref}\t{alt}\t"
            f"{rng.randint(10, 99)}\tPASS\tDP={rng.randint(1, 500)};AF={rng.random():.4f}\n"
        ).encode()
        lines.append(line)
        total += len(line)
    return b"".join(lines)


def bgzip_blocks(data: bytes) -> bytes:
    """Blocks of at most 65,280 bytes, one gzip member each, and the empty end member, as
    bgzip writes them."""
    blocks = [gzip.compress(data[i : i + 65280]) for i in range(0, len(data), 65280)]
    return b"".join(blocks) + gzip.compress(b"")


def zeros_bomb(megabytes: int) -> bytes:
    """One gzip member of ``megabytes`` MiB of zeros: about a thousandth of that compressed."""
    out = bytearray()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    for _ in range(megabytes):
        out += deflate.compress(chunk)
    out += deflate.flush()
    return bytes(out)


class CountingStream(io.BytesIO):
    """An upload that remembers how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


OVER_FREE = realistic_vcf(170 * 1024)  # 170 KB of text …
OVER_FREE_GZ = gzip.compress(OVER_FREE)  # … sent as a gzip well under 150 KB


def test_the_gzip_of_a_vcf_over_the_free_limit_is_small_itself() -> None:
    assert len(OVER_FREE) > FREE_LIMIT
    assert len(OVER_FREE_GZ) < FREE_LIMIT // 2


@pytest.mark.parametrize(
    "data",
    [OVER_FREE_GZ, bgzip_blocks(OVER_FREE), gzip.compress(OVER_FREE[:1000]) + OVER_FREE_GZ],
    ids=["gzip", "bgzip", "gzip members"],
)
def test_a_small_gzip_of_a_vcf_over_the_free_limit_is_refused_and_nothing_kept(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore, data: bytes
) -> None:
    assert len(data) < FREE_LIMIT
    with pytest.raises(UploadTooLarge) as refused:
        submit(make_user(), data, file_name="sample.vcf.gz", content_length=len(data))
    assert refused.value.limit == FREE_LIMIT
    assert str(refused.value) == (
        "Free accounts can annotate files of up to 150 KB. "
        "Upgrade to Premium to annotate larger files."
    )
    assert_nothing_kept(db, store)


def test_a_premium_user_may_send_the_same_gzip(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    job = submit(make_user(plan=Plan.PREMIUM), OVER_FREE_GZ, file_name="sample.vcf.gz")
    assert store.objects[job.input_key] == OVER_FREE_GZ  # stored as sent
    assert job.input_size == len(OVER_FREE_GZ)


def test_a_gzip_of_exactly_the_free_limit_is_accepted(
    submit: Submit, make_user: MakeUser, store: FakeObjectStore
) -> None:
    data = bgzip_blocks(vcf_of_size(FREE_LIMIT))
    job = submit(make_user(), data, file_name="edge.vcf.gz")
    assert store.exists(job.input_key)
    with pytest.raises(UploadTooLarge):
        submit(make_user(), bgzip_blocks(vcf_of_size(FREE_LIMIT + 1)))


def test_the_premium_limit_applies_to_the_decompressed_size_too(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    accepted = submit(user, gzip.compress(vcf_of_size(PREMIUM_LIMIT)))
    data = gzip.compress(vcf_of_size(PREMIUM_LIMIT + 1))
    assert len(data) < FREE_LIMIT
    with pytest.raises(UploadTooLarge) as refused:
        submit(user, data)
    assert str(refused.value) == "Input files can be at most 1 MB."
    assert list(store.objects) == [accepted.input_key] and list(db.jobs) == [accepted.id]


def test_a_decompression_bomb_is_cut_off_at_the_limit_while_it_streams(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    make_user: MakeUser,
    db: FakeDatabase,
) -> None:
    bomb = zeros_bomb(100)  # 100 MiB of zeros in about 100 KB
    assert len(bomb) < FREE_LIMIT
    stream = CountingStream(bomb)
    with pytest.raises(UploadTooLarge, match="Upgrade to Premium"):
        submit_job(
            uow(),
            store,
            policy,
            clock,
            user_id=make_user().id,
            file_name="bomb.vcf.gz",
            stream=stream,
        )
    assert stream.read_bytes < 16 * 1024  # stopped after a few KB, not read to its end
    assert_nothing_kept(db, store)


# decompressed_size: the one measure every upload path uses


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"x",
        VCF,
        gzip.compress(VCF),
        gzip.compress(b""),
        bgzip_blocks(realistic_vcf(200_000)),
        gzip.compress(VCF) + b"\0" * 100 + gzip.compress(VCF),  # zero padding between members
    ],
    ids=["empty", "one byte", "plain", "gzip", "gzip of nothing", "bgzip", "padded members"],
)
@pytest.mark.parametrize("step", [1, 7, 8192, 1 << 20])
def test_decompressed_size_is_the_size_of_the_text_in_any_steps(data: bytes, step: int) -> None:
    text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    measure = DecompressedSize(10 * len(text) + 10)
    for i in range(0, len(data), step):
        measure.feed(data[i : i + step])
    assert measure.finish() == len(text)
    assert decompressed_size(io.BytesIO(data), 10 * len(text) + 10) == len(text)


def test_decompressed_size_stops_reading_once_over_the_limit_with_bounded_steps() -> None:
    bomb = zeros_bomb(64)
    fh = CountingStream(bomb)
    size = decompressed_size(fh, 1000)
    assert 1000 < size <= 1000 + INFLATE_STEP
    assert fh.read_bytes <= INFLATE_STEP  # one read; the rest never touched


def test_decompressed_size_of_a_corrupt_gzip_counts_what_inflates_before_the_damage() -> None:
    good = gzip.compress(VCF)
    assert decompressed_size(io.BytesIO(good + b"\x1f\x8b\x08\x00garbage"), 10**6) == len(VCF)
    assert decompressed_size(io.BytesIO(good[: len(good) // 2]), 10**6) <= len(VCF)


# The presigned flow: the browser stored the object; the job is registered afterwards.


def register(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    user: User,
    data: bytes,
    name: str = "sample.vcf.gz",
) -> Job:
    job_id = str(uuid.uuid4())
    key = f"{user.id}/{job_id}~{name}"
    store.objects[key] = data  # what the browser uploaded to S3
    return register_uploaded_job(
        uow(), store, policy, clock, user_id=user.id, job_id=job_id, key=key, assembly="GRCh38"
    )


def test_a_stored_gzip_over_the_free_limit_decompressed_is_refused_and_deleted(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    make_user: MakeUser,
    db: FakeDatabase,
) -> None:
    with pytest.raises(UploadTooLarge, match="Upgrade to Premium") as refused:
        register(uow, store, policy, clock, make_user(), bgzip_blocks(OVER_FREE))
    assert refused.value.limit == FREE_LIMIT
    assert_nothing_kept(db, store)

    with pytest.raises(UploadTooLarge):  # a bomb, likewise
        register(uow, store, policy, clock, make_user("bob@example.org"), zeros_bomb(20))
    assert_nothing_kept(db, store)


def test_a_premium_user_may_register_the_same_stored_gzip(
    uow: FakeUnitOfWorkFactory,
    store: FakeObjectStore,
    policy: PlanPolicy,
    clock: FakeClock,
    make_user: MakeUser,
    db: FakeDatabase,
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    job = register(uow, store, policy, clock, user, OVER_FREE_GZ)
    assert db.jobs[job.id].input_size == len(OVER_FREE_GZ)
    assert store.objects[job.input_key] == OVER_FREE_GZ


# --- failures after the upload --------------------------------------------------------------


def test_a_failing_commit_deletes_the_stored_upload_and_announces_nothing(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore
) -> None:
    user = make_user()
    db.fail_commits = 1
    with pytest.raises(CommitFailed):
        submit(user)
    assert_nothing_kept(db, store)


def test_a_failing_object_store_keeps_no_job(
    submit: Submit, make_user: MakeUser, db: FakeDatabase, store: FakeObjectStore
) -> None:
    user = make_user()
    store.fail_puts = 1
    with pytest.raises(OSError):
        submit(user)
    assert_nothing_kept(db, store)


# --- reading jobs back ----------------------------------------------------------------------


def test_get_job_returns_the_owners_job(
    submit: Submit, make_user: MakeUser, uow: FakeUnitOfWorkFactory
) -> None:
    user = make_user()
    job = submit(user)
    assert get_job(uow(), job.id, user.id) == job


def test_get_job_of_another_user_is_forbidden(
    submit: Submit, make_user: MakeUser, uow: FakeUnitOfWorkFactory
) -> None:
    owner, other = make_user(), make_user()
    job = submit(owner)
    with pytest.raises(Forbidden):
        get_job(uow(), job.id, other.id)


def test_get_job_of_an_unknown_id_is_not_found(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory
) -> None:
    with pytest.raises(NotFound):
        get_job(uow(), str(uuid.uuid4()), make_user().id)


@pytest.mark.parametrize("job_id", ["", "abc", "../etc/passwd", "1" * 100, "' OR 1=1 --"])
def test_get_job_of_a_malformed_id_is_not_found(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, job_id: str
) -> None:
    with pytest.raises(NotFound):
        get_job(uow(), job_id, make_user().id)


def test_list_jobs_returns_only_the_users_jobs_newest_first(
    submit: Submit, make_user: MakeUser, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    user, other = make_user(), make_user()
    first = submit(user)
    clock.advance(60)
    submit(other)
    clock.advance(60)
    second = submit(user)
    assert [j.id for j in list_jobs(uow(), user.id)] == [second.id, first.id]
    assert [j.id for j in list_jobs(uow(), user.id, limit=1, offset=1)] == [first.id]
