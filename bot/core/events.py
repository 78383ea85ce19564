"""Frozen event dataclasses: the one shape every platform's input takes inside the bot.

Adapters and importers translate platform payloads into these; the store and the
segmentation engine never see a platform object. ``event_uid`` is derived from the
platform and the platform's own id, so a replay, a back-fill and an archive import of
the same message all collapse onto one stored activity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

#: Platforms we know. Imports use the platform the data came from, never "import".
PLATFORMS = ("discord", "slack", "mail")


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def event_uid(platform: str, native_id: str) -> str:
    """Stable id from the platform's own message id (Discord snowflake, Slack channel+ts, Message-ID)."""
    return f"{platform}:{_digest(platform, native_id.strip())}"


def content_uid(
    platform: str, *, channel: str, author: str, occurred_at: datetime, text: str
) -> str:
    """Fallback id where an export carries no native id: the same content at the same time is one event."""
    return f"{platform}:c:{_digest(platform, channel, author, occurred_at.isoformat(), text)}"


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Who did something, as the platform names them."""

    platform: str
    external_id: str
    display_name: str = ""
    username: str | None = None
    email: str | None = None
    is_bot: bool = False
    title: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """Where it happened: a channel, a mailing list, a DM."""

    platform: str
    channel_id: str
    name: str = ""
    category: str | None = None
    container: str | None = None  # guild, workspace or list host


@dataclass(frozen=True, slots=True)
class MessageText:
    """A message split into the author's own words and everything that is not theirs.

    Segmentation must judge people by what they wrote, not by what they quoted, so the
    split happens once at the edge and the pieces travel separately.
    """

    own: str = ""
    signature: str = ""
    quoted_lines: int = 0
    patch_lines: int = 0
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class MessagePosted:
    uid: str
    actor: ActorRef
    place: PlaceRef
    occurred_at: datetime
    text: MessageText = field(default_factory=MessageText)
    native_id: str = ""
    subject: str | None = None
    reply_to: str | None = None  # event_uid of the message this answers, when known
    thread: str | None = None  # event_uid of the thread's root, when known
    tz_offset_minutes: int | None = None  # from a Date header; a hint for location


@dataclass(frozen=True, slots=True)
class MessageEdited:
    uid: str
    actor: ActorRef
    occurred_at: datetime
    text: MessageText


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    uid: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ReactionAdded:
    uid: str
    actor: ActorRef
    target_uid: str
    emoji: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MemberJoined:
    uid: str
    actor: ActorRef
    place: PlaceRef
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MemberLeft:
    uid: str
    actor: ActorRef
    place: PlaceRef
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ProfileSeen:
    """A profile as a platform reports it (titles, e-mail, bot flag) without any activity."""

    actor: ActorRef
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CommandInvoked:
    """A command as typed (``optout all``, ``admin segments``), from any front end.

    ``command`` is the first word, ``args`` the rest. ``roles`` are the platform role ids the
    invoker holds (Discord), checked against configuration: never names, which anyone can copy.
    ``verified`` is False where the platform cannot vouch for the sender (e-mail ``From:``);
    the command core then asks for a one-time confirmation before a manager's command runs.
    """

    uid: str
    actor: ActorRef
    place: PlaceRef
    occurred_at: datetime
    command: str
    args: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    verified: bool = True


@dataclass(frozen=True, slots=True)
class ActionClicked:
    """A button or signed link: accept/decline an invitation, "yes, solved", and the like.

    ``uid`` is the platform's interaction id (or the link's token) so a replayed click is
    handled once.
    """

    uid: str
    actor: ActorRef
    occurred_at: datetime
    action: str
    value: str
    place: PlaceRef | None = None


Event = (
    MessagePosted
    | MessageEdited
    | MessageDeleted
    | ReactionAdded
    | MemberJoined
    | MemberLeft
    | ProfileSeen
    | CommandInvoked
    | ActionClicked
)
