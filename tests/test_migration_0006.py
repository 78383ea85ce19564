"""Migration 0006 (ids never reused on SQLite): data survives the table rebuild, ids stay unique."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text

from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, event_uid
from bot.store import Store
from bot.store.db import _head
from bot.store.ingest import Ingestor
from bot.store.models import Activity, Identity, Member

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(prefix: str, n: int) -> list[MessagePosted]:
    return [
        MessagePosted(
            event_uid("discord", f"{prefix}{i}"),
            ActorRef("discord", f"{prefix}-u{i % 3}"),
            PlaceRef("discord", "c"),
            T0,
            MessageText(own="hi"),
            f"{prefix}{i}",
        )
        for i in range(n)
    ]


async def _counts(store: Store) -> tuple[int, int, int]:
    async with store.connection() as conn:
        return (
            (await conn.execute(select(func.count()).select_from(Member))).scalar_one(),
            (await conn.execute(select(func.count()).select_from(Identity))).scalar_one(),
            (await conn.execute(select(func.count()).select_from(Activity))).scalar_one(),
        )


async def test_rebuilding_the_tables_keeps_every_row_and_reference(store: Store) -> None:
    await store.downgrade("0005")
    async with store.connection() as conn:
        await Ingestor().ingest(conn, _events("a", 10))
    before = await _counts(store)
    await store.migrate()
    assert await store.current_revision() == _head()
    assert await _counts(store) == before == (3, 3, 10)  # the cascade of a DROP did not run
    if store.dialect == "sqlite":
        async with store.connection() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'member'"))).scalar()
        assert "AUTOINCREMENT" in str(ddl)


async def test_an_erased_members_ids_are_not_handed_out_again(store: Store) -> None:
    async with store.connection() as conn:
        await Ingestor().ingest(conn, _events("a", 3))
        top_member = (await conn.execute(select(func.max(Member.id)))).scalar_one()
        top_activity = (await conn.execute(select(func.max(Activity.id)))).scalar_one()
        await conn.execute(delete(Member).where(Member.id == top_member))  # cascades to activity
    async with store.connection() as conn:
        await Ingestor().ingest(conn, _events("b", 1))
        new_member = (await conn.execute(select(func.max(Member.id)))).scalar_one()
        new_activity = (await conn.execute(select(func.max(Activity.id)))).scalar_one()
    assert new_member > top_member
    assert new_activity > top_activity
