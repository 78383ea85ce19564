"""The store on a real database: migrations both ways, ingest, identity resolution, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select

from bot.core.errors import StoreUnavailable, UnknownMember
from bot.core.events import (
    ActorRef,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageText,
    PlaceRef,
    ProfileSeen,
    content_uid,
    event_uid,
)
from bot.store import Store, open_store
from bot.store.ingest import Ingestor
from bot.store.models import Activity, Identity, Member
from bot.store.queries import member_views, resolve_member

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LIST = PlaceRef(platform="mail", channel_id="dev.lists.example.org", name="dev")
GENERAL = PlaceRef(platform="discord", channel_id="1001", name="general")


def mail(msgid: str, sender: str, *, name: str = "", at: datetime = T0, text: str = "hello") -> MessagePosted:
    return MessagePosted(
        uid=event_uid("mail", msgid),
        actor=ActorRef(platform="mail", external_id=sender.lower(), display_name=name or sender),
        place=LIST,
        occurred_at=at,
        text=MessageText(own=text),
        native_id=msgid,
    )


def chat(
    mid: str, user: str, *, email: str | None = None, bot: bool = False, at: datetime = T0
) -> MessagePosted:
    return MessagePosted(
        uid=event_uid("discord", mid),
        actor=ActorRef(
            platform="discord", external_id=user, display_name=f"user {user}", email=email, is_bot=bot
        ),
        place=GENERAL,
        occurred_at=at,
        text=MessageText(own="hi"),
        native_id=mid,
    )


async def ingest(store: Store, events: list, ingestor: Ingestor | None = None):
    async with store.connection() as conn:
        return await (ingestor or Ingestor()).ingest(conn, events)


async def count(store: Store, model: type) -> int:
    async with store.connection() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def test_migrations_upgrade_to_head_and_down_to_base(db_url: str) -> None:
    store = await open_store(db_url)
    try:
        assert await store.current_revision() is not None
        async with store.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"member", "identity", "place", "activity", "import_cursor", "audit_log"} <= tables
        await store.downgrade("base")
        assert await store.current_revision() is None
        async with store.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await store.migrate()
        async with store.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert "activity" in tables
    finally:
        await store.close()


async def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="cannot open database"):
        await open_store("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")


async def test_unreachable_database_message_hides_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_store("postgresql+asyncpg://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(info.value)


async def test_replay_is_a_no_op(store: Store) -> None:
    events = [mail("a@x", "jane@corp.example"), mail("b@x", "joe@corp.example")]
    first = await ingest(store, events)
    again = await ingest(store, events)
    assert (first.stored, first.duplicates, first.new_members) == (2, 0, 2)
    assert (again.stored, again.duplicates, again.new_members) == (0, 2, 0)
    assert await count(store, Activity) == 2
    assert await count(store, Member) == 2


async def test_same_message_twice_in_one_batch_is_stored_once(store: Store) -> None:
    result = await ingest(store, [mail("dup@x", "a@b.example"), mail("dup@x", "a@b.example", text="other")])
    assert (result.stored, result.duplicates) == (1, 1)


async def test_email_joins_identities_across_platforms(store: Store) -> None:
    await ingest(store, [mail("m1@x", "Jane@Corp.example", name="Jane Doe")])
    # A Discord account carrying the same address (case differs) is the same person.
    result = await ingest(store, [chat("900", "u-1", email="jane@corp.EXAMPLE")])
    assert result.new_members == 0
    assert await count(store, Member) == 1
    assert await count(store, Identity) == 2
    async with store.connection() as conn:
        assert await resolve_member(conn, "discord:u-1") == await resolve_member(conn, "jane@corp.example")


async def test_two_new_accounts_with_one_email_in_one_batch_share_a_member(store: Store) -> None:
    await ingest(store, [mail("m1@x", "kim@uni.example"), chat("901", "u-2", email="kim@uni.example")])
    assert await count(store, Member) == 1


async def test_no_email_no_merge_even_with_the_same_name(store: Store) -> None:
    a = chat("1", "u-a")
    b = MessagePosted(
        uid=event_uid("discord", "2"),
        actor=ActorRef(platform="discord", external_id="u-b", display_name="user u-a"),
        place=GENERAL,
        occurred_at=T0,
        native_id="2",
    )
    await ingest(store, [a, b])
    assert await count(store, Member) == 2


async def test_bots_are_flagged_and_kept_out_of_people_exports(store: Store) -> None:
    await ingest(store, [chat("5", "bot-1", bot=True), chat("6", "person")])
    async with store.connection() as conn:
        people = [v async for v in member_views(conn, include_bots=False)]
        everyone = [v async for v in member_views(conn)]
    assert [v.identities[0].external_id for v in people] == ["person"]
    assert {v.is_bot for v in everyone} == {True, False}


async def test_profile_seen_updates_title_and_bot_flag(store: Store) -> None:
    actor = ActorRef(platform="slack", external_id="U1", display_name="Ann")
    await ingest(
        store,
        [
            MemberJoined(
                uid=event_uid("slack", "join-U1"),
                actor=actor,
                place=PlaceRef("slack", "C1", "general"),
                occurred_at=T0,
            )
        ],
    )
    profile = ActorRef(
        platform="slack",
        external_id="U1",
        display_name="Ann B",
        title="CTO, Boards Inc",
        email="ann@boards.example",
        is_bot=False,
    )
    await ingest(store, [ProfileSeen(actor=profile, occurred_at=T0)])
    async with store.connection() as conn:
        row = (await conn.execute(select(Identity.title, Identity.email, Identity.display_name))).one()
    assert tuple(row) == ("CTO, Boards Inc", "ann@boards.example", "Ann B")


async def test_edit_and_delete(store: Store) -> None:
    msg = chat("77", "u-9")
    await ingest(store, [msg])
    edited = MessageEdited(
        uid=msg.uid,
        actor=msg.actor,
        occurred_at=T0 + timedelta(minutes=1),
        text=MessageText(own="fixed typo"),
    )
    await ingest(store, [edited])
    async with store.connection() as conn:
        assert (await conn.execute(select(Activity.own_text))).scalar_one() == "fixed typo"
    result = await ingest(store, [MessageDeleted(uid=msg.uid, occurred_at=T0 + timedelta(minutes=2))])
    assert result.deleted == 1
    assert await count(store, Activity) == 0


async def test_hostile_text_is_stored(store: Store) -> None:
    nasty = "nul\x00 byte, RTL \u202e, zalgo Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇, emoji 👩‍👩‍👧, and ' OR 1=1 --"
    await ingest(store, [mail("h@x", "eve@evil.example", name=nasty, text=nasty)])
    async with store.connection() as conn:
        stored = (await conn.execute(select(Activity.own_text))).scalar_one()
    assert stored == nasty.replace("\x00", "")


async def test_content_uid_is_stable_and_distinguishes() -> None:
    a = content_uid("discord", channel="c", author="u", occurred_at=T0, text="x")
    assert a == content_uid("discord", channel="c", author="u", occurred_at=T0, text="x")
    assert a != content_uid("discord", channel="c", author="u", occurred_at=T0, text="y")
    assert event_uid("mail", " <id@x> ".strip()) != a


async def test_resolve_member_refuses_ambiguous_names(store: Store) -> None:
    a = MessagePosted(
        uid=event_uid("discord", "1"), actor=ActorRef("discord", "a", "Sam"), place=GENERAL, occurred_at=T0
    )
    b = MessagePosted(
        uid=event_uid("discord", "2"), actor=ActorRef("discord", "b", "Sam"), place=GENERAL, occurred_at=T0
    )
    await ingest(store, [a, b])
    async with store.connection() as conn:
        with pytest.raises(UnknownMember, match="names 2 members"):
            await resolve_member(conn, "Sam")
        with pytest.raises(UnknownMember, match="no member"):
            await resolve_member(conn, "nobody-here")


async def test_member_stats(store: Store) -> None:
    await ingest(
        store, [mail("s1@x", "s@x.example", at=T0), mail("s2@x", "s@x.example", at=T0 + timedelta(days=3))]
    )
    async with store.connection() as conn:
        (view,) = [v async for v in member_views(conn)]
    assert view.stats.activities == 2
    assert view.stats.first_seen == T0
    assert view.stats.last_seen == T0 + timedelta(days=3)
    line = view.as_export()
    assert line["identities"] == [
        {"platform": "mail", "external_id": "s@x.example", "username": None, "email": "s@x.example"}
    ]
    assert line["stats"]["first_seen"] == T0.isoformat()
