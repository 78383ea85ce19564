"""Reading and writing segmentation state through the store (Core statements, no ORM objects).

Decisions are written as changes: a dimension whose value moved gets a new current row
(the old one stays as history); one whose value held has its confidence and evidence
refreshed in place only when they changed. That keeps ``classify --all`` on a settled
community from rewriting hundreds of thousands of identical rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import (
    Identity,
    ImportCursor,
    Member,
    MemberFeatureRow,
    Place,
    SegmentAssignment,
)
from segmentation.classify import Previous
from segmentation.features import IdentityFacts, MemberFeatures, Profile
from segmentation.state_memo import StateMemo

#: Domain counts above this are cached by the engine (the rules only ask "more than three?").
CACHE_DOMAIN_COUNTS_ABOVE = 5
#: The import-cursor row that records how far segmentation has read the activity table.
CURSOR_KEY = "segmentation:activity"
_CHUNK = 500


@dataclass(slots=True)
class CurrentRow:
    id: int
    value: str
    confidence: float
    #: A digest of the evidence as written, so an unchanged decision is recognised without
    #: reading or storing the evidence twice.
    digest: str
    pinned_by: str | None


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    try:
        raw = orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # text orjson refuses (lone surrogates)
        raw = json.dumps(evidence, sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def read_cursor(conn: AsyncConnection) -> int:
    row = (await conn.execute(select(ImportCursor.position).where(ImportCursor.source == CURSOR_KEY))).first()
    return int(row[0]) if row else 0


class CursorMoved(Exception):
    """Another process advanced the segmentation cursor since we read it; read again and redo."""


async def write_cursor(conn: AsyncConnection, position: int, *, now: datetime) -> None:
    values = {"fingerprint": "", "position": position, "finished": True, "updated_at": now}
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(ImportCursor).values(source=CURSOR_KEY, **values)
    else:
        stmt = sqlite.insert(ImportCursor).values(source=CURSOR_KEY, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))


async def advance_cursor(conn: AsyncConnection, old: int, new: int, *, now: datetime) -> None:
    """Move the cursor from ``old`` to ``new``, or raise ``CursorMoved`` if someone else moved it.

    A compare-and-set lets an updater keep the position in memory between runs (one query
    fewer per event) and still never fold an activity twice when two processes share a
    database: the loser's transaction rolls back and it reads again.
    """
    result = await conn.execute(
        update(ImportCursor)
        .where(ImportCursor.source == CURSOR_KEY, ImportCursor.position == old)
        .values(position=new, updated_at=now)
    )
    if result.rowcount == 1:
        return
    if old == 0 and await read_cursor(conn) == 0:
        await write_cursor(conn, new, now=now)  # the very first run: no row yet
        return
    raise CursorMoved(f"segmentation cursor is no longer at {old}")


async def place_hints(
    conn: AsyncConnection, hint_for: Any, *, only: Iterable[int] | None = None
) -> dict[int, tuple[str | None, str]]:
    """place id -> (hint, readable channel name); ``hint_for(platform, channel_id, name)`` adds
    the manager's channel hints from configuration to those stored on the place."""
    out: dict[int, tuple[str | None, str]] = {}
    query = select(Place.id, Place.platform, Place.channel_id, Place.name, Place.hints)
    if only is not None:
        query = query.where(Place.id.in_(list(only)))
    rows = await conn.execute(query)
    for pid, platform, channel_id, name, hints in rows:
        hint = (hints or {}).get("kind") or hint_for(platform, channel_id, name or "")
        out[pid] = (hint, f"{platform}:{name or channel_id}")
    return out


async def bot_member_ids(conn: AsyncConnection) -> set[int]:
    return set((await conn.execute(select(Member.id).where(Member.is_bot.is_(True)))).scalars())


async def domain_members(conn: AsyncConnection, domains: Iterable[str] | None = None) -> dict[str, int]:
    """How many members write from each e-mail domain (colleagues share one; a vanity domain has one)."""
    query = select(Identity.email_domain, func.count(func.distinct(Identity.member_id))).where(
        Identity.email_domain.is_not(None)
    )
    out: dict[str, int] = {}
    batches = [None] if domains is None else list(_chunks(sorted(set(domains))))
    for chunk in batches:
        q = query if chunk is None else query.where(Identity.email_domain.in_(list(chunk)))
        for domain, count in await conn.execute(q.group_by(Identity.email_domain)):
            if domain:
                out[domain] = count
    return out


