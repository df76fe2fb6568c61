"""Record changes: every record version stored and every status change, in commit order.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_change",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_record_change_category_seq", "record_change", ["category", "seq"])
    # Records held before this revision enter the log as stored, in their order.
    op.execute(
        "INSERT INTO record_change (record_id, version, category, status, changed_at) "
        "SELECT record_id, version, category, status, stored_at FROM record "
        "ORDER BY stored_at, record_id, version"
    )


def downgrade() -> None:
    op.drop_index("ix_record_change_category_seq", table_name="record_change")
    op.drop_table("record_change")
