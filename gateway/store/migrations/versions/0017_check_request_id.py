"""Check request id: a department's retried check is stored (and audited) once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("discipline_check") as batch:
        batch.add_column(
            sa.Column("request_id", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_index(
        "ux_discipline_check_request",
        "discipline_check",
        ["actor", "request_id"],
        unique=True,
        sqlite_where=sa.text("request_id <> ''"),
        postgresql_where=sa.text("request_id <> ''"),
    )


def downgrade() -> None:
    op.drop_index("ux_discipline_check_request", table_name="discipline_check")
    with op.batch_alter_table("discipline_check") as batch:
        batch.drop_column("request_id")
