"""email domains and activity time index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:09:01.778545
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index("ix_activity_occurred_at", ["occurred_at"], unique=False)

    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_domain", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_identity_email_domain", ["email_domain"], unique=False)

    # Existing identities: the domain is everything after the last "@".
    identity = sa.table(
        "identity",
        sa.column("id", sa.Integer),
        sa.column("email", sa.String),
        sa.column("email_domain", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(identity.c.id, identity.c.email).where(identity.c.email.is_not(None))).all()
    if rows:
        conn.execute(
            identity.update()
            .where(identity.c.id == sa.bindparam("row_id"))
            .values(email_domain=sa.bindparam("domain")),
            [{"row_id": rid, "domain": email.rsplit("@", 1)[-1][:255]} for rid, email in rows],
        )


def downgrade() -> None:

    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_email_domain")
        batch_op.drop_column("email_domain")

    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_occurred_at")
