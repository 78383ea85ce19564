"""Batched ingest: events in, members, identities, places and activities out.

The import path writes tens of thousands of rows a second, so it never builds ORM
objects: ``activity_rows.prepare`` turns events into plain rows, which go in through one
raw ``executemany`` on SQLite and Core inserts elsewhere. Identity resolution happens
here because it must see the database: an account already known keeps its member; a new
account whose e-mail address another account already carries joins that person;
everyone else becomes a new member.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import ActorRef, Event, PlaceRef, ProfileSeen
from bot.store.activity_rows import (
    ACTIVITY_COLUMNS,
    MAX_OWN_TEXT,
    MAX_SIGNATURE,
    MEMBER,
    PLACE,
    ActorKey,
    PlaceKey,
    PreparedBatch,
    clean,
    clip,
    prepare,
    sqlite_time,
)
from bot.store.models import Activity, Base, Identity, Member, Place
from bot.store.privacy import email_hash, erased_hashes, identity_epoch, identity_hash
from bot.store.sqlite_hops import last_rowid

log = logging.getLogger(__name__)

#: The skip reason for events from erased people.
ERASED_PERSON = "erased person"

# SQLite allows 32,766 bound parameters; keep IN lists and multi-row VALUES well below it.
_CHUNK = 500


@dataclass(slots=True)
class IngestResult:
    """What one batch did; importers add these up for their summary line."""

    stored: int = 0
    duplicates: int = 0
    deleted: int = 0
    new_members: int = 0
    member_ids: set[int] = field(default_factory=set)
    #: Events not stored, by reason ("erased person": from an account erased on request).
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.deleted += other.deleted
        self.new_members += other.new_members
        self.member_ids |= other.member_ids
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


@functools.cache
def _insert_ignore(table: type[Base], dialect: str) -> Any:
    """INSERT that skips rows whose unique key exists: a replay racing another writer is harmless.

    Built once per table and dialect: building a statement costs more Python time than
    running it, and the live pipeline asks for these in every batch with a newcomer.
    """
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


# The lookups of every batch, built once (as ``_insert_ignore``); the IN lists expand per call.
_KNOWN_ACCOUNTS = select(Identity.external_id, Identity.member_id).where(
    Identity.platform == bindparam("platform"), Identity.external_id.in_(bindparam("ids", expanding=True))
)
_EMAIL_OWNERS = (
    select(Identity.email, Identity.member_id)
    .where(Identity.email.in_(bindparam("emails", expanding=True)))
    .order_by(Identity.id)
)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Ingestor:
    """Writes batches of events; keeps small caches so a long import does not re-ask the database.

    One ingestor serves one writer (an import or the live pipeline). The caches hold only
    ids that the database has committed or that this writer created in an open
    transaction, so they are dropped when a batch fails.
    """

    def __init__(self, *, now: datetime | None = None) -> None:
        self._members: dict[ActorKey, int] = {}
        self._places: dict[PlaceKey, int] = {}
        self._now = now
        # Hashes of erased accounts, reloaded only when accounts changed hands by a manager's
        # or a member's act (erasure, merge, unmerge): then the member cache is stale too.
        self._erased: frozenset[str] = frozenset()
        self._epoch: tuple[int, int, int] | None = None
        self._erased_actors: dict[ActorKey, bool] = {}

    def forget_caches(self) -> None:
        self._members.clear()
        self._places.clear()
        self._epoch = None

    async def ingest(self, conn: AsyncConnection, events: Sequence[Event]) -> IngestResult:
        """Store one batch inside the caller's transaction."""
        try:
            events, erased = await self._drop_erased(conn, events)
            batch = prepare(events, dialect=conn.dialect.name)
            result = await self._write(conn, batch)
        except BaseException:
            self.forget_caches()
            raise
        if erased:
            result.skipped[ERASED_PERSON] = erased
        return result

    async def _drop_erased(
        self, conn: AsyncConnection, events: Sequence[Event]
    ) -> tuple[Sequence[Event], int]:
        """Events from accounts erased on request never come back (design section 3, ``erasure``).

        One small query per batch tells whether anyone was erased, merged or unmerged since
        the last batch; with no erasures at all (the usual case) nothing else is done per event.
        """
        epoch = await identity_epoch(conn)
        if epoch != self._epoch:
            if self._epoch is not None:
                self._members.clear()  # ids of merged or erased members are gone
            self._erased = frozenset(await erased_hashes(conn)) if epoch[0] else frozenset()
            self._erased_actors.clear()
            self._epoch = epoch
        if not self._erased:
            return events, 0
        kept: list[Event] = []
        verdicts = self._erased_actors
        for ev in events:
            actor = getattr(ev, "actor", None)
            if actor is not None:
                key = (actor.platform, actor.external_id)
                gone = verdicts.get(key)
                if gone is None:
                    email = _email_of(actor)
                    gone = identity_hash(*key) in self._erased or (
                        email is not None and email_hash(email) in self._erased
                    )
                    verdicts[key] = gone
                if gone:
                    continue
            kept.append(ev)
        return kept, len(events) - len(kept)

    async def _write(self, conn: AsyncConnection, batch: PreparedBatch) -> IngestResult:
        """Resolve ids, put them into the prepared rows (in place), and insert."""
        result = IngestResult(duplicates=batch.duplicates)
        dialect = conn.dialect.name
        result.new_members = await self._resolve_members(conn, batch.actors, dialect)
        await self._update_profiles(conn, batch.events)
        await self._resolve_places(conn, batch.places, dialect)
        members, places = self._members, self._places
        for row in batch.rows:
            row[MEMBER] = members[row[MEMBER]]
            if row[PLACE] is not None:
                row[PLACE] = places.get(row[PLACE])
        if batch.rows:
            if dialect == "sqlite":
                await _insert_activities_sqlite(conn, batch.rows, result)
            else:
                await _insert_activities_core(conn, batch.rows, dialect, result)
        await self._apply_edits_and_deletions(conn, batch, result)
        return result

    async def _resolve_members(
        self, conn: AsyncConnection, actors: dict[ActorKey, tuple[ActorRef, datetime]], dialect: str
    ) -> int:
        missing = [k for k in actors if k not in self._members]
        if not missing:
            return 0
        await self._adopt(conn, missing)
        missing = [k for k in missing if k not in self._members]
        if not missing:
            return 0
        # Cross-platform: an e-mail address another identity already carries is the same person.
        by_email: dict[str, int] = {}
        emails = sorted({e for k in missing if (e := _email_of(actors[k][0]))})
        for chunk in _chunks(emails):
            owners = await conn.execute(_EMAIL_OWNERS, {"emails": list(chunk)})
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
                fresh: list[dict[str, Any]] = [
                    {
                        "display_name": clip(actors[k][0].display_name or actors[k][0].external_id, 200),
                        "is_bot": actors[k][0].is_bot,
                        "created_at": now,
                    }
                    for k in chunk
                ]
                if dialect == "sqlite":
                    new_ids: Sequence[int] = await _insert_members_sqlite(conn, fresh)
                else:
                    ids = await conn.execute(
                        insert(Member).returning(Member.id, sort_by_parameter_order=True), fresh
                    )
                    new_ids = list(ids.scalars())
                for key, new_id in zip(chunk, new_ids, strict=True):
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
                    "external_id": clip(actor.external_id, 320),
                    "username": clean(actor.username, 200),
                    "display_name": clip(actor.display_name, 200),
                    "email": _email_of(actor),
                    "email_domain": _domain_of(_email_of(actor)),
                    "title": clean(actor.title, 300),
                    "is_bot": actor.is_bot,
                    "first_seen": first,
                }
            )
        stmt = _insert_ignore(Identity, dialect)
        for chunk in _chunks(new_identities):
            await conn.execute(stmt, list(chunk))
        # Another writer may have won the race for some accounts: adopt its member ids.
        await self._adopt(conn, missing)
        return created

    async def _adopt(self, conn: AsyncConnection, keys: Sequence[ActorKey]) -> None:
        """Learn the member ids of accounts already stored, one platform at a time.

        ``platform = ? AND external_id IN (...)`` walks the unique index; SQLite does not
        for a row-value ``(platform, external_id) IN (...)``, which cost ~0.8 ms a batch.
        """
        by_platform: dict[str, list[str]] = {}
        for platform, external_id in keys:
            by_platform.setdefault(platform, []).append(external_id)
        for platform, ids in by_platform.items():
            for chunk in _chunks(ids):
                rows = await conn.execute(_KNOWN_ACCOUNTS, {"platform": platform, "ids": list(chunk)})
                for external_id, member_id in rows:
                    self._members[(platform, external_id)] = member_id

    async def _update_profiles(self, conn: AsyncConnection, events: Sequence[Event]) -> None:
        """Profiles that arrive on their own (Slack users.json, live profile changes) refresh identities."""
        profiles = [ev.actor for ev in events if isinstance(ev, ProfileSeen)]
        for actor in profiles:
            values: dict[str, Any] = {"is_bot": actor.is_bot}
            if actor.display_name:
                values["display_name"] = clip(actor.display_name, 200)
            if actor.username:
                values["username"] = clip(actor.username, 200)
            if actor.title is not None:
                values["title"] = clip(actor.title, 300)
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
        self, conn: AsyncConnection, places: dict[PlaceKey, PlaceRef], dialect: str
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
                        "channel_id": clip(places[k].channel_id, 320),
                        "name": clip(places[k].name, 200),
                        "category": clean(places[k].category, 200),
                        "container": clean(places[k].container, 200),
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

    @staticmethod
    async def _apply_edits_and_deletions(
        conn: AsyncConnection, batch: PreparedBatch, result: IngestResult
    ) -> None:
        for ev in batch.edits:
            await conn.execute(
                update(Activity)
                .where(Activity.event_uid == ev.uid)
                .values(
                    own_text=clip(ev.text.own, MAX_OWN_TEXT),
                    signature=clip(ev.text.signature, MAX_SIGNATURE),
                    quoted_lines=ev.text.quoted_lines,
                    patch_lines=ev.text.patch_lines,
                )
            )
        for chunk in _chunks(batch.deletions):
            res = await conn.execute(delete(Activity).where(Activity.event_uid.in_(list(chunk))))
            result.deleted += res.rowcount or 0


