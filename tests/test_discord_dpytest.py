"""Translate-level checks with dpytest 0.7.0 (discord.py's in-process test double) on discord.py 2.7.

dpytest builds real discord.py objects from its own payloads, which makes it a quick check
that ``translate`` reads them as the gateway delivers them. It covers messages, role
changes and joins only: its reaction payload lacks the ``type`` field discord.py 2.4+ reads
(KeyError in ``RawReactionActionEvent``), its ``create_role`` rejects the ``colors`` field
discord.py 2.7 sends, and it has no threads and no interactions (slash
commands, buttons). Those run against the local fake Discord (tests/fakes/discord_server.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpytest_backend
import pytest
from discord.ext import commands

from adapters.discord import translate
from adapters.discord.uids import message_uid
from bot.core.events import Event, MemberJoined, MessagePosted, ProfileSeen


@pytest.fixture
async def bot() -> AsyncIterator[tuple[commands.Bot, list[Event]]]:
    client = commands.Bot(command_prefix="!", intents=discord.Intents.all())
    seen: list[Event] = []

    async def on_message(message: discord.Message) -> None:
        event = translate.message_posted(message)
        if event is not None:
            seen.append(event)

    async def on_member_join(member: discord.Member) -> None:
        seen.append(translate.member_joined(member))

    async def on_member_update(before: discord.Member, after: discord.Member) -> None:
        event = translate.profile_changed(before, after, at=discord.utils.utcnow())
        if event is not None:
            seen.append(event)

    client.add_listener(on_message)
    client.add_listener(on_member_join)
    client.add_listener(on_member_update)
    await client._async_setup_hook()  # dpytest 0.7 needs the loop-bound parts before configure
    dpytest.configure(client, members=2)
    yield client, seen
    await dpytest.empty_queue()


async def test_message_with_quote_and_nickname(bot: tuple[commands.Bot, list[Event]]) -> None:
    _, seen = bot
    member = dpytest.get_config().members[0]
    sent = await dpytest.message("> what you said\nI disagree, see `man mount`", member=0)
    (event,) = seen
    assert isinstance(event, MessagePosted)
    assert event.uid == message_uid(str(sent.id)) and event.native_id == str(sent.id)
    assert event.text.own == "I disagree, see `man mount`" and event.text.quoted_lines == 1
    assert event.actor.external_id == str(member.id)
    assert event.actor.display_name == member.display_name
    assert event.place.container == dpytest.get_config().guilds[0].name


async def test_join_and_role_change(bot: tuple[commands.Bot, list[Event]]) -> None:
    _, seen = bot
    guild = dpytest.get_config().guilds[0]
    joined = await dpytest.member_join(guild, name="carol")
    # guild.create_role sends discord.py 2.7's "colors" field, which dpytest's make_role does not take.
    role = dpytest_backend.make_role("Contributors", guild)
    await dpytest.add_role(joined, role)
    await dpytest.run_all_events()
    events = [e for e in seen if not isinstance(e, MessagePosted)]
    assert isinstance(events[0], MemberJoined) and events[0].actor.external_id == str(joined.id)
    assert any(isinstance(e, ProfileSeen) and e.actor.external_id == str(joined.id) for e in events[1:])
    assert str(role.id) in translate.role_ids(guild.get_member(joined.id) or joined)
