"""Outbound Slack messages: where each kind goes, the chat.postMessage call, and finding it again.

A DM opens (and caches) the member's conversation, a post goes to its channel, a reply into
the thread of the message it answers (``reply_to_native`` is the stored native id
``"C…:ts"``). Every message carries the outbox row's idempotency key in Slack's message
metadata: Slack does not drop a repeated send, so after a crash ``reconcile`` looks the key
up in the channel (or thread) and the worker does not send the message twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import message_blocks, neutralise
from adapters.slack.client import send_error
from adapters.slack.pacing import ChannelPacer
from bot.core.clock import Clock
from bot.core.errors import PermanentSendError
from bot.core.outbound import OutboundMessage, SendReceipt

METADATA_TYPE = "cohortbot_outbox"


class Sender:
    def __init__(self, client: AsyncWebClient, *, pacer: ChannelPacer, clock: Clock) -> None:
        self.client = client
        self.pacer = pacer
        self.clock = clock
        self._dm_channels: dict[str, str] = {}

    async def send(self, message: OutboundMessage) -> SendReceipt:
        try:
            channel, thread_ts = await self.destination(message)
            text = neutralise(message.text)
            args: dict[str, Any] = {
                "channel": channel,
                "text": text,
                "metadata": {"event_type": METADATA_TYPE, "event_payload": {"key": message.idempotency_key}},
            }
            blocks = message_blocks(text, blocks=message.blocks, buttons=message.buttons)
            if blocks:
                args["blocks"] = blocks
            if thread_ts:
                args["thread_ts"] = thread_ts
            async with self.pacer.slot(channel):
                resp = await self.client.chat_postMessage(**args)
        except Exception as exc:
            raise send_error(exc) from exc
        sent_in = str(resp.get("channel") or channel)
        return SendReceipt(native_id=f"{sent_in}:{resp.get('ts')}", delivered_at=self.clock.now())

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        """The receipt of a message already in Slack (found by its key), or None: safe to send."""
        try:
            channel, thread_ts = await self.destination(message)
            if thread_ts:  # a thread's replies are not in the channel's history
                resp = await self.client.conversations_replies(
                    channel=channel, ts=thread_ts, limit=200, include_all_metadata=True
                )
            else:
                resp = await self.client.conversations_history(
                    channel=channel, limit=100, include_all_metadata=True
                )
        except Exception as exc:
            raise send_error(exc) from exc
        for msg in resp.get("messages") or []:
            if isinstance(msg, Mapping) and _key(msg) == message.idempotency_key:
                return SendReceipt(native_id=f"{channel}:{msg.get('ts')}", detail="found after a restart")
        return None

    async def destination(self, message: OutboundMessage) -> tuple[str, str | None]:
        """(channel, thread ts) for a message; PermanentSendError when it cannot have one."""
        to = message.to
        if message.kind == "dm":
            if not to.user_id:
                raise PermanentSendError("slack: a DM without a user id")
            return await self.dm_channel(to.user_id), None
        if message.kind == "post":
            if not to.channel:
                raise PermanentSendError("slack: a post without a channel")
            return to.channel, None
        if message.kind == "reply":
            channel, _, ts = (message.reply_to_native or "").rpartition(":")
            channel = channel or to.channel or ""
            if not channel or not ts:
                raise PermanentSendError("slack: a reply needs the channel and ts of its message")
            return channel, ts
        raise PermanentSendError(f"slack cannot deliver a {message.kind!r} message")

    async def dm_channel(self, user_id: str) -> str:
        known = self._dm_channels.get(user_id)
        if known:
            return known
        resp = await self.client.conversations_open(users=user_id)
        channel = resp.get("channel")
        ident = channel.get("id") if isinstance(channel, Mapping) else None
        if not ident:
            raise PermanentSendError(f"slack: conversations.open gave no channel for {user_id}")
        self._dm_channels[user_id] = str(ident)
        return str(ident)


def _key(msg: Mapping[str, Any]) -> object:
    meta = msg.get("metadata")
    if not isinstance(meta, Mapping) or meta.get("event_type") != METADATA_TYPE:
        return None
    payload = meta.get("event_payload")
    return payload.get("key") if isinstance(payload, Mapping) else None
