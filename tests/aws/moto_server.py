"""moto's server, started in this process on a loopback port, and what the AWS tests need of it.

The fixtures here are made visible to the whole test tree by ``tests/conftest.py`` (the contract
suites under ``tests/integration`` run their "s3", "glacier" and "ses" kinds on them), and are
used directly by ``tests/aws``.

Nothing here can reach the real AWS: the environment gets dummy credentials and no profile, and
every client is made by ``gas.adapters.aws.client`` with ``aws_endpoint_url`` set to the server,
which is asserted to be a loopback address.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gas.adapters import aws

REGION = "us-east-1"

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
DROPPED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN")


def assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    assert ipaddress.ip_address(host).is_loopback, f"{url} is not a loopback address"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of moto's server, running in a thread of this process."""
    from moto.server import ThreadedMotoServer

    patch = pytest.MonkeyPatch()
    for name, value in DUMMY_ENV.items():
        patch.setenv(name, value)
    for name in DROPPED_ENV:
        patch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            patch.delenv(name)
    aws.reset_session()  # clients made from now on read the dummy credentials
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    assert_loopback(url)
    try:
        yield url
    finally:
        server.stop()
        patch.undo()
        aws.reset_session()


@pytest.fixture
def aws_settings(moto_endpoint: str) -> aws.AwsConfig:
    """Settings that send every AWS call to the moto server."""
    return aws.AwsConfig(aws_region=REGION, aws_endpoint_url=moto_endpoint)


def make_client(service: str, settings: aws.AwsConfig) -> Any:
    client = aws.client(service, settings)
    assert_loopback(client.meta.endpoint_url)
    return client


@pytest.fixture
def s3_client(aws_settings: aws.AwsConfig) -> Any:
    return make_client("s3", aws_settings)


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket (each test has its own, so no reset of the server is needed)."""
    name = f"gas-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_object_store(s3_client: Any, s3_bucket: str):  # type: ignore[no-untyped-def]
    """The ObjectStore contract's "s3" kind: a store under a prefix of a fresh bucket."""
    from gas.adapters.s3 import S3ObjectStore

    return S3ObjectStore(s3_bucket, "objects", client=s3_client)


@pytest.fixture
def sesv2_client(aws_settings: aws.AwsConfig) -> Any:
    return make_client("sesv2", aws_settings)


SENDER = "gas@example.org"


@pytest.fixture
def ses_outbox(aws_settings: aws.AwsConfig, moto_endpoint: str):  # type: ignore[no-untyped-def]
    """A verified sender in moto's SES and a function returning the raw messages SES accepted
    since (read back from the emulator's own record of sent mail)."""
    v1 = make_client("ses", aws_settings)
    v1.verify_email_identity(EmailAddress=SENDER)
    before = len(ses_sent_messages(moto_endpoint))

    def sent() -> list[bytes]:
        return ses_sent_messages(moto_endpoint)[before:]

    return sent


