"""Object storage in a local directory, with time-limited signed download links.

Keys look like ``<user_id>/<job_id>~<file name>``; each ``/``-separated segment becomes a
directory or file under the root. Every key is checked so that it cannot name anything outside
the root, even through a symlink. Writes are atomic: a reader sees the old object or the new one,
never a part of one.

Download links are relative URLs ``/files/<token>`` served by the web app, which checks the token
with the same :class:`DownloadSigner` and serves :meth:`LocalObjectStore.path_for`.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from itsdangerous import BadData, URLSafeSerializer

from gas.ports import ObjectTooLarge

CHUNK_SIZE = 1024 * 1024
DOWNLOAD_URL_PREFIX = "/files/"

# Temp files live next to their target so os.replace stays atomic; no key may use this prefix.
_TEMP_PREFIX = ".gas-tmp-"
_MAX_SEGMENT_BYTES = 255  # NAME_MAX on common filesystems


class DownloadLinkError(Exception):
    """A download token that cannot be honoured."""


class ExpiredLink(DownloadLinkError):
    """The token was genuine but its lifetime has passed."""


class InvalidLink(DownloadLinkError):
    """The token was not made by us (tampered, truncated, or signed with another key)."""


class DownloadSigner:
    """Makes and checks the tokens of time-limited download links.

    The token carries the object key, the file name to offer, and the expiry time as a whole
    number of seconds since the epoch, signed with ``secret_key``. The expiry is the link's own:
    it does not depend on how the verifier is configured. ``now`` is injectable for tests.
    """

    SALT = "gas.download"

    def __init__(self, secret_key: str, *, now: Callable[[], float] = time.time) -> None:
        if not secret_key:
            raise ValueError("DownloadSigner needs a non-empty secret key")
        # The expiry is in the payload, so a timed serializer's own timestamp would be redundant.
        self._serializer = URLSafeSerializer(secret_key, salt=self.SALT)
        self._now = now

    def sign(self, key: str, file_name: str, expires_in: int) -> str:
        """A URL-safe token valid for ``expires_in`` seconds from now."""
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        expires_at = math.floor(self._now()) + int(expires_in)
        return str(self._serializer.dumps({"k": key, "n": file_name, "e": expires_at}))

    def verify(self, token: str) -> tuple[str, str]:
        """The ``(key, file_name)`` of a genuine, unexpired token.

        Raises InvalidLink for anything we did not sign and ExpiredLink once
        ``now() >= expiry``.
        """
        try:
            payload: Any = self._serializer.loads(token)
        except BadData:
            raise InvalidLink("this download link is not valid") from None
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("k"), str)
            or not isinstance(payload.get("n"), str)
            or type(payload.get("e")) is not int
        ):
            raise InvalidLink("this download link is not valid")
        if self._now() >= payload["e"]:
            raise ExpiredLink("this download link has expired")
        return payload["k"], payload["n"]


def _check_segment(segment: str, what: str) -> None:
    if segment == "":
        raise ValueError(f"{what} has an empty segment")
    if segment in {".", ".."}:
        raise ValueError(f"{what} has a {segment!r} segment")
    if segment.startswith(_TEMP_PREFIX):
        raise ValueError(f"{what} uses the reserved prefix {_TEMP_PREFIX!r}")
    if len(segment.encode("utf-8", "surrogatepass")) > _MAX_SEGMENT_BYTES:
        raise ValueError(f"{what} has a segment longer than {_MAX_SEGMENT_BYTES} bytes")


def _check_characters(text: str, what: str) -> None:
    if "\\" in text:
        raise ValueError(f"{what} contains a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{what} contains a NUL or control character")
    if text.startswith("/"):
        raise ValueError(f"{what} is absolute")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a well-formed relative object key, else raise ValueError.

    A key is one or more ``/``-separated segments, none empty, ``.`` or ``..``, with no
    backslash, NUL or control character.
    """
    if not isinstance(key, str) or key == "":
        raise ValueError("object key is empty")
    _check_characters(key, f"object key {key!r}")
    for segment in key.split("/"):
        _check_segment(segment, f"object key {key!r}")
    return key


