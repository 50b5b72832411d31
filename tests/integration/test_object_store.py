"""Contract tests of the ObjectStore port, run on every backend; then local-directory specifics.

A new backend joins by adding its name to STORE_KINDS and a branch to ``make_store``. The
"fake" kind is ``tests.fakes.FakeObjectStore``, the service tests' store, held to the same
contract.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import stat
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from gas.adapters.localfs import (
    DownloadLinkError,
    DownloadSigner,
    ExpiredLink,
    InvalidLink,
    LocalObjectStore,
)
from gas.ports import ObjectStore, ObjectTooLarge
from tests.fakes import FakeObjectStore

MIB = 1024 * 1024
STORE_KINDS = ["local", "s3", "fake"]
# Contract cases the S3 kind cannot run, and why (tests/aws/test_s3_store.py covers each).
S3_EXCEPTIONS = {
    "test_put_streams_without_holding_the_object_in_memory": "moto's server runs in this "
    "process, so tracemalloc would count its copy of the upload; measured against a moto "
    "server in another process in tests/aws/test_s3_store.py",
    "test_download_url_is_relative_and_names_the_object": "S3 download links are absolute "
    "presigned URLs; checked by downloading through one in tests/aws/test_s3_store.py",
}
# ... and those the in-memory fake cannot, and why.
FAKE_EXCEPTIONS = {
    "test_put_streams_without_holding_the_object_in_memory": "the fake keeps objects in memory",
    "test_download_url_is_relative_and_names_the_object": "the fake's links are fake:// URLs "
    "that only the service tests read",
}
SECRET = "test-secret-key"


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes made on demand, never all in memory; counts what was read."""

    _BLOCK = random.Random(7).randbytes(64 * 1024)

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.size - self.position, len(self._BLOCK))
        offset = self.position % len(self._BLOCK)
        n = min(n, len(self._BLOCK) - offset)
        view[:n] = self._BLOCK[offset : offset + n]
        self.digest.update(view[:n])
        self.position += n
        return n


def make_store(kind: str, tmp_path: Path, clock: Callable[[], float]) -> ObjectStore:
    if kind == "local":
        return LocalObjectStore(tmp_path / "objects", signer=DownloadSigner(SECRET, now=clock))
    if kind == "fake":
        return FakeObjectStore()
    raise AssertionError(kind)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> ObjectStore:
    if request.param == "s3":  # a prefix of a fresh bucket on moto's server (tests/aws)
        reason = S3_EXCEPTIONS.get(request.node.originalname)
        if reason:
            pytest.skip(reason)
        s3_store: ObjectStore = request.getfixturevalue("s3_object_store")
        return s3_store
    if request.param == "fake" and request.node.originalname in FAKE_EXCEPTIONS:
        pytest.skip(FAKE_EXCEPTIONS[request.node.originalname])
    return make_store(request.param, tmp_path, clock)


@pytest.fixture
def local_store(tmp_path: Path, clock: FakeClock) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", signer=DownloadSigner(SECRET, now=clock))


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as fh:
        return fh.read()


# --- contract -------------------------------------------------------------------------------


def test_put_then_open_returns_the_same_5_mb(store: ObjectStore) -> None:
    data = random.Random(1).randbytes(5 * MIB + 123)
    key = "user-1/job-1~input.vcf"

    assert store.put(key, io.BytesIO(data)) == len(data)

    assert read_all(store, key) == data
    assert store.size(key) == len(data)
    assert store.exists(key)


def test_put_streams_without_holding_the_object_in_memory(store: ObjectStore) -> None:
    # tracemalloc counts every thread of the process (a session's moto server, say): the bound
    # leaves room for that noise while staying far below the object's size.
    size = 64 * MIB
    source = GeneratedStream(size)
    tracemalloc.start()
    try:
        written = store.put("u/j~big.vcf", source)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == size
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB while storing {size / MIB:.0f} MiB"
    stored = hashlib.sha256()
    with store.open("u/j~big.vcf") as fh:
        while chunk := fh.read(MIB):
            stored.update(chunk)
    assert stored.hexdigest() == source.digest.hexdigest()


