"""The web's local cache of results stores: fetch once, atomic files, LRU within a budget,
pinned files never evicted, leftovers swept at start."""

from __future__ import annotations

import io
import os
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest

from gas.adapters.store_cache import StoreCache, cache_name
from tests.fakes import FakeObjectStore


class CountingStore(FakeObjectStore):
    """Counts the objects opened, and can be slow to hand them out (a slow S3)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.opened: list[str] = []
        self.delay = delay
        self._count_lock = threading.Lock()

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        with self._count_lock:
            self.opened.append(key)
        if self.delay:
            time.sleep(self.delay)
        return super().open(key)


def _store(*objects: tuple[str, int], delay: float = 0.0) -> CountingStore:
    store = CountingStore(delay)
    for key, size in objects:
        store.put(key, io.BytesIO(key.encode()[:1] * size))
    return store


def test_an_object_is_fetched_once_and_read_locally(tmp_path: Path) -> None:
    store = _store(("u/j~a.variants.parquet", 100))
    cache = StoreCache(store, tmp_path, max_bytes=10_000)
    with cache.local("u/j~a.variants.parquet") as path:
        assert path == tmp_path / "stores" / cache_name("u/j~a.variants.parquet", ".parquet")
        assert path.read_bytes() == b"u" * 100
    with cache.local("u/j~a.variants.parquet") as again:
        assert again == path
    assert store.opened == ["u/j~a.variants.parquet"]
    assert cache.size == 100


def test_a_missing_object_is_a_key_error_and_leaves_nothing(tmp_path: Path) -> None:
    cache = StoreCache(_store(), tmp_path, max_bytes=10_000)
    with pytest.raises(KeyError), cache.local("u/j~gone.parquet"):
        pass
    assert list((tmp_path / "stores").iterdir()) == []
    assert cache.size == 0


def test_concurrent_requests_for_one_key_fetch_it_once(tmp_path: Path) -> None:
    store = _store(("k", 1000), delay=0.2)
    cache = StoreCache(store, tmp_path, max_bytes=10_000)
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with cache.local("k") as path:
                seen.append(path.read_bytes())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen == [b"k" * 1000] * 8
    assert store.opened == ["k"]


def test_least_recently_used_files_are_evicted_beyond_the_budget(tmp_path: Path) -> None:
    store = _store(("a", 400), ("b", 400), ("c", 400))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    for key in ("a", "b"):
        with cache.local(key):
            pass
    with cache.local("a"):  # a is now more recent than b
        pass
    with cache.local("c"):
        pass
    assert "stores/" + cache_name("b", ".parquet") not in cache
    assert "stores/" + cache_name("a", ".parquet") in cache
    assert cache.size == 800
    assert sorted(p.name for p in (tmp_path / "stores").iterdir()) == sorted(
        cache_name(k, ".parquet") for k in ("a", "c")
    )
    with cache.local("b"):  # fetched again
        pass
    assert store.opened.count("b") == 2


def test_a_pinned_file_is_not_evicted_while_in_use(tmp_path: Path) -> None:
    store = _store(("a", 600), ("b", 600))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    with cache.local("a") as a:
        with cache.local("b") as b:
            assert a.exists() and b.exists()  # over budget, but both in use
        assert a.exists()
        assert not b.exists()  # b was released first and is the one to go
    assert cache.size == 600


def test_derived_files_are_built_once_and_share_the_budget(tmp_path: Path) -> None:
    store = _store(("a", 300))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    builds: list[Path] = []

    def build(path: Path) -> None:
        builds.append(path)
        path.write_bytes(b"x" * 500)

    name = cache_name("a", ".vcf.gz")
    with cache.derived(name, build) as first:
        assert first.read_bytes() == b"x" * 500
    with cache.derived(name, build) as second:
        assert second == first
    assert len(builds) == 1
    assert builds[0].name.startswith(".tmp-")  # built under a temporary name, then renamed
    with cache.local("a"):
        pass
    assert cache.size == 800
    with pytest.raises(ValueError), cache.derived("../escape", build):
        pass


def test_a_failed_build_keeps_nothing(tmp_path: Path) -> None:
    cache = StoreCache(_store(), tmp_path, max_bytes=1000)

    def build(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError), cache.derived("x.vcf.gz", build):
        pass
    assert list((tmp_path / "exports").iterdir()) == []
    assert cache.size == 0


def test_leftovers_are_swept_and_old_files_counted_at_start(tmp_path: Path) -> None:
    store = _store(("a", 100))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    with cache.local("a"):
        pass
    (tmp_path / "stores" / ".tmp-abc").write_bytes(b"half a download")
    (tmp_path / "exports" / ".tmp-def").write_bytes(b"half a bgzip")
    leftover = tmp_path / "tmp" / "tmpxyz"
    leftover.mkdir()
    (leftover / "export.vcf.gz").write_bytes(b"x")
    again = StoreCache(store, tmp_path, max_bytes=1000)
    assert sorted(p.name for p in (tmp_path / "stores").iterdir()) == [cache_name("a", ".parquet")]
    assert list((tmp_path / "exports").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert again.size == 100
    with again.local("a"):
        pass
    assert store.opened == ["a"]  # still cached across the restart


def test_a_smaller_budget_at_start_evicts_the_oldest(tmp_path: Path) -> None:
    store = _store(("a", 400), ("b", 400))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    for key in ("a", "b"):
        with cache.local(key):
            pass
    old = time.time() - 100
    os.utime(tmp_path / "stores" / cache_name("a", ".parquet"), (old, old))
    smaller = StoreCache(store, tmp_path, max_bytes=500)
    assert smaller.size == 400
    assert not (tmp_path / "stores" / cache_name("a", ".parquet")).exists()


def test_scratch_directories_are_removed(tmp_path: Path) -> None:
    cache = StoreCache(_store(), tmp_path, max_bytes=1000)
    with cache.scratch() as scratch:
        (scratch / "f").write_bytes(b"x")
    assert not scratch.exists()
    with pytest.raises(RuntimeError), cache.scratch() as scratch:
        raise RuntimeError
    assert not scratch.exists()


def test_discard_forgets_a_key(tmp_path: Path) -> None:
    store = _store(("a", 100))
    cache = StoreCache(store, tmp_path, max_bytes=1000)
    with cache.local("a"):
        pass
    with cache.derived(cache_name("a", ".vcf.gz"), lambda p: p.write_bytes(b"gz")):
        pass
    cache.discard("a", (".parquet", ".vcf.gz"))
    assert cache.size == 0
    assert list((tmp_path / "stores").iterdir()) == [] == list((tmp_path / "exports").iterdir())


def test_local_storage_is_read_in_place(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    objects.mkdir()
    (objects / "a.parquet").write_bytes(b"PAR1")

    def local_path(key: str) -> Path:
        return objects / key

    cache = StoreCache(_store(), tmp_path / "cache", max_bytes=1000, local_path=local_path)
    with cache.local("a.parquet") as path:
        assert path == objects / "a.parquet"
    with pytest.raises(KeyError), cache.local("missing.parquet"):
        pass
    assert cache.size == 0


def test_a_live_processs_temporary_files_are_not_swept(tmp_path: Path) -> None:
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        StoreCache(_store(), tmp_path, max_bytes=1000)
        live = tmp_path / "stores" / f".tmp-{other.pid}-abc"
        live.write_bytes(b"being downloaded by another web process")
        mine = tmp_path / "tmp" / f"{os.getpid()}-duckdb"
        mine.mkdir()
        dead = tmp_path / "tmp" / "999999999-old"
        dead.mkdir()
        StoreCache(_store(), tmp_path, max_bytes=1000)
        assert live.exists() and mine.exists()
        assert not dead.exists()
    finally:
        other.kill()
        other.wait()
    StoreCache(_store(), tmp_path, max_bytes=1000)
    assert not live.exists()


def test_a_private_directory_is_the_processs(tmp_path: Path) -> None:
    cache = StoreCache(_store(), tmp_path, max_bytes=1000)
    path = cache.private_directory("duckdb")
    assert path.is_dir() and path.name == f"{os.getpid()}-duckdb"
