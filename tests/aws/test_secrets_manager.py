"""``GAS_<NAME>=secretsmanager:SECRET_ID[#KEY]`` resolved at start against moto's Secrets
Manager."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gas.adapters import aws, secrets_manager
from gas.config import ConfigError, Settings
from tests.aws.moto_server import make_client


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    secrets_manager.forget()
    yield
    secrets_manager.forget()


@pytest.fixture
def secrets(aws_settings: aws.AwsConfig) -> Any:
    return make_client("secretsmanager", aws_settings)


def env(tmp_path: Path, moto_endpoint: str, **values: str) -> dict[str, str]:
    return {
        "GAS_DATA_DIR": str(tmp_path / "var"),
        "GAS_AWS_REGION": "us-east-1",
        "GAS_AWS_ENDPOINT_URL": moto_endpoint,
        **values,
    }


def test_a_plain_secret_and_fields_of_a_json_one(
    tmp_path: Path, moto_endpoint: str, secrets: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    key_arn = secrets.create_secret(Name=f"gas/{tag}/secret-key", SecretString="k" * 64)["ARN"]
    secrets.create_secret(
        Name=f"gas/{tag}/stripe",
        SecretString=json.dumps({"secret_key": "sk_test_1", "webhook_secret": "whsec_2"}),
    )
    settings = Settings.from_env(
        env(
            tmp_path,
            moto_endpoint,
            GAS_SECRET_KEY=f"secretsmanager:{key_arn}",
            GAS_BILLING="stripe",
            GAS_STRIPE_PRICE_ID="price_1",
            GAS_STRIPE_SECRET_KEY=f"secretsmanager:gas/{tag}/stripe#secret_key",
            GAS_STRIPE_WEBHOOK_SECRET=f"secretsmanager:gas/{tag}/stripe#webhook_secret",
        )
    )
    assert settings.secret_key == "k" * 64
    assert settings.stripe_secret_key == "sk_test_1"
    assert settings.stripe_webhook_secret == "whsec_2"
    assert "sk_test_1" not in repr(settings)


def test_an_unknown_secret_or_field_is_a_config_error(
    tmp_path: Path, moto_endpoint: str, secrets: Any
) -> None:
    with pytest.raises(ConfigError, match="GAS_SECRET_KEY: cannot read the secret 'gas/nope'"):
        Settings.from_env(env(tmp_path, moto_endpoint, GAS_SECRET_KEY="secretsmanager:gas/nope"))
    name = f"gas/{uuid.uuid4().hex[:8]}/plain"
    secrets.create_secret(Name=name, SecretString="not json")
    with pytest.raises(ConfigError, match="has no field 'password'"):
        Settings.from_env(
            env(tmp_path, moto_endpoint, GAS_SECRET_KEY=f"secretsmanager:{name}#password")
        )
