"""S3ObjectStore on moto's server: what the ObjectStore contract (tests/integration/
test_object_store.py, kind "s3") does not cover — multipart uploads, encryption, presigned
links and forms, listing pages, the client factory and ``s3_store_from_url``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import random
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gas.adapters import aws
from gas.adapters.s3 import S3ObjectStore, abort_stale_uploads, s3_store_from_url
from gas.ports import ObjectTooLarge
from tests.aws.moto_server import DUMMY_ENV, assert_loopback

MIB = 1024 * 1024
SMALL_PART = 5 * MIB  # S3's (and moto's) minimum part size


class Generated(io.RawIOBase):
    """``size`` pseudo-random bytes made on demand; counts what was read, and can fail."""

    _BLOCK = random.Random(3).randbytes(64 * 1024)

    def __init__(self, size: int, *, fail_at: int | None = None) -> None:
        self.size = size
        self.position = 0
        self.fail_at = fail_at
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.fail_at is not None and self.position >= self.fail_at:
            raise OSError("connection reset by peer")
        view = memoryview(buffer).cast("B")
        offset = self.position % len(self._BLOCK)
        n = min(len(view), self.size - self.position, len(self._BLOCK) - offset)
        view[:n] = self._BLOCK[offset : offset + n]
        self.digest.update(view[:n])
        self.position += n
        return n


def sha256_of(store: S3ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open(key) as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def store(s3_client: Any, s3_bucket: str) -> S3ObjectStore:
    return S3ObjectStore(s3_bucket, "objects", client=s3_client, part_size=SMALL_PART)


def pending_uploads(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = s3_client.list_multipart_uploads(Bucket=bucket).get(
        "Uploads", []
    )
    return uploads


# --- the client factory ---------------------------------------------------------------------


def test_clients_go_to_the_emulator_path_style_with_standard_retries(
    aws_settings: aws.AwsConfig, s3_client: Any
) -> None:
    assert_loopback(s3_client.meta.endpoint_url)
    assert s3_client.meta.endpoint_url == aws_settings.aws_endpoint_url
    assert s3_client.meta.region_name == "us-east-1"
    assert s3_client.meta.config.s3["addressing_style"] == "path"
    assert s3_client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert s3_client.meta.config.signature_version == "s3v4"
    for service in ("sesv2", "sqs", "sns"):
        assert aws.client(service, aws_settings).meta.endpoint_url == aws_settings.aws_endpoint_url


def test_without_an_endpoint_clients_address_aws_virtual_hosted_style(moto_endpoint: str) -> None:
    # Making a client sends nothing, and no call is made here (moto_endpoint: dummy credentials).
    client = aws.client("s3", aws.AwsConfig(aws_region="eu-west-3"))
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.s3["addressing_style"] == "virtual"
    assert urlsplit(client.meta.endpoint_url).hostname == "s3.eu-west-3.amazonaws.com"


def test_the_tests_run_with_dummy_credentials_only(moto_endpoint: str) -> None:
    import os

    for name, value in DUMMY_ENV.items():
        assert os.environ[name] == value
    assert "AWS_PROFILE" not in os.environ


# --- uploads --------------------------------------------------------------------------------


def test_a_large_put_is_a_multipart_upload_and_reads_back(
    store: S3ObjectStore, s3_client: Any
) -> None:
    source = Generated(2 * SMALL_PART + 12345)
    assert store.put("u/j~big.vcf", source) == source.size  # type: ignore[arg-type]

    head = s3_client.head_object(Bucket=store.bucket, Key="objects/u/j~big.vcf")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["ServerSideEncryption"] == "AES256"
    assert sha256_of(store, "u/j~big.vcf") == source.digest.hexdigest()
    assert pending_uploads(s3_client, store.bucket) == []


def test_an_input_of_exactly_one_part_is_a_single_put(store: S3ObjectStore, s3_client: Any) -> None:
    assert store.put("u/j~one", Generated(SMALL_PART)) == SMALL_PART  # type: ignore[arg-type]
    head = s3_client.head_object(Bucket=store.bucket, Key="objects/u/j~one")
    assert "-" not in head["ETag"]
    assert head["ServerSideEncryption"] == "AES256"


def test_every_put_asks_for_server_side_encryption(store: S3ObjectStore, s3_client: Any) -> None:
    store.put("u/j~small", io.BytesIO(b"data"))
    store.put("u/j~empty", io.BytesIO(b""))
    for key in ("objects/u/j~small", "objects/u/j~empty"):
        assert s3_client.head_object(Bucket=store.bucket, Key=key)["ServerSideEncryption"] == (
            "AES256"
        )


def test_over_the_limit_in_a_later_part_aborts_the_multipart_upload(
    store: S3ObjectStore, s3_client: Any
) -> None:
    store.put("u/j~a", io.BytesIO(b"original"))
    source = Generated(40 * MIB)
    with pytest.raises(ObjectTooLarge) as caught:
        store.put("u/j~a", source, max_bytes=2 * SMALL_PART + 1)  # type: ignore[arg-type]

    assert caught.value.limit == 2 * SMALL_PART + 1
    assert source.position <= 2 * SMALL_PART + 2  # stopped one byte past the limit
    assert pending_uploads(s3_client, store.bucket) == []
    with store.open("u/j~a") as fh:
        assert fh.read() == b"original"


def test_a_failing_stream_aborts_the_upload_and_keeps_nothing(
    store: S3ObjectStore, s3_client: Any
) -> None:
    with pytest.raises(OSError, match="connection reset"):
        store.put("u/j~a", Generated(30 * MIB, fail_at=2 * SMALL_PART + 10))  # type: ignore[arg-type]
    assert pending_uploads(s3_client, store.bucket) == []
    assert not store.exists("u/j~a")
    assert list(store.keys()) == []


def test_uploads_left_by_a_crash_are_aborted_after_a_day_under_the_prefix_only(
    store: S3ObjectStore, s3_client: Any
) -> None:
    """A process killed mid-put leaves its multipart upload (and its parts, billed) behind;
    the workers' sweep aborts those of the store's prefix begun more than a day ago."""
    s3_client.create_multipart_upload(Bucket=store.bucket, Key="objects/u/j~a")
    s3_client.create_multipart_upload(Bucket=store.bucket, Key="elsewhere/x")  # not ours
    # (moto reports a fixed "Initiated" time: the sweep is told when "now" is)
    begun = pending_uploads(s3_client, store.bucket)[0]["Initiated"]
    sweep = functools.partial(abort_stale_uploads, s3_client, store.bucket, store.prefix, 60)
    assert sweep(now=begun + timedelta(hours=23)) == 0  # perhaps still in progress
    assert len(pending_uploads(s3_client, store.bucket)) == 2
    assert sweep(now=begun + timedelta(hours=25)) == 1
    assert [u["Key"] for u in pending_uploads(s3_client, store.bucket)] == ["elsewhere/x"]
    assert store.sweep_temp(60) == 0  # nothing left under the prefix


@pytest.fixture(scope="module")
def moto_elsewhere() -> Iterator[str]:
    """moto's server in a process of its own, so that tracemalloc measures only the client."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/data.json", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_put_streams_without_holding_the_object_in_memory(
    moto_endpoint: str, moto_elsewhere: str
) -> None:
    """The contract's memory case, against a server in another process (in this one,
    tracemalloc would count the emulator's copy of the upload too)."""
    settings = aws.AwsConfig(aws_endpoint_url=moto_elsewhere)  # moto_endpoint: dummy creds
    client = aws.client("s3", settings)
    assert_loopback(client.meta.endpoint_url)
    client.create_bucket(Bucket="memory-test")
    store = S3ObjectStore("memory-test", "", client=client)  # default 8 MiB parts
    client.head_bucket(Bucket="memory-test")  # warm the client up before measuring
    source = Generated(24 * MIB)

    tracemalloc.start()
    try:
        written = store.put("u/j~big.vcf", source)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == 24 * MIB
    assert peak < 4 * MIB, f"peak {peak / MIB:.1f} MiB while storing 24 MiB"
    assert sha256_of(store, "u/j~big.vcf") == source.digest.hexdigest()


