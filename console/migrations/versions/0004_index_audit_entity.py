"""Index audit events by entity

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_auditevent_entity", "auditevent", ["entity", "entity_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_auditevent_entity", table_name="auditevent")
