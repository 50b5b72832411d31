"""Operators' figures read straight from the database (metrics, ``gas queue stats``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gas.adapters.sql.tables import jobs


def count_jobs_by_status(engine: Engine) -> dict[str, int]:
    """Every user's jobs per status (one ``COUNT … GROUP BY``)."""
    query = sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        return {str(status): int(count) for status, count in connection.execute(query)}
