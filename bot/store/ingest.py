"""Batched ingest: events in, members, identities, places and activities out.

The import path writes thousands of rows a second, so it stays on SQLAlchemy Core with
one statement per table per batch and never builds ORM objects. Identity resolution
happens here because it must see the database: an account already known keeps its
member; a new account whose e-mail address another account already carries joins that
person; everyone else becomes a new member.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

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
from bot.store.models import Activity, Base, Identity, Member, Place

log = logging.getLogger(__name__)

#: Text kept per activity. Segmentation needs the author's words, not a whole thesis.
MAX_OWN_TEXT = 8000
MAX_SIGNATURE = 1000
# SQLite allows 32,766 bound parameters; keep IN lists and multi-row VALUES well below it.
_CHUNK = 500

ActorKey = tuple[str, str]


@dataclass(slots=True)
class IngestResult:
    """What one batch did; importers add these up for their summary line."""

    stored: int = 0
    duplicates: int = 0
    deleted: int = 0
    new_members: int = 0
    member_ids: set[int] = field(default_factory=set)

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.deleted += other.deleted
        self.new_members += other.new_members
        self.member_ids |= other.member_ids


def _insert_ignore(table: type[Base], dialect: str) -> Any:
    """INSERT that skips rows whose unique key exists: a replay racing another writer is harmless."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _clip(text: str | None, limit: int) -> str:
    if not text:
        return ""
    if len(text) > limit:
        text = text[:limit]
    # NUL cannot be stored in PostgreSQL text; it carries no meaning for us either.
    # (The membership test is a memchr; replace() would count through the whole text first.)
    return text.replace("\x00", "") if "\x00" in text else text


def _clean(value: str | None, limit: int) -> str | None:
    return None if value is None else _clip(value, limit)


