"""member_merge.moved: the ids of the rows a merge moved, in a column of their own

The first version kept them as one trailing JSON object at the end of ``identity_ids``;
this moves that object into the new column and leaves ``identity_ids`` with identity ids
only (and puts it back on downgrade).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 06:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MERGE = sa.table(
    "member_merge",
    sa.column("id", sa.Integer),
    sa.column("identity_ids", sa.JSON),
    sa.column("moved", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("member_merge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moved", sa.JSON(), nullable=False, server_default="{}"))
    conn = op.get_bind()
    for merge_id, stored in conn.execute(sa.select(_MERGE.c.id, _MERGE.c.identity_ids)).all():
        stored = stored or []
        ids = [int(x) for x in stored if isinstance(x, int)]
        moved: dict[str, list[int]] = {}
        for x in stored:
            if isinstance(x, dict):
                moved = {str(k): [int(i) for i in v] for k, v in x.items()}
        conn.execute(sa.update(_MERGE).where(_MERGE.c.id == merge_id).values(identity_ids=ids, moved=moved))


def downgrade() -> None:
    conn = op.get_bind()
    for merge_id, stored, moved in conn.execute(
        sa.select(_MERGE.c.id, _MERGE.c.identity_ids, _MERGE.c.moved)
    ).all():
        conn.execute(
            sa.update(_MERGE)
            .where(_MERGE.c.id == merge_id)
            .values(identity_ids=[*(stored or []), moved or {}])
        )
    with op.batch_alter_table("member_merge", schema=None) as batch_op:
        batch_op.drop_column("moved")
