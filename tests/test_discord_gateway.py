"""Gateway life: resume without back-fill, a session that cannot resume (back-fill from the last stored
message, no duplicates, the importer's uids), missing privileged intents, a rejected token, sharding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from discord_helpers import RecordingSink, running, settings_for
from fakes.discord_server import GENERAL_ID, GUILD_ID, FakeDiscord

from adapters.discord.adapter import DiscordAdapter
from adapters.imports.discord_translate import Channel, Directory, message_uid, translate_message
from bot.core.errors import ConfigurationError
from bot.core.events import MessagePosted, PlaceRef

ALICE = "920000000000000001"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", nick="Alice A.")
        yield server


def _posted(sink: RecordingSink) -> list[MessagePosted]:
    return [e for e in sink.events if isinstance(e, MessagePosted)]


async def test_dropped_connection_resumes_without_backfill(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    m1 = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="first", at=T0)
    m2 = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="while away", at=T0)
    async with running(fake, sink):
        await fake.dispatch("MESSAGE_CREATE", m1)
        await sink.wait_for(lambda evs: len(evs) == 1)
        await fake.drop(code=4000)
        await fake.dispatch("MESSAGE_CREATE", m2)  # sent while the socket is down: replayed on RESUME
        await sink.wait_for(lambda evs: len(evs) == 2)
        await fake.wait_until(lambda: any(op.get("op") == 6 for op in fake.gateway_ops))
    assert [e.native_id for e in _posted(sink)] == [m1["id"], m2["id"]]
    assert (fake.identify_count, fake.resume_count) == (1, 1)
    assert fake.requests_to("GET", f"/channels/{GENERAL_ID}/messages") == []


@pytest.mark.parametrize("sharded", [False, True])
async def test_session_that_cannot_resume_backfills_from_the_last_stored_message(
    fake: FakeDiscord, sharded: bool
) -> None:
    sink = RecordingSink()
    m1 = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="first", at=T0)
    missed = [
        fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content=f"missed {i}",
                             at=T0 + timedelta(minutes=i))
        for i in range(1, 4)
    ]
    async with running(fake, sink, sharded=sharded) as adapter:
        await fake.dispatch("MESSAGE_CREATE", m1)
        await sink.wait_for(lambda evs: len(evs) == 1)
        for message in missed:  # happened during the outage; the new session will not replay them
            fake.store_message(message)
        fake.invalidate_next_resume()
        await fake.drop(code=4000)
        await sink.wait_for(lambda evs: len(evs) == 4)  # only after the second READY
        await adapter.backfilled.wait()  # every channel looked at
    posted = _posted(sink)
    assert [e.native_id for e in posted] == [m1["id"]] + [m["id"] for m in missed]
    assert len({e.uid for e in posted}) == 4  # nothing twice
    (history,) = fake.requests_to("GET", f"/channels/{GENERAL_ID}/messages")
    assert history.query["after"] == m1["id"]
    # The same message read from a DiscordChatExporter file gets the same uid and the same words.
    exported = {"id": missed[0]["id"], "type": "Default", "timestamp": missed[0]["timestamp"],
                "content": "missed 1",
                "author": {"id": ALICE, "name": "alice", "nickname": "Alice A."}}
    place = PlaceRef(platform="discord", channel_id=GENERAL_ID, name="general")
    channel = Channel(place=place, thread=None)
    (imported,) = translate_message(exported, channel=channel, directory=Directory())
    live = posted[1]
    assert isinstance(imported, MessagePosted)
    assert live.uid == imported.uid == message_uid(missed[0]["id"])
    assert (live.text, live.occurred_at, live.actor.display_name) == (
        imported.text, imported.occurred_at, imported.actor.display_name)


async def test_missing_privileged_intents_name_the_portal_switch(fake: FakeDiscord) -> None:
    fake.reject_intents = True
    adapter = DiscordAdapter(settings_for(fake), last_seen=RecordingSink().last_seen)
    with pytest.raises(ConfigurationError, match="MESSAGE CONTENT INTENT") as caught:
        await adapter.start(RecordingSink())
    assert "Privileged Gateway Intents" in str(caught.value) and "SERVER MEMBERS INTENT" in str(caught.value)
    identify = next(op for op in fake.gateway_ops if op.get("op") == 2)
    intents = identify["d"]["intents"]
    assert intents & (1 << 1) and intents & (1 << 15) and intents & 1  # members, message content, guilds


async def test_rejected_token_is_a_configuration_error(fake: FakeDiscord) -> None:
    fake.fail_next("GET", "/users/@me", status=401, body={"message": "401: Unauthorized", "code": 0})
    adapter = DiscordAdapter(settings_for(fake), last_seen=RecordingSink().last_seen)
    with pytest.raises(ConfigurationError, match="COHORTBOT_DISCORD_TOKEN"):
        await adapter.start(RecordingSink())


async def test_missing_token_says_where_to_put_it(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COHORTBOT_DISCORD_TOKEN")
    adapter = DiscordAdapter(settings_for(fake), last_seen=RecordingSink().last_seen)
    with pytest.raises(ConfigurationError, match="COHORTBOT_DISCORD_TOKEN"):
        await adapter.start(RecordingSink())


async def test_sharded_client_is_a_switch(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    adapter = DiscordAdapter(settings_for(fake, sharded=True), last_seen=sink.last_seen)
    await adapter.start(sink)
    try:
        message = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="hi", at=T0)
        await fake.dispatch("MESSAGE_CREATE", message)
        await sink.wait_for(lambda evs: len(evs) == 1)
    finally:
        await adapter.stop()
    assert fake.requests_to("GET", "/gateway/bot")
    identify = next(op for op in fake.gateway_ops if op.get("op") == 2)
    assert identify["d"]["shard"] == [0, 1]
    assert _posted(sink)[0].place.container == "Cohort Guild" and GUILD_ID
