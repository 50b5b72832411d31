"""The SQL unit of work: one transaction over every repository and the queue's outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Engine

from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.repositories import (
    SqlBillingEventLog,
    SqlJobRepository,
    SqlNotificationLog,
    SqlTokenRepository,
    SqlUserRepository,
)
from gas.adapters.sql.sessions import SqlAccountTokenRepository, SqlSessionRepository


class SqlUnitOfWork:
    """``with uow: ...; uow.commit()`` — rolled back unless committed.

    ``readonly=True`` starts a deferred transaction on SQLite so that pages that only read do
    not queue behind writers (on PostgreSQL it reads in autocommit: no transaction at all);
    writers take SQLite's write lock up front (BEGIN IMMEDIATE) so a read-then-write never
    fails half-way.
    """

    def __init__(self, engine: Engine, queue: SqlQueue, *, readonly: bool = False) -> None:
        self._engine = engine
        self._queue = queue
        self._readonly = readonly
        self._connection: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        connection = self._engine.connect()
        if self._readonly and connection.dialect.name == "postgresql":
            # Reads need no transaction there: under READ COMMITTED each statement sees its own
            # snapshot either way, and autocommit saves the BEGIN and ROLLBACK round trips
            # (nearly half of a page's).
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        elif self._readonly:
            connection = connection.execution_options(sqlite_begin="DEFERRED")
        connection.begin()
        self._connection = connection
        self.users = SqlUserRepository(connection)
        self.jobs = SqlJobRepository(connection)
        self.tokens = SqlTokenRepository(connection)
        self.sessions = SqlSessionRepository(connection)
        self.account_tokens = SqlAccountTokenRepository(connection)
        self.notifications = SqlNotificationLog(connection)
        self.billing_events = SqlBillingEventLog(connection)
        self._pending: list[tuple[str, dict[str, Any], float]] = []
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            self.rollback()
        finally:
            self._connection.close()
            self._connection = None

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        self._pending.append((topic, payload, delay))

    def commit(self) -> None:
        """Commit the changes and the messages published with them, atomically."""
        assert self._connection is not None
        for topic, payload, delay in self._pending:
            self._queue.publish_in(self._connection, topic, payload, delay)
        self._pending = []
        self._connection.commit()  # the next statement, if any, begins a new transaction

    def rollback(self) -> None:
        if self._connection is not None and self._connection.in_transaction():
            self._connection.rollback()
        self._pending = []


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, queue: SqlQueue) -> None:
        self.engine = engine
        self.queue = queue

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.queue, readonly=readonly)
