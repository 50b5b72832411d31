"""One place that makes AWS clients, so every adapter talks to AWS (or an emulator) alike.

``client(service, settings)`` honours ``GAS_AWS_REGION`` (``settings.aws_region``) and
``GAS_AWS_ENDPOINT_URL`` (``settings.aws_endpoint_url``: every call goes to that endpoint, e.g.
moto's server in the tests). Credentials come from boto3's standard chain (environment, shared
files, instance or task role), never from GAS settings.

Clients use botocore's "standard" retry mode (5 attempts, exponential backoff with jitter, the
transient and throttling errors AWS documents as retryable). S3 clients address buckets
virtual-hosted style on AWS (the AWS recommendation; path style is being retired) and path style
when an endpoint URL is set, since an emulator on ``http://127.0.0.1:PORT`` has no per-bucket
host names. S3 signs with SigV4 (presigned URLs included).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_ATTEMPTS = 5  # in all, the first included (the config file's max_attempts)


class AwsSettings(Protocol):
    """What the client factory reads from the settings (``gas.config.Settings`` has both)."""

    @property
    def aws_region(self) -> str: ...

    @property
    def aws_endpoint_url(self) -> str | None: ...


@dataclass(frozen=True)
class AwsConfig:
    """A stand-alone ``AwsSettings`` (tests, scripts)."""

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None


def client_config(service: str, settings: AwsSettings) -> Any:
    """The botocore ``Config`` for ``service``: standard retries, and for S3 the addressing
    style and SigV4."""
    from botocore.config import Config

    options: dict[str, Any] = {
        "region_name": settings.aws_region,
        "retries": {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        options["s3"] = {"addressing_style": "path" if settings.aws_endpoint_url else "virtual"}
    return Config(**options)


def client(service: str, settings: AwsSettings, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` (``"s3"``, ``"sesv2"``, ``"sqs"``, ``"sns"`` …).

    Clients come from one boto3 session per process (made under a lock, since sessions are not
    thread-safe); a client itself may be shared by threads. ``kwargs`` go to
    ``Session.client`` (e.g. explicit credentials in a script); a ``config`` there is merged
    over the defaults.
    """
    if settings.aws_endpoint_url:
        kwargs.setdefault("endpoint_url", settings.aws_endpoint_url)
    config = client_config(service, settings)
    if kwargs.get("config") is not None:
        config = config.merge(kwargs.pop("config"))
    kwargs.pop("config", None)
    with _SESSION_LOCK:
        return _session().client(service, region_name=settings.aws_region, config=config, **kwargs)


_SESSION_LOCK = threading.Lock()
_SESSION: Any = None


def _session() -> Any:
    """The process's boto3 session (made once: loading the service models is slow). Sessions
    are not thread-safe, so clients are made under ``_SESSION_LOCK``."""
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return _SESSION


def reset_session() -> None:
    """Forget the process's session, so the next client reads the credentials afresh (tests
    that change the environment's credentials)."""
    global _SESSION
    with _SESSION_LOCK:
        _SESSION = None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def parse_bucket_url(
    url: str, *, schemes: tuple[str, ...], variable: str
) -> tuple[str, str, dict[str, str]]:
    """``(bucket, prefix, options)`` of ``SCHEME://BUCKET[/PREFIX][?name=value&…]``.

    The prefix has no leading or trailing ``/``; options are the query's name/value pairs.
    Raises ValueError naming ``variable`` for anything else.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        # Only the scheme is named: the rest of a URL may hold a secret.
        raise ValueError(
            f"{variable} must look like {schemes[0]}://BUCKET[/PREFIX], "
            f"not {parts.scheme or 'no'} scheme"
        )
    bucket = parts.netloc
    if not bucket or "@" in bucket or ":" in bucket:
        raise ValueError(f"{variable} needs a bucket name, as in {schemes[0]}://my-bucket/gas")
    prefix = unquote(parts.path).strip("/")
    if "//" in prefix:
        raise ValueError(f"{variable}: the prefix {prefix!r} has an empty segment")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    return bucket, prefix, options
