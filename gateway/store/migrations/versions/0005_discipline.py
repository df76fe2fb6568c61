"""Joint discipline: checks and their hits, feedback, objections, credit repair applications.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discipline_check",
        sa.Column("check_id", sa.String(length=32), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=256), nullable=False),
        sa.Column("case_id", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("check_id"),
    )
    op.create_index("ix_discipline_check_time", "discipline_check", ["checked_at"])
    op.create_table(
        "discipline_hit",
        sa.Column("check_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=6), nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=256), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("measures", sa.String(length=512), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("check_id", "record_id"),
    )
    op.create_index("ix_discipline_hit_record", "discipline_hit", ["record_id"])
    op.create_table(
        "discipline_feedback",
        sa.Column("feedback_id", sa.String(length=32), nullable=False),
        sa.Column("check_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=6), nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(length=256), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id"),
    )
    op.create_index("ix_discipline_feedback_record", "discipline_feedback", ["record_id"])
    op.create_table(
        "objection",
        sa.Column("objection_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=6), nullable=False),
        sa.Column("filed_by", sa.String(length=160), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("deadline_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=160), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("statement_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("objection_id"),
    )
    op.create_index("ix_objection_state_deadline", "objection", ["state", "deadline_at"])
    op.create_index("ix_objection_record", "objection", ["record_id"])
    op.create_table(
        "repair_application",
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("applied_by", sa.String(length=160), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=160), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("statement_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("application_id"),
    )
    op.create_index("ix_repair_application_record", "repair_application", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_repair_application_record", table_name="repair_application")
    op.drop_table("repair_application")
    op.drop_index("ix_objection_record", table_name="objection")
    op.drop_index("ix_objection_state_deadline", table_name="objection")
    op.drop_table("objection")
    op.drop_index("ix_discipline_feedback_record", table_name="discipline_feedback")
    op.drop_table("discipline_feedback")
    op.drop_index("ix_discipline_hit_record", table_name="discipline_hit")
    op.drop_table("discipline_hit")
    op.drop_index("ix_discipline_check_time", table_name="discipline_check")
    op.drop_table("discipline_check")
