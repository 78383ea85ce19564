"""Slack Events API payloads (``event`` objects) to kernel events; pure functions.

Live events, the start-up back-fill and ``cohortbot import slack-export`` must give one
message one ``event_uid``, so message-shaped payloads go through the export importer's own
``translate_message`` (``"{channel}:{ts}"``, reactions ``"{channel}:{ts}:reaction:{name}:{user}"``)
instead of a second copy of those rules: a message event *is* a day-file entry plus a
``channel`` field. Only what exports never carry (reaction and join events, profile
changes) is translated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.imports.slack_translate import (
    PLATFORM,
    Skip,
    SlackDirectory,
    message_uid,
    parse_ts,
    profile_event,
    reaction_uid,
    translate_message,
)
from bot.core.events import (
    Event,
    MemberJoined,
    MemberLeft,
    PlaceRef,
    ReactionAdded,
)

#: Event types that carry a message in the shape of an export's day-file entry.
MESSAGE_TYPES = frozenset({"message", "app_mention"})
#: Event types whose payload holds a whole user object.
PROFILE_TYPES = frozenset({"team_join", "user_change"})


def place(channel_id: str, *, team_id: str, name: str = "") -> PlaceRef:
    return PlaceRef(platform=PLATFORM, channel_id=channel_id, name=name, container=team_id)


def users_in(event: Mapping[str, Any]) -> list[str]:
    """User ids an event names, so the adapter can look their profiles up before translating."""
    found: list[str] = []
    kind = event.get("type")
    if kind in MESSAGE_TYPES:
        inner = event.get("message")
        for source in (event, inner if isinstance(inner, Mapping) else {}):
            user = source.get("user")
            if isinstance(user, str) and user:
                found.append(user)
    elif kind in ("reaction_added", "member_joined_channel", "member_left_channel"):
        user = event.get("user")
        if isinstance(user, str) and user:
            found.append(user)
    return list(dict.fromkeys(found))


def translate_event(
    event: Mapping[str, Any], *, team_id: str, directory: SlackDirectory, received_at: datetime
) -> list[Event]:
    """One ``event`` object (the inner part of an ``event_callback``) to kernel events.

    ``received_at`` stands in where the payload has no time of its own. Payloads that are
    not activity (``message_replied`` notices, channel renames, unknown types) give ``[]``.
    """
    kind = event.get("type")
    try:
        if kind in MESSAGE_TYPES:
            return _message(event, team_id=team_id, directory=directory)
        if kind == "reaction_added":
            return _reaction(event, directory=directory)
        if kind in ("member_joined_channel", "member_left_channel"):
            return _membership(event, team_id=team_id, directory=directory)
        if kind in PROFILE_TYPES:
            user = event.get("user")
            if isinstance(user, Mapping) and isinstance(user.get("id"), str):
                seen = profile_event(user, seen_at=_when(event, received_at))
                directory.users[seen.actor.external_id] = seen.actor
                return [seen]
    except Skip:
        return []
    return []


def _message(event: Mapping[str, Any], *, team_id: str, directory: SlackDirectory) -> list[Event]:
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        raise Skip("message without channel")
    body = dict(event)
    if body.get("type") == "app_mention":
        # The same message also arrives as a ``message`` event when the bot reads the
        # channel; both give the same uid, so the store keeps one.
        body["type"] = "message"
    return translate_message(body, place=place(channel, team_id=team_id), directory=directory)


def _reaction(event: Mapping[str, Any], *, directory: SlackDirectory) -> list[Event]:
    item = event.get("item")
    user, name = event.get("user"), event.get("reaction")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        raise Skip("reaction to something other than a message")
    channel, ts = item.get("channel"), item.get("ts")
    if not (_text(channel) and _text(ts) and _text(user) and _text(name)):
        raise Skip("reaction without channel, ts, user or name")
    channel, ts, user, name = str(channel), str(ts), str(user), str(name)
    return [
        ReactionAdded(
            uid=reaction_uid(channel, ts, name, user),
            actor=directory.actor({"user": user}),
            target_uid=message_uid(channel, ts),
            emoji=name,
            occurred_at=parse_ts(event.get("event_ts") or ts),
        )
    ]


def _membership(event: Mapping[str, Any], *, team_id: str, directory: SlackDirectory) -> list[Event]:
    channel, user, ts = event.get("channel"), event.get("user"), event.get("event_ts")
    if not (isinstance(channel, str) and channel and isinstance(user, str) and user and isinstance(ts, str)):
        raise Skip("membership event without channel, user or event_ts")
    # Keyed like the channel_join message Slack posts at the same moment, so the two collapse
    # where Slack gives them the same ts.
    cls = MemberJoined if event.get("type") == "member_joined_channel" else MemberLeft
    return [
        cls(
            uid=message_uid(channel, ts),
            actor=directory.actor({"user": user}),
            place=place(channel, team_id=team_id),
            occurred_at=parse_ts(ts),
        )
    ]


def _when(event: Mapping[str, Any], default: datetime) -> datetime:
    ts = event.get("event_ts")
    if isinstance(ts, str) and ts:
        try:
            return parse_ts(ts)
        except Skip:
            return default
    return default


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
