"""The Discord adapter with the real discord.py client against a fake Discord on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from discord_helpers import RecordingSink, running
from fakes.discord_server import GENERAL_ID, MEMBER_ROLE, FakeDiscord

from adapters.imports.discord_translate import message_uid
from bot.core.events import MessagePosted

ALICE = "920000000000000001"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", roles=(MEMBER_ROLE,), nick="Alice A.")
        yield server


async def test_message_in_reaches_the_sink(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    async with running(fake, sink):
        first = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="How do I mount it?",
                                     at=T0)
        await fake.dispatch("MESSAGE_CREATE", first)
        reply = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="> quoted\nnever mind",
                                     at=T0, reply_to=first["id"])
        await fake.dispatch("MESSAGE_CREATE", reply)
        await sink.wait_for(lambda evs: len([e for e in evs if isinstance(e, MessagePosted)]) == 2)
    posted = {e.native_id: e for e in sink.of(MessagePosted)}
    a = posted[first["id"]]
    assert isinstance(a, MessagePosted)
    assert a.uid == message_uid(first["id"])
    assert a.actor.external_id == ALICE and a.actor.display_name == "Alice A." and a.actor.username == "alice"
    assert a.place.channel_id == GENERAL_ID and a.place.container == "Cohort Guild"
    assert a.place.category == "Community"
    assert a.text.own == "How do I mount it?"
    b = posted[reply["id"]]
    assert isinstance(b, MessagePosted)
    assert b.reply_to == a.uid and b.text.own == "never mind" and b.text.quoted_lines == 1
