"""Server-side sessions (browser log-ins) and the rate-limit counters, over SQLAlchemy Core."""

from __future__ import annotations

import random
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gas.adapters.sql.tables import account_tokens, rate_limits, sessions
from gas.ports import AccountToken, UserSession

SWEEP_EVERY = 64  # on average one hit in this many also deletes expired counters


_Record = TypeVar("_Record", UserSession, AccountToken)


def _from_row(kind: type[_Record], row: sa.Row[Any]) -> _Record:
    """A record whose fields are the row's columns (sessions, account tokens)."""
    m = row._mapping
    return kind(**{f.name: m[f.name] for f in fields(kind)})


class SqlSessionRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, session: UserSession) -> None:
        self._c.execute(sessions.insert().values(**asdict(session)))

    def get_by_hash(self, token_hash: str) -> UserSession | None:
        row = self._c.execute(sessions.select().where(sessions.c.token_hash == token_hash)).first()
        return _from_row(UserSession, row) if row else None

    def touch(self, session_id: str, when: datetime) -> None:
        self._c.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(last_seen_at=when)
        )

    def revoke(self, session_id: str, when: datetime) -> bool:
        result = self._c.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return result.rowcount == 1

    def revoke_all_for_user(
        self, user_id: str, when: datetime, *, except_id: str | None = None
    ) -> int:
        conditions = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
        if except_id is not None:
            conditions.append(sessions.c.id != except_id)
        result = self._c.execute(sessions.update().where(*conditions).values(revoked_at=when))
        return int(result.rowcount)

    def list_for_user(self, user_id: str) -> list[UserSession]:
        query = (
            sessions.select()
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
        )
        return [_from_row(UserSession, row) for row in self._c.execute(query)]

    def delete_ended(self, user_id: str, before: datetime) -> int:
        result = self._c.execute(
            sessions.delete().where(
                sessions.c.user_id == user_id,
                sa.or_(sessions.c.revoked_at < before, sessions.c.expires_at < before),
            )
        )
        return int(result.rowcount)

    def delete_for_user(self, user_id: str) -> int:
        result = self._c.execute(sessions.delete().where(sessions.c.user_id == user_id))
        return int(result.rowcount)


class SqlAccountTokenRepository:
    """Single-use proofs sent by email (password reset); only their hashes."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, token: AccountToken) -> None:
        self._c.execute(account_tokens.insert().values(**asdict(token)))

    def get_by_hash(self, token_hash: str) -> AccountToken | None:
        row = self._c.execute(
            account_tokens.select().where(account_tokens.c.token_hash == token_hash)
        ).first()
        return _from_row(AccountToken, row) if row else None

    def use(self, token_id: str, when: datetime) -> bool:
        result = self._c.execute(
            account_tokens.update()
            .where(
                account_tokens.c.id == token_id,
                account_tokens.c.used_at.is_(None),
                account_tokens.c.expires_at > when,
            )
            .values(used_at=when)
        )
        return result.rowcount == 1

    def use_all_for_user(self, user_id: str, purpose: str, when: datetime) -> int:
        result = self._c.execute(
            account_tokens.update()
            .where(
                account_tokens.c.user_id == user_id,
                account_tokens.c.purpose == purpose,
                account_tokens.c.used_at.is_(None),
            )
            .values(used_at=when)
        )
        return int(result.rowcount)

    def delete_for_user(self, user_id: str) -> int:
        result = self._c.execute(account_tokens.delete().where(account_tokens.c.user_id == user_id))
        return int(result.rowcount)


class SqlRateLimiter:
    """Fixed-window counters in the database, so that every web process (and machine) counts
    against the same limits. Each hit is one atomic upsert (``INSERT … ON CONFLICT DO UPDATE
    … RETURNING``) in its own short transaction, committed whatever the request does next."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _insert(self) -> Any:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(rate_limits)
        return sqlite.insert(rate_limits)

    def hit(self, key: str, window_seconds: int, now: float) -> int:
        start = int(now // window_seconds) * window_seconds
        insert = self._insert().values(
            key=key, window_start=start, count=1, expires_at=start + window_seconds
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[rate_limits.c.key, rate_limits.c.window_start],
            set_={"count": rate_limits.c.count + 1},
        ).returning(rate_limits.c.count)
        with self._engine.begin() as conn:
            count = int(conn.execute(upsert).scalar_one())
            if random.randrange(SWEEP_EVERY) == 0:  # noqa: S311 - not for security
                conn.execute(rate_limits.delete().where(rate_limits.c.expires_at < int(now)))
        return count

    def count(self, key: str, window_seconds: int, now: float) -> int:
        start = int(now // window_seconds) * window_seconds
        query = sa.select(rate_limits.c.count).where(
            rate_limits.c.key == key, rate_limits.c.window_start == start
        )
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            value = conn.execute(query).scalar()
        return int(value or 0)