# --- reading, listing, deleting ------------------------------------------------------------


def test_keys_are_listed_across_pages_and_only_under_the_store_prefix(
    s3_client: Any, s3_bucket: str
) -> None:
    store = S3ObjectStore(s3_bucket, "objects", client=s3_client)
    neighbour = S3ObjectStore(s3_bucket, "objects-old", client=s3_client)
    keys = [f"u{n % 2}/j{n}~f.vcf" for n in range(7)]
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))
    neighbour.put("u0/j0~f.vcf", io.BytesIO(b"elsewhere"))
    s3_client.put_object(Bucket=s3_bucket, Key="loose", Body=b"outside any prefix")
    store.list_page_size = 2  # seven keys: four pages

    assert list(store.keys()) == sorted(keys)
    assert list(store.keys("u1/")) == sorted(k for k in keys if k.startswith("u1/"))
    assert list(neighbour.keys()) == ["u0/j0~f.vcf"]
    unprefixed = S3ObjectStore(s3_bucket, client=s3_client)
    assert "loose" in list(unprefixed.keys())
    assert "objects/u0/j0~f.vcf" in list(unprefixed.keys("objects/"))


def test_a_store_without_a_prefix_uses_the_keys_as_they_are(s3_client: Any, s3_bucket: str) -> None:
    store = S3ObjectStore(s3_bucket, client=s3_client)
    store.put("u/j~a", io.BytesIO(b"data"))
    assert s3_client.get_object(Bucket=s3_bucket, Key="u/j~a")["Body"].read() == b"data"


