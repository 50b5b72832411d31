"""job results store key

Revision ID: 0004
Revises: 0005
Create Date: 2026-12-08 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
# 0005 (the job's variant count) was written at the same time and landed first; as agreed in
# its header, the second to land revises the other, so that the chain stays a line:
# 0003 -> 0005 -> 0004.
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: jobs annotated before GAS wrote a results store have none (the results browser
    # answers 409 for them and suggests a re-run).
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("store_key", sa.String(length=600), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("store_key")
