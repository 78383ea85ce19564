"""DiscordChatExporter records (JSON messages, CSV rows, file names) to kernel events; pure functions.

A JSON message keeps Discord's snowflake, so its uid is ``event_uid("discord", id)``, the
same the live adapter derives. CSV rows carry no id: their uid is a content uid over
(channel, author, time, content), so a CSV export imported twice, or two CSV exports
that overlap, store each row once (but never meet the JSON or live uid of that message).

Message types (DiscordChatExporter's names, or the number for types it has no name for):
``Default``, ``Reply`` and the command/thread-starter types are messages;
``GuildMemberJoin`` is a join; every other system notice (pins, "started a thread", calls,
renames, boosts) is skipped with its type as the reason: they carry no words of the
member, and a thread's own messages arrive in the thread's export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# The uid helpers live with the live adapter so a live and an imported message meet on one uid.
from adapters.discord.uids import PLATFORM as PLATFORM
from adapters.discord.uids import message_uid as message_uid
from adapters.discord.uids import reaction_uid as reaction_uid
from adapters.imports.chat_text import clean, split_markdown
from bot.core.events import (
    ActorRef,
    Event,
    MemberJoined,
    MessagePosted,
    PlaceRef,
    ReactionAdded,
    content_uid,
)

MESSAGE_TYPES = frozenset(
    {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand", "ThreadStarterMessage"}
    | {"0", "19", "20", "21", "23"}  # the same, as numbers, from versions without the names
)
JOIN_TYPES = frozenset({"GuildMemberJoin", "7"})
THREAD_CHANNELS = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread", "10", "11", "12"})

#: What DiscordChatExporter writes as the content of system notices in CSV (which has no type column).
_CSV_JOIN = "Joined the server."
_CSV_NOTICES = re.compile(
    r"^(Added a recipient\.|Removed a recipient\.|Started a call that lasted \d+ minutes?\.|"
    r"Changed the channel name\.|Changed the channel icon\.|Pinned a message\.|Started a thread\.)$"
)


class Skip(Exception):
    """A record that is not an event; ``reason`` goes into the import summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _text(value: object) -> str:
    return clean(value) if isinstance(value, str) else ""


# ---------------------------------------------------------------------------------------- places


_FILE_NAME = re.compile(
    r"^(?P<guild>.+?) - (?P<category>.+?) - (?P<channel>.+) \[(?P<id>\d+)\]"
    r"(?: \((?P<range>[^()]*)\))?(?: \[part (?P<part>\d+)\])?$"
)


def place_from_file_name(stem: str) -> PlaceRef | None:
    """The exporter's default name ``Guild - Category - channel [id] (dates) [part N]``, else None."""
    m = _FILE_NAME.match(stem)
    if m is None:
        return None
    return PlaceRef(
        platform=PLATFORM,
        channel_id=m["id"],
        name=clean(m["channel"]),
        category=clean(m["category"]),
        container=clean(m["guild"]),
    )


def place_from_header(header: Mapping[str, Any], fallback: PlaceRef | None) -> PlaceRef | None:
    """The JSON export's ``guild`` and ``channel`` objects; the file name fills what is missing."""
    channel = header.get("channel")
    guild = header.get("guild")
    channel = channel if isinstance(channel, Mapping) else {}
    guild = guild if isinstance(guild, Mapping) else {}
    cid = _text(channel.get("id"))
    if not cid:
        return fallback
    return PlaceRef(
        platform=PLATFORM,
        channel_id=cid,
        name=_text(channel.get("name")) or (fallback.name if fallback else ""),
        category=_text(channel.get("category")) or None,
        container=_text(guild.get("name")) or None,
    )


def is_thread(header: Mapping[str, Any]) -> bool:
    channel = header.get("channel")
    return isinstance(channel, Mapping) and str(channel.get("type")) in THREAD_CHANNELS


# ---------------------------------------------------------------------------------------- people


class Directory:
    """One ActorRef per distinct author payload: shared objects keep batches small to build and send."""

    _LIMIT = 100_000

    def __init__(self) -> None:
        self._actors: dict[tuple[object, ...], ActorRef] = {}

    def actor(self, user: object) -> ActorRef:
        if not isinstance(user, Mapping):
            raise Skip("message without author")
        uid = user.get("id")
        if not isinstance(uid, str) or not uid:
            raise Skip("message without author")
        key = (uid, user.get("name"), user.get("nickname"), user.get("discriminator"), user.get("isBot"))
        actor = self._actors.get(key)
        if actor is None:
            if len(self._actors) >= self._LIMIT:
                self._actors.clear()
            actor = self._actors[key] = _actor(user, uid)
        return actor


def _actor(user: Mapping[str, Any], uid: str) -> ActorRef:
    name = _text(user.get("name"))
    disc = _text(user.get("discriminator"))
    username = f"{name}#{disc}" if disc and disc.strip("0") else name
    return ActorRef(
        platform=PLATFORM,
        external_id=clean(uid),
        display_name=_text(user.get("nickname")) or name,
        username=username or None,
        is_bot=user.get("isBot") is True,
    )


# ---------------------------------------------------------------------------------------- time


