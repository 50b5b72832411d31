"""Shared fixtures: a fresh migrated database on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gas.adapters.sql.database import create_engine, normalize_url, upgrade

# moto's server (in-process, loopback) and the AWS fixtures, for tests/aws and the AWS kinds of
# the contract suites (tests/integration).
from tests.aws.moto_server import (  # noqa: F401
    aws_settings,
    held_glacier,
    moto_endpoint,
    moto_restores,
    s3_bucket,
    s3_client,
    s3_object_store,
    ses_outbox,
    sesv2_client,
)

POSTGRES_URL = os.environ.get("GAS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - report why
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc.__class__.__name__}"


_PG_PROBLEM = _postgres_available()


def postgres_schema_url(schema: str) -> str:
    """A URL whose connections use ``schema`` first: one isolated database per test."""
    url = sa.engine.make_url(normalize_url(POSTGRES_URL))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


# The contract suites of the metadata ports also run on the in-memory fakes (tests/fakes.py):
# ``@WITH_FAKE`` on a test adds a "fake" kind, for which ``database_url`` is FAKE_DATABASE.
FAKE_DATABASE = "fake:"
WITH_FAKE = pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "fake"],
    indirect=True,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database on each backend. Tests using it run twice."""
    if request.param == "fake":  # (only where a test asks for it with @WITH_FAKE)
        yield FAKE_DATABASE
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gas.db'}"
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(_PG_PROBLEM + " (CI must test PostgreSQL)")
        pytest.skip(_PG_PROBLEM)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = postgres_schema_url(schema)
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.engine.Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


# --- the app over a real database (both backends) ------------------------------------------

FAST_HASHER_PARAMS = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@pytest.fixture
def settings_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """GAS_* variables for an isolated installation in ``tmp_path``."""
    return {
        "GAS_DATA_DIR": str(tmp_path / "var"),
        "GAS_DATABASE_URL": database_url,
        "GAS_SECRET_KEY": "test-secret-key",
        "GAS_BASE_URL": "http://gas.test",
        "GAS_FREE_MAX_UPLOAD_BYTES": str(150 * 1024),
    }


@pytest.fixture
def container(settings_env: dict[str, str]):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings

    c = build(
        Settings.from_env(settings_env),
        hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS)),  # fast but real Argon2id
    )
    yield c
    c.close()


@pytest.fixture
def app(container):  # type: ignore[no-untyped-def]
    from gas.entrypoints.web import create_app

    flask_app = create_app(container)
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


class AuthActions:
    """Sign up / log in through the real forms (CSRF included)."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self._client = client

    def csrf_token(self, path: str = "/login") -> str:
        import re

        html = self._client.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def signup_only(self, email: str = "ada@example.org", password: str = "correct horse", **extra):  # type: ignore[no-untyped-def]
        """POST the sign-up form (which answers the same whether or not the email is taken,
        and does not log in)."""
        data = {
            "csrf_token": self.csrf_token("/signup"),
            "email": email,
            "password": password,
            "password_confirm": password,
            "name": extra.get("name", "Ada Lovelace"),
            "institution": extra.get("institution", "Analytical Engines Ltd"),
        }
        return self._client.post("/signup", data=data)

    def signup(self, email: str = "ada@example.org", password: str = "correct horse", **extra: str):  # type: ignore[no-untyped-def]
        """Sign up, then log in as the new user (a redirect, 302, when both worked); a refused
        sign-up's response as it is."""
        response = self.signup_only(email, password, **extra)
        if response.status_code != 303:
            return response
        return self.login(email, password)

    def login(self, email: str = "ada@example.org", password: str = "correct horse"):  # type: ignore[no-untyped-def]
        data = {"csrf_token": self.csrf_token("/login"), "email": email, "password": password}
        return self._client.post("/login", data=data)

    def logout(self):  # type: ignore[no-untyped-def]
        return self._client.post("/logout", data={"csrf_token": self.csrf_token("/")})


@pytest.fixture
def auth(client) -> AuthActions:  # type: ignore[no-untyped-def]
    return AuthActions(client)
