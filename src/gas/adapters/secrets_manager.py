"""AWS Secrets Manager: the values of ``GAS_<NAME>=secretsmanager:SECRET_ID[#KEY]`` settings.

Read once per process and secret (cached): settings are read at start, and several settings may
name fields of the same secret (e.g. Stripe's two keys).
"""

from __future__ import annotations

import functools
import json

from gas.adapters import aws


class SecretNotAvailable(RuntimeError):
    """The secret cannot be read, or has no such field."""


@functools.lru_cache(maxsize=64)
def _secret_string(secret_id: str, region: str, endpoint_url: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    client = aws.client(
        "secretsmanager", aws.AwsConfig(aws_region=region, aws_endpoint_url=endpoint_url)
    )
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as exc:
        code = aws.error_code(exc) or type(exc).__name__
        raise SecretNotAvailable(f"cannot read the secret {secret_id!r} ({code})") from exc
    if "SecretString" not in answer:
        raise SecretNotAvailable(f"the secret {secret_id!r} is binary; GAS needs a string")
    return str(answer["SecretString"])


def secret_value(
    secret_id: str, key: str | None, *, region: str, endpoint_url: str | None = None
) -> str:
    """The secret's string, or its field ``key`` when it holds a JSON object."""
    text = _secret_string(secret_id, region, endpoint_url)
    if key is None:
        return text
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or key not in document:
        raise SecretNotAvailable(f"the secret {secret_id!r} has no field {key!r}")
    return str(document[key])


def forget() -> None:
    """Drop the cached values (tests; a process that must see a rotated secret)."""
    _secret_string.cache_clear()
