"""What leaves the bot, and what comes back: the contract between the outbox and the adapters.

The outbox stores one row per message with its body already rendered for the target
platform; the worker turns a claimed row into an ``OutboundMessage`` and hands it to the
adapter for that platform, which answers with a ``SendReceipt`` or raises one of the
``SendError`` kinds in ``bot.core.errors``. Adapters never see the database, and the
outbox never sees a platform library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.core.events import Event

#: "dm": a direct message to a person; "post": a message in a channel; "reply": an answer in a
#: thread or to a message (``reply_to_native``); "email": a mail to an address.
Kind = Literal["dm", "post", "reply", "email"]
#: Interactive messages (answers to a person who just did something) overtake broadcasts.
Lane = Literal["interactive", "broadcast"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a message goes, in the platform's own terms; which fields matter depends on the kind."""

    user_id: str | None = None  # platform user id (Discord snowflake, Slack U…) for DMs
    channel: str | None = None  # channel id for posts and replies
    email: str | None = None  # address for e-mail
    display_name: str = ""  # for greetings and mail headers only, never for routing

    def to_json(self) -> dict[str, str]:
        out = {"user_id": self.user_id, "channel": self.channel, "email": self.email}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class Button:
    """An interactive choice (Discord component, Slack Block Kit button, e-mail signed link).

    ``action`` is what the click means to the bot ("accept", "decline", "solved", "not-solved");
    ``value`` identifies the subject (an invitation token, a solution-check token). Adapters
    put both into the platform's custom id and give them back in an ``ActionClicked`` event.
    """

    action: str
    value: str
    label: str
    style: Literal["primary", "secondary", "danger"] = "secondary"
    url: str | None = None  # e-mail: the signed link that does the same as the button


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to deliver, rendered for its platform."""

    outbox_id: int
    dedupe_key: str
    platform: str
    kind: Kind
    to: Recipient
    text: str  # Discord markdown, Slack mrkdwn, or the e-mail's plain-text part
    template: str = ""
    programme: str | None = None
    subject: str | None = None  # e-mail
    html: str | None = None  # e-mail HTML part
    blocks: tuple[Mapping[str, Any], ...] = ()  # Slack Block Kit
    buttons: tuple[Button, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # e-mail extra headers (List-*, ...)
    reply_to_native: str | None = None  # native id of the message or thread this answers
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        """Stable per outbox row across retries and restarts: Discord's nonce, the e-mail's Message-ID.

        25 characters at most, because Discord refuses longer nonces.
        """
        return "cb" + hashlib.blake2b(self.dedupe_key.encode(), digest_size=11).hexdigest()[:23]


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The platform's word that a message was accepted."""

    native_id: str = ""  # the platform's id of the sent message (Discord id, Slack ts, Message-ID)
    detail: str = ""
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can carry, so rendering and policy choose the right shape."""

    platform: str
    dm: bool = True
    post: bool = True
    buttons: bool = False
    blocks: bool = False
    html: bool = False
    max_length: int = 2000
    #: Commands are answered in place (Discord interaction, Slack response) rather than via the outbox.
    immediate_replies: bool = True
    #: The platform drops a repeated send with the same idempotency key, so a resend after a crash is safe.
    idempotent_send: bool = False


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The answer to a command or a click, shown only to the person who asked where the platform can."""

    text: str
    ephemeral: bool = True
    attachment: tuple[str, bytes] | None = None  # (file name, content), e.g. the ``mydata`` export
    ok: bool = True


#: What an adapter calls with every inbound event. Commands and clicks get a reply to show in
#: place; everything else gets None. The call returns once the event is durably accepted.
EventSink = Callable[[Event], Awaitable[CommandReply | None]]
