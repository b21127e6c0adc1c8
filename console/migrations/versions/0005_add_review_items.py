"""Add review items

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:54:15.298057
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reviewitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("queue", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("batch", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("school_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reviewitem", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reviewitem_queue_state", ["queue", "state"], unique=False
        )
        batch_op.create_index(
            "uq_reviewitem_open",
            ["application_id", "queue"],
            unique=True,
            sqlite_where=sa.text("state IN ('open', 'claimed')"),
            postgresql_where=sa.text("state IN ('open', 'claimed')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("reviewitem", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_reviewitem_open",
            sqlite_where=sa.text("state IN ('open', 'claimed')"),
            postgresql_where=sa.text("state IN ('open', 'claimed')"),
        )
        batch_op.drop_index("ix_reviewitem_queue_state")

    op.drop_table("reviewitem")
