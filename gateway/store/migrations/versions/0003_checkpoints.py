"""Audit checkpoints: those this node published, their cosignatures, and those it witnessed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "audit_cosignature",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=6), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("certificate_chain", sa.LargeBinary(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["size"], ["audit_checkpoint.size"], name="fk_audit_cosignature_checkpoint"
        ),
        sa.PrimaryKeyConstraint("size", "witness"),
    )
    op.create_table(
        "witnessed_checkpoint",
        sa.Column("child", sa.String(length=6), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosignature", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("child", "size"),
    )


def downgrade() -> None:
    op.drop_table("witnessed_checkpoint")
    op.drop_table("audit_cosignature")
    op.drop_table("audit_checkpoint")
