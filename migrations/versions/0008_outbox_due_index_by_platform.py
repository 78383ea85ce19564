"""outbox: the due index also by platform

The worker asks for due rows per lane and platform, leaving out platforms that are waiting
for a rate-limit token. With a backlog (a welcome for thousands of new members, paced by
the platforms' limits) the old (status, lane, not_before) index made every claim walk past
the rows of the waiting platforms; with the platform in the key each part of the query
reads only its own rows, oldest first, and stops at its limit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "lane", "platform", "not_before"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "lane", "not_before"], unique=False)
