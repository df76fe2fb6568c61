"""Discipline: index the hits of a node's departments, and feedback by its hit.

``feedback pending`` lists the hits of checks made at this node (by one
department client, oldest first) that have no ``lifted`` feedback yet. Without
these indexes it read every hit, including those other nodes reported to this
issuer, and every feedback row once per hit.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_discipline_hit_node_actor", "discipline_hit", ["node", "actor", "checked_at"]
    )
    op.create_index(
        "ix_discipline_feedback_hit", "discipline_feedback", ["check_id", "record_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_discipline_feedback_hit", table_name="discipline_feedback")
    op.drop_index("ix_discipline_hit_node_actor", table_name="discipline_hit")
