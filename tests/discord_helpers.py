"""Test helpers for the Discord adapter: a recording sink and an adapter wired to the fake server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fakes.discord_server import GUILD_ID, FakeDiscord

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.settings import DiscordSettings
from bot.core.events import Event, MessagePosted
from bot.core.outbound import CommandReply


class RecordingSink:
    """Keeps every event; answers commands and clicks with ``reply``; "stores" messages for last_seen."""

    def __init__(self, reply: CommandReply | None = None) -> None:
        self.events: list[Event] = []
        self.reply = reply or CommandReply(text="ok")
        self._changed = asyncio.Condition()

    async def __call__(self, event: Event) -> CommandReply | None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()
        if type(event).__name__ in ("CommandInvoked", "ActionClicked"):
            return self.reply
        return None

    async def wait_for(self, predicate: Callable[[list[Event]], bool], *, timeout: float = 10.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.events))

        await asyncio.wait_for(wait(), timeout)

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    async def last_seen(self, channel_id: str) -> str | None:
        ids = [int(e.native_id) for e in self.events
               if isinstance(e, MessagePosted) and e.place.channel_id == channel_id and e.native_id]
        return str(max(ids)) if ids else None


def settings_for(fake: FakeDiscord, **overrides: object) -> DiscordSettings:
    values: dict[str, object] = {
        "guild_ids": (GUILD_ID,), "api_base_url": fake.api_base_url, "gateway_url": fake.gateway_url,
        "guild_ready_timeout": 0.0, "ready_timeout": 10.0, "reidentify_delay": 0.0,
    }
    values.update(overrides)
    return DiscordSettings.model_validate(values)


@asynccontextmanager
async def running(
    fake: FakeDiscord, sink: RecordingSink, *, sharded: bool = False, **kwargs: object
) -> AsyncIterator[DiscordAdapter]:
    settings = settings_for(fake, sharded=sharded)
    adapter = DiscordAdapter(settings, last_seen=sink.last_seen, **kwargs)  # type: ignore[arg-type]
    await adapter.start(sink)
    try:
        yield adapter
    finally:
        await adapter.stop()