def parse_iso(value: object) -> datetime:
    """An ISO-8601 timestamp as aware UTC; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise Skip("message without timestamp")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Skip("unreadable timestamp") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_LEGACY = re.compile(
    r"^(?P<d>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<y>\d{2,4}) (?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
    r"(?: ?(?P<ampm>[AaPp][Mm]))?(?: ?(?P<tz>[+-]\d{2}:?\d{2}))?$"
)
_SLASHED = re.compile(
    r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}) (?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
    r"(?: ?(?P<ampm>[AaPp][Mm]))?$"
)


def parse_csv_date(value: str) -> datetime:
    """CSV dates: ISO-8601, the old default ``05-Mar-21 07:41 PM``, or the ``g`` culture forms.

    The exporter writes local time without an offset unless told to normalise to UTC; we
    cannot know the exporter's zone, so a time without an offset is taken as UTC. With
    slashes, a 12-hour clock means US order (month first), a 24-hour clock day first.
    """
    value = value.strip()
    if value[:4].isdigit():
        return parse_iso(value)
    m = _LEGACY.match(value)
    if m:
        month = _MONTHS.get(m["mon"].lower())
        year = int(m["y"]) + (2000 if len(m["y"]) == 2 else 0)
        if month is None:
            raise Skip("unreadable date")
        return _assemble(year, month, int(m["d"]), m, tz=m["tz"])
    m = _SLASHED.match(value)
    if m:
        a, b = int(m["a"]), int(m["b"])
        month, day = (a, b) if m["ampm"] else (b, a)
        return _assemble(int(m["y"]), month, day, m, tz=None)
    raise Skip("unreadable date")


def _assemble(year: int, month: int, day: int, m: re.Match[str], *, tz: str | None) -> datetime:
    hour = int(m["h"])
    ampm = (m["ampm"] or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            raise Skip("unreadable date")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    zone = UTC
    if tz:
        digits = tz.replace(":", "")
        minutes = int(digits[1:3]) * 60 + int(digits[3:5])
        zone = timezone(timedelta(minutes=-minutes if digits[0] == "-" else minutes))
    try:
        at = datetime(year, month, day, hour, int(m["mi"]), int(m["s"] or 0), tzinfo=zone)
    except ValueError as exc:
        raise Skip("unreadable date") from exc
    return at.astimezone(UTC)


# ---------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Channel:
    """What every message of one export file shares."""

    place: PlaceRef
    thread: str | None  # uid of the thread's starter message when the export is a thread


def translate_message(msg: object, *, channel: Channel, directory: Directory) -> list[Event]:
    """One JSON ``messages`` element to its events; raises ``Skip`` for elements that are none."""
    if not isinstance(msg, Mapping):
        raise Skip("not a message")
    mid = msg.get("id")
    if not isinstance(mid, str) or not mid:
        raise Skip("message without id")
    kind = str(msg.get("type", "Default"))
    at = parse_iso(msg.get("timestamp"))
    uid = message_uid(mid)
    if kind in JOIN_TYPES:
        return [MemberJoined(uid=uid, actor=directory.actor(msg.get("author")), place=channel.place,
                             occurred_at=at)]
    if kind not in MESSAGE_TYPES:
        raise Skip(f"Discord {kind} notice")
    actor = directory.actor(msg.get("author"))
    reply_to = None
    ref = msg.get("reference")
    # A forward or a thread's starter copy also carries a reference, but answers nobody.
    if (
        isinstance(ref, Mapping)
        and isinstance(ref.get("messageId"), str)
        and ref.get("type") in (None, "Default")
        and kind not in ("ThreadStarterMessage", "21")
    ):
        reply_to = message_uid(ref["messageId"])
    attachments = msg.get("attachments")
    events: list[Event] = [
        MessagePosted(
            uid=uid,
            actor=actor,
            place=channel.place,
            occurred_at=at,
            text=split_markdown(
                _text(msg.get("content")), slack=False,
                attachments=len(attachments) if isinstance(attachments, list) else 0,
            ),
            native_id=mid,
            reply_to=reply_to,
            thread=channel.thread if channel.thread != uid else None,
        )
    ]
    reactions = msg.get("reactions")
    if reactions:
        events.extend(_reactions(reactions, mid=mid, target=uid, at=at, directory=directory))
    return events


def _reactions(
    reactions: object, *, mid: str, target: str, at: datetime, directory: Directory
) -> list[Event]:
    """Reactions take the message's time: the export does not say when each was added."""
    out: list[Event] = []
    if not isinstance(reactions, list):
        return out
    for reaction in reactions:
        if not isinstance(reaction, Mapping):
            continue
        emoji = reaction.get("emoji")
        emoji = emoji if isinstance(emoji, Mapping) else {}
        name = _text(emoji.get("name"))
        key = _text(emoji.get("id")) or name
        users = reaction.get("users")
        if not key or not isinstance(users, list):
            continue
        for user in users:
            try:
                actor = directory.actor(user)
            except Skip:
                continue
            out.append(
                ReactionAdded(
                    uid=reaction_uid(mid, key, actor.external_id),
                    actor=actor,
                    target_uid=target,
                    emoji=name or key,
                    occurred_at=at,
                )
            )
    return out


def translate_csv_row(row: Mapping[str, str], *, place: PlaceRef, directory: Directory) -> list[Event]:
    """One CSV row; the author id is ``AuthorID``, or the ``Author`` name in exports before it."""
    author_name = clean(row.get("Author") or "")
    author_id = clean(row.get("AuthorID") or "") or author_name
    if not author_id:
        raise Skip("row without author")
    at = parse_csv_date(row.get("Date") or "")
    content = clean(row.get("Content") or "")
    actor = directory.actor({"id": author_id, "name": author_name, "nickname": None})
    uid = content_uid(PLATFORM, channel=place.channel_id, author=author_id, occurred_at=at, text=content)
    if content == _CSV_JOIN:
        return [MemberJoined(uid=uid, actor=actor, place=place, occurred_at=at)]
    if _CSV_NOTICES.match(content):
        raise Skip("Discord system notice")
    attachments = [a for a in (row.get("Attachments") or "").split(",") if a.strip()]
    return [
        MessagePosted(
            uid=uid,
            actor=actor,
            place=place,
            occurred_at=at,
            text=split_markdown(content, slack=False, attachments=len(attachments)),
        )
    ]
