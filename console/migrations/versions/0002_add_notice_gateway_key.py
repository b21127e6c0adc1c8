"""Add notice gateway key

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 17:24:20.053585
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gateway_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    # Notices made before this revision were sent with their dedup key as the idempotency
    # key; keeping it means a retry of such a notice still sends the same key.
    op.execute("UPDATE notice SET gateway_key = dedup_key WHERE gateway_key IS NULL")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.alter_column(
            "gateway_key",
            existing_type=sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_column("gateway_key")
