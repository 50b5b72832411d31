"""users.oidc_subject: the OpenID Connect identity linked to an account

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# A unique index, not a unique constraint: adding a constraint makes SQLite rebuild the
# table (copy, DROP TABLE users, rename), which foreign keys from jobs and tokens forbid in a
# database that has users — an upgrade of a real installation would fail at start.


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=512), nullable=True))
    op.create_index("ix_users_oidc_subject", "users", ["oidc_subject"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_oidc_subject", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("oidc_subject")
