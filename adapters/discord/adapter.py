"""DiscordAdapter: the bot as a member of a Discord server (discord.py 2.x), behind ``LiveAdapter``.

Listening: gateway events become kernel events (``translate``) handed to the sink. After
every READY — the first connection and any reconnect that could not resume its session —
each channel's history is back-filled from the last message the store holds, which the
app supplies as ``last_seen(channel_id) -> message id | None``; back-filled and live
messages share their uids, so overlap is harmless. A resumed session replays what it
missed itself and needs no back-fill.

Sending is ``sending.Sender``'s (parts, nonces, no mentions, errors and the global 429 pause).

Commands and button clicks are answered in place, visible to the invoker only.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord import translate
from adapters.discord.commands import ActionButton, build_tree, sync_commands
from adapters.discord.sending import Sender
from adapters.discord.settings import DiscordSettings
from adapters.discord.splitting import split_text
from bot.core.clock import Clock, SystemClock
from bot.core.errors import ConfigurationError, TemporarySendError
from bot.core.events import Event
from bot.core.outbound import Capabilities, CommandReply, EventSink, OutboundMessage, SendReceipt

log = logging.getLogger(__name__)

#: The app's answer to "which message of this channel did the store see last?" (a snowflake).
LastSeen = Callable[[str], Awaitable[str | None]]

PRIVILEGED_INTENTS_HELP = (
    "Discord refused the gateway connection: the bot lacks privileged intents. In the Developer "
    "Portal, open your application → Bot → Privileged Gateway Intents and turn on "
    "'SERVER MEMBERS INTENT' and 'MESSAGE CONTENT INTENT', then start the bot again."
)

_DEFAULTS = SimpleNamespace(base=Route.BASE, gateway=DiscordWebSocket.DEFAULT_GATEWAY)


def intents() -> discord.Intents:
    """Guilds, members and message content (the last two privileged), plus messages and reactions."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    wanted.message_content = True
    wanted.guild_messages = True
    wanted.guild_reactions = True
    return wanted


