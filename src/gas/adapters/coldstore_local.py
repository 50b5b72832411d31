"""A local cold store that behaves like S3 Glacier, for one machine and for tests.

An archived object cannot be read until a retrieval is requested and has completed. Retrievals
have tiers with configurable delays; Expedited can be refused ("insufficient capacity"). When a
retrieval is requested, its completion is scheduled as a delayed ``results.restore_ready``
message on the durable queue: the event is announced, never discovered by a sleeping loop.

Layout under the root: ``archives/<archive_id>`` (the data, keys validated like the object
store's) and, named by the SHA-256 ``<h>`` of the archive id, ``state/<h>.meta.json`` (size,
SHA-256 of the data) and ``state/<h>.retrieval.json`` (tier, ready_at). Keeping the bookkeeping
apart means any id the object store accepts fits (no suffix pushes a 255-byte name over the
limit) and no archive id can collide with another archive's bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from gas.adapters.localfs import validate_key
from gas.domain import events
from gas.ports import ArchiveInfo, NotRetrieved, RetrievalRefused

TIERS = ("Expedited", "Standard", "Bulk")
CHUNK = 1024 * 1024
TEMP_PREFIX = ".gas-tmp-"  # files being written; an archive id cannot use it (validate_key)

Publish = Callable[..., None]  # queue.publish(topic, payload, delay=seconds)


class LocalColdStore:
    tiers: tuple[str, ...] = TIERS

    def __init__(
        self,
        root: Path,
        *,
        publish: Publish,
        delays: dict[str, float] | None = None,
        refuse_expedited: bool | Callable[[], bool] = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root).resolve()
        self._publish = publish
        self.delays = {"Expedited": 2.0, "Standard": 5.0, "Bulk": 10.0, **(delays or {})}
        self._refuse_expedited = refuse_expedited
        self._now = now

    def __repr__(self) -> str:
        return f"LocalColdStore({str(self.root)!r})"

    # --- paths --------------------------------------------------------------------------------
    @property
    def _archives(self) -> Path:
        return self.root / "archives"

    def _path(self, archive_id: str, suffix: str = "") -> Path:
        """The data (``suffix=""``) or a bookkeeping file (".meta.json", ".retrieval.json")."""
        validate_key(archive_id)
        if suffix:
            digest = hashlib.sha256(archive_id.encode("utf-8", "surrogatepass")).hexdigest()
            return self.root / "state" / (digest + suffix)
        path = (self._archives / archive_id).resolve()
        if self._archives.resolve() not in path.parents:
            raise ValueError(f"archive id {archive_id!r} escapes the cold store")
        return path

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def sweep_temp(self, older_than: float) -> int:
        """Remove the temporary files of archives interrupted by a crash (``.gas-tmp-*`` not
        written to for ``older_than`` seconds); returns how many were removed."""
        removed = 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    if (
                        not name.startswith(TEMP_PREFIX)
                        or time.time() - path.lstat().st_mtime < older_than
                    ):
                        continue
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
        return removed

    # --- port ---------------------------------------------------------------------------------
    def archive(self, archive_id: str, stream: BinaryIO) -> ArchiveInfo:
        path = self._path(archive_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._path(archive_id, ".retrieval.json").unlink(missing_ok=True)  # a new archive is cold
        info = ArchiveInfo(archive_id=archive_id, size=size, sha256=digest.hexdigest())
        self._write_json(
            self._path(archive_id, ".meta.json"), {"size": size, "sha256": info.sha256}
        )
        return info

    def describe(self, archive_id: str) -> ArchiveInfo | None:
        try:
            meta = json.loads(self._path(archive_id, ".meta.json").read_text())
        except FileNotFoundError:
            return None
        if not self._path(archive_id).exists():
            return None
        return ArchiveInfo(archive_id=archive_id, size=meta["size"], sha256=meta["sha256"])

    def _refusing_expedited(self) -> bool:
        refuse = self._refuse_expedited
        return bool(refuse() if callable(refuse) else refuse)

    def request_retrieval(self, archive_id: str, tier: str) -> float:
        if tier not in self.delays:
            raise ValueError(f"unknown retrieval tier {tier!r}")
        if self.describe(archive_id) is None:
            raise KeyError(archive_id)
        now = self._now()
        retrieval = self._retrieval(archive_id)
        if retrieval is not None:  # already requested or done: idempotent, like RestoreObject
            return max(0.0, float(retrieval["ready_at"]) - now)
        if tier == "Expedited" and self._refusing_expedited():
            raise RetrievalRefused("insufficient capacity for Expedited retrievals")
        delay = self.delays[tier]
        # Announce before recording: if the announcement fails, nothing is recorded and the
        # caller's retry announces again (recorded first, the retry would find the retrieval
        # "already requested" and the completion would never be announced).
        self._publish(events.RESULTS_RESTORE_READY, {"archive_id": archive_id}, delay=delay)
        self._write_json(
            self._path(archive_id, ".retrieval.json"), {"tier": tier, "ready_at": now + delay}
        )
        return delay

    def _retrieval(self, archive_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._path(archive_id, ".retrieval.json").read_text())
        except FileNotFoundError:
            return None
        return data

    @contextmanager
    def open_retrieved(self, archive_id: str) -> Iterator[BinaryIO]:
        retrieval = self._retrieval(archive_id)
        if retrieval is None:
            raise NotRetrieved(f"no retrieval was requested for {archive_id}")
        if self._now() < retrieval["ready_at"]:
            raise NotRetrieved(f"the retrieval of {archive_id} has not completed yet")
        try:
            fh = open(self._path(archive_id), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise KeyError(archive_id) from None
        with fh:
            yield fh

    def delete(self, archive_id: str) -> None:
        for suffix in ("", ".meta.json", ".retrieval.json"):
            self._path(archive_id, suffix).unlink(missing_ok=True)
        parent = self._path(archive_id).parent
        while parent != self._archives.resolve() and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
