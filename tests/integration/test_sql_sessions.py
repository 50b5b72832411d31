"""The session repository and the rate limiter: one contract, run on the in-memory fakes
(tests/fakes.py), SQLite and PostgreSQL — so the fakes the service tests use behave as the
real adapters do."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gas.adapters.sql.database import create_engine, upgrade
from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.sessions import SqlRateLimiter
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import UserSession
from tests.conftest import _PG_PROBLEM, IN_CI, POSTGRES_URL, postgres_schema_url
from tests.fakes import FakeDatabase, FakeRateLimiter, FakeUnitOfWorkFactory

T = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Backend:
    def __init__(self, uow: Callable[[], Any], limiter: Any, engine: sa.Engine | None) -> None:
        self.uow, self.limiter, self.engine = uow, limiter, engine


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "fake":
        yield Backend(FakeUnitOfWorkFactory(FakeDatabase()), FakeRateLimiter(), None)
        return
    admin, schema = None, None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gas.db'}"
    else:
        if _PG_PROBLEM:
            if IN_CI:
                pytest.fail(_PG_PROBLEM + " (CI must test PostgreSQL)")
            pytest.skip(_PG_PROBLEM)
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = postgres_schema_url(schema)
    engine = create_engine(url)
    upgrade(engine)
    try:
        yield Backend(
            SqlUnitOfWorkFactory(engine, SqlQueue(engine)), SqlRateLimiter(engine), engine
        )
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def add_user(backend: Backend) -> User:
    uid = str(uuid.uuid4())
    user = User(uid, f"{uid}@example.org", "Ada", "", Plan.FREE, "$x$hash", T, T)
    with backend.uow() as uow:
        uow.users.add(user)
        uow.commit()
    return user


def new_session(user: User, created: datetime = T, **changes: Any) -> UserSession:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "user_id": user.id,
        "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        "created_at": created,
        "last_seen_at": created,
        "expires_at": created + timedelta(hours=12),
        "user_agent": "Mozilla/5.0 (X11; Linux) — «é»",
        "client_address": "2001:db8::1",
    }
    return UserSession(**(values | changes))


def test_a_session_is_stored_and_found_by_its_token_hash(backend: Backend) -> None:
    user = add_user(backend)
    session = new_session(user)
    with backend.uow() as uow:
        uow.sessions.add(session)
        uow.commit()
    with backend.uow() as uow:
        assert uow.sessions.get_by_hash(session.token_hash) == session
        assert uow.sessions.get_by_hash("0" * 64) is None
    with backend.uow() as uow:  # nothing is kept without a commit
        uow.sessions.add(new_session(user))
    with backend.uow() as uow:
        assert [s.id for s in uow.sessions.list_for_user(user.id)] == [session.id]


def test_touch_and_revoke(backend: Backend) -> None:
    user = add_user(backend)
    session = new_session(user)
    later = T + timedelta(minutes=5)
    with backend.uow() as uow:
        uow.sessions.add(session)
        uow.sessions.touch(session.id, later)
        uow.commit()
    with backend.uow() as uow:
        found = uow.sessions.get_by_hash(session.token_hash)
        assert found is not None and found.last_seen_at == later
        assert uow.sessions.revoke(session.id, later) is True
        assert uow.sessions.revoke(session.id, later) is False  # once
        uow.sessions.touch(session.id, later + timedelta(minutes=1))  # revoked: unchanged
        uow.commit()
    with backend.uow() as uow:
        found = uow.sessions.get_by_hash(session.token_hash)
        assert found is not None and found.revoked_at == later and found.last_seen_at == later
        assert uow.sessions.list_for_user(user.id) == []


def test_revoke_all_but_one_and_forget_ended_sessions(backend: Backend) -> None:
    ada, bob = add_user(backend), add_user(backend)
    mine = [new_session(ada, T + timedelta(seconds=n)) for n in range(3)]
    old = new_session(ada, T - timedelta(days=40))  # expired long ago
    theirs = new_session(bob)
    with backend.uow() as uow:
        for session in [*mine, old, theirs]:
            uow.sessions.add(session)
        uow.commit()
    with backend.uow() as uow:
        listed = [s.id for s in uow.sessions.list_for_user(ada.id)]
        assert listed == [s.id for s in reversed(mine)] + [old.id]  # newest first
        assert uow.sessions.revoke_all_for_user(ada.id, T, except_id=mine[0].id) == 3
        uow.commit()
    with backend.uow() as uow:
        assert [s.id for s in uow.sessions.list_for_user(ada.id)] == [mine[0].id]
        assert [s.id for s in uow.sessions.list_for_user(bob.id)] == [theirs.id]
        assert uow.sessions.delete_ended(ada.id, T + timedelta(hours=1)) == 3
        uow.commit()
    with backend.uow() as uow:
        assert uow.sessions.get_by_hash(old.token_hash) is None
        assert uow.sessions.get_by_hash(mine[0].token_hash) is not None


def test_counters_count_per_key_and_window(backend: Backend) -> None:
    limiter = backend.limiter
    start = 1_800_000_000.0  # a multiple of 900 and of 60
    assert limiter.count("login:a", 900, start) == 0
    assert [limiter.hit("login:a", 900, start + n) for n in range(3)] == [1, 2, 3]
    assert limiter.hit("login:b", 900, start) == 1
    assert limiter.count("login:a", 900, start + 899) == 3
    assert limiter.count("login:a", 900, start + 900) == 0  # the next window
    assert limiter.hit("login:a", 900, start + 900) == 1


def test_concurrent_hits_are_all_counted(backend: Backend) -> None:
    """Every web process (here: threads) counts against the same row, atomically."""
    if backend.engine is None:
        pytest.skip("the fake is not shared between processes")
    limiter, now = backend.limiter, 1_800_000_000.0
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            value = limiter.hit("uploads:x", 3600, now)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 81))
    assert limiter.count("uploads:x", 3600, now) == 80


def test_expired_counters_are_swept(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend.engine is None:
        pytest.skip("the fake keeps no rows")
    from gas.adapters.sql import sessions as module

    monkeypatch.setattr(module, "SWEEP_EVERY", 1)  # sweep on every hit
    limiter, now = backend.limiter, 1_800_000_000.0
    limiter.hit("old", 60, now)
    limiter.hit("new", 60, now + 3600)
    with backend.engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT key FROM rate_limits")).scalars().all()
    assert keys == ["new"]
