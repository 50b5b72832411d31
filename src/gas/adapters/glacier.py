"""The cold store on S3's archive storage classes (``GAS_COLDSTORE_URL=s3-glacier://BUCKET[/PREFIX]``).

An archive is an S3 object in the ``GLACIER`` (S3 Glacier Flexible Retrieval) or
``DEEP_ARCHIVE`` storage class, under ``PREFIX/<archive_id>``, encrypted at rest (SSE-S3).
Such an object cannot be read until a ``RestoreObject`` request has made a temporary copy of it
(for ``restore_days`` days).

Integrity: the input is spooled to a temporary file while its SHA-256 is computed; objects up to
``multipart_threshold`` are sent with one PutObject carrying that SHA-256
(``x-amz-checksum-sha256``), which S3 verifies and reports back on HeadObject with
``ChecksumMode=ENABLED``: :meth:`GlacierColdStore.describe` returns the size and SHA-256 *as S3
reports them*. Larger inputs go in a multipart upload with a SHA-256 per part, which S3 verifies
part by part; S3 then only has a composite checksum (a hash of the part hashes, not the
object's SHA-256), so the whole-object SHA-256 is also kept as user metadata
(``x-amz-meta-sha256``, set when the upload is created) and reported from there for such
objects.

Completion of a retrieval is NOT announced here: S3 sends ``s3:ObjectRestore:Completed`` to the
SQS queue named in the bucket's event notifications (set up by ``gas aws bootstrap``), and the
consumer of that queue turns each message into ``results.restore_ready`` with
:func:`parse_restore_event`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, BinaryIO
from urllib.parse import unquote_plus

from gas.adapters import aws
from gas.adapters.localfs import validate_key
from gas.adapters.s3 import (
    COPY_CHUNK,
    MIB,
    MIN_PART_SIZE,
    S3Body,
    abort_stale_uploads,
    join_prefix,
)
from gas.ports import ArchiveInfo, NotRetrieved, RetrievalRefused

log = logging.getLogger("gas.coldstore")

HOUR = 3600.0

# The longest documented wait of each retrieval tier, in seconds ("expected wait" is shown to
# users as "ready within", so the upper bound is the honest figure).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html
EXPECTED_WAITS: dict[str, dict[str, float]] = {
    "GLACIER": {"Expedited": 5 * 60.0, "Standard": 5 * HOUR, "Bulk": 12 * HOUR},
    "DEEP_ARCHIVE": {"Standard": 12 * HOUR, "Bulk": 48 * HOUR},
}
STORAGE_CLASSES = tuple(EXPECTED_WAITS)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# Expedited retrievals can be refused for lack of capacity (unless capacity was provisioned).
_NO_CAPACITY = {"GlacierExpeditedRetrievalNotAvailable", "ServiceUnavailable", "SlowDown"}


class GlacierColdStore:
    """The ``ColdStore`` port over S3 archive storage classes.

    ``client`` is a boto3 S3 client (:func:`gas.adapters.aws.client`). ``expected_waits``
    overrides the per-tier waits :meth:`request_retrieval` reports (seconds).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any,
        storage_class: str = "GLACIER",
        restore_days: int = 1,
        sse: str = "AES256",
        expected_waits: Mapping[str, float] | None = None,
        multipart_threshold: int = 100 * MIB,
        part_size: int = 64 * MIB,
    ) -> None:
        if not bucket:
            raise ValueError("GlacierColdStore needs a bucket name")
        if storage_class not in EXPECTED_WAITS:
            raise ValueError(
                f"storage class must be one of {', '.join(STORAGE_CLASSES)}, got {storage_class!r}"
            )
        if restore_days < 1:
            raise ValueError("restore_days must be at least 1")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.storage_class = storage_class
        self.restore_days = int(restore_days)
        self.sse = sse
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        waits = dict(EXPECTED_WAITS[storage_class])
        for tier, seconds in (expected_waits or {}).items():
            if tier not in waits:
                raise ValueError(f"{storage_class} has no {tier!r} retrieval tier")
            waits[tier] = float(seconds)
        self.expected_waits = waits
        # Fastest first (DEEP_ARCHIVE has no Expedited tier).
        self.tiers: tuple[str, ...] = tuple(waits)

    def __repr__(self) -> str:
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"GlacierColdStore('s3-glacier://{where}', {self.storage_class})"

    def s3_key(self, archive_id: str) -> str:
        return join_prefix(self.prefix, validate_key(archive_id))

    # --- archive --------------------------------------------------------------------------------

    def archive(self, archive_id: str, stream: BinaryIO) -> ArchiveInfo:
        """Store ``stream`` under ``archive_id`` in the archive storage class, replacing any
        earlier copy (which makes the archive cold again); returns what S3 reports."""
        key = self.s3_key(archive_id)
        with tempfile.TemporaryFile() as spool:
            digest = hashlib.sha256()
            size = 0
            while chunk := stream.read(COPY_CHUNK):
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
            sha256 = digest.hexdigest()
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": key,
                "StorageClass": self.storage_class,
                "Metadata": {"sha256": sha256},
                "ChecksumAlgorithm": "SHA256",
            }
            if self.sse:
                args["ServerSideEncryption"] = self.sse
            if size <= self.multipart_threshold:
                self.client.put_object(
                    Body=spool,
                    ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                    **args,
                )
            else:
                self._multipart(spool, size, args)
        info = self.describe(archive_id)
        if info is None:
            raise RuntimeError(f"{key} is missing right after it was stored")
        if (info.size, info.sha256) != (size, sha256):
            raise RuntimeError(
                f"S3 reports {info.size} bytes, SHA-256 {info.sha256} for {key}; "
                f"sent {size} bytes, SHA-256 {sha256}"
            )
        return info

    def _multipart(self, spool: IO[bytes], size: int, args: dict[str, Any]) -> None:
        part_size = max(self.part_size, math.ceil(size / 10_000))
        upload_id = self.client.create_multipart_upload(**args)["UploadId"]
        bucket, key = args["Bucket"], args["Key"]
        try:
            parts = []
            number = 0
            while True:
                with tempfile.TemporaryFile() as part:
                    length = 0
                    while length < part_size and (
                        chunk := spool.read(min(COPY_CHUNK, part_size - length))
                    ):
                        part.write(chunk)
                        length += len(chunk)
                    if length == 0:
                        break
                    part.seek(0)
                    number += 1
                    answer = self.client.upload_part(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                        ChecksumAlgorithm="SHA256",
                    )
                parts.append(
                    {
                        "PartNumber": number,
                        "ETag": answer["ETag"],
                        "ChecksumSHA256": answer["ChecksumSHA256"],
                    }
                )
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the first error is the one to report
                log.warning("could not abort the multipart upload of %s", key, exc_info=True)
            raise

    # --- describe -------------------------------------------------------------------------------

    def sweep_temp(self, older_than: float) -> int:
        """Abort the multipart uploads of archives interrupted by a crash (under the prefix,
        begun more than a day ago); returns how many."""
        return abort_stale_uploads(self.client, self.bucket, self.prefix, older_than)

    def _head(self, archive_id: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self.s3_key(archive_id), ChecksumMode="ENABLED"
            )
        except Exception as exc:
            if aws.error_code(exc) in _NOT_FOUND:
                return None
            raise
        return answer

    def describe(self, archive_id: str) -> ArchiveInfo | None:
        """Size and SHA-256 of the stored archive as S3 reports them, or None."""
        head = self._head(archive_id)
        if head is None:
            return None
        return ArchiveInfo(
            archive_id=archive_id, size=int(head["ContentLength"]), sha256=_sha256_of(head)
        )

    # --- retrieval ------------------------------------------------------------------------------

    def request_retrieval(self, archive_id: str, tier: str) -> float:
        """``RestoreObject`` with ``tier``; returns the expected wait in seconds (0 when a
        restored copy is already readable).

        Idempotent: a request for an archive whose restore is in progress (S3's 409
        ``RestoreAlreadyInProgress``) reports ``tier``'s wait again; S3 does not say how far
        the first request has got. RetrievalRefused when S3 has no Expedited capacity (503
        ``GlacierExpeditedRetrievalNotAvailable``); KeyError for an unknown archive.
        """
        if tier not in self.expected_waits:
            raise ValueError(
                f"unknown retrieval tier {tier!r} for {self.storage_class} "
                f"(one of {', '.join(self.tiers)})"
            )
        key = self.s3_key(archive_id)
        try:
            self.client.restore_object(
                Bucket=self.bucket,
                Key=key,
                RestoreRequest={
                    "Days": self.restore_days,
                    "GlacierJobParameters": {"Tier": tier},
                },
            )
        except Exception as exc:
            code = aws.error_code(exc)
            if code in _NOT_FOUND:
                raise KeyError(archive_id) from None
            if code == "RestoreAlreadyInProgress":
                return self.expected_waits[tier]
            if code in _NO_CAPACITY or aws.http_status(exc) == 503:
                raise RetrievalRefused(f"S3 refused a {tier} retrieval: {code or exc}") from exc
            raise
        # 202 (a new restore) or 200 (a restored copy exists, its expiry is extended): either
        # way, the object's own restore status tells whether there is anything to wait for.
        head = self._head(archive_id)
        if head is None:
            raise KeyError(archive_id)
        if restore_status(head) == "done":
            return 0.0
        return self.expected_waits[tier]

    @contextmanager
    def open_retrieved(self, archive_id: str) -> Iterator[BinaryIO]:
        """Read the restored copy; NotRetrieved until the restore has completed, KeyError for
        an unknown archive."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.s3_key(archive_id))
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "InvalidObjectState":
                raise NotRetrieved(f"{archive_id} has not been restored (yet)") from None
            if code in _NOT_FOUND:
                raise KeyError(archive_id) from None
            raise
        with io.BufferedReader(S3Body(answer["Body"]), buffer_size=COPY_CHUNK) as body:
            yield body

    def delete(self, archive_id: str) -> None:
        """Remove the archive (and any restored copy); no error if it is already gone."""
        self.client.delete_object(Bucket=self.bucket, Key=self.s3_key(archive_id))

    # --- restore events -------------------------------------------------------------------------

    def parse_restore_event(self, body: str) -> list[str]:
        """The archive ids whose restore completed, from one SQS message body (see
        :func:`parse_restore_event`), limited to this store's bucket and prefix."""
        return parse_restore_event(body, bucket=self.bucket, prefix=self.prefix)


