"""Gateway events other than new messages, through the real client: edits, deletions, reactions,
threads, joins, leaves and member updates, and events from guilds the bot does not serve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from discord_helpers import RecordingSink, running
from fakes.discord_server import (
    GENERAL_ID,
    GUILD_ID,
    HELP_ID,
    MEMBER_ROLE,
    THREAD_ID,
    FakeDiscord,
    user_payload,
)

from adapters.discord.uids import message_uid, reaction_uid
from bot.core.events import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ProfileSeen,
    ReactionAdded,
)

ALICE = "920000000000000001"
CAROL = "920000000000000003"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", roles=(MEMBER_ROLE,), nick="Alice A.")
        yield server


async def test_edit_delete_and_reaction(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    m1 = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="it fails", at=T0)
    async with running(fake, sink):
        await fake.dispatch("MESSAGE_CREATE", m1)
        await fake.dispatch("MESSAGE_UPDATE", {**m1, "content": "it fails with EIO",
                                               "edited_timestamp": "2026-11-01T12:05:00+00:00"})
        await fake.dispatch("MESSAGE_REACTION_ADD", {
            "user_id": ALICE, "channel_id": GENERAL_ID, "message_id": m1["id"], "guild_id": GUILD_ID,
            "member": {**fake.members[ALICE]}, "emoji": {"id": None, "name": "👍"}, "type": 0,
            "burst": False, "burst_colors": [],
        })
        deletion = {"id": m1["id"], "channel_id": GENERAL_ID, "guild_id": GUILD_ID}
        await fake.dispatch("MESSAGE_DELETE", deletion)
        await sink.wait_for(lambda evs: len(evs) == 4)
    uid = message_uid(m1["id"])
    (edited,) = sink.of(MessageEdited)
    assert isinstance(edited, MessageEdited)
    assert edited.uid == uid and edited.text.own == "it fails with EIO"
    assert edited.occurred_at == datetime(2026, 11, 1, 12, 5, tzinfo=UTC)
    (reaction,) = sink.of(ReactionAdded)
    assert isinstance(reaction, ReactionAdded)
    assert reaction.uid == reaction_uid(m1["id"], "👍", ALICE) and reaction.target_uid == uid
    assert reaction.emoji == "👍" and reaction.actor.display_name == "Alice A."
    (deleted,) = sink.of(MessageDeleted)
    assert isinstance(deleted, MessageDeleted) and deleted.uid == uid


async def test_thread_messages_point_at_their_root(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    inside = fake.message_payload(channel_id=THREAD_ID, author_id=ALICE, content="same here", at=T0)
    async with running(fake, sink):
        await fake.dispatch("MESSAGE_CREATE", inside)
        await sink.wait_for(lambda evs: len(evs) == 1)
    (event,) = sink.of(MessagePosted)
    assert isinstance(event, MessagePosted)
    assert event.thread == message_uid(THREAD_ID)  # the thread's starter message has the thread's id
    assert event.place.channel_id == THREAD_ID and event.place.category == "help"


async def test_join_update_and_leave(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    carol = {"user": user_payload(CAROL, "carol"), "roles": [], "nick": None,
             "joined_at": "2026-11-01T12:00:00+00:00", "deaf": False, "mute": False, "flags": 0}
    async with running(fake, sink):
        await fake.dispatch("GUILD_MEMBER_ADD", {**carol, "guild_id": GUILD_ID})
        await sink.wait_for(lambda evs: len(evs) == 1)
        await fake.dispatch("GUILD_MEMBER_UPDATE", {**carol, "guild_id": GUILD_ID, "nick": "Carol C.",
                                                    "roles": [MEMBER_ROLE]})
        await sink.wait_for(lambda evs: len(evs) == 2)
        removal = {"guild_id": GUILD_ID, "user": user_payload(CAROL, "carol")}
        await fake.dispatch("GUILD_MEMBER_REMOVE", removal)
        await sink.wait_for(lambda evs: len(evs) == 3)
    joined, profile, left = sink.events
    assert isinstance(joined, MemberJoined) and joined.actor.external_id == CAROL
    assert joined.occurred_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert joined.place.channel_id == GENERAL_ID  # the server's system channel
    assert isinstance(profile, ProfileSeen) and profile.actor.display_name == "Carol C."
    assert isinstance(left, MemberLeft) and left.actor.external_id == CAROL and left.uid != joined.uid


async def test_system_notices_and_other_guilds_are_not_activity(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    pin = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="", at=T0)
    pin["type"] = 6  # "pinned a message"
    elsewhere = fake.message_payload(channel_id=HELP_ID, author_id=ALICE, content="other server", at=T0)
    elsewhere["guild_id"] = "999"
    marker = fake.message_payload(channel_id=HELP_ID, author_id=ALICE, content="marker", at=T0)
    async with running(fake, sink):
        for payload in (pin, elsewhere, marker):
            await fake.dispatch("MESSAGE_CREATE", payload)
        await sink.wait_for(lambda evs: len(evs) >= 1)
    assert [e.native_id for e in sink.of(MessagePosted)] == [marker["id"]]  # type: ignore[attr-defined]