class LocalObjectStore:
    """The ``ObjectStore`` port over a directory (files 0600, directories 0700)."""

    def __init__(self, root: Path, *, signer: DownloadSigner) -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root.resolve(strict=True)
        self.signer = signer

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # --- keys ---------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file that holds ``key`` (which may not exist yet).

        Raises ValueError for a malformed key or one that resolves outside the root (for
        instance through a symlink).
        """
        validate_key(key)
        path = (self.root / key).resolve(strict=False)
        if path == self.root or not path.is_relative_to(self.root):
            raise ValueError(f"object key {key!r} resolves outside the store")
        return path

    # --- ObjectStore ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Stream ``stream`` to ``key`` atomically and return its size.

        Reads at most ``max_bytes + 1`` bytes when a limit is given; over it, nothing is kept
        (an existing object under ``key`` is left untouched) and ObjectTooLarge is raised.
        """
        path = self.path_for(key)
        fd, tmp_name = self._temp_file_beside(path)
        total = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    want = CHUNK_SIZE
                    if max_bytes is not None:
                        want = min(want, max_bytes - total + 1)
                    chunk = stream.read(want)
                    if not chunk:
                        break
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise ObjectTooLarge(max_bytes)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            self._prune_empty_dirs(path.parent)
            raise
        self._fsync_dir(path.parent)
        return total

    def open(self, key: str) -> BinaryIO:
        """The object as a binary file (also a context manager); KeyError if missing."""
        path = self.path_for(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        """The object's size in bytes; KeyError if missing."""
        path = self.path_for(key)
        if not path.is_file():
            raise KeyError(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        """Remove the object and any directories it leaves empty; no error if it is gone."""
        path = self.path_for(key)
        if not path.is_file():
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._prune_empty_dirs(path.parent)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with ``prefix`` (a plain string prefix, as in S3), sorted."""
        if prefix:
            _check_characters(prefix, f"key prefix {prefix!r}")
            for segment in prefix.split("/")[:-1]:
                _check_segment(segment, f"key prefix {prefix!r}")
        directory, _, _ = prefix.rpartition("/")
        start = self.root / directory if directory else self.root
        if start.is_symlink() or not start.is_dir():
            return iter(())
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            here = Path(dirpath)
            # Symlinked directories are not walked (os.walk's default); skip symlinked files too.
            dirnames[:] = [d for d in dirnames if not d.startswith(_TEMP_PREFIX)]
            for name in filenames:
                if name.startswith(_TEMP_PREFIX) or (here / name).is_symlink():
                    continue
                key = (here / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return iter(sorted(found))

    def sweep_temp(self, older_than: float, *, now: Callable[[], float] = time.time) -> int:
        """Remove the temporary files of writes interrupted by a crash (``.gas-tmp-*`` not
        written to for ``older_than`` seconds: a write in progress keeps its file fresh) and
        the directories they leave empty; returns how many files were removed."""
        removed = 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            for name in filenames:
                if not name.startswith(_TEMP_PREFIX):
                    continue
                path = here / name
                try:
                    if now() - path.lstat().st_mtime < older_than:
                        continue
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
                self._prune_empty_dirs(here)
        return removed

    def download_url(self, key: str, *, file_name: str, expires_in: int) -> str:
        """A relative URL ``/files/<token>`` that the web app serves until it expires."""
        validate_key(key)
        return DOWNLOAD_URL_PREFIX + self.signer.sign(key, file_name, expires_in)

    # --- helpers --------------------------------------------------------------------------

    def _make_dirs(self, directory: Path) -> None:
        missing: list[Path] = []
        while directory != self.root and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=0o700)

    def _temp_file_beside(self, path: Path) -> tuple[int, str]:
        # A concurrent delete may prune the directory between mkdir and mkstemp: try again.
        for attempt in range(5):
            self._make_dirs(path.parent)
            try:
                return tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)  # mode 0600
            except FileNotFoundError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _prune_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:  # not empty (or already gone): stop climbing
                return
            directory = directory.parent

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # Makes the rename itself durable; not every platform can open a directory.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
