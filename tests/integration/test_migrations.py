"""The Alembic migrations build exactly the schema of ``gas.adapters.sql.tables``, on SQLite
and on PostgreSQL, and can be applied again, or by several processes at once, safely."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from gas.adapters.sql.database import (
    alembic_config,
    create_engine,
    current_revision,
    upgrade,
)
from gas.adapters.sql.tables import api_tokens, metadata, users
from tests.conftest import _PG_PROBLEM, IN_CI, POSTGRES_URL, postgres_schema_url


def head_revision(engine: Engine) -> str:
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def _is_sqlite_empty_string_default(diff: Any) -> bool:
    """Alembic's SQLite comparison reports ``server_default=""`` as changed even when the
    database says ``DEFAULT ''`` (its unquoting regex needs a non-empty string). The defaults
    themselves are checked by ``test_server_defaults_fill_in_empty_strings``."""
    if not (isinstance(diff, list) and len(diff) == 1 and diff[0][0] == "modify_default"):
        return False
    _, _, _table, _column, _info, reflected, wanted = diff[0]
    reflected_text = getattr(getattr(reflected, "arg", None), "text", None)
    return reflected_text in {"''", "('')"} and getattr(wanted, "arg", None) == ""


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        diffs = compare_metadata(context, metadata)
    if engine.dialect.name == "sqlite":
        diffs = [d for d in diffs if not _is_sqlite_empty_string_default(d)]
    return diffs


def test_migrations_build_exactly_the_schema_of_the_table_definitions(engine):
    assert schema_differences(engine) == []
    assert current_revision(engine) == head_revision(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_server_defaults_fill_in_empty_strings(engine):
    """What ``schema_differences`` tolerates on SQLite, checked by behaviour on both backends."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            users.insert().values(
                id="u1", email="ada@example.org", plan="free", created_at=now, updated_at=now
            )
        )
        connection.execute(
            api_tokens.insert().values(id="t1", user_id="u1", token_hash="h", created_at=now)
        )
        assert connection.execute(sa.select(users.c.name, users.c.institution)).one() == ("", "")
        assert connection.execute(sa.select(api_tokens.c.label)).scalar_one() == ""


def test_upgrade_is_idempotent_and_keeps_the_data(engine):
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            users.insert().values(
                id="u1", email="ada@example.org", plan="free", created_at=now, updated_at=now
            )
        )

    upgrade(engine)
    upgrade(engine)

    assert current_revision(engine) == head_revision(engine)
    assert schema_differences(engine) == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(users.c.email, users.c.name)).all() == [
            ("ada@example.org", "")
        ]


def test_an_installation_with_users_and_jobs_upgrades_from_every_earlier_revision(engine):
    """Each migration runs on a database that has rows that reference users (SQLite's table
    rebuilds fail on those when foreign keys are on: a real upgrade must not)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    with engine.connect() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")
        connection.commit()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO users (id, email, plan, created_at, updated_at) "
                "VALUES ('u1', 'ada@example.org', 'free', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            sa.text(
                "INSERT INTO jobs (id, user_id, input_file_name, input_key, status, "
                "submitted_at) VALUES ('j1', 'u1', 'a.vcf', 'u1/j1~a.vcf', 'PENDING', :now)"
            ),
            {"now": now},
        )
    for revision in revisions[revisions.index("0002") + 1 :]:
        with engine.connect() as connection:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == 1


def test_migrations_downgrade_to_base_and_upgrade_again(engine):
    with engine.connect() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
        connection.commit()
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None

    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert schema_differences(engine) == []


# --- several processes migrating at once --------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that has never been migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(_PG_PROBLEM + " (CI must test PostgreSQL)")
        pytest.skip(_PG_PROBLEM)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


MIGRATE = """
import pathlib, sys, time
from gas.adapters.sql.database import create_engine, upgrade

url, ready, go = sys.argv[1:4]
engine = create_engine(url)
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():  # all start migrating together
    time.sleep(0.005)
upgrade(engine)
"""


def test_three_processes_upgrading_a_fresh_database_at_once_all_succeed(
    empty_database_url, tmp_path
):
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{i}" for i in range(3)]
    processes = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, empty_database_url, str(r), str(go)])
        for r in readies
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in readies):
            assert time.monotonic() < deadline, "the migrating processes did not start"
            assert all(p.poll() is None for p in processes), "a migrating process died"
            time.sleep(0.01)
        go.touch()
        assert [p.wait(timeout=60) for p in processes] == [0, 0, 0]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    engine = create_engine(empty_database_url)
    try:
        assert current_revision(engine) == head_revision(engine)
        assert schema_differences(engine) == []
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            assert versions.scalars().all() == [head_revision(engine)]
    finally:
        engine.dispose()
