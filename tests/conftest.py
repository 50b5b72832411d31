"""Shared fixtures: a fresh migrated database on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gas.adapters.sql.database import create_engine, normalize_url, upgrade

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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database on each backend. Tests using it run twice."""
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
