"""Object storage in an S3 bucket (``GAS_STORAGE_URL=s3://BUCKET[/PREFIX]``).

Keys are validated like the local store's (:func:`gas.adapters.localfs.validate_key`) and stored
under ``PREFIX/``. Every write asks for server-side encryption (SSE-S3, ``AES256``, unless told
otherwise).

Uploads stream: the input is cut into parts that are each spooled to a temporary file (never
held in memory) and sent with a multipart upload; an input that fits in one part is sent with a
single PutObject. Over ``max_bytes`` the upload is aborted, so nothing is kept and an existing
object under the key is left untouched (S3 replaces an object only when an upload completes).

Downloads are presigned GETs that serve the object as an attachment. Browsers upload inputs
straight to S3 with :meth:`S3ObjectStore.presigned_post`, whose signed policy holds the size
limit, the key (exact, or a prefix completed by S3 with the file's name), the encryption and the
redirect back to the app.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any, BinaryIO
from urllib.parse import quote

from gas.adapters import aws
from gas.adapters.localfs import validate_key
from gas.ports import ObjectTooLarge

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
COPY_CHUNK = 256 * 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days
STALE_UPLOAD_SECONDS = 24 * 3600  # a multipart upload begun this long ago was abandoned

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def join_prefix(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a key, except that its last segment may be empty or partial."""
    if not isinstance(prefix, str):
        raise ValueError("key prefix must be a string")
    if prefix == "":
        return prefix
    if "\\" in prefix or prefix.startswith("/"):
        raise ValueError(f"key prefix {prefix!r} is absolute or has a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in prefix):
        raise ValueError(f"key prefix {prefix!r} contains a NUL or control character")
    for segment in prefix.split("/")[:-1]:
        if segment in {"", ".", ".."}:
            raise ValueError(f"key prefix {prefix!r} has an empty, '.' or '..' segment")
    return prefix


def abort_stale_uploads(
    client: Any, bucket: str, prefix: str, older_than: float, *, now: datetime | None = None
) -> int:
    """Abort the multipart uploads under ``prefix`` begun more than ``older_than`` seconds ago,
    and never less than a day ago (an upload of many parts may rightly take hours). A process
    that dies mid-upload leaves its parts stored, and billed, until the upload is aborted.
    Returns how many were aborted."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=max(older_than, STALE_UPLOAD_SECONDS))
    full_prefix = f"{prefix}/" if prefix else ""
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix=full_prefix
    ):
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                with contextlib.suppress(client.exceptions.NoSuchUpload):
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
    return aborted


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact name as RFC 5987 ``filename*``."""
    fallback = (
        "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in file_name).strip()
        or "download"
    )
    encoded = quote(file_name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def spool_part(
    stream: BinaryIO, limit: int, *, counted: int, max_bytes: int | None
) -> tuple[IO[bytes], int]:
    """Copy up to ``limit`` bytes of ``stream`` into a temporary file (rewound).

    ``counted`` is what was read before; ObjectTooLarge as soon as the running total passes
    ``max_bytes`` (reading at most one byte past it).
    """
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    size = 0
    try:
        while size < limit:
            want = min(COPY_CHUNK, limit - size)
            if max_bytes is not None:
                want = min(want, max_bytes - (counted + size) + 1)
            chunk = stream.read(want)
            if not chunk:
                break
            size += len(chunk)
            if max_bytes is not None and counted + size > max_bytes:
                raise ObjectTooLarge(max_bytes)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size


class S3Body(io.RawIOBase):
    """An object's streaming body as a binary file.

    (botocore's ``StreamingBody`` used as a context manager hands out the raw HTTP stream,
    skipping its own checks that the whole body arrived; this keeps them.)
    """

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._body.read(None if size is None or size < 0 else size)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ObjectStore:
    """The ``ObjectStore`` port over ``s3://bucket/prefix``.

    ``client`` is a boto3 S3 client (see :func:`gas.adapters.aws.client`). ``sse`` is the
    ``ServerSideEncryption`` asked for on every write (``"AES256"`` or ``"aws:kms"``).
    ``part_size`` is the multipart part size (at least 5 MiB); each part is spooled to a temporary
    file, so memory use does not depend on it.
    """

    list_page_size = 1000  # ListObjectsV2's maximum

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any,
        sse: str = "AES256",
        part_size: int = 8 * MIB,
    ) -> None:
        if not bucket:
            raise ValueError("S3ObjectStore needs a bucket name")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.sse = sse
        self.part_size = part_size

    def __repr__(self) -> str:
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"S3ObjectStore('s3://{where}')"

    def s3_key(self, key: str) -> str:
        """The S3 object key that holds ``key`` (ValueError for a malformed key)."""
        return join_prefix(self.prefix, validate_key(key))

    def key_from_s3(self, s3_key: str) -> str:
        """The store's key for the S3 object key ``s3_key`` (as S3 reports it, e.g. in a
        presigned POST's redirect); ValueError if it is outside the prefix or malformed."""
        if self.prefix:
            if not s3_key.startswith(self.prefix + "/"):
                raise ValueError(f"S3 key {s3_key!r} is not under {self.prefix}/")
            s3_key = s3_key[len(self.prefix) + 1 :]
        return validate_key(s3_key)

    # --- ObjectStore ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Stream ``stream`` to ``key`` and return its size (see the module docstring)."""
        s3_key = self.s3_key(key)
        upload_id: str | None = None
        spools: list[IO[bytes]] = []  # every temporary file opened here, closed at the end

        def spool(counted: int) -> tuple[IO[bytes], int]:
            part, size = spool_part(stream, self.part_size, counted=counted, max_bytes=max_bytes)
            spools.append(part)
            return part, size

        try:
            current, size = spool(0)
            total = size
            parts: list[dict[str, Any]] = []
            while True:
                following, following_size = None, 0
                if size == self.part_size:  # there may be more: read ahead one part
                    following, following_size = spool(total)
                last = following_size == 0
                if last and upload_id is None:  # all of it fits in one request
                    self.client.put_object(
                        Bucket=self.bucket, Key=s3_key, Body=current, **self._write_args()
                    )
                    return total
                if upload_id is None:
                    upload_id = self.client.create_multipart_upload(
                        Bucket=self.bucket, Key=s3_key, **self._write_args()
                    )["UploadId"]
                number = len(parts) + 1
                if number > MAX_PARTS:
                    raise ValueError(f"object larger than {MAX_PARTS} parts of {self.part_size}")
                answer = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=s3_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=current,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                current.close()
                if last or following is None:
                    break
                current, size = following, following_size
                total += size
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=s3_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
            return total
        finally:
            for part in spools:
                part.close()
            if upload_id is not None:  # failed or refused: keep nothing
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=s3_key, UploadId=upload_id
                    )

    def sweep_temp(self, older_than: float) -> int:
        """Abort the multipart uploads of puts interrupted by a crash (under the prefix, begun
        more than a day ago); returns how many."""
        return abort_stale_uploads(self.client, self.bucket, self.prefix, older_than)

    def open(self, key: str) -> BinaryIO:
        """The object's streaming body (a binary file and context manager); KeyError if
        missing."""
        s3_key = self.s3_key(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=s3_key)
        except Exception as exc:
            if aws.error_code(exc) in _NOT_FOUND:
                raise KeyError(key) from None
            raise
        return io.BufferedReader(S3Body(answer["Body"]), buffer_size=COPY_CHUNK)

    def head(self, key: str) -> dict[str, Any] | None:
        """HeadObject's answer, or None if there is no object under ``key``."""
        s3_key = self.s3_key(key)
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=s3_key)
        except Exception as exc:
            if aws.error_code(exc) in _NOT_FOUND:
                return None
            raise
        return answer

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def size(self, key: str) -> int:
        answer = self.head(key)
        if answer is None:
            raise KeyError(key)
        return int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        """Remove the object; S3's DeleteObject succeeds for a missing key too."""
        self.client.delete_object(Bucket=self.bucket, Key=self.s3_key(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with ``prefix`` (a plain string prefix), in S3's (UTF-8 byte)
        order, which for these keys is also Python's string order."""
        check_prefix(prefix)
        full = join_prefix(self.prefix, prefix) if self.prefix else prefix
        if self.prefix and not prefix:
            full = self.prefix + "/"
        return self._list(full)

    def _list(self, full_prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=full_prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"][strip:]

    def download_url(self, key: str, *, file_name: str, expires_in: int) -> str:
        """An absolute presigned GET URL, valid ``expires_in`` seconds (at most 7 days), that
        serves the object as an attachment named ``file_name``."""
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.s3_key(key),
                "ResponseContentDisposition": content_disposition(file_name),
            },
            ExpiresIn=int(expires_in),
        )
        return url

    # --- browser uploads ----------------------------------------------------------------------

    def presigned_post(
        self,
        key: str,
        *,
        max_bytes: int,
        success_redirect: str,
        expires_in: int = 3600,
        redirect_is_prefix: bool = False,
    ) -> dict[str, Any]:
        """``{"url", "fields"}`` for an HTML form that uploads one file straight to ``key``.

        The form posts ``fields`` (in any order) and then the file as the last field, named
        ``file``. S3 refuses the upload unless it is 1..``max_bytes`` bytes, for this key, with
        SSE, before the policy expires; on success it redirects the browser (303) to
        ``success_redirect`` with ``bucket``, ``key`` and ``etag`` added to its query.

        A ``key`` ending in ``${filename}`` is a prefix: S3 replaces ``${filename}`` with the
        name of the file the browser sends, and the policy only requires the key to start with
        the rest (``["starts-with", "$key", …]``, as boto3 writes it).

        ``redirect_is_prefix``: ``success_redirect`` is then a prefix too; ``fields`` leaves
        ``success_action_redirect`` out and the form supplies it (for instance from a
        ``<select>``), any value that starts with ``success_redirect`` being accepted.
        """
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
        fields: dict[str, str] = {}
        conditions: list[Any] = [["content-length-range", 1, int(max_bytes)]]
        if redirect_is_prefix:
            conditions.append(["starts-with", "$success_action_redirect", success_redirect])
        else:
            fields["success_action_redirect"] = success_redirect
            conditions.append({"success_action_redirect": success_redirect})
        if self.sse:
            fields["x-amz-server-side-encryption"] = self.sse
            conditions.append({"x-amz-server-side-encryption": self.sse})
        # boto3 adds the key (exact, or starts-with for ``${filename}``) and bucket conditions.
        post: dict[str, Any] = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=self.s3_key(key),
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=int(expires_in),
        )
        return {"url": post["url"], "fields": dict(post["fields"])}

    # --- helpers --------------------------------------------------------------------------

    def _write_args(self) -> dict[str, Any]:
        return {"ServerSideEncryption": self.sse} if self.sse else {}


def s3_store_from_url(url: str, settings: aws.AwsSettings, *, client: Any = None) -> S3ObjectStore:
    """The store named by ``GAS_STORAGE_URL=s3://BUCKET[/PREFIX][?sse=AES256|aws:kms]``."""
    bucket, prefix, options = aws.parse_bucket_url(url, schemes=("s3",), variable="GAS_STORAGE_URL")
    sse = options.pop("sse", "AES256")
    if options:
        raise ValueError(f"GAS_STORAGE_URL: unknown parameter(s) {sorted(options)} (known: sse)")
    if sse not in {"AES256", "aws:kms"}:
        raise ValueError(f"GAS_STORAGE_URL: sse must be AES256 or aws:kms, got {sse!r}")
    return S3ObjectStore(bucket, prefix, client=client or aws.client("s3", settings), sse=sse)