def ses_sent_messages(moto_endpoint: str) -> list[bytes]:
    """The raw messages moto's SES has accepted, oldest first.

    Read from the server's SES backend, which lives in this process (moto documents
    ``ses_backends[account][region].sent_messages`` for this). The server's
    ``/moto-api/data.json`` lists them too, but it reads every attribute of every model moto
    tracks: it fails (500) once some models exist, and reading an S3 object's restore status
    there moves moto's restore state machine along.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    assert_loopback(moto_endpoint)
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [m.raw_data.encode("utf-8") for m in sent if isinstance(m, RawMessage)]


# --- S3 restores that take time -------------------------------------------------------------


class MotoRestores:
    """Holds moto's S3 restores "in progress" until a test completes them.

    What moto (5.x) does on its own: ``RestoreObject`` on a GLACIER/DEEP_ARCHIVE object answers
    202 (200 when the object has a restore already, finished or not), ignores the tier, never
    answers 409 ``RestoreAlreadyInProgress`` nor 503 ``GlacierExpeditedRetrievalNotAvailable``,
    and sends ``s3:ObjectRestore:Post`` to the bucket's notification targets. The restore's
    progress is a moto "state manager" model, ``s3::keyrestore`` (None → IN_PROGRESS →
    RESTORED), "immediate" by default: the restore is finished the first time anything reads
    the object (HeadObject, GetObject), and that read is what makes moto send
    ``s3:ObjectRestore:Completed`` (to SQS, SNS, Lambda or EventBridge, as configured). With the
    other progressions moto leaves a new restore in state None, which it reports as finished, so
    they cannot show a restore in progress either.

    The server runs in this process, so this helper patches moto's ``FakeKey.restore`` to start
    each new restore IN_PROGRESS, sets the model's progression to "manual" with a count never
    reached by itself (through the server's public ``/moto-api/state-manager`` API), and
    :meth:`complete` lets the state machine take its next step, on which moto reports the
    object restored and sends ``s3:ObjectRestore:Completed`` itself.
    """

    MODEL = "s3::keyrestore"
    NEVER = 10**12

    def __init__(self, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = moto_endpoint
        self._monkeypatch = monkeypatch

    def _state_manager(self, action: str, payload: dict[str, Any]) -> None:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/state-manager/{action}",
            data=json.dumps(payload).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status in {200, 201}, answer.status

    def hold(self) -> None:
        from moto.s3.models import FakeKey

        original = FakeKey.restore

        def restore(key: Any, days: int) -> None:
            fresh = key._status is None  # noqa: SLF001 - moto internals, see the class doc
            original(key, days)
            if fresh:
                key._status = "IN_PROGRESS"  # noqa: SLF001

        self._monkeypatch.setattr(FakeKey, "restore", restore)
        self._state_manager(
            "set-transition",
            {
                "model_name": self.MODEL,
                "transition": {"progression": "manual", "times": self.NEVER},
            },
        )

    def release(self) -> None:
        self._state_manager("unset-transition", {"model_name": self.MODEL})

    @staticmethod
    def fake_key(bucket: str, key: str) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys.get(key)

    def complete(self, bucket: str, key: str) -> None:
        """Let the restore of ``bucket/key`` finish (seen on the next read of the object)."""
        fake = self.fake_key(bucket, key)
        if fake is not None and fake._status == "IN_PROGRESS":  # noqa: SLF001
            fake._tick = self.NEVER  # noqa: SLF001


@pytest.fixture
def moto_restores(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoRestores]:
    control = MotoRestores(moto_endpoint, monkeypatch)
    control.hold()
    try:
        yield control
    finally:
        control.release()


def refuse_expedited_on(client: Any, refusing: Any) -> None:
    """Make ``client``'s Expedited RestoreObject calls answer as S3 does without capacity
    (503 ``GlacierExpeditedRetrievalNotAvailable``) while ``refusing()`` is true; moto itself
    never refuses. The answer is made in botocore's ``before-call`` hook, so the adapter sees
    the same ClientError it would get from S3."""
    from botocore.awsrequest import AWSResponse

    def hook(params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        if not refusing() or b"<Tier>Expedited</Tier>" not in body:
            return None
        response = AWSResponse(params.get("url", ""), 503, {}, None)
        parsed = {
            "Error": {
                "Code": "GlacierExpeditedRetrievalNotAvailable",
                "Message": "Glacier expedited retrievals are currently not available, "
                "please try again later",
            },
            "ResponseMetadata": {"HTTPStatusCode": 503},
        }
        return response, parsed

    client.meta.events.register("before-call.s3.RestoreObject", hook)


class HeldGlacier:
    """A GlacierColdStore on moto whose restores take time on a test clock.

    Every port call goes to the real adapter; this only notes when each restore it started is
    due (the wait the adapter reported) and, when the clock passes that, completes it in moto
    (:class:`MotoRestores`). ``refuse_expedited(True)`` makes S3 answer Expedited requests with
    "no capacity".
    """

    def __init__(self, store: Any, restores: MotoRestores) -> None:
        self.inner = store
        self.tiers = store.tiers
        self.restores = restores
        self.now = 1_700_000_000.0
        self.due: dict[str, float] = {}
        self.refusing = False
        refuse_expedited_on(store.client, lambda: self.refusing)

    def archive(self, archive_id: str, stream: Any) -> Any:
        self.due.pop(archive_id, None)
        return self.inner.archive(archive_id, stream)

    def describe(self, archive_id: str) -> Any:
        return self.inner.describe(archive_id)

    def request_retrieval(self, archive_id: str, tier: str) -> float:
        wait: float = self.inner.request_retrieval(archive_id, tier)
        if wait > 0 and archive_id not in self.due:
            self.due[archive_id] = self.now + wait
        return wait

    def open_retrieved(self, archive_id: str) -> Any:
        return self.inner.open_retrieved(archive_id)

    def delete(self, archive_id: str) -> None:
        self.due.pop(archive_id, None)
        self.inner.delete(archive_id)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for archive_id, due in list(self.due.items()):
            if due <= self.now + 1e-6:
                self.restores.complete(self.inner.bucket, self.inner.s3_key(archive_id))
                del self.due[archive_id]

    def refuse_expedited(self, flag: bool) -> None:
        self.refusing = flag


@pytest.fixture
def held_glacier(aws_settings: aws.AwsConfig, s3_bucket: str, moto_restores: MotoRestores):  # type: ignore[no-untyped-def]
    """A factory of :class:`HeldGlacier` stores (the ColdStore contract's "glacier" kind)."""
    from gas.adapters.glacier import GlacierColdStore

    def make(**options: Any) -> HeldGlacier:
        # A client of its own: the refusal hook must not leak to other tests' clients.
        store = GlacierColdStore(
            s3_bucket, "cold", client=make_client("s3", aws_settings), **options
        )
        return HeldGlacier(store, moto_restores)

    return make
