"""Start-up back-fill: read what was said while the bot was away, from where the store stopped.

``last_seen(channel_id)`` is injected by the composition root: it answers the newest
message the store holds for that channel, as its stored native id
(``"C0123:1700000000.000100"``) or as the bare Slack ``ts``, or None when it holds none.
History is read from just after that ts (``conversations.history``, cursor by cursor,
newest page first as Slack serves it), thread replies newer than it are fetched per
thread, and everything goes to the sink oldest first: if the bot stops half way,
``last_seen`` has only moved over messages that were really stored, so the next start
continues without a gap. A channel with nothing stored is read back ``backfill_days``.
Messages get the same uids as live events and ``import slack-export``, so overlap is free.

Rate limits: the back-fill runs in the background and is patient. Besides the Web API
client's own 429 handling, a call that is still refused waits ``Retry-After`` and tries
again (Slack allows some apps only about one ``conversations.history`` a minute).

Limits: a thread whose root is older than the stored ts but which got new replies is not
revisited (Slack's history does not list it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.imports.slack_translate import Skip, SlackDirectory, translate_message
from adapters.slack.client import retry_after
from adapters.slack.pacing import Timer
from adapters.slack.translate import place
from bot.core.events import Event

log = logging.getLogger(__name__)

#: ``async def last_seen(channel_id: str) -> str | None``: the newest stored message of that
#: channel, as its native id ``"C…:ts"`` (what MessagePosted.native_id holds) or a bare ts.
LastSeen = Callable[[str], Awaitable[str | None]]
Profiles = Callable[[str], Awaitable[list[Event]]]
Deliver = Callable[[list[Event]], Awaitable[None]]

PAGE = 200


class Reader:
    """Web API reads for the back-fill: a 429 that outlasts the client's retries is waited out too."""

    def __init__(self, client: AsyncWebClient, *, timer: Timer, max_waits: int = 60) -> None:
        self.client = client
        self.timer = timer
        self.max_waits = max_waits

    async def __call__(self, method: str, **params: Any) -> dict[str, Any]:
        waits = 0
        while True:
            try:
                call = getattr(self.client, method)
                resp: AsyncSlackResponse = await call(**params)
                return resp.data if isinstance(resp.data, dict) else {}
            except SlackApiError as exc:
                status = getattr(exc.response, "status_code", 0)
                if status != 429 or waits >= self.max_waits:
                    raise
                waits += 1
                wait = retry_after(getattr(exc.response, "headers", None), default=60.0)
                log.info("slack back-fill: %s rate limited, waiting %.0f s", method, wait)
                await self.timer.sleep(wait)


async def member_channels(read: Reader) -> list[str]:
    """Public and private channels the bot is a member of (``users.conversations``)."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        data = await read(
            "users_conversations",
            types="public_channel,private_channel", exclude_archived=True, limit=PAGE, cursor=cursor,
        )
        for channel in data.get("channels") or []:
            if isinstance(channel, Mapping) and channel.get("id"):
                found.append(str(channel["id"]))
        cursor = _next_cursor(data)
        if not cursor:
            return found


async def backfill_channel(
    read: Reader,
    channel: str,
    *,
    team_id: str,
    oldest: str,
    limit: int,
    directory: SlackDirectory,
    own: frozenset[str] = frozenset(),
    profiles: Profiles,
    deliver: Deliver,
) -> int:
    """Read one channel after ``oldest`` and deliver it oldest first; returns the messages read.

    Messages of ``own`` (the bot's user and bot ids) are left out, as they are live.
    """
    messages = await _history(read, channel, oldest=oldest, limit=limit)
    replies: list[Mapping[str, Any]] = []
    for msg in messages:
        latest = msg.get("latest_reply")
        if msg.get("reply_count") and isinstance(latest, str) and float(latest) > float(oldest):
            replies.extend(await _replies(read, channel, str(msg["ts"]), oldest=oldest))
    seen: set[str] = set()
    ordered: list[Mapping[str, Any]] = []
    for msg in sorted([*messages, *replies], key=lambda m: float(str(m.get("ts") or 0))):
        ts = str(msg.get("ts"))
        if msg.get("user") in own or msg.get("bot_id") in own:
            continue
        if ts not in seen:
            seen.add(ts)
            ordered.append(msg)
    where = place(channel, team_id=team_id)
    for start in range(0, len(ordered), PAGE):
        chunk = ordered[start : start + PAGE]
        events: list[Event] = []
        for user in dict.fromkeys(str(m["user"]) for m in chunk if isinstance(m.get("user"), str)):
            events.extend(await profiles(user))
        for msg in chunk:
            try:
                events.extend(translate_message(msg, place=where, directory=directory))
            except Skip as skip:
                log.debug("slack back-fill: %s skipped (%s)", msg.get("ts"), skip.reason)
        await deliver(events)
    return len(ordered)


def default_oldest(now: datetime, *, days: int) -> str:
    return f"{(now - timedelta(days=days)).timestamp():.6f}"


async def _history(read: Reader, channel: str, *, oldest: str, limit: int) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    cursor: str | None = None
    while len(out) < limit:
        data = await read("conversations_history", channel=channel, oldest=oldest, limit=PAGE, cursor=cursor)
        out.extend(m for m in data.get("messages") or [] if isinstance(m, Mapping))
        cursor = _next_cursor(data)
        if not cursor or not data.get("has_more", True):
            break
    if len(out) > limit:
        log.warning("slack back-fill: %s has more than %d new messages; reading the newest", channel, limit)
        out = out[:limit]  # Slack serves newest first
    return out


async def _replies(read: Reader, channel: str, ts: str, *, oldest: str) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    cursor: str | None = None
    while True:
        data = await read(
            "conversations_replies", channel=channel, ts=ts, oldest=oldest, limit=PAGE, cursor=cursor
        )
        out.extend(m for m in data.get("messages") or [] if isinstance(m, Mapping) and m.get("ts") != ts)
        cursor = _next_cursor(data)
        if not cursor:
            return out


def _next_cursor(data: Mapping[str, Any]) -> str | None:
    meta = data.get("response_metadata")
    cursor = meta.get("next_cursor") if isinstance(meta, Mapping) else None
    return cursor or None
