"""Record: index a subject's records by key, and by category and key.

Listings of one subject were paged by offset over an index on the subject
alone: page n stepped over the n pages before it, and a check read every
record of the subject to keep its few notices. With these two indexes a page
is one range read after the previous page's last key, and a check reads only
the notice categories of the subject. The new first index starts with the
subject, so it also answers what the old one did.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_record_subject", "record", ["subject_key", "record_id", "version"])
    op.create_index(
        "ix_record_subject_category",
        "record",
        ["subject_key", "category", "record_id", "version"],
    )
    op.drop_index("ix_record_subject_key", table_name="record")


def downgrade() -> None:
    op.create_index("ix_record_subject_key", "record", ["subject_key"])
    op.drop_index("ix_record_subject_category", table_name="record")
    op.drop_index("ix_record_subject", table_name="record")
