"""Filing timeliness: the decision date, deadline and lateness of each filing (双公示).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("record_filing") as batch:
        batch.add_column(sa.Column("category", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("decided_on", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("deadline_on", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("late_working_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("timeliness_approximate", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_record_filing_client_filed_at", "record_filing", ["client", "filed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_record_filing_client_filed_at", table_name="record_filing")
    with op.batch_alter_table("record_filing") as batch:
        batch.drop_column("timeliness_approximate")
        batch.drop_column("late_working_days")
        batch.drop_column("deadline_on")
        batch.drop_column("decided_on")
        batch.drop_column("category")
