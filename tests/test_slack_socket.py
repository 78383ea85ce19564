"""Socket Mode against a local websocket server that speaks Slack's envelope/ack protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from fakes.slack_api import FakeSlackApi
from fakes.slack_kit import TEAM, RecordingSink
from fakes.slack_socket import FakeSocketMode

from adapters.imports.slack_translate import message_uid
from adapters.slack import SlackAdapter, SlackSecrets, SlackSettings
from bot.core.events import CommandInvoked, MessagePosted

SECRETS = SlackSecrets(bot_token="xoxb-test", app_token="xapp-1-test", signing_secret="")


def event(n: int, *, team: str = TEAM) -> dict[str, Any]:
    return {
        "token": "legacy", "team_id": team, "api_app_id": "A0TEST", "type": "event_callback",
        "event_id": f"Ev{n:04d}", "event_time": 1700000000 + n,
        "event": {"type": "message", "channel": "C1", "user": "U1", "text": f"message {n}",
                  "ts": f"17000000{n:02d}.000100", "channel_type": "channel"},
    }  # fmt: skip


@dataclass
class Socket:
    adapter: SlackAdapter
    server: FakeSocketMode
    api: FakeSlackApi
    sink: RecordingSink

    async def delivered(self, count: int) -> list[str]:
        async def until() -> None:
            while len(self.sink.of(MessagePosted)) < count or self.adapter.inbox.pending:
                await asyncio.sleep(0)  # yield to the client and the server; no waiting on the clock
                await self.adapter.inbox.drain()

        await asyncio.wait_for(until(), 10)
        return [e.text.own for e in self.sink.of(MessagePosted)]


@pytest.fixture
async def socket() -> AsyncIterator[Socket]:
    api = await FakeSlackApi().start()
    server = await FakeSocketMode().start()
    api.ws_url = server.url
    settings = SlackSettings(mode="socket", team_id=TEAM, api_base_url=api.api_url, ping_interval=30)
    adapter = SlackAdapter(settings, secrets=SECRETS, timer=api.timer)
    sink = RecordingSink()
    await adapter.start(sink)
    await server.wait_for(lambda: server.connections == 1)
    yield Socket(adapter, server, api, sink)
    await adapter.stop()
    await server.close()
    await api.close()


async def test_events_arrive_and_every_envelope_is_acknowledged(socket: Socket) -> None:
    [opened] = socket.api.of("apps.connections.open")
    assert opened.token == "xapp-1-test"  # the app-level token, not the bot token
    ids = [await socket.server.deliver(event(n)) for n in (1, 2)]
    await socket.server.wait_for(lambda: not socket.server.pending)
    assert socket.server.acks == ids
    assert await socket.delivered(2) == ["message 1", "message 2"]
    assert socket.sink.of(MessagePosted)[0].uid == message_uid("C1", "1700000001.000100")


async def test_a_refresh_and_a_dropped_socket_lose_and_double_nothing(socket: Socket) -> None:
    server = socket.server
    await server.deliver(event(1))
    await server.wait_for(lambda: not server.pending)

    # The ack for event 2 is lost on the way; Slack asks for a refresh and sends it again.
    server.lose_next_ack = True
    await server.deliver(event(2))
    await server.wait_for(lambda: len(server.acks) == 2)
    await server.ask_to_reconnect()
    await server.wait_for(lambda: server.connections == 2 and not server.pending)

    # The socket drops; event 3 is sent while nobody is connected and arrives after the reconnect.
    await server.drop()
    await server.deliver(event(3))
    await server.wait_for(lambda: server.connections == 3 and not server.pending)
    await server.deliver(event(4))
    await server.wait_for(lambda: not server.pending)

    assert await socket.delivered(4) == ["message 1", "message 2", "message 3", "message 4"]
    assert len(server.acks) == 5  # event 2 was acknowledged twice, stored once
    assert len(socket.api.of("apps.connections.open")) == 3


async def test_an_event_from_another_workspace_is_acknowledged_but_not_delivered(socket: Socket) -> None:
    await socket.server.deliver(event(1, team="T0OTHER"))
    await socket.server.deliver(event(2))
    await socket.server.wait_for(lambda: not socket.server.pending)
    assert await socket.delivered(1) == ["message 2"]


def command(text: str, *, team: str = TEAM, response_url: str = "") -> dict[str, Any]:
    return {
        "token": "legacy", "team_id": team, "team_domain": "test",
        "channel_id": "C1", "channel_name": "general", "user_id": "U1", "user_name": "ann",
        "command": "/cohort", "text": text, "api_app_id": "A0TEST",
        "response_url": response_url, "trigger_id": f"trigger-{text}",
    }  # fmt: skip


async def test_a_slash_command_over_the_socket(socket: Socket) -> None:
    ours = await socket.server.deliver(
        command("optout all", response_url=socket.api.hook_url()), kind="slash_commands"
    )
    theirs = await socket.server.deliver(command("admin segments", team="T0OTHER"), kind="slash_commands")
    await socket.server.wait_for(lambda: not socket.server.pending)
    await socket.adapter.inbox.drain()
    [invoked] = socket.sink.of(CommandInvoked)
    assert (invoked.command, invoked.args) == ("optout", ("all",))
    assert socket.api.hooks == [
        {"name": "r1", "text": "done: optout all", "response_type": "ephemeral", "replace_original": False}
    ]
    assert ours not in socket.server.ack_payloads  # a bare ack; the answer follows by response URL
    assert "another Slack workspace" in socket.server.ack_payloads[theirs]["text"]


async def test_a_fixed_socket_url_skips_apps_connections_open() -> None:
    api = await FakeSlackApi().start()
    server = await FakeSocketMode().start()
    settings = SlackSettings(
        mode="socket", team_id=TEAM, api_base_url=api.api_url, socket_mode_url=server.url
    )
    adapter = SlackAdapter(settings, secrets=SECRETS, timer=api.timer)
    sink = RecordingSink()
    try:
        await adapter.start(sink)
        await server.wait_for(lambda: server.connections == 1)
        await server.deliver(event(1))
        await server.wait_for(lambda: not server.pending)
        await adapter.inbox.drain()
    finally:
        await adapter.stop()
        await server.close()
        await api.close()
    assert [e.text.own for e in sink.of(MessagePosted)] == ["message 1"]
    assert api.of("apps.connections.open") == []
