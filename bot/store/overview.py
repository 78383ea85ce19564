"""Read-only aggregates over members, identities and activities: what the bot knows at a glance.

Used by ``cohortbot demo`` (and any status view) to print counts without loading rows:
every function is a handful of grouped Core selects that run the same on SQLite and
PostgreSQL, and returns plain frozen dataclasses, never ORM objects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import Select, and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Case

from bot.core.events import PLATFORMS
from bot.store.db import Store
from bot.store.models import Activity, Identity, Member, Place


@dataclass(frozen=True, slots=True)
class PlatformCount:
    platform: str
    people: int  # members with an identity there that are not bots
    bots: int


@dataclass(frozen=True, slots=True)
class PlaceCount:
    platform: str
    channel_id: str
    name: str
    messages: int
    joins: int


@dataclass(frozen=True, slots=True)
class MemberSummary:
    member_id: int
    display_name: str
    messages: int
    platforms: tuple[str, ...]
    is_bot: bool


@dataclass(frozen=True, slots=True)
class ActivitySpan:
    first: datetime | None
    last: datetime | None
    weekly: tuple[int, ...]  # messages per week, oldest first, ending at ``last``


@dataclass(frozen=True, slots=True)
class Overview:
    members: int
    bots: int
    per_platform: tuple[PlatformCount, ...]
    multi_platform: int  # people with identities on two or more platforms
    multi_examples: tuple[MemberSummary, ...]
    bot_members: tuple[MemberSummary, ...]
    activities: dict[str, dict[str, int]]  # platform -> kind -> count
    places: tuple[PlaceCount, ...]
    top: tuple[MemberSummary, ...]
    span: ActivitySpan


def _platform_of_uid() -> Case[str]:
    """Activities keep the platform as their uid's prefix; reactions have no place to join on."""
    return case(*((Activity.event_uid.like(f"{p}:%"), p) for p in PLATFORMS), else_="other")


async def _platforms_of(conn: AsyncConnection, member_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not member_ids:
        return {}
    rows = await conn.execute(
        select(Identity.member_id, Identity.platform)
        .where(Identity.member_id.in_(member_ids))
        .distinct()
        .order_by(Identity.member_id, Identity.platform)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for member_id, platform in rows:
        found[member_id].append(platform)
    return {k: tuple(v) for k, v in found.items()}


async def _summaries(
    conn: AsyncConnection, stmt: Select[int, str, bool, int]
) -> tuple[MemberSummary, ...]:
    rows = list(await conn.execute(stmt))
    platforms = await _platforms_of(conn, [r[0] for r in rows])
    return tuple(
        MemberSummary(member_id=mid, display_name=name, messages=int(n or 0),
                      platforms=platforms.get(mid, ()), is_bot=bool(bot))
        for mid, name, bot, n in rows
    )


def _messages_per_member() -> Select[int, int]:
    return (
        select(Activity.member_id, func.count().label("n"))
        .where(Activity.kind == "message")
        .group_by(Activity.member_id)
    )


async def community_overview(store: Store, *, top: int = 8, weeks: int = 12) -> Overview:
    async with store.connection() as conn:
        members, bots = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(case((Member.is_bot, 1), else_=0)), 0))
            )
        ).one()

        per_platform = tuple(
            PlatformCount(platform=p, people=int(people or 0), bots=int(nbots or 0))
            for p, people, nbots in (
                await conn.execute(
                    select(
                        Identity.platform,
                        func.count(distinct(case((Member.is_bot.is_(False), Member.id)))),
                        func.count(distinct(case((Member.is_bot, Member.id)))),
                    )
                    .join(Member, Member.id == Identity.member_id)
                    .group_by(Identity.platform)
                    .order_by(Identity.platform)
                )
            )
        )

        spread = (
            select(Identity.member_id)
            .group_by(Identity.member_id)
            .having(func.count(distinct(Identity.platform)) > 1)
            .subquery()
        )
        multi = (
            await conn.execute(
                select(func.count()).select_from(spread).join(Member, Member.id == spread.c.member_id)
                .where(Member.is_bot.is_(False))
            )
        ).scalar_one()
        counts = _messages_per_member().subquery()
        multi_examples = await _summaries(
            conn,
            select(Member.id, Member.display_name, Member.is_bot, counts.c.n)
            .join(spread, spread.c.member_id == Member.id)
            .outerjoin(counts, counts.c.member_id == Member.id)
            .where(Member.is_bot.is_(False))
            .order_by(counts.c.n.desc().nulls_last(), Member.id)
            .limit(top),
        )
        bot_members = await _summaries(
            conn,
            select(Member.id, Member.display_name, Member.is_bot, counts.c.n)
            .outerjoin(counts, counts.c.member_id == Member.id)
            .where(Member.is_bot.is_(True))
            .order_by(Member.id),
        )
        top_people = await _summaries(
            conn,
            select(Member.id, Member.display_name, Member.is_bot, counts.c.n)
            .join(counts, counts.c.member_id == Member.id)
            .where(Member.is_bot.is_(False))
            .order_by(counts.c.n.desc(), Member.id)
            .limit(top),
        )

        platform = _platform_of_uid().label("platform")
        activities: dict[str, dict[str, int]] = defaultdict(dict)
        for plat, kind, n in (
            await conn.execute(
                select(platform, Activity.kind, func.count()).group_by(platform, Activity.kind)
                .order_by(platform, Activity.kind)
            )
        ):
            activities[plat][kind] = int(n)

        places = tuple(
            PlaceCount(platform=p, channel_id=channel, name=name or channel, messages=int(m or 0),
                       joins=int(j or 0))
            for p, channel, name, m, j in (
                await conn.execute(
                    select(
                        Place.platform, Place.channel_id, Place.name,
                        func.sum(case((Activity.kind == "message", 1), else_=0)),
                        func.sum(case((Activity.kind == "join", 1), else_=0)),
                    )
                    .join(Activity, Activity.place_id == Place.id)
                    .group_by(Place.platform, Place.channel_id, Place.name)
                    .order_by(Place.platform, Place.name)
                )
            )
        )

        first, last = (
            await conn.execute(
                select(func.min(Activity.occurred_at), func.max(Activity.occurred_at)).where(
                    Activity.kind == "message"
                )
            )
        ).one()
        weekly: tuple[int, ...] = ()
        if last is not None:
            edges = [last - timedelta(weeks=weeks - i) for i in range(weeks + 1)]
            edges[-1] = last + timedelta(seconds=1)
            buckets = [
                func.sum(case((and_(Activity.occurred_at >= lo, Activity.occurred_at < hi), 1), else_=0))
                for lo, hi in pairwise(edges)
            ]
            row = (await conn.execute(select(*buckets).where(Activity.kind == "message"))).one()
            weekly = tuple(int(v or 0) for v in row)

    return Overview(
        members=int(members), bots=int(bots), per_platform=per_platform, multi_platform=int(multi),
        multi_examples=multi_examples, bot_members=bot_members, activities=dict(activities), places=places,
        top=top_people, span=ActivitySpan(first=first, last=last, weekly=weekly),
    )
