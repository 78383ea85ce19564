"""ids never reused on SQLite: member, activity and outbox get AUTOINCREMENT

SQLite without AUTOINCREMENT hands the highest deleted rowid out again. After an erasure
that made the next member inherit the erased member's id (and so the dedupe and
idempotency keys of messages already delivered), and the next activity an id below
segmentation's cursor (never folded in). PostgreSQL sequences never reuse ids: nothing to do.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 03:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("member", "activity", "outbox")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # Batch mode copies the table into a new one created with the new option, then
        # renames it; with foreign keys on, SQLite checks them at commit, which the copy keeps.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
