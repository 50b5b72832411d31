"""What goes to the cold store for one job: its annotated VCF and, with it, its results store.

A job with a results store is archived as ONE archive — a tar stream (POSIX pax) of the
objects, each named by the last segment of its key — so that they are archived, verified,
recorded, retrieved and restored together: one archive id, one size and SHA-256 on the job,
one retrieval and one ``results.restore_ready``, exactly as for the annotated VCF alone. Jobs
without a store (annotated before GAS wrote one) keep the plain VCF as their archive.

Both directions stream with bounded memory: the tar is produced while the cold store reads
it, and unpacked while it is read back.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from gas.ports import ObjectStore

BLOCK = 512
CHUNK = 1024 * 1024


class BundleError(Exception):
    """An object changed while it was bundled, or a bundle is not what was archived."""


def member_name(key: str) -> str:
    """The name of ``key``'s object in a bundle: its key's last segment."""
    return key.rsplit("/", 1)[-1]


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0  # the same objects make the same bytes: a re-run rewrites the same archive
    return info.tobuf(format=tarfile.PAX_FORMAT)  # pax: names of any length


class BundleReader:
    """A readable binary stream: the tar of ``keys``' objects, read from ``storage`` one
    after the other. BundleError if an object's size changes while it is read."""

    def __init__(self, storage: ObjectStore, keys: list[str]) -> None:
        self._chunks = self._generate(storage, keys)
        self._buffer = b""
        self._done = False

    @staticmethod
    def _generate(storage: ObjectStore, keys: list[str]) -> Iterator[bytes]:
        for key in keys:
            size = storage.size(key)
            yield _header(member_name(key), size)
            copied = 0
            with storage.open(key) as fh:
                while chunk := fh.read(CHUNK):
                    copied += len(chunk)
                    yield chunk
            if copied != size:
                raise BundleError(f"{key}: read {copied} bytes, expected {size}")
            if size % BLOCK:
                yield b"\0" * (BLOCK - size % BLOCK)
        yield b"\0" * (2 * BLOCK)  # the end-of-archive marker

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buffer, *self._chunks]
            self._buffer = b""
            return b"".join(parts)
        while len(self._buffer) < n and not self._done:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._done = True
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def unpack(stream: BinaryIO, put: Callable[[str, BinaryIO], None]) -> list[str]:
    """Read a bundle from ``stream``, calling ``put(name, member stream)`` for each object in
    order, then read the stream to its end (so that a hashing reader has seen every byte).
    Returns the names. BundleError for anything but a tar of regular files."""
    names: list[str] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    raise BundleError(f"unexpected member {member.name!r} in the archive")
                fh = tar.extractfile(member)
                assert fh is not None  # a regular file
                put(member.name, fh)  # type: ignore[arg-type]
                names.append(member.name)
    except tarfile.TarError as exc:
        raise BundleError(f"the archive is not a readable bundle: {exc}") from None
    while stream.read(CHUNK):
        pass
    return names