def test_put_of_an_empty_stream_stores_an_empty_object(store: ObjectStore) -> None:
    assert store.put("u/j~empty", io.BytesIO(b"")) == 0
    assert store.exists("u/j~empty")
    assert store.size("u/j~empty") == 0
    assert read_all(store, "u/j~empty") == b""


def test_put_exactly_at_max_bytes_is_accepted(store: ObjectStore) -> None:
    assert store.put("u/j~a", io.BytesIO(b"x" * 1000), max_bytes=1000) == 1000
    assert store.size("u/j~a") == 1000


def test_put_over_max_bytes_keeps_nothing(store: ObjectStore) -> None:
    with pytest.raises(ObjectTooLarge) as caught:
        store.put("u/j~a", io.BytesIO(b"x" * 1001), max_bytes=1000)

    assert caught.value.limit == 1000
    assert not store.exists("u/j~a")
    assert list(store.keys()) == []


def test_put_over_max_bytes_stops_reading_early(store: ObjectStore) -> None:
    source = GeneratedStream(64 * MIB)
    with pytest.raises(ObjectTooLarge):
        store.put("u/j~a", source, max_bytes=MIB)  # type: ignore[arg-type]
    assert source.position <= 3 * MIB


def test_refused_overwrite_leaves_the_existing_object_intact(store: ObjectStore) -> None:
    store.put("u/j~a", io.BytesIO(b"original"))
    with pytest.raises(ObjectTooLarge):
        store.put("u/j~a", io.BytesIO(b"y" * 100), max_bytes=10)
    assert read_all(store, "u/j~a") == b"original"


def test_put_overwrites(store: ObjectStore) -> None:
    store.put("u/j~a", io.BytesIO(b"first version, longer"))
    store.put("u/j~a", io.BytesIO(b"second"))
    assert read_all(store, "u/j~a") == b"second"
    assert store.size("u/j~a") == 6


def test_delete_removes_and_is_idempotent(store: ObjectStore) -> None:
    store.put("u/j~a", io.BytesIO(b"data"))
    store.delete("u/j~a")
    assert not store.exists("u/j~a")
    store.delete("u/j~a")
    store.delete("never/was~there")


def test_missing_object_raises_key_error(store: ObjectStore) -> None:
    assert not store.exists("u/j~missing")
    with pytest.raises(KeyError):
        store.open("u/j~missing")
    with pytest.raises(KeyError):
        store.size("u/j~missing")


def test_a_key_prefix_is_not_an_object(store: ObjectStore) -> None:
    store.put("u/j~a", io.BytesIO(b"data"))
    assert not store.exists("u")
    with pytest.raises(KeyError):
        store.open("u")


def test_keys_lists_by_string_prefix(store: ObjectStore) -> None:
    keys = ["u1/j1~a.vcf", "u1/j1~a.annot.vcf", "u1/j2~b.vcf", "u2/j3~c.vcf"]
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))

    assert sorted(store.keys()) == sorted(keys)
    assert sorted(store.keys("u1/")) == ["u1/j1~a.annot.vcf", "u1/j1~a.vcf", "u1/j2~b.vcf"]
    assert sorted(store.keys("u1/j1~")) == ["u1/j1~a.annot.vcf", "u1/j1~a.vcf"]
    assert sorted(store.keys("u")) == sorted(keys)
    assert list(store.keys("u3/")) == []
    assert list(store.keys("nothing")) == []


def test_deleted_keys_are_no_longer_listed(store: ObjectStore) -> None:
    store.put("u1/j1~a", io.BytesIO(b"1"))
    store.put("u1/j2~b", io.BytesIO(b"2"))
    store.delete("u1/j1~a")
    assert list(store.keys("u1/")) == ["u1/j2~b"]


def test_keys_with_spaces_and_unicode_round_trip(store: ObjectStore) -> None:
    key = "user-1/job-1~my sample (é).vcf"
    store.put(key, io.BytesIO(b"data"))
    assert read_all(store, key) == b"data"
    assert list(store.keys("user-1/")) == [key]


