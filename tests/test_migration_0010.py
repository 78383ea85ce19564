"""Migration 0010: a merge's moved rows leave the tail of ``identity_ids`` for a column of their own."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Integer, String, column, insert, select, table

from bot.store import Store
from bot.store.live_models import MemberMerge
from bot.store.models import Member

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# member_merge as it was at revision 0009 (no ``moved`` column).
_OLD = table(
    "member_merge",
    column("id", Integer),
    column("kept_member_id", Integer),
    column("merged_member_id", Integer),
    column("merged_display_name", String),
    column("identity_ids", JSON),
    column("by", String),
    column("at", DateTime),
)


async def test_the_trailing_object_moves_into_the_column_and_back(store: Store) -> None:
    await store.downgrade("0009")
    async with store.connection() as conn:
        kept = (
            await conn.execute(
                insert(Member).values(display_name="kept", is_bot=False, created_at=T0).returning(Member.id)
            )
        ).scalar_one()
        old_form = [7, 8, {"activities": [11, 12], "outbox": [3]}]
        for row_id, merged, name, identity_ids in ((1, 99, "gone", old_form), (2, 98, "plain", [5])):
            await conn.execute(
                insert(_OLD).values(
                    id=row_id,
                    kept_member_id=kept,
                    merged_member_id=merged,
                    merged_display_name=name,
                    identity_ids=identity_ids,
                    by="cli",
                    at=T0.replace(tzinfo=None),
                )
            )
    await store.migrate()
    async with store.connection() as conn:
        rows = {r.id: r for r in (await conn.execute(select(MemberMerge))).all()}
    assert rows[1].identity_ids == [7, 8]
    assert rows[1].moved == {"activities": [11, 12], "outbox": [3]}
    assert rows[2].identity_ids == [5] and rows[2].moved == {}
    await store.downgrade("0009")
    async with store.connection() as conn:
        back = dict((await conn.execute(select(_OLD.c.id, _OLD.c.identity_ids))).all())
    assert back[1] == old_form
    await store.migrate()