def _sha256_of(head: Mapping[str, Any]) -> str:
    """The object's SHA-256 (hex): S3's full-object checksum when it has one, else the
    ``sha256`` metadata written with it (multipart uploads only have a composite checksum)."""
    reported = head.get("ChecksumSHA256")
    multipart = "-" in str(head.get("ETag", "")).strip('"')
    composite = head.get("ChecksumType") == "COMPOSITE" or "-" in str(reported or "")
    if reported and not multipart and not composite:
        return base64.b64decode(reported).hex()
    stored = head.get("Metadata", {}).get("sha256")
    if not stored:
        raise RuntimeError("the archive has neither a SHA-256 checksum nor sha256 metadata")
    return str(stored)


def restore_status(head: Mapping[str, Any]) -> str:
    """``"none"``, ``"ongoing"`` or ``"done"``, from HeadObject's ``Restore`` field
    (``x-amz-restore: ongoing-request="false", expiry-date="…"``)."""
    restore = str(head.get("Restore") or "")
    if not restore:
        return "none"
    if 'ongoing-request="true"' in restore:
        return "ongoing"
    return "done"


def parse_restore_event(body: str, *, bucket: str | None = None, prefix: str = "") -> list[str]:
    """Archive ids whose restore completed, from the body of one SQS message.

    Understands S3 event notifications (``{"Records": [...]}`` with ``eventSource`` ``aws:s3``;
    only ``ObjectRestore:Completed`` records count), the same wrapped in an SNS notification
    (``{"Type": "Notification", "Message": "<json>"}``), and S3's ``s3:TestEvent`` (no ids). Object
    keys in events are URL-encoded (spaces as ``+``); the archive id is the decoded key minus
    ``prefix/``. Records of another bucket (when ``bucket`` is given), outside the prefix, or whose
    key is not a valid archive id are skipped. ValueError if the body is not JSON.
    """
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an S3 event notification: {exc}") from None
    if isinstance(message, dict) and message.get("Type") == "Notification":
        return parse_restore_event(str(message.get("Message", "")), bucket=bucket, prefix=prefix)
    if not isinstance(message, dict):
        return []
    if message.get("Event") == "s3:TestEvent":
        return []
    prefix = prefix.strip("/")
    ids: list[str] = []
    for record in message.get("Records") or ():
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            continue
        name = str(record.get("eventName", ""))
        if name.removeprefix("s3:") != "ObjectRestore:Completed":
            continue
        s3 = record.get("s3") or {}
        if bucket is not None and (s3.get("bucket") or {}).get("name") != bucket:
            continue
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        if prefix:
            if not key.startswith(prefix + "/"):
                continue
            key = key[len(prefix) + 1 :]
        try:
            validate_key(key)
        except ValueError:
            log.warning("restore event for a key that is no archive id: %r", key)
            continue
        if key not in ids:
            ids.append(key)
    return ids