_PROFILE_COLUMNS = (
    Member.id,
    Member.is_bot,
    Identity.platform,
    Identity.email,
    Identity.display_name,
    Identity.title,
    Identity.email_domain,
)
# Built once: constructing these selects costs more Python time than SQLite takes to run them.
_PROFILES = select(*_PROFILE_COLUMNS).join(Identity, Identity.member_id == Member.id)
_PROFILES_BY_IDS = _PROFILES.where(Member.id.in_(bindparam("ids", expanding=True)))
_STATE = select(MemberFeatureRow.member_id, MemberFeatureRow.features, MemberFeatureRow.decisions)
_STATE_BY_IDS = _STATE.where(MemberFeatureRow.member_id.in_(bindparam("ids", expanding=True)))


#: Per member: is_bot, identity facts, e-mail domains (what ``profiles`` builds a Profile from).
Found = dict[int, tuple[bool, list[IdentityFacts], set[str]]]


def _add_identity(
    found: Found,
    mid: int,
    is_bot: Any,
    platform: str,
    email: str | None,
    name: str | None,
    title: str | None,
    domain: str | None,
) -> None:
    entry = found.get(mid)
    if entry is None:
        entry = found[mid] = (bool(is_bot), [], set())
    entry[1].append(IdentityFacts(platform=platform, email=email, display_name=name or "", title=title))
    if domain:
        entry[2].add(domain)


async def profiles(
    conn: AsyncConnection,
    member_ids: Sequence[int] | None = None,
    *,
    domain_counts: dict[str, int] | None = None,
    known: Found | None = None,
) -> dict[int, Profile]:
    """Profiles of the given members (all when None), with how many members share each e-mail domain.

    ``domain_counts`` is a cache the caller keeps: domains missing from it are counted
    with one grouped query and added, so a busy free-mail domain is counted once, not on
    every event. ``known`` holds identity facts already read (``load_state_and_identities``);
    those members are not asked for again.
    """
    found: Found = {}
    batches: list[Sequence[int] | None] = [None]
    if member_ids is not None:
        if known:
            found.update((m, known[m]) for m in member_ids if m in known)
            member_ids = [m for m in member_ids if m not in known]
        batches = list(_chunks(list(member_ids)))
    for chunk in batches:
        rows = await (
            conn.execute(_PROFILES) if chunk is None else conn.execute(_PROFILES_BY_IDS, {"ids": list(chunk)})
        )
        for mid, is_bot, platform, email, name, title, domain in rows:
            _add_identity(found, mid, is_bot, platform, email, name, title, domain)
    cache = domain_counts if domain_counts is not None else {}
    missing = {d for _, _, domains in found.values() for d in domains if d not in cache}
    fresh = await domain_members(conn, missing) if missing else {}
    # Only counts that can no longer change a decision are remembered: a domain shared by
    # more than a few members stays "shared"; a small one is counted again next time.
    cache.update({d: n for d, n in fresh.items() if n > CACHE_DOMAIN_COUNTS_ABOVE})
    counts = {**fresh, **{d: cache[d] for _, _, domains in found.values() for d in domains if d in cache}}
    return {
        mid: Profile(mid, tuple(ids), is_bot, {d: counts.get(d, 1) for d in domains})
        for mid, (is_bot, ids, domains) in found.items()
        if ids  # a member read without identities (``load_state_and_identities``) has no profile
    }


# Features, cached decisions and identities of members in one read (the incremental preload):
# one row per identity, the member's stored state repeated on each.
_STATE_AND_IDENTITIES = (
    select(
        Member.id,
        MemberFeatureRow.member_id,
        MemberFeatureRow.features,
        MemberFeatureRow.decisions,
        *_PROFILE_COLUMNS[1:],
    )
    .select_from(Member)
    .outerjoin(MemberFeatureRow, MemberFeatureRow.member_id == Member.id)
    .outerjoin(Identity, Identity.member_id == Member.id)
    .where(Member.id.in_(bindparam("ids", expanding=True)))
)


State = dict[int, tuple[MemberFeatures, dict[str, CurrentRow] | None]]


async def load_state_and_identities(conn: AsyncConnection, member_ids: Sequence[int]) -> tuple[State, Found]:
    """``load_state`` and the identity facts ``profiles`` needs, for the given members, in one query.

    Members without identities get an entry with none (``profiles`` gives them no profile,
    as when it reads them itself); members without stored features get no state (as ``load_state``).
    """
    pages = [
        list(await conn.execute(_STATE_AND_IDENTITIES, {"ids": list(chunk)}))
        for chunk in _chunks(list(member_ids))
    ]
    return state_from_rows(pages, raw=False)


def sqlite_state_rows(db: sqlite3.Connection, member_ids: Sequence[int]) -> list[list[Any]]:
    """The rows of ``load_state_and_identities`` as plain sqlite3 rows (run on the connection's thread)."""
    return [
        db.execute(_SQLITE_STATE_AND_IDENTITIES % ",".join("?" * len(chunk)), list(chunk)).fetchall()
        for chunk in _chunks(list(member_ids))
    ]


