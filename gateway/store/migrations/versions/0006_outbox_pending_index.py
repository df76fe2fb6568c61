"""Outbox: index pending rows by (state, recipient, id).

The claim asks for one recipient's pending rows oldest first, and the push
worker asks which recipients have pending rows. With the old index
(recipient, state, next_attempt_at) SQLite sorted the whole backlog for every
claim, and listed recipients by reading every row ever queued, delivered ones
included. With this one the claim walks the recipient's pending rows in id
order and stops at its limit, and the listing reads pending rows only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_outbox_claim", table_name="outbox")
    op.create_index("ix_outbox_pending", "outbox", ["state", "recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_claim", "outbox", ["recipient", "state", "next_attempt_at"])
