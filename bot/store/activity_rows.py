"""A batch of events taken apart into activity rows, accounts and places, before the database.

The pure half of ingest (no connection, no cached ids): the rows come out as plain
values in column order, ready for a raw SQLite insert, with the account and place keys
where the writer then puts the member and place ids it resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
)

#: Text kept per activity. Segmentation needs the author's words, not a whole thesis.
MAX_OWN_TEXT = 8000
MAX_SIGNATURE = 1000

ActorKey = tuple[str, str]
PlaceKey = tuple[str, str]

#: Activity columns in the order of a prepared row's values.
ACTIVITY_COLUMNS = (
    "event_uid", "member_id", "place_id", "kind", "occurred_at", "tz_offset_minutes", "native_id",
    "subject", "own_text", "signature", "quoted_lines", "patch_lines", "attachments", "reply_to_uid",
    "thread_uid",
)
#: Where a prepared row holds the actor's key and the place's key until the writer puts ids there.
MEMBER, PLACE = 1, 2

_KINDS: dict[type[Event], str] = {ReactionAdded: "reaction", MemberJoined: "join", MemberLeft: "leave"}


@dataclass(slots=True)
class PreparedBatch:
    """One batch of events, taken apart for the writer.

    ``rows`` are activity values in ``ACTIVITY_COLUMNS`` order, except that ``row[MEMBER]``
    holds the actor's key and ``row[PLACE]`` the place's key (or None) until the writer
    replaces them with ids, in place.
    """

    events: tuple[Event, ...]
    #: Every account in the batch: its fullest profile in the batch and its first sighting.
    actors: dict[ActorKey, tuple[ActorRef, datetime]] = field(default_factory=dict)
    places: dict[PlaceKey, PlaceRef] = field(default_factory=dict)
    rows: list[list[Any]] = field(default_factory=list)
    #: Events whose uid came earlier in this same batch (the same message twice in an archive).
    duplicates: int = 0
    edits: list[MessageEdited] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)


def prepare(events: Sequence[Event], *, dialect: str) -> PreparedBatch:
    """Take a batch apart for the ingestor; ``dialect`` decides how times are rendered."""
    batch = PreparedBatch(events=tuple(events))
    actors = batch.actors
    places = batch.places
    for ev in batch.events:
        actor = getattr(ev, "actor", None)
        if actor is not None:
            key = (actor.platform, actor.external_id)
            at = ev.occurred_at
            seen = actors.get(key)
            if seen is None:
                actors[key] = (actor, at)
            elif isinstance(ev, ProfileSeen):
                actors[key] = (actor, min(at, seen[1]))  # a profile event is authoritative
            else:
                first, since = seen
                # Fill gaps from later sightings; most sightings repeat the first one.
                best = first if actor is first or actor == first else _merge_actor(first, actor)
                if best is not first or at < since:
                    actors[key] = (best, min(at, since))
        place = getattr(ev, "place", None)
        if place is not None:
            places[(place.platform, place.channel_id)] = place
    stamp = sqlite_time if dialect == "sqlite" else _as_is
    seen_uids: set[str] = set()
    rows = batch.rows
    for ev in batch.events:
        row = _activity_row(ev, stamp)
        if row is None:
            if isinstance(ev, MessageDeleted):
                batch.deletions.append(ev.uid)
            elif isinstance(ev, MessageEdited):
                batch.edits.append(ev)
        elif row[0] in seen_uids:
            batch.duplicates += 1
        else:
            seen_uids.add(row[0])
            rows.append(row)
    return batch


def _activity_row(ev: Event, stamp: Callable[[datetime], Any]) -> list[Any] | None:
    if isinstance(ev, MessagePosted):
        text = ev.text
        return [
            ev.uid,
            (ev.actor.platform, ev.actor.external_id),
            (ev.place.platform, ev.place.channel_id),
            "message",
            stamp(ev.occurred_at),
            ev.tz_offset_minutes,
            clip(ev.native_id, 400),
            clean(ev.subject, 500),
            clip(text.own, MAX_OWN_TEXT),
            clip(text.signature, MAX_SIGNATURE),
            text.quoted_lines,
            text.patch_lines,
            text.attachments,
            ev.reply_to,
            ev.thread,
        ]
    if isinstance(ev, ReactionAdded | MemberJoined | MemberLeft):
        place = getattr(ev, "place", None)
        reaction = ev if isinstance(ev, ReactionAdded) else None
        return [
            ev.uid,
            (ev.actor.platform, ev.actor.external_id),
            (place.platform, place.channel_id) if place else None,
            _KINDS[type(ev)],
            stamp(ev.occurred_at),
            None,
            "",
            None,
            clip(reaction.emoji, 100) if reaction else "",
            "",
            0,
            0,
            0,
            reaction.target_uid if reaction else None,
            None,
        ]
    return None


def clip(text: str | None, limit: int) -> str:
    if not text:
        return ""
    if len(text) > limit:
        text = text[:limit]
    # NUL cannot be stored in PostgreSQL text; it carries no meaning for us either.
    # (The membership test is a memchr; replace() would count through the whole text first.)
    return text.replace("\x00", "") if "\x00" in text else text


def clean(value: str | None, limit: int) -> str | None:
    return None if value is None else clip(value, limit)


def sqlite_time(value: datetime) -> str:
    """What SQLAlchemy's SQLite DateTime (through ``UTCDateTime``) writes: naive UTC text.

    The SQLite insert skips SQLAlchemy's per-row bind processors, so it renders the same
    ``YYYY-MM-DD HH:MM:SS.ffffff`` here; a test compares the two.
    """
    zone = value.tzinfo
    if zone is None:
        raise ValueError("naive datetime reached the store")
    if zone is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    # "+00:00" cut off the end: years are always four digits, so the text is 26 characters.
    return value.isoformat(" ", "microseconds")[:26]


def _as_is(value: datetime) -> datetime:
    return value


def _merge_actor(first: ActorRef, later: ActorRef) -> ActorRef:
    """Fill what the first sighting lacked from a later one in the same batch."""
    merged = ActorRef(
        platform=first.platform,
        external_id=first.external_id,
        display_name=first.display_name or later.display_name,
        username=first.username or later.username,
        email=first.email or later.email,
        is_bot=first.is_bot or later.is_bot,
        title=first.title or later.title,
    )
    return first if merged == first else merged
