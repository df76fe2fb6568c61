"""Initial schema: records, outbox, delivery ledger, hop batches, statements, cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "record",
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=6), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("document_number", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("iat", sa.BigInteger(), nullable=False),
        sa.Column("exp", sa.BigInteger(), nullable=False),
        sa.Column("sd_jwt", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("stored_at", sa.BigInteger(), nullable=False),
        sa.Column("status_changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "version"),
    )
    op.create_index("ix_record_exp", "record", ["exp"])
    op.create_index("ix_record_subject_key", "record", ["subject_key"])

    op.create_table(
        "outbox",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("recipient", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload_ref", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "recipient", "kind", "record_id", "version", "payload_ref", name="uq_outbox_item"
        ),
    )
    op.create_index("ix_outbox_claim", "outbox", ["recipient", "state", "next_attempt_at"])

    op.create_table(
        "delivery",
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=False),
        sa.Column("status_sent", sa.String(length=16), nullable=False),
        sa.Column("confirmed_status", sa.String(length=16), nullable=True),
        sa.Column("confirmed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id", "version"],
            ["record.record_id", "record.version"],
            name="fk_delivery_record",
        ),
        sa.PrimaryKeyConstraint("record_id", "version", "node"),
    )

    op.create_table(
        "hop_batch",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )

    op.create_table(
        "statement",
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=6), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("applied_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("statement_id"),
    )
    op.create_index("ix_statement_record", "statement", ["record_id", "version"])

    op.create_table(
        "cursor",
        sa.Column("peer", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("peer", "stream"),
    )


def downgrade() -> None:
    op.drop_table("cursor")
    op.drop_index("ix_statement_record", table_name="statement")
    op.drop_table("statement")
    op.drop_table("hop_batch")
    op.drop_table("delivery")
    op.drop_index("ix_outbox_claim", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_record_subject_key", table_name="record")
    op.drop_index("ix_record_exp", table_name="record")
    op.drop_table("record")
