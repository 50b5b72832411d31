"""Table definitions. Migrations under ``migrations/versions`` must match them
(tests/integration/test_migrations.py compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("institution", String(200), nullable=False, server_default=""),
    Column("plan", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("billing_customer_id", String(255), nullable=True, unique=True),
    Column("billing_event_at", UTCDateTime(), nullable=True),
    Column("email_verified_at", UTCDateTime(), nullable=True),
    Column("oidc_subject", String(512), nullable=True),
    # an index, not a constraint: see migration 0008
    Index("ix_users_oidc_subject", "oidc_subject", unique=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("input_file_name", String(255), nullable=False),
    Column("input_key", String(600), nullable=False),
    Column("input_size", BigInteger, nullable=True),
    Column("assembly", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("progress", Float, nullable=True),
    Column("variant_count", BigInteger, nullable=True),  # the input's records, at completion
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("results_key", String(600), nullable=True),
    Column("log_key", String(600), nullable=True),
    Column("summary_key", String(600), nullable=True),
    # the results store (Parquet); NULL for jobs annotated before GAS wrote one
    Column("store_key", String(600), nullable=True),
    # the engine's assembly report (summary.json's "assembly"); SQL NULL when there is none
    Column("assembly_report", JSON(none_as_null=True), nullable=True),
    Column("results_state", String(16), nullable=True),
    # archive / restore (the Free plan's cold storage)
    Column("archive_after", UTCDateTime(), nullable=True),
    Column("archive_id", String(600), nullable=True, unique=True),
    Column("archive_size", BigInteger, nullable=True),
    Column("archive_sha256", String(64), nullable=True),
    Column("archived_at", UTCDateTime(), nullable=True),
    Column("restore_requested_at", UTCDateTime(), nullable=True),
    Column("restore_tier", String(16), nullable=True),
    Column("restore_expected_at", UTCDateTime(), nullable=True),
    Column("restored_at", UTCDateTime(), nullable=True),
    Index("ix_jobs_user_id_submitted_at", "user_id", "submitted_at"),
    # a PENDING job's place in the queue counts the PENDING jobs submitted before it
    Index("ix_jobs_status_submitted_at", "status", "submitted_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(100), nullable=False, server_default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

notifications = Table(
    "notifications",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("sent_at", UTCDateTime(), nullable=False),
)

billing_events = Table(
    "billing_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)

# Browser log-ins, so that log-out, a password change or an account's deletion end them: the
# cookie carries a random token, this table only its SHA-256.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("method", String(16), nullable=False, server_default="password"),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Column("client_address", String(64), nullable=False, server_default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# Single-use, expiring proofs sent by email (password reset): only the token's SHA-256.
account_tokens = Table(
    "account_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("purpose", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

# Rate limits: one counter per key (a scope and a hashed subject, e.g. failed log-ins of one
# account) and fixed window; shared by every web process. Rows past expires_at are swept.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

# The durable work queue. A message is 'ready' (deliverable once available_at has passed),
# 'leased' (available_at is then the lease's expiry: an expired lease makes it deliverable
# again) or 'dead'. Messages whose handler succeeded are deleted.
queue_messages = Table(
    "queue_messages",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("queue", String(64), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", Float, nullable=False),
    Column("receipt", String(36), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("dead_at", Float, nullable=True),
    # Deliverable messages of a queue in delivery order; dead letters stay out of the index.
    Index(
        "ix_queue_messages_deliverable",
        "queue",
        "available_at",
        "id",
        postgresql_where=text("state <> 'dead'"),
        sqlite_where=text("state <> 'dead'"),
    ),
)
