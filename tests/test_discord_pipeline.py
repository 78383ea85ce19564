"""End to end: the Discord adapter (real discord.py, fake Discord) feeding the app's pipeline on a real
database. A message in is stored under the importer's uid and its author classified; a back-fill
after an invalid session starts from the last message the *store* holds and stores nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from discord_helpers import settings_for
from fakes.discord_server import APP_ID, GENERAL_ID, GUILD_ID, MEMBER_ROLE, FakeDiscord
from sqlalchemy import func, select

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.uids import message_uid
from bot.app import App, build_app
from bot.core.clock import FrozenClock
from bot.settings import Settings
from bot.store import Store
from bot.store.models import Activity, MemberFeatureRow, Place

ALICE = "920000000000000001"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TRACE = "I get a segfault in the parser, here is the trace:\n```\n#0 parse_block () at parser.c:120\n```"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("COHORTBOT_SECRET", "x" * 40)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", roles=(MEMBER_ROLE,))
        yield server


def last_seen_in(store: Store) -> object:
    """What the app gives the adapter: the newest stored message id of a channel."""

    async def last_seen(channel_id: str) -> str | None:
        async with store.connection() as conn:
            row = await conn.execute(
                select(Activity.native_id)
                .join(Place, Activity.place_id == Place.id)
                .where(Place.platform == "discord", Place.channel_id == channel_id, Activity.native_id != "")
                .order_by(Activity.occurred_at.desc())
                .limit(1)
            )
            return row.scalar_one_or_none()

    return last_seen


async def _app(store: Store, fake: FakeDiscord) -> tuple[App, DiscordAdapter]:
    adapter = DiscordAdapter(settings_for(fake), last_seen=last_seen_in(store))  # type: ignore[arg-type]
    app = await build_app(Settings(), clock=FrozenClock(T0 + timedelta(hours=1)),
                          adapters={"discord": adapter}, store=store, managers_required=False)
    return app, adapter


async def _command_round_trip(fake: FakeDiscord, name: str = "whyme") -> str:
    """A slash command queued after the messages: its answer means they were committed before it."""
    payload = fake.interaction_payload(user_id=ALICE, data={"id": "1", "name": name, "type": 1,
                                                            "guild_id": GUILD_ID})
    await fake.dispatch("INTERACTION_CREATE", payload)
    (followup,) = await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    return str(followup.body.get("content", ""))


async def _stored(store: Store) -> list[str]:
    async with store.connection() as conn:
        return list((await conn.execute(select(Activity.event_uid).order_by(Activity.id))).scalars())


async def test_message_in_is_stored_and_classified(store: Store, fake: FakeDiscord) -> None:
    app, _ = await _app(store, fake)
    await app.start_adapters()
    try:
        messages = [
            fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content=TRACE,
                                 at=T0 + timedelta(minutes=i))
            for i in range(3)
        ]
        for message in messages:
            await fake.dispatch("MESSAGE_CREATE", message)
        answer = await _command_round_trip(fake)
    finally:
        await app.shutdown()
    assert answer  # the command core answered, privately (flags checked in test_discord_live)
    assert await _stored(store) == [message_uid(m["id"]) for m in messages]
    async with store.connection() as conn:
        segments = (await conn.execute(select(MemberFeatureRow.segments))).scalars().all()
    assert len(segments) == 1  # alice was classified by the pipeline


async def test_backfill_after_invalid_session_starts_at_the_store(store: Store, fake: FakeDiscord) -> None:
    app, adapter = await _app(store, fake)
    await app.start_adapters()
    try:
        live = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content=TRACE, at=T0)
        await fake.dispatch("MESSAGE_CREATE", live)
        await _command_round_trip(fake)
        missed = [
            fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content=f"missed {i}",
                                 at=T0 + timedelta(minutes=i))
            for i in (1, 2)
        ]
        for message in missed:
            fake.store_message(message)
        fake.invalidate_next_resume()
        await fake.drop(code=4000)
        await fake.wait_until(lambda: fake.identify_count == 2)
        await fake.wait_for_request("GET", f"/channels/{GENERAL_ID}/messages")
        await adapter.backfilled.wait()
        await _command_round_trip(fake, "programmes")
    finally:
        await app.shutdown()
    (history,) = fake.requests_to("GET", f"/channels/{GENERAL_ID}/messages")
    assert history.query["after"] == live["id"]
    assert await _stored(store) == [message_uid(m["id"]) for m in [live, *missed]]
    async with store.connection() as conn:
        assert (await conn.execute(select(func.count()).select_from(Activity))).scalar_one() == 3
