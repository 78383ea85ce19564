"""The ingest write path: prepared rows, SQLite's raw inserts against SQLAlchemy's, exact results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import sqlite

from bot.core.events import (
    ActorRef,
    MemberJoined,
    MessagePosted,
    MessageText,
    PlaceRef,
    ReactionAdded,
    event_uid,
)
from bot.store import Store
from bot.store.activity_rows import prepare
from bot.store.ingest import Ingestor
from bot.store.models import Activity, Member

T0 = datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
ROOM = PlaceRef(platform="discord", channel_id="42", name="dev")


def post(mid: str, user: str, *, at: datetime = T0, **fields: object) -> MessagePosted:
    return MessagePosted(
        uid=event_uid("discord", mid),
        actor=ActorRef(platform="discord", external_id=user, display_name=user),
        place=ROOM,
        occurred_at=at,
        text=MessageText(own=f"message {mid}"),
        native_id=mid,
        **fields,  # type: ignore[arg-type]
    )


async def member_id(store: Store, name: str) -> int:
    async with store.connection() as conn:
        return (await conn.execute(select(Member.id).where(Member.display_name == name))).scalar_one()


async def test_member_ids_are_those_of_the_rows_stored(store: Store) -> None:
    ingestor = Ingestor()
    async with store.connection() as conn:
        first = await ingestor.ingest(conn, [post("1", "ann"), post("2", "bob")])
    assert first.member_ids == {await member_id(store, "ann"), await member_id(store, "bob")}
    async with store.connection() as conn:
        # "1" is stored already: only cy's new message counts, and only cy's member.
        again = await ingestor.ingest(conn, [post("1", "ann"), post("3", "cy"), post("3", "cy")])
    assert (again.stored, again.duplicates) == (1, 2)
    assert again.member_ids == {await member_id(store, "cy")}
    async with store.connection() as conn:
        nothing = await ingestor.ingest(conn, [post("2", "bob")])
    assert (nothing.stored, nothing.duplicates, nothing.member_ids) == (0, 1, set())


async def test_reactions_and_joins_become_activities(store: Store) -> None:
    message = post("10", "ann")
    reaction = ReactionAdded(
        uid=event_uid("discord", "10:+1:bob"),
        actor=ActorRef("discord", "bob", "bob"),
        occurred_at=T0,
        target_uid=message.uid,
        emoji="👍",
    )
    joined = MemberJoined(
        uid=event_uid("discord", "join:cy"), actor=ActorRef("discord", "cy", "cy"), place=ROOM, occurred_at=T0
    )
    async with store.connection() as conn:
        result = await Ingestor().ingest(conn, [message, reaction, joined])
        rows = (
            await conn.execute(
                select(Activity.kind, Activity.own_text, Activity.reply_to_uid, Activity.place_id).order_by(
                    Activity.id
                )
            )
        ).all()
    assert result.stored == 3
    assert [(k, t, r) for k, t, r, _ in rows] == [
        ("message", "message 10", None),
        ("reaction", "👍", message.uid),
        ("join", "", None),
    ]
    # A reaction names no place of its own; a join happens in one.
    assert rows[0].place_id == rows[2].place_id is not None
    assert rows[1].place_id is None


async def test_sqlite_rows_are_what_sqlalchemy_would_write(store: Store) -> None:
    """The raw SQLite insert must store exactly the values SQLAlchemy's own insert stores."""
    if store.dialect != "sqlite":
        pytest.skip("the raw insert path is SQLite's")
    local = datetime(2026, 2, 3, 6, 5, 6, 789012, tzinfo=timezone(timedelta(hours=2)))
    event = post(
        "20", "ann", at=local, subject="Re: boot", reply_to=event_uid("discord", "19"),
        thread=event_uid("discord", "1"), tz_offset_minutes=120,
    )
    async with store.connection() as conn:
        await Ingestor().ingest(conn, [event])
        ours = (await conn.exec_driver_sql("SELECT * FROM activity")).one()
        values = dict(ours._mapping)
        values.pop("id")
        values["event_uid"] = "copy"
        # The same values through SQLAlchemy, with a datetime for its processors to render.
        values["occurred_at"] = local
        await conn.execute(insert(Activity).values(**values))
        theirs = (await conn.exec_driver_sql("SELECT * FROM activity WHERE event_uid = 'copy'")).one()
        stored = (await conn.execute(select(Activity.occurred_at).where(Activity.native_id == "20"))).first()
    assert tuple(ours)[2:] == tuple(theirs)[2:]
    render = sqlite.DATETIME().bind_processor(sqlite.dialect())  # type: ignore[no-untyped-call]
    assert render is not None
    assert ours.occurred_at == render(T0.replace(tzinfo=None))
    assert stored is not None and stored.occurred_at == T0


def test_naive_times_are_refused_before_the_database() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        prepare((post("32", "ann", at=T0.replace(tzinfo=None)),), dialect="sqlite")