def test_download_url_is_relative_and_names_the_object(store: ObjectStore) -> None:
    store.put("u/j~a.vcf", io.BytesIO(b"data"))
    url = store.download_url("u/j~a.vcf", file_name="a.vcf", expires_in=60)
    assert url.startswith("/files/")
    assert re.fullmatch(r"/files/[A-Za-z0-9_.\-]+", url)


def test_malformed_keys_are_refused_by_every_operation(store: ObjectStore) -> None:
    store.put("u/j~a", io.BytesIO(b"data"))
    for key in ["", "../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a\x00b", "a\nb"]:
        for operation in (
            lambda k: store.put(k, io.BytesIO(b"evil")),
            lambda k: store.open(k),
            store.exists,
            store.size,
            store.delete,
            lambda k: store.download_url(k, file_name="x", expires_in=60),
        ):
            with pytest.raises(ValueError):
                operation(key)
    assert list(store.keys()) == ["u/j~a"]


# --- local directory: layout and safety -------------------------------------------------------


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if not p.is_dir()]


def test_refused_put_leaves_no_temporary_files_or_directories(
    local_store: LocalObjectStore,
) -> None:
    with pytest.raises(ObjectTooLarge):
        local_store.put("u/j~a", GeneratedStream(5 * MIB), max_bytes=2 * MIB)  # type: ignore[arg-type]
    assert list(local_store.root.rglob("*")) == []


def test_failing_stream_leaves_nothing(local_store: LocalObjectStore) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        local_store.put("u/j~a", Broken())  # type: ignore[arg-type]
    assert list(local_store.root.rglob("*")) == []


def test_the_sweep_removes_what_interrupted_writes_left_once_older_than_asked(
    local_store: LocalObjectStore,
) -> None:
    """A put killed mid-write (SIGKILL, power cut) leaves its ``.gas-tmp-*`` file; the workers'
    sweep removes those not written to for the lease, and the directories they leave empty."""
    local_store.put("u/j~kept", io.BytesIO(b"object"))
    now = 1_900_000_000.0
    stale = [local_store.root / "u" / ".gas-tmp-stale", local_store.root / "v" / ".gas-tmp-x"]
    fresh = local_store.root / "u" / ".gas-tmp-fresh"  # a write in progress
    for path in [*stale, fresh]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"partial")
        os.utime(path, (now - 100, now - 100))
    os.utime(fresh, (now - 10, now - 10))

    assert local_store.sweep_temp(60, now=lambda: now) == 2
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert not (local_store.root / "v").exists()  # emptied: pruned
    assert read_all(local_store, "u/j~kept") == b"object"
    assert local_store.sweep_temp(60, now=lambda: now) == 0