def test_open_reads_in_pieces_and_closes(store: S3ObjectStore) -> None:
    data = random.Random(5).randbytes(3 * MIB + 1)
    store.put("u/j~a", io.BytesIO(data))
    with store.open("u/j~a") as fh:
        first = fh.read(1000)
        rest = fh.read()
    assert first + rest == data
    assert fh.closed


@pytest.mark.parametrize("key", ["", "../x", "/abs", "a//b", "a/./b", "a\\b", "a\x00b", "u/"])
def test_malformed_keys_are_refused_before_any_request(store: S3ObjectStore, key: str) -> None:
    for call in (
        lambda: store.put(key, io.BytesIO(b"x")),
        lambda: store.open(key),
        lambda: store.exists(key),
        lambda: store.size(key),
        lambda: store.delete(key),
        lambda: store.download_url(key, file_name="x", expires_in=60),
        lambda: store.presigned_post(key, max_bytes=10, success_redirect="http://app/"),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("prefix", ["../", "/etc/", "a/../", "a\\b", "a\x00", "a//"])
def test_escaping_prefixes_are_refused(store: S3ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        list(store.keys(prefix))


# --- download links ---------------------------------------------------------------------------


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    assert_loopback(url)
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_download_url_is_an_absolute_presigned_get_served_as_an_attachment(
    store: S3ObjectStore,
) -> None:
    # moto serves presigned URLs without checking their signature or expiry (it only checks
    # signatures when its IAM emulation is on): the signing itself is botocore's SigV4.
    store.put("u/j~my sample (é).annot.vcf", io.BytesIO(b"results"))
    url = store.download_url(
        "u/j~my sample (é).annot.vcf", file_name='my "sample" (é).annot.vcf', expires_in=300
    )

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "http" and parts.path.startswith(f"/{store.bucket}/objects/u/")
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    status, headers, body = fetch(url)
    assert (status, body) == (200, b"results")
    assert headers["Content-Disposition"] == (
        'attachment; filename="my _sample_ (_).annot.vcf"; '
        "filename*=UTF-8''my%20%22sample%22%20%28%C3%A9%29.annot.vcf"
    )


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 24 * 3600 + 1])
def test_download_url_lifetimes_must_be_within_sigv4_limits(
    store: S3ObjectStore, expires_in: int
) -> None:
    with pytest.raises(ValueError):
        store.download_url("u/j~a", file_name="a", expires_in=expires_in)


# --- browser uploads ------------------------------------------------------------------------


def policy_of(post: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(post["fields"]["policy"]))
    return document


