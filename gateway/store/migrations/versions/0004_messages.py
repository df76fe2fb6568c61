"""Routed messages (feedback, objections, repair applications) kept as received.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=6), nullable=False),
        sa.Column("target", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("handled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_message_target_kind", "message", ["target", "kind"])


def downgrade() -> None:
    op.drop_index("ix_message_target_kind", table_name="message")
    op.drop_table("message")
