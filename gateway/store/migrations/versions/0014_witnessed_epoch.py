"""Witnessed checkpoint epoch: a parent keeps each epoch of a child's log apart.

A child's log that lost cosigned events goes on as a new epoch
(``gateway.core.log_epoch``), whose checkpoint sizes start again below the
sizes already witnessed; the key becomes (child, epoch, size). Existing rows
are epoch 1.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = "child, size, root, note, cosignature, cosigned_at"


def _epoch_column() -> sa.Column[int]:
    return sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False, server_default="1")


def _sqlite_copy(key: Sequence[str], *, epoch: bool) -> None:
    # SQLite cannot alter a primary key in place: copy the rows into a table of the new shape.
    op.create_table(
        "witnessed_checkpoint_new",
        sa.Column("child", sa.String(length=6), nullable=False),
        *([_epoch_column()] if epoch else []),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosignature", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="witnessed_checkpoint_pkey"),
    )
    op.execute(
        f"INSERT INTO witnessed_checkpoint_new ({_COLUMNS}) "  # noqa: S608 - constant text
        f"SELECT {_COLUMNS} FROM witnessed_checkpoint"
    )
    op.drop_table("witnessed_checkpoint")
    op.rename_table("witnessed_checkpoint_new", "witnessed_checkpoint")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(["child", "epoch", "size"], epoch=True)
        return
    op.add_column("witnessed_checkpoint", _epoch_column())
    op.drop_constraint("witnessed_checkpoint_pkey", "witnessed_checkpoint", type_="primary")
    op.create_primary_key(
        "witnessed_checkpoint_pkey", "witnessed_checkpoint", ["child", "epoch", "size"]
    )


def downgrade() -> None:
    # Epochs after the first have no place in the old key: a downgrade keeps epoch 1 only.
    op.execute("DELETE FROM witnessed_checkpoint WHERE epoch <> 1")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(["child", "size"], epoch=False)
        return
    op.drop_constraint("witnessed_checkpoint_pkey", "witnessed_checkpoint", type_="primary")
    op.drop_column("witnessed_checkpoint", "epoch")
    op.create_primary_key("witnessed_checkpoint_pkey", "witnessed_checkpoint", ["child", "size"])
