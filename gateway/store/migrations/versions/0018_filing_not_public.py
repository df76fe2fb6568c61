"""Filing not_public: a record marked 不宜公开 stays so in the quality report after a purge.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("record_filing") as batch:
        batch.add_column(sa.Column("not_public", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record_filing") as batch:
        batch.drop_column("not_public")