def glacier_store_from_url(
    url: str, settings: aws.AwsSettings, *, client: Any = None
) -> GlacierColdStore:
    """The cold store named by
    ``GAS_COLDSTORE_URL=s3-glacier://BUCKET[/PREFIX][?storage_class=GLACIER|DEEP_ARCHIVE]
    [&restore_days=N]``."""
    bucket, prefix, options = aws.parse_bucket_url(
        url, schemes=("s3-glacier",), variable="GAS_COLDSTORE_URL"
    )
    storage_class = options.pop("storage_class", "GLACIER").upper()
    days_text = options.pop("restore_days", "1")
    if options:
        raise ValueError(
            f"GAS_COLDSTORE_URL: unknown parameter(s) {sorted(options)} "
            "(known: storage_class, restore_days)"
        )
    if storage_class not in STORAGE_CLASSES:
        raise ValueError(
            f"GAS_COLDSTORE_URL: storage_class must be one of {', '.join(STORAGE_CLASSES)}"
        )
    try:
        restore_days = int(days_text)
    except ValueError:
        raise ValueError("GAS_COLDSTORE_URL: restore_days must be a whole number") from None
    if restore_days < 1:
        raise ValueError("GAS_COLDSTORE_URL: restore_days must be at least 1")
    return GlacierColdStore(
        bucket,
        prefix,
        client=client or aws.client("s3", settings),
        storage_class=storage_class,
        restore_days=restore_days,
    )
