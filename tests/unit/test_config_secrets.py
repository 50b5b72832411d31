"""Settings read from files (GAS_<NAME>_FILE) and from AWS Secrets Manager (secretsmanager:…);
the Secrets Manager part against moto is in tests/aws/test_secrets_manager.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from gas.config import ConfigError, Settings, resolve_references


def test_a_file_gives_the_value_without_its_trailing_newline(tmp_path: Path) -> None:
    key = tmp_path / "secret_key"
    key.write_text("s3cr3t-from-a-file\n")
    key.chmod(0o600)
    database = tmp_path / "database_url"
    database.write_text("postgresql://gas:p%40ss@db.internal:5432/gas")

    settings = Settings.from_env(
        {
            "GAS_DATA_DIR": str(tmp_path / "var"),
            "GAS_SECRET_KEY_FILE": str(key),
            "GAS_DATABASE_URL_FILE": str(database),
        }
    )

    assert settings.secret_key == "s3cr3t-from-a-file"
    assert settings.database_url == "postgresql://gas:p%40ss@db.internal:5432/gas"
    # the key file in the data directory is not made when the key comes from elsewhere
    assert not (tmp_path / "var" / "secret_key").exists()


def test_only_one_trailing_newline_goes(tmp_path: Path) -> None:
    path = tmp_path / "value"
    path.write_text("  spaced value \n\n")
    assert resolve_references({"GAS_MAIL_FROM_FILE": str(path)})["GAS_MAIL_FROM"] == (
        "  spaced value \n"
    )


def test_both_the_variable_and_its_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("a")
    with pytest.raises(ConfigError, match="GAS_SECRET_KEY or GAS_SECRET_KEY_FILE"):
        resolve_references({"GAS_SECRET_KEY": "b", "GAS_SECRET_KEY_FILE": str(path)})


def test_a_missing_file_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GAS_STRIPE_SECRET_KEY_FILE=.*cannot read it"):
        resolve_references({"GAS_STRIPE_SECRET_KEY_FILE": str(tmp_path / "nope")})


def test_other_variables_are_left_alone() -> None:
    env = {"GAS_QUEUE_URL": "sql", "PATH_FILE": "/etc/passwd", "GAS__FILE": "x", "HOME": "/root"}
    assert resolve_references(env) == env


def test_an_empty_secretsmanager_reference_is_an_error() -> None:
    with pytest.raises(ConfigError, match="GAS_SECRET_KEY: expected secretsmanager:SECRET_ID"):
        resolve_references({"GAS_SECRET_KEY": "secretsmanager:"})


def test_a_secret_file_others_can_read_is_warned_about(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from gas.config import Settings

    secret = tmp_path / "key"
    secret.write_text("s3cret-value\n")
    secret.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="gas.config"):
        Settings.from_env({"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY_FILE": str(secret)})
    assert "can be read by other users" in caplog.text and "s3cret-value" not in caplog.text
    caplog.clear()
    secret.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="gas.config"):
        Settings.from_env({"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY_FILE": str(secret)})
    assert "can be read by other users" not in caplog.text