async def _insert_members_sqlite(conn: AsyncConnection, rows: list[dict[str, Any]]) -> range:
    """New members in one plain executemany; their ids are the last ``len(rows)`` rowids.

    SQLAlchemy runs an executemany with ordered RETURNING one row per statement on SQLite
    (a live batch full of newcomers: one statement each). The ids are consecutive: the
    table has no AUTOINCREMENT, so each row takes max(rowid) + 1, and from its first insert
    this transaction holds SQLite's write lock, so nobody else inserts in between.
    """
    done = await conn.exec_driver_sql(
        "INSERT INTO member (display_name, is_bot, created_at) VALUES (?, ?, ?)",
        [(r["display_name"], int(r["is_bot"]), sqlite_time(r["created_at"])) for r in rows],
    )
    last = await last_rowid(conn, done)
    return range(last - len(rows) + 1, last + 1)


async def _insert_activities_sqlite(
    conn: AsyncConnection, rows: list[list[Any]], result: IngestResult
) -> None:
    """The hot path on SQLite: one executemany of plain values, duplicates told by the row count.

    Plain values skip SQLAlchemy's per-row parameter processing, and the whole batch is
    one call to the database thread. Single-row statements on purpose: a multi-row
    INSERT in a transaction makes SQLite keep a statement journal (a copy of every page
    the statement changes, for rolling back just that statement), which on the random
    uid and member indexes copies ~10 kB per row (1M chat messages: 15 GB written and
    +7 s against ``executemany``).

    No SELECT of existing uids first: the unique index answers that during the insert,
    and ``rowcount`` (the sum of ``changes()``, exact for ON CONFLICT DO NOTHING) says how
    many rows went in. Only when some were already stored do we ask which members the
    new rows belong to: they are the rows above the previous highest id, since this
    connection holds SQLite's write lock for the whole transaction.
    """
    before = (await conn.exec_driver_sql(_SQLITE_MAX_ACTIVITY_ID)).scalar() or 0
    inserted = (await conn.exec_driver_sql(_SQLITE_INSERT_ACTIVITY, [tuple(r) for r in rows])).rowcount
    result.stored += inserted
    result.duplicates += len(rows) - inserted
    if inserted == len(rows):
        result.member_ids.update(r[MEMBER] for r in rows)
    elif inserted:
        found = await conn.exec_driver_sql(_SQLITE_MEMBERS_ABOVE, (before,))
        result.member_ids.update(member_id for (member_id,) in found)