def state_from_rows(
    pages: Iterable[Iterable[Any]], *, raw: bool, memo: StateMemo | None = None
) -> tuple[State, Found]:
    """Features, cached decisions and identity facts from the rows; ``raw``: JSON still text
    (plain sqlite3 rows: decoded here as SQLAlchemy's JSON type would, without its per-row cost).
    With a ``memo``, raw text identical to what this process last wrote is not decoded again."""
    state: State = {}
    found: Found = {}
    for rows in pages:
        for mid, stored, data, decisions, is_bot, platform, email, name, title, domain in rows:
            if mid not in found:
                found[mid] = (bool(is_bot), [], set())
                if stored is not None:
                    kept = None
                    if raw and memo is not None and data is not None:
                        kept = memo.take(mid, data, decisions)
                    if kept is None:
                        if raw:
                            data = None if data is None else orjson.loads(data)
                            decisions = None if decisions is None else orjson.loads(decisions)
                        kept = (MemberFeatures.from_json(data), _rows_of(decisions))
                    state[mid] = kept
            if platform is not None:
                _add_identity(found, mid, is_bot, platform, email, name, title, domain)
    return state, found


_SQLITE_STATE_AND_IDENTITIES = (
    "SELECT member.id, member_features.member_id, member_features.features, member_features.decisions, "
    "member.is_bot, identity.platform, identity.email, identity.display_name, identity.title, "
    "identity.email_domain FROM member "
    "LEFT OUTER JOIN member_features ON member_features.member_id = member.id "
    "LEFT OUTER JOIN identity ON identity.member_id = member.id WHERE member.id IN (%s)"
)


async def load_features(
    conn: AsyncConnection, member_ids: Sequence[int] | None = None
) -> dict[int, MemberFeatures]:
    return {mid: f for mid, (f, _) in (await load_state(conn, member_ids)).items()}


_DECISIONS = select(MemberFeatureRow.member_id, MemberFeatureRow.decisions)


async def load_decisions(conn: AsyncConnection) -> dict[int, dict[str, CurrentRow] | None]:
    """Every member's cached current decisions (None where not cached yet)."""
    return {mid: _rows_of(decisions) for mid, decisions in await conn.execute(_DECISIONS)}


async def load_state(
    conn: AsyncConnection, member_ids: Sequence[int] | None = None
) -> dict[int, tuple[MemberFeatures, dict[str, CurrentRow] | None]]:
    """Features and current decisions per member in one read (decisions None where not cached)."""
    out: dict[int, tuple[MemberFeatures, dict[str, CurrentRow] | None]] = {}
    batches: list[Sequence[int] | None] = [None] if member_ids is None else list(_chunks(list(member_ids)))
    for chunk in batches:
        rows = await (
            conn.execute(_STATE) if chunk is None else conn.execute(_STATE_BY_IDS, {"ids": list(chunk)})
        )
        for mid, data, decisions in rows:
            out[mid] = (MemberFeatures.from_json(data), _rows_of(decisions))
    return out


def _rows_of(decisions: dict[str, Any] | None) -> dict[str, CurrentRow] | None:
    if decisions is None:
        return None
    return {
        dim: CurrentRow(
            int(d["id"]), d["value"], float(d["confidence"]), d.get("digest", ""), d.get("pinned_by")
        )
        for dim, d in decisions.items()
    }


async def current_assignments(
    conn: AsyncConnection, member_ids: Sequence[int] | None = None
) -> dict[int, dict[str, CurrentRow]]:
    out: dict[int, dict[str, CurrentRow]] = {}
    query = select(
        SegmentAssignment.id,
        SegmentAssignment.member_id,
        SegmentAssignment.dimension,
        SegmentAssignment.value,
        SegmentAssignment.confidence,
        SegmentAssignment.evidence,
        SegmentAssignment.pinned_by,
    ).where(SegmentAssignment.current.is_(True))
    batches = [None] if member_ids is None else list(_chunks(list(member_ids)))
    for chunk in batches:
        q = query if chunk is None else query.where(SegmentAssignment.member_id.in_(list(chunk)))
        for rid, mid, dim, value, conf, evidence, pinned in await conn.execute(q):
            out.setdefault(mid, {})[dim] = CurrentRow(
                rid, value, conf, evidence_digest(evidence or {}), pinned
            )
    return out


def previous_of(rows: Mapping[str, CurrentRow] | None) -> dict[str, Previous]:
    return {dim: Previous(r.value, r.pinned_by) for dim, r in (rows or {}).items()}
