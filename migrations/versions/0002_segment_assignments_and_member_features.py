"""segment assignments and member features

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:55:05.550883
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "member_features",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("classified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_member_features_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_features")),
    )
    op.create_table(
        "segment_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pinned_by", sa.String(length=320), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_segment_assignment_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_assignment")),
    )
    with op.batch_alter_table("segment_assignment", schema=None) as batch_op:
        batch_op.create_index("ix_segment_assignment_decided_at", ["decided_at"], unique=False)
        batch_op.create_index(
            "ix_segment_assignment_member_current", ["member_id", "dimension", "current"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("segment_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_assignment_member_current")
        batch_op.drop_index("ix_segment_assignment_decided_at")

    op.drop_table("segment_assignment")
    op.drop_table("member_features")