async def _insert_activities_core(
    conn: AsyncConnection, rows: list[list[Any]], dialect: str, result: IngestResult
) -> None:
    """PostgreSQL (and anything else): Core inserts, after asking which uids exist already."""
    existing: set[str] = set()
    for chunk in _chunks([r[0] for r in rows]):
        found = await conn.execute(select(Activity.event_uid).where(Activity.event_uid.in_(list(chunk))))
        existing.update(uid for (uid,) in found)
    fresh = [dict(zip(ACTIVITY_COLUMNS, r, strict=True)) for r in rows if r[0] not in existing]
    result.duplicates += len(existing)
    stmt = _insert_ignore(Activity, dialect)
    for chunk in _chunks(fresh, 200):
        await conn.execute(stmt, list(chunk))
    result.stored += len(fresh)
    result.member_ids.update(r["member_id"] for r in fresh)


_SQLITE_INSERT_ACTIVITY = (
    "INSERT INTO activity (event_uid, member_id, place_id, kind, occurred_at, tz_offset_minutes, "
    "native_id, subject, own_text, signature, quoted_lines, patch_lines, attachments, reply_to_uid, "
    "thread_uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_SQLITE_MAX_ACTIVITY_ID = "SELECT max(id) FROM activity"
_SQLITE_MEMBERS_ABOVE = "SELECT DISTINCT member_id FROM activity WHERE id > ?"


def _email_of(actor: ActorRef) -> str | None:
    email = actor.email or (actor.external_id if actor.platform == "mail" else None)
    if not email or "@" not in email:
        return None
    return clip(email.strip().lower(), 320)


def _domain_of(email: str | None) -> str | None:
    return email.rsplit("@", 1)[-1][:255] if email else None
