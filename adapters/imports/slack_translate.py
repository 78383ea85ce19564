"""Slack export JSON (users.json entries, day-file messages) to kernel events; pure functions.

The uid of a message is ``event_uid("slack", "<channel id>:<ts>")``: Slack's own key for a
message, which the live adapter and a back-fill derive the same way, so the three paths
and any two overlapping exports store each message once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.imports.chat_text import clean, split_markdown
from bot.core.events import (
    ActorRef,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PlaceRef,
    ProfileSeen,
    ReactionAdded,
    event_uid,
)

PLATFORM = "slack"

#: Subtypes that carry something a member wrote.
_CONTENT_SUBTYPES = frozenset(
    {"bot_message", "thread_broadcast", "reply_broadcast", "file_share", "me_message", "file_comment"}
)
_JOINS = frozenset({"channel_join", "group_join"})
_LEAVES = frozenset({"channel_leave", "group_leave"})


class Skip(Exception):
    """A record that is not an event; ``reason`` goes into the import summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def message_uid(channel_id: str, ts: str) -> str:
    return event_uid(PLATFORM, f"{channel_id}:{ts}")


def reaction_uid(channel_id: str, ts: str, emoji: str, user: str) -> str:
    """Exports list who reacted but not when, so the reaction is keyed by message, emoji and user."""
    return event_uid(PLATFORM, f"{channel_id}:{ts}:reaction:{emoji}:{user}")


