"""Outbox messages to Discord: the target channel, the parts, and library errors as outbox errors.

Every message goes out with mentions disabled and a nonce per part (``enforce_nonce``), so
a resend after a crash returns the part Discord already has instead of posting it twice.
Buttons go on the last part. A *global* 429, seen on any response through aiohttp's trace
hook, pauses every send of this process until its ``retry_after`` has passed: the outbox
gets ``RateLimited`` at once instead of Discord being asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from adapters.discord.commands import button_view
from adapters.discord.splitting import nonce_for, split_text
from bot.core.clock import Clock
from bot.core.errors import PermanentSendError, RateLimited, RecipientUnreachable, TemporarySendError
from bot.core.outbound import OutboundMessage, SendReceipt

log = logging.getLogger(__name__)

#: Discord's "Cannot send messages to this user" (DMs closed, blocked, no shared server).
CANNOT_DM = 50007
MAX_LENGTH = 2000


class Sender:
    """Sends for one adapter; ``monotonic`` is injectable so tests move the global pause by hand."""

    def __init__(self, *, clock: Clock, monotonic: Callable[[], float]) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._paused_until = 0.0

    async def send(self, client: discord.Client, message: OutboundMessage) -> SendReceipt:
        wait = self._paused_until - self._monotonic()
        if wait > 0:
            raise RateLimited(wait, "Discord global rate limit")
        try:
            channel = await _target(client, message)
            parts = split_text(message.text, limit=MAX_LENGTH)
            ids: list[str] = []
            for index, part in enumerate(parts):
                kwargs: dict[str, Any] = {}
                if index == len(parts) - 1 and message.buttons:
                    kwargs["view"] = button_view(message.buttons)
                if message.reply_to_native and index == 0:
                    kwargs["reference"] = discord.MessageReference(
                        message_id=int(message.reply_to_native),
                        channel_id=int(getattr(channel, "id", 0)),
                        fail_if_not_exists=False,
                    )
                sent = await channel.send(
                    part, nonce=nonce_for(message.idempotency_key, index),
                    allowed_mentions=discord.AllowedMentions.none(), **kwargs,
                )
                ids.append(str(sent.id))
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after) from exc
        except discord.HTTPException as exc:
            raise send_error(exc) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TemporarySendError(f"Discord unreachable: {exc!r}") from exc
        return SendReceipt(native_id=ids[0], detail=" ".join(ids), delivered_at=self._clock.now())

    async def watch_rate_limits(
        self, session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        """aiohttp trace hook: a global 429 stops every sender until ``retry_after`` has passed."""
        response = params.response
        if response.status != 429:
            return
        headers = response.headers
        is_global = headers.get("X-RateLimit-Global", "").lower() == "true"
        if not is_global and headers.get("X-RateLimit-Scope") != "global":
            return
        try:
            retry_after = float(headers.get("Retry-After") or headers.get("X-RateLimit-Reset-After") or 1.0)
        except ValueError:
            retry_after = 1.0
        self._paused_until = max(self._paused_until, self._monotonic() + retry_after)
        log.warning("discord: global rate limit, every send paused for %.1f s", retry_after)


async def _target(client: discord.Client, message: OutboundMessage) -> discord.abc.Messageable:
    to = message.to
    if message.kind == "dm":
        if not to.user_id:
            raise PermanentSendError("a Discord DM needs the member's user id")
        user = client.get_user(int(to.user_id)) or discord.Object(id=int(to.user_id))
        return await client.create_dm(user)
    if message.kind in ("post", "reply"):
        if not to.channel:
            raise PermanentSendError("a Discord post needs a channel id")
        channel = client.get_channel(int(to.channel)) or client.get_partial_messageable(int(to.channel))
        return channel  # type: ignore[return-value]
    raise PermanentSendError(f"Discord cannot send a message of kind {message.kind!r}")


def send_error(exc: discord.HTTPException) -> Exception:
    """discord.py's HTTP errors as the outbox understands them."""
    if exc.code == CANNOT_DM:
        return RecipientUnreachable(f"cannot DM this member ({CANNOT_DM})")
    if exc.status == 429:  # a 429 discord.py did not handle (no Via header: Cloudflare's, not the API's)
        retry = exc.response.headers.get("Retry-After") if exc.response is not None else None
        try:
            return RateLimited(float(retry or 60.0))
        except ValueError:
            return RateLimited(60.0)
    if exc.status >= 500:
        return TemporarySendError(f"Discord server error {exc.status}: {exc.text}")
    if exc.status in (401, 403, 404):
        return PermanentSendError(f"Discord refused ({exc.status}, code {exc.code}): {exc.text}")
    return PermanentSendError(f"Discord rejected the message ({exc.status}, code {exc.code}): {exc.text}")