class _Listener:
    """The discord.py event methods, forwarded to the adapter (mixed into either client class)."""

    adapter: DiscordAdapter

    async def setup_hook(self) -> None:
        await self.adapter._setup()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord allows one IDENTIFY per 5 s; discord.py waits that long before every later one."""
        delay = self.adapter._settings.reidentify_delay
        if not initial and delay:
            await asyncio.sleep(delay)

    async def on_ready(self) -> None:
        self.adapter._ready(shard_id=None)

    async def on_resumed(self) -> None:
        log.info("discord: gateway session resumed, no back-fill needed")

    async def on_message(self, message: discord.Message) -> None:
        if self.adapter._watched(message.guild):
            await self.adapter._deliver(translate.message_posted(message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if self.adapter._watched_id(payload.guild_id):
            await self.adapter._deliver(translate.message_edited(payload))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if self.adapter._watched_id(payload.guild_id):
            events = translate.messages_deleted([payload.message_id], at=self.adapter.now())
            await self.adapter._deliver_all(events)

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if self.adapter._watched_id(payload.guild_id):
            ids = sorted(payload.message_ids)
            await self.adapter._deliver_all(translate.messages_deleted(ids, at=self.adapter.now()))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.adapter._watched_id(payload.guild_id):
            await self.adapter._deliver(translate.reaction_added(payload, at=self.adapter.now()))

    async def on_member_join(self, member: discord.Member) -> None:
        if self.adapter._watched(member.guild):
            await self.adapter._deliver(translate.member_joined(member))

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        guild = self.adapter._guild(payload.guild_id)
        if guild is not None and self.adapter._watched(guild):
            await self.adapter._deliver(translate.member_left(payload.user, guild, at=self.adapter.now()))

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if self.adapter._watched(after.guild):
            await self.adapter._deliver(translate.profile_changed(before, after, at=self.adapter.now()))


class _Client(_Listener, discord.Client):
    pass


class _ShardedClient(_Listener, discord.AutoShardedClient):
    """Sharded, "ready" comes once all shards are up; a shard that re-identifies alone says "shard_ready"."""

    async def on_ready(self) -> None:
        self.adapter._ready_event.set()

    async def on_shard_ready(self, shard_id: int) -> None:
        self.adapter._ready(shard_id=shard_id)


class DiscordAdapter:
    """``LiveAdapter`` for Discord; ``last_seen`` is the app's "newest stored message id of this channel"."""

    def __init__(
        self,
        settings: DiscordSettings,
        *,
        last_seen: LastSeen,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._last_seen = last_seen
        self._clock: Clock = clock or SystemClock()
        self._monotonic = monotonic
        self._sink: EventSink | None = None
        self._client: discord.Client | None = None
        self._tree: discord.app_commands.CommandTree[Any] | None = None
        self._guild_ids = frozenset(int(g) for g in settings.guild_ids)
        self._ready_event = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sender = Sender(clock=self._clock, monotonic=monotonic)
        #: Set when the back-fill after the latest READY has looked at every channel.
        self.backfilled = asyncio.Event()

    # ------------------------------------------------------------------ LiveAdapter

    @property
    def platform(self) -> str:
        return "discord"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(platform="discord", dm=True, post=True, buttons=True, max_length=2000,
                            immediate_replies=True, idempotent_send=False)

    async def start(self, sink: EventSink) -> None:
        """Log in, register commands, connect; return once READY arrived (or raise ConfigurationError)."""
        self._sink = sink
        self._point_at_servers()
        token = self._settings.token()
        client = self._make_client()
        self._client = client
        try:
            await client.login(token)
        except discord.LoginFailure as exc:
            await client.close()
            raise ConfigurationError(
                f"Discord rejected the bot token in {self._settings.token_env}: {exc}"
            ) from exc
        self._runner = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self._ready_event.wait())
        done, _ = await asyncio.wait({self._runner, ready}, timeout=self._settings.ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            failure = self._runner.exception() if self._runner in done else None
            await self.stop()
            if isinstance(failure, discord.PrivilegedIntentsRequired):
                raise ConfigurationError(PRIVILEGED_INTENTS_HELP) from failure
            if failure is not None:
                raise ConfigurationError(f"Discord gateway connection failed: {failure}") from failure
            raise ConfigurationError(f"Discord gateway sent no READY within {self._settings.ready_timeout} s")
        self._runner.add_done_callback(self._runner_ended)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None and not self._client.is_closed():
            await self._client.close()
        if self._runner is not None:
            try:
                await self._runner
            except BaseException as exc:  # stopping: the reason was logged when the task ended
                log.debug("discord: gateway task ended with %r", exc)
        self._restore_servers()

    async def send(self, message: OutboundMessage) -> SendReceipt:
        return await self._sender.send(self._require_client(), message)

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        """Discord lists no nonces in history; a resend carries the same nonce with ``enforce_nonce``,
        and Discord answers a repeat within its dedupe window with the message it already has."""
        return None

    # ------------------------------------------------------------------ wiring

    def now(self) -> datetime:
        return self._clock.now()

    def _point_at_servers(self) -> None:
        """Tests point discord.py at a local fake; these are process-wide in discord.py."""
        if self._settings.api_base_url:
            Route.BASE = self._settings.api_base_url.rstrip("/")
        if self._settings.gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._settings.gateway_url)

    def _restore_servers(self) -> None:
        if self._settings.api_base_url:
            Route.BASE = _DEFAULTS.base
        if self._settings.gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = _DEFAULTS.gateway

    def _make_client(self) -> discord.Client:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._sender.watch_rate_limits)
        options: dict[str, Any] = {
            "intents": intents(),
            "chunk_guilds_at_startup": False,
            "guild_ready_timeout": self._settings.guild_ready_timeout,
            # discord.py waits out short limits itself; past 30 s it raises and the outbox reschedules.
            "max_ratelimit_timeout": 30.0,
            "http_trace": trace,
            "enable_debug_events": False,
        }
        client: discord.Client = (_ShardedClient if self._settings.sharded else _Client)(**options)
        client.adapter = self  # type: ignore[attr-defined]
        client.cohortbot_handler = self._on_interaction  # type: ignore[attr-defined]
        return client

    async def _setup(self) -> None:
        """discord.py's setup hook (after login, before the gateway): commands and persistent buttons."""
        client = self._require_client()
        client.add_dynamic_items(ActionButton)
        self._tree = build_tree(client, guild_ids=self._settings.guild_ids)
        await sync_commands(self._tree, guild_ids=self._settings.guild_ids)

    def _require_client(self) -> discord.Client:
        if self._client is None:
            raise TemporarySendError("the Discord adapter is not started")
        return self._client

    def _runner_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("discord: gateway connection ended: %r", exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("discord: back-fill failed; it runs again after the next READY",
                      exc_info=task.exception())

    def _guild(self, guild_id: int | None) -> discord.Guild | None:
        client = self._client
        return client.get_guild(guild_id) if client is not None and guild_id is not None else None

    def _watched(self, guild: discord.Guild | None) -> bool:
        """Only messages in configured guilds (every guild when none is configured); never DMs."""
        return guild is not None and self._watched_id(guild.id)

    def _watched_id(self, guild_id: int | None) -> bool:
        return guild_id is not None and (not self._guild_ids or guild_id in self._guild_ids)

    # ------------------------------------------------------------------ inbound

    async def _deliver(self, event: Event | None) -> None:
        if event is not None:
            await self._deliver_all([event])

    async def _deliver_all(self, events: Iterable[Event]) -> None:
        sink = self._sink
        if sink is None:
            return
        for event in events:
            await sink(event)

    def _ready(self, *, shard_id: int | None) -> None:
        """Every READY is a new session: what happened while there was none must be fetched."""
        if shard_id is None:
            self._ready_event.set()
        self.backfilled.clear()
        self._spawn(self._backfill_all(shard_id))

    async def _backfill_all(self, shard_id: int | None) -> None:
        client = self._require_client()
        for guild in client.guilds:
            if not self._watched(guild) or (shard_id is not None and guild.shard_id != shard_id):
                continue
            channels: list[discord.abc.Messageable] = [*guild.text_channels, *guild.threads]
            for channel in channels:
                cid = getattr(channel, "id", "?")
                try:
                    await self._backfill(channel)
                except (discord.Forbidden, discord.NotFound) as exc:
                    log.info("discord: cannot read history of channel %s: %s", cid, exc)
                except discord.HTTPException as exc:
                    log.warning("discord: back-fill of channel %s failed: %s", cid, exc)
        self.backfilled.set()

    async def _backfill(self, channel: discord.abc.Messageable) -> None:
        channel_id = str(getattr(channel, "id", ""))
        last = await self._last_seen(channel_id)
        count = 0
        if last is not None:
            after = discord.Object(id=int(last))
            async for message in channel.history(limit=None, after=after, oldest_first=True):
                await self._deliver(translate.message_posted(message))
                count += 1
        elif self._settings.initial_backfill:
            recent = [m async for m in channel.history(limit=self._settings.initial_backfill)]
            for message in reversed(recent):
                await self._deliver(translate.message_posted(message))
                count += 1
        if count:
            log.info("discord: back-filled %d messages in channel %s", count, channel_id)

    # ------------------------------------------------------------------ interactions

    async def _on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """A slash command or one of our buttons: to the sink, and the reply to the invoker only."""
        event: Event | None = translate.command_invoked(interaction) or translate.action_clicked(interaction)
        if event is None or self._sink is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            reply = await self._sink(event)
        except Exception:
            log.exception("discord: handling interaction %s failed", interaction.id)
            reply = CommandReply(text="Something went wrong; nothing was changed. Please try again later.",
                                 ok=False)
        if reply is None:
            reply = CommandReply(text="Done.")
        parts = split_text(reply.text or "Done.", limit=2000)
        for index, part in enumerate(parts):
            kwargs: dict[str, Any] = {}
            if reply.attachment is not None and index == len(parts) - 1:
                name, content = reply.attachment
                kwargs["file"] = discord.File(io.BytesIO(content), filename=name)
            await interaction.followup.send(
                part, ephemeral=True, allowed_mentions=discord.AllowedMentions.none(), **kwargs
            )
