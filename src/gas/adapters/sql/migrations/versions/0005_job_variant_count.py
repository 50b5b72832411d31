"""job variant count and the queue-position index

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-08 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
# Landed before 0004 (the results store), which revises it: 0003 -> 0005 -> 0004.
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: jobs that have not completed (or completed before GAS counted) have none.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_count", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_jobs_status_submitted_at"), ["status", "submitted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status_submitted_at"))
        batch_op.drop_column("variant_count")
