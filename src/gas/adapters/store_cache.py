"""A local cache of stored objects for the web's results queries and downloads.

DuckDB and htslib read local files; results stores live in object storage (a directory or
S3). ``StoreCache`` fetches an object once into ``<dir>/stores/<sha256(key)><suffix>`` and
hands out its path; files derived from objects (the annotated VCF bgzipped, its tabix index)
are built once into ``<dir>/exports/``. Both share one size budget (``max_bytes``,
``GAS_RESULTS_CACHE_BYTES``), evicting the least recently used files first.

- Writes are atomic: a file is written under a temporary name and renamed into place, so a
  reader (of this process or another one sharing ``GAS_DATA_DIR``) sees all of it or nothing.
  Temporary files and directories carry their process's id; those of processes that are no
  longer running (left by a crash) are swept when the cache is created — never another live
  process's, so several web processes may share ``GAS_DATA_DIR``.
- Concurrent requests for the same file in one process fetch or build it once: the others
  wait for it. (Two processes may both fetch it; the last rename wins, with the same bytes.)
- A file is pinned while a caller uses it (``with cache.local(key) as path``) and never
  evicted then; the budget may be exceeded while everything is pinned, and is enforced again
  as soon as pins are released.
- Objects under a key never change (a job's outputs are written once; a restore writes the
  same bytes back), so a cached file is valid as long as its object's job may be read: the
  service checks access before it asks, and ``discard`` drops a job's files early.
- With local storage, ``local_path`` maps a key to the object's own file, which is read in
  place (no copy); only derived files are cached then.
- Scratch directories for one-off files (a filtered download) live under ``<dir>/tmp`` and
  are removed when the caller is done with them, or at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from gas.ports import ObjectStore

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_TEMP_PREFIX = ".tmp-"
STORES = "stores"
EXPORTS = "exports"
SCRATCH = "tmp"


def _abandoned(name: str) -> bool:
    """Whether a temporary name ``<pid>-…`` belongs to no running process (or to none)."""
    pid_text = name.partition("-")[0]
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():  # this process's (another cache on the same directory): in use
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def cache_name(key: str, suffix: str) -> str:
    """The file name of ``key``'s cached copy (or of a file derived from it)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest() + suffix


class StoreCache:
    def __init__(
        self,
        storage: ObjectStore,
        directory: Path,
        *,
        max_bytes: int,
        local_path: Callable[[str], Path] | None = None,
    ) -> None:
        self.storage = storage
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._local_path = local_path
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self._pins: dict[str, int] = {}
        self._lru: OrderedDict[str, int] = OrderedDict()  # relative name -> size, oldest first
        for sub in (STORES, EXPORTS, SCRATCH):
            (self.directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()
        self._load()

    # --- start-up -----------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove temporary files and scratch directories left by processes that died."""
        removed = 0
        for sub in (STORES, EXPORTS):
            for path in (self.directory / sub).iterdir():
                if path.name.startswith(_TEMP_PREFIX) and _abandoned(
                    path.name[len(_TEMP_PREFIX) :]
                ):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed += 1
        for path in (self.directory / SCRATCH).iterdir():
            if not _abandoned(path.name):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed += 1
        if removed:
            log.info("results cache: swept %d leftover temporary file(s)", removed)
        return removed

    def _load(self) -> None:
        found: list[tuple[float, str, int]] = []
        for sub in (STORES, EXPORTS):
            for path in (self.directory / sub).iterdir():
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime, f"{sub}/{path.name}", stat.st_size))
        for _, name, size in sorted(found):
            self._lru[name] = size
        with self._lock:
            self._evict()

    # --- what callers use ---------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes in the cache, as this process counts them."""
        with self._lock:
            return sum(self._lru.values())

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._lru

    @contextlib.contextmanager
    def local(self, key: str, suffix: str = ".parquet") -> Iterator[Path]:
        """A local file holding the object ``key``, pinned while the block runs. KeyError if
        there is no such object."""
        if self._local_path is not None:
            path = self._local_path(key)
            if not path.is_file():
                raise KeyError(key)
            yield path
            return

        def fetch(target: Path) -> None:
            with self.storage.open(key) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)

        with self._pinned(f"{STORES}/{cache_name(key, suffix)}", fetch) as path:
            yield path

    @contextlib.contextmanager
    def derived(self, name: str, build: Callable[[Path], None]) -> Iterator[Path]:
        """A file made by ``build(path)`` (which writes ``path``) the first time it is asked
        for, then kept in the cache under ``name`` (e.g. ``cache_name(key, '.vcf.gz')``);
        pinned while the block runs. Whatever ``build`` raises is raised, nothing is kept."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad cache name {name!r}")
        with self._pinned(f"{EXPORTS}/{name}", build) as path:
            yield path

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private temporary directory, removed when the block ends."""
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.directory / SCRATCH))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def private_directory(self, name: str) -> Path:
        """A directory of this process (e.g. where the query engine spills a big sort),
        swept at the next start once the process has ended."""
        path = self.directory / SCRATCH / f"{os.getpid()}-{name}"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def discard(self, key: str, suffixes: tuple[str, ...] = (".parquet",)) -> None:
        """Forget the cached copies of ``key`` (and files derived from it, by suffix), e.g.
        once its job is archived or deleted. Pinned files are left for their users."""
        for sub in (STORES, EXPORTS):
            for suffix in suffixes:
                name = f"{sub}/{cache_name(key, suffix)}"
                with self._lock:
                    if self._pins.get(name):
                        continue
                    self._lru.pop(name, None)
                    with contextlib.suppress(FileNotFoundError):
                        (self.directory / name).unlink()

    # --- inside -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _pinned(self, name: str, fill: Callable[[Path], None]) -> Iterator[Path]:
        path = self.directory / name
        with self._lock:
            self._pins[name] = self._pins.get(name, 0) + 1
            building = self._building.setdefault(name, threading.Lock())
        try:
            with building:  # one fetch or build per file at a time; the others wait
                if not path.is_file():
                    self._fill(name, path, fill)
                else:
                    self._touch(name, path)
            yield path
        finally:
            with self._lock:
                self._pins[name] -= 1
                if not self._pins[name]:
                    del self._pins[name]
                    self._building.pop(name, None)
                self._evict()

    def _fill(self, name: str, path: Path, fill: Callable[[Path], None]) -> None:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
        os.close(fd)
        temp = Path(temp_name)
        try:
            fill(temp)
            size = temp.stat().st_size
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        with self._lock:
            self._lru.pop(name, None)
            self._lru[name] = size
        log.debug("results cache: %s filled (%d bytes)", name, size)

    def _touch(self, name: str, path: Path) -> None:
        with self._lock:
            if name in self._lru:
                self._lru.move_to_end(name)
            else:  # put there by another process
                with contextlib.suppress(OSError):
                    self._lru[name] = path.stat().st_size
        with contextlib.suppress(OSError):
            os.utime(path)  # the order survives a restart

    def _evict(self) -> None:
        """Drop the least recently used unpinned files until the budget holds (lock held)."""
        total = sum(self._lru.values())
        if total <= self.max_bytes:
            return
        for name in list(self._lru):
            if total <= self.max_bytes:
                break
            if self._pins.get(name):
                continue
            total -= self._lru.pop(name)
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
            log.debug("results cache: evicted %s", name)
