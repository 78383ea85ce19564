"""Read models for members: plain frozen views built with Core, so no ORM object leaves the store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import UnknownMember
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place, SegmentAssignment


@dataclass(frozen=True, slots=True)
class IdentityView:
    platform: str
    external_id: str
    username: str | None
    display_name: str
    email: str | None
    title: str | None
    is_bot: bool


@dataclass(frozen=True, slots=True)
class MemberStats:
    activities: int
    messages: int
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class MemberView:
    member_id: int
    display_name: str
    is_bot: bool
    identities: tuple[IdentityView, ...]
    stats: MemberStats
    dimensions: dict[str, Any] = field(default_factory=dict)
    segments: tuple[str, ...] = ()

    def as_export(self) -> dict[str, Any]:
        """The line format of design section 7 (``members export --format jsonl``)."""
        return {
            "member_id": self.member_id,
            "display_name": self.display_name,
            "is_bot": self.is_bot,
            "identities": [
                {
                    "platform": i.platform,
                    "external_id": i.external_id,
                    "username": i.username,
                    "email": i.email,
                }
                for i in self.identities
            ],
            "dimensions": self.dimensions,
            "segments": list(self.segments),
            "stats": {
                "activities": self.stats.activities,
                "first_seen": _iso(self.stats.first_seen),
                "last_seen": _iso(self.stats.last_seen),
            },
        }


@dataclass(frozen=True, slots=True)
class ActivityView:
    event_uid: str
    kind: str
    occurred_at: datetime
    platform: str | None
    place: str | None
    subject: str | None
    excerpt: str


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


_DIMENSION_ORDER = {
    d: i for i, d in enumerate(("skill", "purpose", "org_type", "org_size", "location", "engagement"))
}
_PLATFORM_REF = re.compile(r"^(discord|slack|mail):(.+)$")


async def resolve_member(conn: AsyncConnection, ref: str) -> int:
    """Find a member by id, ``platform:external_id``, e-mail address, username or unique display name.

    Ambiguous names are refused rather than guessed: acting on the wrong person (an
    override, an erasure) is worse than asking for a more precise reference.
    """
    ref = ref.strip()
    if not ref:
        raise UnknownMember("empty member reference")
    if ref.isdigit():
        found = (await conn.execute(select(Member.id).where(Member.id == int(ref)))).scalar()
        if found is not None:
            return found
    if m := _PLATFORM_REF.match(ref):
        platform, external = m.group(1), m.group(2)
        if platform == "mail":
            external = external.lower()
        found = (
            await conn.execute(
                select(Identity.member_id).where(
                    Identity.platform == platform, Identity.external_id == external
                )
            )
        ).scalar()
        if found is not None:
            return found
    if "@" in ref:
        ids = set(
            (await conn.execute(select(Identity.member_id).where(Identity.email == ref.lower()))).scalars()
        )
        if len(ids) == 1:
            return ids.pop()
    for column in (Identity.username, Identity.display_name):
        ids = set((await conn.execute(select(Identity.member_id).where(column == ref))).scalars())
        if len(ids) == 1:
            return ids.pop()
        if len(ids) > 1:
            raise UnknownMember(
                f"{ref!r} names {len(ids)} members ({', '.join(map(str, sorted(ids)[:5]))}); "
                "use a member id or platform:id"
            )
    raise UnknownMember(f"no member matches {ref!r}")


async def member_views(
    conn: AsyncConnection,
    *,
    member_ids: Sequence[int] | None = None,
    include_bots: bool = True,
    page: int = 1000,
) -> AsyncIterator[MemberView]:
    """Members in id order, a page at a time, so an export of any size stays in bounded memory."""
    after = 0
    while True:
        query = select(Member.id, Member.display_name, Member.is_bot).where(Member.id > after)
        if member_ids is not None:
            query = query.where(Member.id.in_(list(member_ids)))
        if not include_bots:
            query = query.where(Member.is_bot.is_(False))
        rows = (await conn.execute(query.order_by(Member.id).limit(page))).all()
        if not rows:
            return
        ids = [r.id for r in rows]
        identities: dict[int, list[IdentityView]] = {i: [] for i in ids}
        identity_rows = await conn.execute(
            select(
                Identity.member_id,
                Identity.platform,
                Identity.external_id,
                Identity.username,
                Identity.display_name,
                Identity.email,
                Identity.title,
                Identity.is_bot,
            )
            .where(Identity.member_id.in_(ids))
            .order_by(Identity.id)
        )
        for owner, platform, external_id, username, name, email, title, bot in identity_rows:
            identities[owner].append(
                IdentityView(
                    platform=platform,
                    external_id=external_id,
                    username=username,
                    display_name=name,
                    email=email,
                    title=title,
                    is_bot=bot,
                )
            )
        stats: dict[int, MemberStats] = {}
        for s in await conn.execute(
            select(
                Activity.member_id,
                func.count(),
                func.sum(case((Activity.kind == "message", 1), else_=0)),
                func.min(Activity.occurred_at),
                func.max(Activity.occurred_at),
            )
            .where(Activity.member_id.in_(ids))
            .group_by(Activity.member_id)
        ):
            stats[s[0]] = MemberStats(
                activities=s[1], messages=int(s[2] or 0), first_seen=s[3], last_seen=s[4]
            )
        dimensions: dict[int, dict[str, Any]] = {i: {} for i in ids}
        for owner, dimension, evidence in await conn.execute(
            select(
                SegmentAssignment.member_id, SegmentAssignment.dimension, SegmentAssignment.evidence
            ).where(SegmentAssignment.member_id.in_(ids), SegmentAssignment.current.is_(True))
        ):
            dimensions[owner][dimension] = evidence
        segments: dict[int, tuple[str, ...]] = {}
        for owner, names in await conn.execute(
            select(MemberFeatureRow.member_id, MemberFeatureRow.segments).where(
                MemberFeatureRow.member_id.in_(ids)
            )
        ):
            segments[owner] = tuple(names or ())
        for member_id, display_name, is_bot in rows:
            yield MemberView(
                member_id=member_id,
                display_name=display_name,
                is_bot=is_bot,
                identities=tuple(identities[member_id]),
                stats=stats.get(member_id, MemberStats(0, 0, None, None)),
                dimensions=dict(
                    sorted(dimensions[member_id].items(), key=lambda kv: _DIMENSION_ORDER.get(kv[0], 9))
                ),
                segments=segments.get(member_id, ()),
            )
        after = ids[-1]


async def recent_activity(conn: AsyncConnection, member_id: int, *, limit: int = 5) -> list[ActivityView]:
    rows = await conn.execute(
        select(
            Activity.event_uid,
            Activity.kind,
            Activity.occurred_at,
            Activity.subject,
            Activity.own_text,
            Place.platform,
            Place.name,
        )
        .join(Place, Place.id == Activity.place_id, isouter=True)
        .where(Activity.member_id == member_id, Activity.kind == "message")
        .order_by(Activity.occurred_at.desc())
        .limit(limit)
    )
    out = []
    for uid, kind, at, subject, own_text, platform, place in rows:
        text = " ".join(own_text.split())
        out.append(
            ActivityView(
                event_uid=uid,
                kind=kind,
                occurred_at=at,
                platform=platform,
                place=place,
                subject=subject,
                excerpt=text[:160] + ("…" if len(text) > 160 else ""),
            )
        )
    return out


async def segment_sizes(conn: AsyncConnection) -> dict[str, int]:
    """Members per segment, from each member's current segments (bots have none)."""
    sizes: dict[str, int] = {}
    for (names,) in await conn.execute(select(MemberFeatureRow.segments)):
        for name in names or ():
            sizes[name] = sizes.get(name, 0) + 1
    return sizes


async def dimension_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Members per value of each dimension (current decisions only)."""
    out: dict[str, dict[str, int]] = {}
    rows = await conn.execute(
        select(SegmentAssignment.dimension, SegmentAssignment.value, func.count())
        .where(SegmentAssignment.current.is_(True))
        .group_by(SegmentAssignment.dimension, SegmentAssignment.value)
    )
    for dimension, value, count in rows:
        out.setdefault(dimension, {})[value] = count
    return out


async def member_ids_by_identity(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Member ids for (platform, external_id) pairs, for callers that know people by account."""
    out: dict[tuple[str, str], int] = {}
    for i in range(0, len(keys), 500):
        chunk = list(keys[i : i + 500])
        rows = await conn.execute(
            select(Identity.platform, Identity.external_id, Identity.member_id).where(
                tuple_(Identity.platform, Identity.external_id).in_(chunk)
            )
        )
        for platform, external_id, member_id in rows:
            out[(platform, external_id)] = member_id
    return out