def test_files_are_private(local_store: LocalObjectStore) -> None:
    local_store.put("u/j~a", io.BytesIO(b"data"))
    path = local_store.path_for("u/j~a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path == local_store.root / "u" / "j~a"


def test_delete_removes_emptied_directories_but_not_the_root(
    local_store: LocalObjectStore,
) -> None:
    local_store.put("u/deep/j~a", io.BytesIO(b"1"))
    local_store.put("u/j~b", io.BytesIO(b"2"))
    local_store.delete("u/deep/j~a")
    assert not (local_store.root / "u" / "deep").exists()
    assert (local_store.root / "u").is_dir()
    local_store.delete("u/j~b")
    assert not (local_store.root / "u").exists()
    assert local_store.root.is_dir()


BAD_KEYS = [
    "",
    "../x",
    "a/../../x",
    "..",
    ".",
    "/etc/passwd",
    "a\\..\\b",
    "a//b",
    "a/./b",
    "a/",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "u/.gas-tmp-abc",
    "u/" + "x" * 256,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
@pytest.mark.parametrize(
    "operation",
    [
        lambda s, k: s.put(k, io.BytesIO(b"evil")),
        lambda s, k: s.open(k),
        lambda s, k: s.exists(k),
        lambda s, k: s.size(k),
        lambda s, k: s.delete(k),
        lambda s, k: s.path_for(k),
        lambda s, k: s.download_url(k, file_name="x", expires_in=60),
    ],
    ids=["put", "open", "exists", "size", "delete", "path_for", "download_url"],
)
def test_malformed_or_escaping_keys_are_refused(
    local_store: LocalObjectStore, tmp_path: Path, key: str, operation
) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError):
        operation(local_store, key)
    assert sorted(tmp_path.rglob("*")) == before


def test_a_symlinked_directory_cannot_lead_outside(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.symlink(outside, local_store.root / "link")

    with pytest.raises(ValueError):
        local_store.put("link/x", io.BytesIO(b"evil"))
    with pytest.raises(ValueError):
        local_store.open("link/secret")
    with pytest.raises(ValueError):
        local_store.delete("link/secret")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert list(local_store.keys()) == []


def test_a_symlinked_file_cannot_lead_outside(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    (local_store.root / "u").mkdir()
    os.symlink(outside, local_store.root / "u" / "j~a")

    with pytest.raises(ValueError):
        local_store.open("u/j~a")
    with pytest.raises(ValueError):
        local_store.put("u/j~a", io.BytesIO(b"evil"))
    assert outside.read_bytes() == b"secret"
    assert list(local_store.keys()) == []


@pytest.mark.parametrize("prefix", ["../", "/etc/", "a/../", "a\\b", "a\x00"], ids=repr)
def test_escaping_prefixes_are_refused(local_store: LocalObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        list(local_store.keys(prefix))


# --- signed download links -----------------------------------------------------------------


def token_of(url: str) -> str:
    assert url.startswith("/files/")
    return url.removeprefix("/files/")


def test_a_signed_link_verifies_to_its_key_and_file_name(local_store: LocalObjectStore) -> None:
    local_store.put("u/j~a.annot.vcf", io.BytesIO(b"results"))
    url = local_store.download_url("u/j~a.annot.vcf", file_name="a.annot.vcf", expires_in=60)

    key, file_name = local_store.signer.verify(token_of(url))

    assert (key, file_name) == ("u/j~a.annot.vcf", "a.annot.vcf")
    assert local_store.path_for(key).read_bytes() == b"results"


def test_a_signed_link_expires_exactly_after_its_lifetime(
    local_store: LocalObjectStore, clock: FakeClock
) -> None:
    token = token_of(local_store.download_url("u/j~a", file_name="a", expires_in=60))

    clock.t += 59.999
    assert local_store.signer.verify(token) == ("u/j~a", "a")
    clock.t += 0.001
    with pytest.raises(ExpiredLink):
        local_store.signer.verify(token)


def test_each_link_keeps_its_own_lifetime(clock: FakeClock) -> None:
    signer = DownloadSigner(SECRET, now=clock)
    short = signer.sign("u/j~a", "a", 10)
    long = signer.sign("u/j~a", "a", 3600)

    clock.t += 11
    with pytest.raises(ExpiredLink):
        signer.verify(short)
    assert signer.verify(long) == ("u/j~a", "a")


def test_a_tampered_link_is_invalid(local_store: LocalObjectStore) -> None:
    token = token_of(local_store.download_url("u/j~a", file_name="a", expires_in=60))
    payload, _, signature = token.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    for bad in [payload + "." + flipped, "x" + token, token[:-3], "", "garbage", "a.b"]:
        with pytest.raises(InvalidLink):
            local_store.signer.verify(bad)


def test_a_link_for_another_key_cannot_be_forged_by_editing_the_payload(clock: FakeClock) -> None:
    import base64
    import json

    signer = DownloadSigner(SECRET, now=clock)
    payload, _, signature = signer.sign("u1/j~a", "a", 60).rpartition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["k"] = "u2/j~secret"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    with pytest.raises(InvalidLink):
        signer.verify(forged + "." + signature)


def test_a_link_signed_with_another_secret_is_invalid(clock: FakeClock) -> None:
    token = DownloadSigner("another secret", now=clock).sign("u/j~a", "a", 60)
    with pytest.raises(InvalidLink):
        DownloadSigner(SECRET, now=clock).verify(token)


def test_link_errors_share_a_base_class() -> None:
    assert issubclass(ExpiredLink, DownloadLinkError)
    assert issubclass(InvalidLink, DownloadLinkError)
