"""Reading and writing segmentation state through the store (Core statements, no ORM objects).

Decisions are written as changes: a dimension whose value moved gets a new current row
(the old one stays as history); one whose value held has its confidence and evidence
refreshed in place only when they changed. That keeps ``classify --all`` on a settled
community from rewriting hundreds of thousands of identical rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
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
from segmentation.model import SegmentDecision

#: The import-cursor row that records how far segmentation has read the activity table.
CURSOR_KEY = "segmentation:activity"
_CHUNK = 500


@dataclass(slots=True)
class CurrentRow:
    id: int
    value: str
    confidence: float
    evidence: dict[str, Any]
    pinned_by: str | None


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def read_cursor(conn: AsyncConnection) -> int:
    row = (await conn.execute(select(ImportCursor.position).where(ImportCursor.source == CURSOR_KEY))).first()
    return int(row[0]) if row else 0


async def write_cursor(conn: AsyncConnection, position: int, *, now: datetime) -> None:
    values = {"fingerprint": "", "position": position, "finished": True, "updated_at": now}
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(ImportCursor).values(source=CURSOR_KEY, **values)
    else:
        stmt = sqlite.insert(ImportCursor).values(source=CURSOR_KEY, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))


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


async def profiles(
    conn: AsyncConnection,
    member_ids: Sequence[int] | None = None,
    *,
    domain_counts: Mapping[str, int] | None = None,
) -> dict[int, Profile]:
    """Profiles of the given members (all when None); ``domain_counts`` from ``domain_members``
    may be passed when already known for everyone, else it is looked up for these members' domains."""
    query = select(
        Member.id, Member.is_bot, Identity.platform, Identity.email, Identity.display_name, Identity.title
    ).join(Identity, Identity.member_id == Member.id)
    found: dict[int, tuple[bool, list[IdentityFacts]]] = {}
    batches = [None] if member_ids is None else list(_chunks(list(member_ids)))
    for chunk in batches:
        q = query if chunk is None else query.where(Member.id.in_(list(chunk)))
        for mid, is_bot, platform, email, name, title in await conn.execute(q):
            entry = found.setdefault(mid, (bool(is_bot), []))
            entry[1].append(
                IdentityFacts(platform=platform, email=email, display_name=name or "", title=title)
            )
    if domain_counts is None:
        wanted = {i.email.rsplit("@", 1)[-1] for _, ids in found.values() for i in ids if i.email}
        domain_counts = await domain_members(conn, wanted) if wanted else {}
    counts = domain_counts
    out: dict[int, Profile] = {}
    for mid, (is_bot, ids) in found.items():
        domains = {i.email.rsplit("@", 1)[-1] for i in ids if i.email}
        out[mid] = Profile(mid, tuple(ids), is_bot, {d: counts.get(d, 1) for d in domains})
    return out


async def load_features(
    conn: AsyncConnection, member_ids: Sequence[int] | None = None
) -> dict[int, MemberFeatures]:
    out: dict[int, MemberFeatures] = {}
    query = select(MemberFeatureRow.member_id, MemberFeatureRow.features)
    batches = [None] if member_ids is None else list(_chunks(list(member_ids)))
    for chunk in batches:
        q = query if chunk is None else query.where(MemberFeatureRow.member_id.in_(list(chunk)))
        for mid, data in await conn.execute(q):
            out[mid] = MemberFeatures.from_json(data)
    return out


async def save_features(
    conn: AsyncConnection,
    features: Mapping[int, MemberFeatures],
    decisions: Mapping[int, SegmentDecision],
    *,
    now: datetime,
    ruleset_version: str,
) -> None:
    rows = [
        {
            "member_id": mid,
            "features": f.to_json(),
            "segments": list(decisions[mid].segments) if mid in decisions else [],
            "ruleset_version": ruleset_version,
            "classified_at": now,
        }
        for mid, f in features.items()
    ]
    for chunk in _chunks(rows):
        stmt: Any
        if conn.dialect.name == "postgresql":
            stmt = postgresql.insert(MemberFeatureRow)
        else:
            stmt = sqlite.insert(MemberFeatureRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["member_id"],
            set_={
                "features": stmt.excluded.features,
                "segments": stmt.excluded.segments,
                "ruleset_version": stmt.excluded.ruleset_version,
                "classified_at": stmt.excluded.classified_at,
            },
        )
        await conn.execute(stmt, list(chunk))


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
            out.setdefault(mid, {})[dim] = CurrentRow(rid, value, conf, evidence or {}, pinned)
    return out


def previous_of(rows: Mapping[str, CurrentRow] | None) -> dict[str, Previous]:
    return {dim: Previous(r.value, r.pinned_by) for dim, r in (rows or {}).items()}


@dataclass(slots=True)
class WriteReport:
    moved: int = 0
    refreshed: int = 0


async def write_decisions(
    conn: AsyncConnection,
    decisions: Mapping[int, SegmentDecision],
    current: Mapping[int, Mapping[str, CurrentRow]],
    *,
    now: datetime,
) -> WriteReport:
    report = WriteReport()
    inserts: list[dict[str, Any]] = []
    retire: list[int] = []
    refresh: list[dict[str, Any]] = []
    for mid, decision in decisions.items():
        rows = current.get(mid, {})
        for dim, d in decision.dimensions.items():
            old = rows.get(dim)
            if d.pinned_by and old is not None and old.pinned_by == d.pinned_by and old.value == d.value:
                continue  # a pin is written once, by the override itself
            evidence = d.as_export()
            if old is not None and old.value == d.value:
                if abs(old.confidence - d.confidence) > 1e-9 or old.evidence != evidence:
                    refresh.append(
                        {
                            "rid": old.id,
                            "confidence": d.confidence,
                            "evidence": evidence,
                            "ruleset_version": decision.ruleset_version,
                            "updated_at": now,
                        }
                    )
                continue
            if old is not None:
                retire.append(old.id)
            inserts.append(
                {
                    "member_id": mid,
                    "dimension": dim,
                    "value": d.value,
                    "confidence": d.confidence,
                    "evidence": evidence,
                    "ruleset_version": decision.ruleset_version,
                    "decided_at": now,
                    "updated_at": now,
                    "pinned_by": d.pinned_by,
                    "current": True,
                }
            )
    for chunk in _chunks(retire):
        await conn.execute(
            update(SegmentAssignment).where(SegmentAssignment.id.in_(list(chunk))).values(current=False)
        )
    for chunk in _chunks(inserts, 200):
        await conn.execute(insert(SegmentAssignment), list(chunk))
    if refresh:
        stmt = (
            update(SegmentAssignment)
            .where(SegmentAssignment.id == bindparam("rid"))
            .values(
                confidence=bindparam("confidence"),
                evidence=bindparam("evidence"),
                ruleset_version=bindparam("ruleset_version"),
                updated_at=bindparam("updated_at"),
            )
        )
        for chunk in _chunks(refresh):
            await conn.execute(stmt.execution_options(synchronize_session=False), list(chunk))
    report.moved = len(inserts)
    report.refreshed = len(refresh)
    return report