class Ingestor:
    """Writes batches of events; keeps small caches so a long import does not re-ask the database.

    One ingestor serves one writer (an import or the live pipeline). The caches hold only
    ids that the database has committed or that this writer created in an open
    transaction, so they are dropped when a batch fails.
    """

    def __init__(self, *, now: datetime | None = None) -> None:
        self._members: dict[ActorKey, int] = {}
        self._places: dict[tuple[str, str], int] = {}
        self._now = now

    def forget_caches(self) -> None:
        self._members.clear()
        self._places.clear()

    async def ingest(self, conn: AsyncConnection, events: Sequence[Event]) -> IngestResult:
        """Store one batch inside the caller's transaction."""
        try:
            return await self._ingest(conn, events)
        except BaseException:
            self.forget_caches()
            raise

    async def _ingest(self, conn: AsyncConnection, events: Sequence[Event]) -> IngestResult:
        result = IngestResult()
        dialect = conn.dialect.name
        actors: dict[ActorKey, tuple[ActorRef, datetime]] = {}
        places: dict[tuple[str, str], PlaceRef] = {}
        for ev in events:
            actor = getattr(ev, "actor", None)
            if actor is not None:
                key = (actor.platform, actor.external_id)
                seen = actors.get(key)
                at = ev.occurred_at
                if seen is None:
                    actors[key] = (actor, at)
                else:
                    # A profile event is authoritative; otherwise fill gaps from later sightings.
                    best = actor if isinstance(ev, ProfileSeen) else _merge_actor(seen[0], actor)
                    actors[key] = (best, min(at, seen[1]))
            place = getattr(ev, "place", None)
            if place is not None:
                places[(place.platform, place.channel_id)] = place
        result.new_members = await self._resolve_members(conn, actors, dialect)
        await self._update_profiles(conn, [a for a, _ in actors.values()], events)
        await self._resolve_places(conn, places, dialect)
        await self._store_activities(conn, events, dialect, result)
        return result

    async def _resolve_members(
        self, conn: AsyncConnection, actors: dict[ActorKey, tuple[ActorRef, datetime]], dialect: str
    ) -> int:
        missing = [k for k in actors if k not in self._members]
        if not missing:
            return 0
        for chunk in _chunks(missing):
            rows = await conn.execute(
                select(Identity.platform, Identity.external_id, Identity.member_id).where(
                    tuple_(Identity.platform, Identity.external_id).in_(list(chunk))
                )
            )
            for platform, external_id, member_id in rows:
                self._members[(platform, external_id)] = member_id
        missing = [k for k in missing if k not in self._members]
        if not missing:
            return 0
        # Cross-platform: an e-mail address another identity already carries is the same person.
        by_email: dict[str, int] = {}
        emails = sorted({e for k in missing if (e := _email_of(actors[k][0]))})
        for chunk in _chunks(emails):
            owners = await conn.execute(
                select(Identity.email, Identity.member_id)
                .where(Identity.email.in_(list(chunk)))
                .order_by(Identity.id)
            )
            for owner_email, owner_id in owners:
                if owner_email:
                    by_email.setdefault(owner_email, owner_id)
        new_identities: list[dict[str, Any]] = []
        new_people: list[ActorKey] = []
        # Two new accounts in one batch with one e-mail address share one new member.
        email_owner: dict[str, ActorKey] = {}
        followers: list[tuple[ActorKey, ActorKey]] = []
        for key in missing:
            actor = actors[key][0]
            email = _email_of(actor)
            if email and email in by_email:
                self._members[key] = by_email[email]
            elif email and email in email_owner:
                followers.append((key, email_owner[email]))
            else:
                if email:
                    email_owner[email] = key
                new_people.append(key)
        created = 0
        if new_people:
            now = self._now or datetime.now(UTC)
            for chunk in _chunks(new_people):
                ids = await conn.execute(
                    insert(Member).returning(Member.id, sort_by_parameter_order=True),
                    [
                        {
                            "display_name": _clip(actors[k][0].display_name or actors[k][0].external_id, 200),
                            "is_bot": actors[k][0].is_bot,
                            "created_at": now,
                        }
                        for k in chunk
                    ],
                )
                for key, new_id in zip(chunk, ids.scalars(), strict=True):
                    self._members[key] = new_id
                    created += 1
        for key, owner in followers:
            self._members[key] = self._members[owner]
        for key in missing:
            actor, first = actors[key]
            new_identities.append(
                {
                    "member_id": self._members[key],
                    "platform": actor.platform,
                    "external_id": _clip(actor.external_id, 320),
                    "username": _clean(actor.username, 200),
                    "display_name": _clip(actor.display_name, 200),
                    "email": _email_of(actor),
                    "email_domain": _domain_of(_email_of(actor)),
                    "title": _clean(actor.title, 300),
                    "is_bot": actor.is_bot,
                    "first_seen": first,
                }
            )
        stmt = _insert_ignore(Identity, dialect)
        for chunk in _chunks(new_identities):
            await conn.execute(stmt, list(chunk))
        # Another writer may have won the race for some accounts: adopt its member ids.
        for chunk in _chunks(missing):
            rows = await conn.execute(
                select(Identity.platform, Identity.external_id, Identity.member_id).where(
                    tuple_(Identity.platform, Identity.external_id).in_(list(chunk))
                )
            )
            for platform, external_id, member_id in rows:
                self._members[(platform, external_id)] = member_id
        return created

    async def _update_profiles(
        self, conn: AsyncConnection, actors: list[ActorRef], events: Sequence[Event]
    ) -> None:
        """Profiles that arrive on their own (Slack users.json, live profile changes) refresh identities."""
        profiles = [ev.actor for ev in events if isinstance(ev, ProfileSeen)]
        for actor in profiles:
            values: dict[str, Any] = {"is_bot": actor.is_bot}
            if actor.display_name:
                values["display_name"] = _clip(actor.display_name, 200)
            if actor.username:
                values["username"] = _clip(actor.username, 200)
            if actor.title is not None:
                values["title"] = _clip(actor.title, 300)
            if email := _email_of(actor):
                values["email"] = email
                values["email_domain"] = _domain_of(email)
            await conn.execute(
                update(Identity)
                .where(Identity.platform == actor.platform, Identity.external_id == actor.external_id)
                .values(**values)
            )
            if actor.is_bot:
                await conn.execute(
                    update(Member)
                    .where(Member.id == self._members[(actor.platform, actor.external_id)])
                    .values(is_bot=True)
                )

    async def _resolve_places(
        self, conn: AsyncConnection, places: dict[tuple[str, str], PlaceRef], dialect: str
    ) -> None:
        missing = [k for k in places if k not in self._places]
        if not missing:
            return
        stmt = _insert_ignore(Place, dialect)
        for chunk in _chunks(missing):
            await conn.execute(
                stmt,
                [
                    {
                        "platform": places[k].platform,
                        "channel_id": _clip(places[k].channel_id, 320),
                        "name": _clip(places[k].name, 200),
                        "category": _clean(places[k].category, 200),
                        "container": _clean(places[k].container, 200),
                        "hints": {},
                    }
                    for k in chunk
                ],
            )
            rows = await conn.execute(
                select(Place.platform, Place.channel_id, Place.id).where(
                    tuple_(Place.platform, Place.channel_id).in_(list(chunk))
                )
            )
            for platform, channel_id, place_id in rows:
                self._places[(platform, channel_id)] = place_id

    async def _store_activities(
        self, conn: AsyncConnection, events: Sequence[Event], dialect: str, result: IngestResult
    ) -> None:
        rows: dict[str, dict[str, Any]] = {}
        deletions: list[str] = []
        edits: list[MessageEdited] = []
        for ev in events:
            row = self._activity_row(ev)
            if row is None:
                if isinstance(ev, MessageDeleted):
                    deletions.append(ev.uid)
                elif isinstance(ev, MessageEdited):
                    edits.append(ev)
                continue
            if row["event_uid"] in rows:
                result.duplicates += 1  # the same message twice in one archive
                continue
            rows[row["event_uid"]] = row
        uids = list(rows)
        existing: set[str] = set()
        for chunk in _chunks(uids):
            found = await conn.execute(select(Activity.event_uid).where(Activity.event_uid.in_(list(chunk))))
            existing.update(uid for (uid,) in found)
        fresh = [rows[u] for u in uids if u not in existing]
        result.duplicates += len(existing)
        stmt = _insert_ignore(Activity, dialect)
        for chunk in _chunks(fresh, 200):
            await conn.execute(stmt, list(chunk))
        result.stored += len(fresh)
        result.member_ids.update(r["member_id"] for r in fresh)
        for ev in edits:
            await conn.execute(
                update(Activity)
                .where(Activity.event_uid == ev.uid)
                .values(
                    own_text=_clip(ev.text.own, MAX_OWN_TEXT),
                    signature=_clip(ev.text.signature, MAX_SIGNATURE),
                    quoted_lines=ev.text.quoted_lines,
                    patch_lines=ev.text.patch_lines,
                )
            )
        if deletions:
            for chunk in _chunks(deletions):
                res = await conn.execute(
                    delete(Activity).where(Activity.event_uid.in_(list(chunk)))
                )
                result.deleted += res.rowcount or 0

    def _activity_row(self, ev: Event) -> dict[str, Any] | None:
        if isinstance(ev, MessagePosted):
            return {
                "event_uid": ev.uid,
                "member_id": self._members[(ev.actor.platform, ev.actor.external_id)],
                "place_id": self._places.get((ev.place.platform, ev.place.channel_id)),
                "kind": "message",
                "occurred_at": ev.occurred_at,
                "tz_offset_minutes": ev.tz_offset_minutes,
                "native_id": _clip(ev.native_id, 400),
                "subject": _clean(ev.subject, 500),
                "own_text": _clip(ev.text.own, MAX_OWN_TEXT),
                "signature": _clip(ev.text.signature, MAX_SIGNATURE),
                "quoted_lines": ev.text.quoted_lines,
                "patch_lines": ev.text.patch_lines,
                "attachments": ev.text.attachments,
                "reply_to_uid": ev.reply_to,
                "thread_uid": ev.thread,
            }
        if isinstance(ev, ReactionAdded | MemberJoined | MemberLeft):
            kind = {ReactionAdded: "reaction", MemberJoined: "join", MemberLeft: "leave"}[type(ev)]
            place = getattr(ev, "place", None)
            return {
                "event_uid": ev.uid,
                "member_id": self._members[(ev.actor.platform, ev.actor.external_id)],
                "place_id": self._places.get((place.platform, place.channel_id)) if place else None,
                "kind": kind,
                "occurred_at": ev.occurred_at,
                "tz_offset_minutes": None,
                "native_id": "",
                "subject": None,
                "own_text": _clip(ev.emoji, 100) if isinstance(ev, ReactionAdded) else "",
                "signature": "",
                "quoted_lines": 0,
                "patch_lines": 0,
                "attachments": 0,
                "reply_to_uid": ev.target_uid if isinstance(ev, ReactionAdded) else None,
                "thread_uid": None,
            }
        return None


def _email_of(actor: ActorRef) -> str | None:
    email = actor.email or (actor.external_id if actor.platform == "mail" else None)
    if not email or "@" not in email:
        return None
    return _clip(email.strip().lower(), 320)


def _domain_of(email: str | None) -> str | None:
    return email.rsplit("@", 1)[-1][:255] if email else None


def _merge_actor(first: ActorRef, later: ActorRef) -> ActorRef:
    """Fill what the first sighting lacked from a later one in the same batch."""
    return ActorRef(
        platform=first.platform,
        external_id=first.external_id,
        display_name=first.display_name or later.display_name,
        username=first.username or later.username,
        email=first.email or later.email,
        is_bot=first.is_bot or later.is_bot,
        title=first.title or later.title,
    )
