"""GlacierColdStore on moto's server: what the ColdStore contract (tests/integration/
test_coldstore.py, kind "glacier") does not cover — storage classes, checksums as S3 reports
them, S3's answers to RestoreObject, the ``s3:ObjectRestore:Completed`` event and its parser,
and ``glacier_store_from_url``.

What moto (5.2) does with restores, found by reading its source; the tests below check what
GAS relies on:

- ``RestoreObject`` on a GLACIER or DEEP_ARCHIVE object answers 202, or 200 once the object
  has a restore (finished or not); it ignores the tier and never answers 409
  ``RestoreAlreadyInProgress`` or 503 ``GlacierExpeditedRetrievalNotAvailable`` (those answers
  are made here with a botocore hook, see ``refuse_expedited_on``). On an object of another
  storage class it answers 403 ``InvalidObjectState``; on a missing one 404 ``NoSuchKey``.
- GetObject of an archived object that is not restored answers 403 ``InvalidObjectState``.
- The restore finishes at once, but lazily: moto's state machine for it (``s3::keyrestore``)
  moves on the next time anything reads the object — the HeadObject that
  ``request_retrieval`` makes right after RestoreObject, so with moto it reports a wait of 0.
- moto sends ``s3:ObjectRestore:Post`` to the bucket's notification targets at every
  RestoreObject (repeats included), and ``s3:ObjectRestore:Completed`` at that first read
  after it, in the documented S3 event format (keys URL-encoded with ``+`` for spaces, and
  ``/`` as ``%2F``, which S3 leaves as it is). Like S3, it sends an ``s3:TestEvent`` to the
  queue when the notification configuration is set.
- To show a restore in progress, ``MotoRestores`` (tests/aws/moto_server.py) holds restores
  until a test completes them; moto then sends the Completed event itself.
- A multipart upload with SHA-256 checksums gets a composite checksum (the SHA-256 of the part
  checksums), which moto reports without S3's ``-N`` suffix and without ``ChecksumType``; the
  adapter recognises it by the multipart ETag and reports the ``sha256`` metadata instead.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from gas.adapters import aws
from gas.adapters.glacier import (
    EXPECTED_WAITS,
    GlacierColdStore,
    glacier_store_from_url,
    parse_restore_event,
    restore_status,
)
from gas.ports import NotRetrieved, RetrievalRefused
from tests.aws.moto_server import MotoRestores, make_client

MIB = 1024 * 1024
CONTENT = b"##fileformat=VCFv4.2\n#CHROM\tPOS\n" + bytes(range(256))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(aws_settings: aws.AwsConfig, s3_bucket: str) -> GlacierColdStore:
    return GlacierColdStore(s3_bucket, "cold", client=make_client("s3", aws_settings))


def head(store: GlacierColdStore, archive_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = store.client.head_object(
        Bucket=store.bucket, Key=store.s3_key(archive_id), ChecksumMode="ENABLED"
    )
    return answer


def read(store: Any, archive_id: str) -> bytes:
    with store.open_retrieved(archive_id) as fh:
        data: bytes = fh.read()
        return data


def answer_restore_with(client: Any, status: int, code: str) -> None:
    """Make ``client``'s RestoreObject calls get S3's ``status``/``code`` error answer."""

    def hook(params: dict[str, Any], **_: Any) -> Any:
        parsed = {
            "Error": {"Code": code, "Message": code},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse(params.get("url", ""), status, {}, None), parsed

    client.meta.events.register("before-call.s3.RestoreObject", hook)


# --- archiving --------------------------------------------------------------------------------


def test_an_archive_is_a_glacier_object_with_sse_and_its_checksum_as_s3_reports_it(
    store: GlacierColdStore,
) -> None:
    info = store.archive("u/j~a.annot.vcf", io.BytesIO(CONTENT))

    answer = head(store, "u/j~a.annot.vcf")
    assert answer["StorageClass"] == "GLACIER"
    assert answer["ServerSideEncryption"] == "AES256"
    assert base64.b64decode(answer["ChecksumSHA256"]).hex() == sha(CONTENT)  # S3's own
    assert answer["Metadata"] == {"sha256": sha(CONTENT)}
    assert (info.size, info.sha256) == (len(CONTENT), sha(CONTENT))
    assert store.describe("u/j~a.annot.vcf") == info


def test_a_large_archive_goes_in_parts_and_reports_the_whole_object_sha256(
    aws_settings: aws.AwsConfig, s3_bucket: str
) -> None:
    store = GlacierColdStore(
        s3_bucket,
        "cold",
        client=make_client("s3", aws_settings),
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
    )
    data = os.urandom(11 * MIB + 7)

    info = store.archive("u/j~big", io.BytesIO(data))

    answer = head(store, "u/j~big")
    assert answer["ETag"].strip('"').endswith("-3")
    assert answer["StorageClass"] == "GLACIER"
    assert answer["ServerSideEncryption"] == "AES256"
    # S3 (and moto) keep only a composite checksum of the parts ...
    assert base64.b64decode(answer["ChecksumSHA256"].split("-")[0]).hex() != sha(data)
    # ... so the whole-object SHA-256 is the one written as metadata when the upload began.
    assert answer["Metadata"] == {"sha256": sha(data)}
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert store.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_deep_archive_has_no_expedited_tier_and_the_documented_waits(
    aws_settings: aws.AwsConfig, s3_bucket: str
) -> None:
    store = GlacierColdStore(
        s3_bucket, "", client=make_client("s3", aws_settings), storage_class="DEEP_ARCHIVE"
    )
    store.archive("u/j~a", io.BytesIO(CONTENT))

    assert store.tiers == ("Standard", "Bulk")
    assert head(store, "u/j~a")["StorageClass"] == "DEEP_ARCHIVE"
    assert store.expected_waits == {"Standard": 12 * 3600.0, "Bulk": 48 * 3600.0}
    with pytest.raises(ValueError, match="tier"):
        store.request_retrieval("u/j~a", "Expedited")


def test_glacier_tiers_and_waits_follow_the_aws_documentation(store: GlacierColdStore) -> None:
    assert store.tiers == ("Expedited", "Standard", "Bulk")
    assert store.expected_waits == EXPECTED_WAITS["GLACIER"]
    assert EXPECTED_WAITS["GLACIER"] == {
        "Expedited": 5 * 60.0,  # 1-5 minutes
        "Standard": 5 * 3600.0,  # 3-5 hours
        "Bulk": 12 * 3600.0,  # 5-12 hours
    }


def test_only_archive_storage_classes_and_known_tiers_are_accepted(s3_client: Any) -> None:
    for storage_class in ("STANDARD", "GLACIER_IR", "glacier"):
        with pytest.raises(ValueError, match="storage class"):
            GlacierColdStore("b", client=s3_client, storage_class=storage_class)
    with pytest.raises(ValueError, match="Expedited"):
        GlacierColdStore(
            "b", client=s3_client, storage_class="DEEP_ARCHIVE", expected_waits={"Expedited": 1}
        )
    with pytest.raises(ValueError):
        GlacierColdStore("b", client=s3_client, restore_days=0)


# --- retrieval, as moto does it on its own ---------------------------------------------------


def test_moto_finishes_a_restore_on_the_first_read_after_it(store: GlacierColdStore) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))
    with pytest.raises(NotRetrieved):
        read(store, "u/j~a")

    assert store.request_retrieval("u/j~a", "Expedited") == 0.0  # see the module docstring

    assert restore_status(head(store, "u/j~a")) == "done"
    assert read(store, "u/j~a") == CONTENT
    assert store.request_retrieval("u/j~a", "Bulk") == 0.0  # 200: a restored copy exists


def test_restore_object_asks_for_the_tier_and_the_configured_days(
    aws_settings: aws.AwsConfig, s3_bucket: str
) -> None:
    store = GlacierColdStore(
        s3_bucket, "cold", client=make_client("s3", aws_settings), restore_days=3
    )
    store.archive("u/j~a", io.BytesIO(CONTENT))
    sent: list[bytes] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["body"] if isinstance(params["body"], bytes) else b"")

    store.client.meta.events.register("before-call.s3.RestoreObject", record)
    store.request_retrieval("u/j~a", "Bulk")

    [body] = sent
    assert b"<Days>3</Days>" in body
    assert b"<GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters>" in body


def test_unknown_archives_are_key_errors_and_unknown_tiers_value_errors(
    store: GlacierColdStore,
) -> None:
    with pytest.raises(KeyError):
        store.request_retrieval("u/j~missing", "Standard")
    with pytest.raises(KeyError):
        read(store, "u/j~missing")
    assert store.describe("u/j~missing") is None
    store.delete("u/j~missing")  # no error
    store.archive("u/j~a", io.BytesIO(CONTENT))
    with pytest.raises(ValueError, match="tier"):
        store.request_retrieval("u/j~a", "expedited")


# --- S3's answers that moto does not give -------------------------------------------------


def test_restore_already_in_progress_is_idempotent(store: GlacierColdStore) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))
    answer_restore_with(store.client, 409, "RestoreAlreadyInProgress")
    assert store.request_retrieval("u/j~a", "Standard") == EXPECTED_WAITS["GLACIER"]["Standard"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "GlacierExpeditedRetrievalNotAvailable"), (503, "ServiceUnavailable")],
)
def test_no_expedited_capacity_is_a_refusal(
    store: GlacierColdStore, status: int, code: str
) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))
    answer_restore_with(store.client, status, code)
    with pytest.raises(RetrievalRefused, match=code):
        store.request_retrieval("u/j~a", "Expedited")


def test_other_restore_errors_are_raised_as_they_are(store: GlacierColdStore) -> None:
    from botocore.exceptions import ClientError

    store.archive("u/j~a", io.BytesIO(CONTENT))
    answer_restore_with(store.client, 403, "AccessDenied")
    with pytest.raises(ClientError, match="AccessDenied"):
        store.request_retrieval("u/j~a", "Standard")


# --- retrieval held in progress ---------------------------------------------------------------


def test_a_restore_in_progress_is_unreadable_and_requests_for_it_are_idempotent(
    store: GlacierColdStore, moto_restores: MotoRestores
) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))

    first = store.request_retrieval("u/j~a", "Standard")
    second = store.request_retrieval("u/j~a", "Standard")

    assert first == second == EXPECTED_WAITS["GLACIER"]["Standard"]
    assert restore_status(head(store, "u/j~a")) == "ongoing"
    with pytest.raises(NotRetrieved):
        read(store, "u/j~a")
    moto_restores.complete(store.bucket, store.s3_key("u/j~a"))
    assert store.request_retrieval("u/j~a", "Standard") == 0.0
    assert read(store, "u/j~a") == CONTENT


def test_re_archiving_makes_the_archive_cold_again(
    store: GlacierColdStore, moto_restores: MotoRestores
) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))
    store.request_retrieval("u/j~a", "Expedited")
    moto_restores.complete(store.bucket, store.s3_key("u/j~a"))
    assert read(store, "u/j~a") == CONTENT

    store.archive("u/j~a", io.BytesIO(b"new content"))

    assert restore_status(head(store, "u/j~a")) == "none"
    with pytest.raises(NotRetrieved):
        read(store, "u/j~a")
    assert store.request_retrieval("u/j~a", "Expedited") == 300.0  # a new restore
    moto_restores.complete(store.bucket, store.s3_key("u/j~a"))
    assert read(store, "u/j~a") == b"new content"


# --- the completion event ------------------------------------------------------------------------


@pytest.fixture
def restore_queue(aws_settings: aws.AwsConfig, store: GlacierColdStore) -> Any:
    """An SQS queue that receives the bucket's restore events for the store's prefix, as
    ``gas aws bootstrap`` sets it up; returns a function that drains it."""
    sqs = make_client("sqs", aws_settings)
    url = sqs.create_queue(QueueName=f"{store.bucket}-restores")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    store.client.put_bucket_notification_configuration(
        Bucket=store.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "cold/"}]}},
                }
            ]
        },
    )

    def drain() -> list[str]:
        bodies = []
        while True:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return drain


def test_moto_sends_restore_completed_to_sqs_and_the_parser_finds_the_archive_id(
    store: GlacierColdStore, restore_queue: Any
) -> None:
    archive_id = "user 1/job-1~my sample+(é).annot.vcf"
    store.archive(archive_id, io.BytesIO(CONTENT))
    store.archive("u/j~other", io.BytesIO(CONTENT))
    [test_event] = restore_queue()  # sent when the notification was configured, as S3 does
    assert json.loads(test_event)["Event"] == "s3:TestEvent"
    assert store.parse_restore_event(test_event) == []
    assert restore_queue() == []  # archiving sends nothing

    store.request_retrieval(archive_id, "Expedited")

    bodies = restore_queue()
    names = [json.loads(b)["Records"][0]["eventName"] for b in bodies]
    assert names == ["ObjectRestore:Post", "ObjectRestore:Completed"]
    assert [store.parse_restore_event(b) for b in bodies] == [[], [archive_id]]
    # moto encodes keys with quote_plus ("/" too); S3 leaves "/" alone: the parser takes both.
    key = json.loads(bodies[1])["Records"][0]["s3"]["object"]["key"]
    assert key == "cold%2Fuser+1%2Fjob-1~my+sample%2B%28%C3%A9%29.annot.vcf"


def test_a_held_restore_sends_completed_only_when_it_completes(
    store: GlacierColdStore, restore_queue: Any, moto_restores: MotoRestores
) -> None:
    store.archive("u/j~a", io.BytesIO(CONTENT))
    store.request_retrieval("u/j~a", "Bulk")
    # the TestEvent, then ObjectRestore:Post
    assert [store.parse_restore_event(b) for b in restore_queue()] == [[], []]

    moto_restores.complete(store.bucket, store.s3_key("u/j~a"))
    assert restore_queue() == []  # moto notices on the next read of the object
    assert store.request_retrieval("u/j~a", "Bulk") == 0.0

    # moto sends ObjectRestore:Post for every RestoreObject, then Completed on the read.
    assert [store.parse_restore_event(b) for b in restore_queue()] == [[], ["u/j~a"]]


# The example from the AWS documentation ("Event message structure", S3 user guide), for a
# completed restore; moto's own events are checked above.
AWS_EVENT = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-west-2",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectRestore:Completed",
            "userIdentity": {"principalId": "AmazonCustomer:A3NL1KOZZKExample"},
            "requestParameters": {"sourceIPAddress": "s3.amazonaws.com"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "F"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "gas-restores",
                "bucket": {
                    "name": "gas-cold",
                    "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                    "arn": "arn:aws:s3:::gas-cold",
                },
                "object": {
                    "key": "archive/u1/j1%7Esample+%281%29.annot.vcf",
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "sequencer": "0055AED6DCD90281E5",
                },
            },
            "glacierEventData": {
                "restoreEventData": {
                    "lifecycleRestorationExpiryTime": "1970-01-01T00:00:00.000Z",
                    "lifecycleRestoreStorageClass": "GLACIER",
                }
            },
        }
    ]
}


def with_records(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def record(key: str, *, name: str = "ObjectRestore:Completed", bucket: str = "gas-cold") -> Any:
    data = json.loads(json.dumps(AWS_EVENT["Records"][0]))
    data["eventName"] = name
    data["s3"]["bucket"]["name"] = bucket
    data["s3"]["object"]["key"] = key
    return data


def test_parser_reads_the_documented_event() -> None:
    body = json.dumps(AWS_EVENT)
    assert parse_restore_event(body, bucket="gas-cold", prefix="archive") == [
        "u1/j1~sample (1).annot.vcf"
    ]
    assert parse_restore_event(body) == ["archive/u1/j1~sample (1).annot.vcf"]


def test_parser_unwraps_sns_notifications() -> None:
    wrapped = json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:gas-restores",
            "Subject": "Amazon S3 Notification",
            "Message": json.dumps(AWS_EVENT),
            "Timestamp": "1970-01-01T00:00:00.000Z",
        }
    )
    assert parse_restore_event(wrapped, prefix="archive/") == ["u1/j1~sample (1).annot.vcf"]


def test_parser_ignores_test_events_other_events_buckets_and_prefixes() -> None:
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z",
        "Bucket": "gas-cold",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    assert parse_restore_event(json.dumps(test_event)) == []
    body = with_records(
        record("archive/a/b~1", name="ObjectRestore:Post"),
        record("archive/a/b~2", name="ObjectCreated:Put"),
        record("archive/a/b~3", bucket="another-bucket"),
        record("archived/a/b~4"),
        record("a/b~5"),
        record("archive/a/%2E%2E/b"),  # not a valid archive id
        record("archive/a/b~6", name="s3:ObjectRestore:Completed"),
        record("archive/a/b~6"),  # at-least-once: duplicates collapse
    )
    assert parse_restore_event(body, bucket="gas-cold", prefix="archive") == ["a/b~6"]
    assert parse_restore_event(json.dumps({"Records": [{"eventSource": "aws:sqs"}]})) == []
    assert parse_restore_event("[]") == []


def test_parser_refuses_a_body_that_is_not_json() -> None:
    with pytest.raises(ValueError):
        parse_restore_event("not json")


# --- GAS_COLDSTORE_URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3-glacier://gas-cold", ("gas-cold", "", "GLACIER", 1)),
        ("s3-glacier://gas-cold/archive/", ("gas-cold", "archive", "GLACIER", 1)),
        (
            "s3-glacier://gas-cold/a/b?storage_class=deep_archive&restore_days=7",
            ("gas-cold", "a/b", "DEEP_ARCHIVE", 7),
        ),
    ],
)
def test_coldstore_urls(aws_settings: aws.AwsConfig, url: str, expected: tuple[Any, ...]) -> None:
    store = glacier_store_from_url(url, aws_settings)
    assert (store.bucket, store.prefix, store.storage_class, store.restore_days) == expected
    assert store.client.meta.endpoint_url == aws_settings.aws_endpoint_url


@pytest.mark.parametrize(
    "url",
    [
        "s3://gas-cold",
        "s3-glacier://",
        "s3-glacier://gas-cold?storage_class=STANDARD",
        "s3-glacier://gas-cold?restore_days=0",
        "s3-glacier://gas-cold?restore_days=two",
        "s3-glacier://gas-cold?tier=Bulk",
    ],
)
def test_bad_coldstore_urls_are_refused(aws_settings: aws.AwsConfig, url: str) -> None:
    with pytest.raises(ValueError, match="GAS_COLDSTORE_URL"):
        glacier_store_from_url(url, aws_settings)