def parse_ts(ts: object) -> datetime:
    """Slack ``ts`` ("1427135890.000071", seconds since the epoch) as an aware UTC datetime."""
    try:
        value = float(str(ts))
        return datetime.fromtimestamp(value, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise Skip("message with an unreadable ts") from exc


def _text(value: object) -> str:
    return clean(value) if isinstance(value, str) else ""


def _opt(value: object) -> str | None:
    text = _text(value).strip()
    return text or None


def actor_from_user(user: Mapping[str, Any]) -> ActorRef:
    """A users.json entry (or an API user object); deleted users keep an identity."""
    profile = _mapping(user.get("profile"))
    name = _text(user.get("name"))
    display = (
        _opt(profile.get("display_name"))
        or _opt(user.get("real_name"))
        or _opt(profile.get("real_name"))
        or name
    )
    uid = _text(user.get("id"))
    return ActorRef(
        platform=PLATFORM,
        external_id=uid,
        display_name=display,
        username=name or None,
        email=_opt(profile.get("email")),
        is_bot=bool(user.get("is_bot") or user.get("is_app_user") or uid == "USLACKBOT"),
        title=_opt(profile.get("title")),
    )


def profile_event(user: Mapping[str, Any], *, seen_at: datetime) -> ProfileSeen:
    """``updated`` (epoch seconds) when the entry has it: the time that profile was true."""
    updated = user.get("updated")
    at = seen_at
    if isinstance(updated, int | float) and updated > 0:
        try:
            at = datetime.fromtimestamp(updated, UTC)
        except (OverflowError, OSError, ValueError):
            at = seen_at
    return ProfileSeen(actor=actor_from_user(user), occurred_at=at)


@dataclass(slots=True)
class SlackDirectory:
    """Who is who in one export: users.json (the authority) plus profiles met inside messages."""

    users: dict[str, ActorRef]
    met: dict[str, ActorRef] = field(default_factory=dict)

    def actor(self, msg: Mapping[str, Any]) -> ActorRef:
        user = msg.get("user")
        subtype = msg.get("subtype")
        bot_id = _text(msg.get("bot_id"))
        if user is None and subtype == "file_comment":  # old exports put the author in the comment
            user = _mapping(msg.get("comment")).get("user")
        if isinstance(user, str) and user:
            known = self.users.get(user)
            if known is not None:
                # users.json says whether an account is a bot; a bot_message subtype still wins.
                return _as_bot(known) if subtype == "bot_message" and not known.is_bot else known
            met = self.met.get(user)
            if met is None:
                met = self.met[user] = _from_message(user, msg)
            return _as_bot(met) if (bot_id or subtype == "bot_message") and not met.is_bot else met
        if bot_id or subtype == "bot_message":
            profile = _mapping(msg.get("bot_profile"))
            username = _opt(msg.get("username")) or _opt(profile.get("name"))
            external = bot_id or username
            if not external:
                raise Skip("bot message without bot_id or username")
            return ActorRef(
                platform=PLATFORM,
                external_id=external,
                display_name=username or external,
                username=username,
                is_bot=True,
            )
        raise Skip("message without author")


def _from_message(user: str, msg: Mapping[str, Any]) -> ActorRef:
    """Users missing from users.json (Slack Connect guests) often come with a user_profile."""
    profile = _mapping(msg.get("user_profile"))
    display = _opt(profile.get("display_name")) or _opt(profile.get("real_name")) or user
    return ActorRef(
        platform=PLATFORM, external_id=user, display_name=display, username=_opt(profile.get("name"))
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_bot(actor: ActorRef) -> ActorRef:
    return ActorRef(
        platform=actor.platform,
        external_id=actor.external_id,
        display_name=actor.display_name,
        username=actor.username,
        email=actor.email,
        is_bot=True,
        title=actor.title,
    )


def translate_message(
    msg: Mapping[str, Any], *, place: PlaceRef, directory: SlackDirectory
) -> list[Event]:
    """One day-file entry to its events; raises ``Skip`` for entries that are none."""
    if not isinstance(msg, Mapping) or msg.get("type", "message") != "message":
        raise Skip("not a message")
    ts = msg.get("ts")
    if not isinstance(ts, str) or not ts:
        raise Skip("message without ts")
    at = parse_ts(ts)
    channel = place.channel_id
    subtype = msg.get("subtype")
    if subtype == "message_changed":
        inner = msg.get("message")
        if not isinstance(inner, Mapping) or not isinstance(inner.get("ts"), str):
            raise Skip("message_changed without the message")
        text = split_markdown(_text(inner.get("text")), slack=True, attachments=_files(inner))
        return [MessageEdited(uid=message_uid(channel, inner["ts"]), actor=directory.actor(inner),
                              occurred_at=at, text=text)]
    if subtype == "message_deleted":
        deleted = msg.get("deleted_ts")
        if not isinstance(deleted, str):
            raise Skip("message_deleted without deleted_ts")
        return [MessageDeleted(uid=message_uid(channel, deleted), occurred_at=at)]
    uid = message_uid(channel, ts)
    if subtype in _JOINS:
        return [MemberJoined(uid=uid, actor=directory.actor(msg), place=place, occurred_at=at)]
    if subtype in _LEAVES:
        return [MemberLeft(uid=uid, actor=directory.actor(msg), place=place, occurred_at=at)]
    if subtype == "tombstone":
        raise Skip("deleted thread root (tombstone)")
    if subtype is not None and subtype not in _CONTENT_SUBTYPES:
        raise Skip(f"Slack {subtype} notice" if isinstance(subtype, str) else "not a message")
    actor = directory.actor(msg)
    thread_ts = msg.get("thread_ts")
    root = message_uid(channel, thread_ts) if isinstance(thread_ts, str) and thread_ts != ts else None
    events: list[Event] = [
        MessagePosted(
            uid=uid,
            actor=actor,
            place=place,
            occurred_at=at,
            text=split_markdown(_text(msg.get("text")), slack=True, attachments=_files(msg)),
            native_id=f"{channel}:{ts}",
            reply_to=root,
            thread=root,
        )
    ]
    reactions = msg.get("reactions")
    if isinstance(reactions, list):
        events.extend(_reactions(reactions, channel=channel, ts=ts, target=uid, at=at, directory=directory))
    return events


def _reactions(
    reactions: list[Any], *, channel: str, ts: str, target: str, at: datetime, directory: SlackDirectory
) -> list[Event]:
    """Reactions take the message's time: the export does not say when each was added."""
    out: list[Event] = []
    for reaction in reactions:
        if not isinstance(reaction, Mapping):
            continue
        name = _text(reaction.get("name"))
        users = reaction.get("users")
        if not name or not isinstance(users, list):
            continue
        for user in users:
            if not isinstance(user, str) or not user:
                continue
            out.append(
                ReactionAdded(
                    uid=reaction_uid(channel, ts, name, user),
                    actor=directory.actor({"user": user}),
                    target_uid=target,
                    emoji=name,
                    occurred_at=at,
                )
            )
    return out


def _files(msg: Mapping[str, Any]) -> int:
    files = msg.get("files")
    count = len(files) if isinstance(files, list) else 0
    if isinstance(msg.get("file"), Mapping):
        count += 1
    return count
