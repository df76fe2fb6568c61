"""Record persons: the people restricted with a listed organisation, by citizen number.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_person",
        sa.Column("person_key", sa.String(length=18), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("person_key", "record_id", "version", "role"),
    )
    op.create_index("ix_record_person_record", "record_person", ["record_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_record_person_record", table_name="record_person")
    op.drop_table("record_person")