def test_presigned_post_policy_carries_the_limit_key_encryption_and_redirect(
    store: S3ObjectStore,
) -> None:
    redirect = "http://127.0.0.1:8000/jobs/uploaded?job=j1"
    post = store.presigned_post(
        "u1/j1~sample.vcf", max_bytes=150 * 1024, success_redirect=redirect, expires_in=600
    )

    assert post["url"] == f"{store.client.meta.endpoint_url}/{store.bucket}"
    fields = post["fields"]
    assert fields["key"] == "objects/u1/j1~sample.vcf"
    assert fields["x-amz-server-side-encryption"] == "AES256"
    assert fields["success_action_redirect"] == redirect
    assert {"policy", "x-amz-signature", "x-amz-credential", "x-amz-date"} <= set(fields)
    conditions = policy_of(post)["conditions"]
    assert ["content-length-range", 1, 150 * 1024] in conditions
    assert {"key": "objects/u1/j1~sample.vcf"} in conditions  # this key exactly
    assert {"bucket": store.bucket} in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert {"success_action_redirect": redirect} in conditions
    expiration = time.strptime(policy_of(post)["expiration"], "%Y-%m-%dT%H:%M:%SZ")
    assert 590 <= time.mktime(expiration) - time.mktime(time.gmtime()) <= 610


def multipart_form(fields: dict[str, str], file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "gas-test-boundary-7MA4YWxkTrZu0gW"
    chunks = []
    for name, value in fields.items():  # the file must come last
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = "".join(chunks).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_a_browser_form_built_from_presigned_post_stores_the_file_and_redirects(
    store: S3ObjectStore,
) -> None:
    # moto stores a POSTed object and honours success_action_redirect, but does not check the
    # policy (size range, key, encryption): the policy's contents are checked above instead.
    redirect = "http://127.0.0.1:8000/jobs/uploaded?job=j1"
    post = store.presigned_post("u1/j1~sample.vcf", max_bytes=1000, success_redirect=redirect)
    body, content_type = multipart_form(post["fields"], "sample.vcf", b"##fileformat=VCFv4.2\n")
    assert_loopback(post["url"])
    request = urllib.request.Request(
        post["url"], data=body, method="POST", headers={"Content-Type": content_type}
    )
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(request, timeout=10)

    assert caught.value.code == 303
    location = urlsplit(caught.value.headers["Location"])
    assert location.netloc == "127.0.0.1:8000" and location.path == "/jobs/uploaded"
    query = parse_qs(location.query)
    assert query["job"] == ["j1"]
    assert query["key"] == ["objects/u1/j1~sample.vcf"]
    assert query["bucket"] == [store.bucket]
    with store.open("u1/j1~sample.vcf") as fh:
        assert fh.read() == b"##fileformat=VCFv4.2\n"


@pytest.mark.parametrize("max_bytes", [0, -5])
def test_presigned_post_needs_a_positive_limit(store: S3ObjectStore, max_bytes: int) -> None:
    with pytest.raises(ValueError):
        store.presigned_post("u/j~a", max_bytes=max_bytes, success_redirect="http://app/")


# --- GAS_STORAGE_URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "sse"),
    [
        ("s3://gas-results", "gas-results", "", "AES256"),
        ("s3://gas-results/", "gas-results", "", "AES256"),
        ("s3://gas-results/prod/objects", "gas-results", "prod/objects", "AES256"),
        ("s3://gas-results/prod/?sse=aws:kms", "gas-results", "prod", "aws:kms"),
        ("S3://gas-results/x", "gas-results", "x", "AES256"),
    ],
)
def test_storage_urls(
    aws_settings: aws.AwsConfig, url: str, bucket: str, prefix: str, sse: str
) -> None:
    store = s3_store_from_url(url, aws_settings)
    assert (store.bucket, store.prefix, store.sse) == (bucket, prefix, sse)
    assert store.client.meta.endpoint_url == aws_settings.aws_endpoint_url


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3:///prefix",
        "file:///var/objects",
        "s3://user:pw@bucket",
        "s3://bucket:9000",
        "s3://bucket/a//b",
        "s3://bucket/../x",
        "s3://bucket?sse=none",
        "s3://bucket?region=eu-west-1",
    ],
)
def test_bad_storage_urls_are_refused(aws_settings: aws.AwsConfig, url: str) -> None:
    with pytest.raises(ValueError, match="GAS_STORAGE_URL|object key"):
        s3_store_from_url(url, aws_settings)
