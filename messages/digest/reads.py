"""The digest's reads from the store: activity per member, first sightings, segment history, questions.

Each function is one or a few indexed queries returning plain Python data; the builder
combines them. Bots are left out everywhere: the digest is about people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import Invitation, ProgrammePoints, SolutionCheck
from bot.store.models import Activity, Identity, Member, Place, SegmentAssignment
from segmentation.config import SegmentationConfig
from segmentation.signals import THANKS, is_question, message_signals

_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


async def activity_per_member(conn: AsyncConnection, start: datetime, end: datetime) -> dict[int, int]:
    """Activities of each person in [start, end)."""
    rows = await conn.execute(
        select(Activity.member_id, func.count())
        .join(Member, Member.id == Activity.member_id)
        .where(Activity.occurred_at >= start, Activity.occurred_at < end, Member.is_bot.is_(False))
        .group_by(Activity.member_id)
    )
    return {mid: n for mid, n in rows}


async def first_seen(conn: AsyncConnection) -> dict[int, datetime]:
    """Each person's first activity: who existed at a moment, and who was new in a week."""
    rows = await conn.execute(
        select(Activity.member_id, func.min(Activity.occurred_at))
        .join(Member, Member.id == Activity.member_id)
        .where(Member.is_bot.is_(False))
        .group_by(Activity.member_id)
    )
    return {mid: at for mid, at in rows if at is not None}


@dataclass(frozen=True, slots=True)
class History:
    """Every segment_assignment row, so each member's values can be replayed to any moment."""

    rows: dict[int, dict[str, list[tuple[datetime, str]]]]

    def values_at(self, member_id: int, moment: datetime) -> dict[str, str]:
        """The values in force at ``moment``: the latest decided by then, else the first ever.

        The "first ever" back-fill matters for imported archives, classified once after
        the fact: their first decision describes the member from the start.
        """
        out: dict[str, str] = {}
        for dimension, changes in self.rows.get(member_id, {}).items():
            value = changes[0][1]
            for at, v in changes:
                if at > moment:
                    break
                value = v
            out[dimension] = value
        return out

    def has_change_before(self, moment: datetime) -> bool:
        return any(
            changes[0][0] <= moment for dims in self.rows.values() for changes in dims.values()
        )


async def history(conn: AsyncConnection) -> History:
    rows = await conn.execute(
        select(
            SegmentAssignment.member_id,
            SegmentAssignment.dimension,
            SegmentAssignment.value,
            SegmentAssignment.decided_at,
        ).order_by(SegmentAssignment.member_id, SegmentAssignment.decided_at, SegmentAssignment.id)
    )
    out: dict[int, dict[str, list[tuple[datetime, str]]]] = {}
    for mid, dimension, value, at in rows:
        out.setdefault(mid, {}).setdefault(dimension, []).append((at, value))
    return History(out)


def memberships(
    hist: History, members: Iterable[int], moment: datetime, config: SegmentationConfig
) -> dict[str, set[int]]:
    """Members of every configured segment at ``moment``."""
    out: dict[str, set[int]] = {name: set() for name in config.segments}
    for mid in members:
        values = hist.values_at(mid, moment)
        if not values:
            continue
        for name, (expression, _) in config.segments.items():
            if expression.matches(values):
                out[name].add(mid)
    return out


async def current_evidence(
    conn: AsyncConnection, member_ids: Sequence[int], dimensions: Sequence[str]
) -> dict[int, list[str]]:
    """The "says" lines of the members' current decisions on ``dimensions`` (the segment's why)."""
    out: dict[int, list[str]] = {mid: [] for mid in member_ids}
    for chunk in _chunks(member_ids):
        rows = await conn.execute(
            select(SegmentAssignment.member_id, SegmentAssignment.dimension, SegmentAssignment.evidence)
            .where(
                SegmentAssignment.member_id.in_(chunk),
                SegmentAssignment.current.is_(True),
                SegmentAssignment.dimension.in_(list(dimensions)),
            )
            .order_by(SegmentAssignment.member_id, SegmentAssignment.dimension)
        )
        for mid, dimension, evidence in rows:
            for item in (evidence or {}).get("evidence", []):
                if isinstance(item, Mapping) and item.get("says"):
                    out[mid].append(f"{dimension}: {item['says']}")
    return out


async def names(conn: AsyncConnection, member_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(member_ids))
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        for mid, name in await conn.execute(
            select(Member.id, Member.display_name).where(Member.id.in_(chunk))
        ):
            out[mid] = name or f"member {mid}"
    return out


async def platforms(conn: AsyncConnection, member_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(member_ids))
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(
            select(Identity.member_id, Identity.platform)
            .where(Identity.member_id.in_(chunk))
            .order_by(Identity.id)
        )
        for mid, platform in rows:
            out.setdefault(mid, platform)
    return out


@dataclass(frozen=True, slots=True)
class OpenQuestion:
    uid: str
    member_id: int
    asked_at: datetime
    place: str
    text: str


async def unanswered_questions(
    conn: AsyncConnection, *, since: datetime, asked_before: datetime, end: datetime
) -> list[OpenQuestion]:
    """Questions that start a conversation, asked in [since, asked_before), with no reply from
    another person before ``end``.

    Only conversation starters count: a question inside a thread (a helper asking back
    "which version?") is part of someone else's question, not a question left alone.
    """
    rows = await conn.execute(
        select(Activity.event_uid, Activity.member_id, Activity.occurred_at, Activity.own_text, Place.name)
        .join(Member, Member.id == Activity.member_id)
        .join(Place, Place.id == Activity.place_id, isouter=True)
        .where(
            Activity.kind == "message",
            Activity.occurred_at >= since,
            Activity.occurred_at < asked_before,
            Activity.reply_to_uid.is_(None),
            or_(Activity.thread_uid.is_(None), Activity.thread_uid == Activity.event_uid),
            Member.is_bot.is_(False),
        )
        .order_by(Activity.occurred_at)
    )
    asked = [
        OpenQuestion(uid, mid, at, place or "", text)
        for uid, mid, at, text, place in rows
        if text and is_question(text)
    ]
    answered: set[str] = set()
    by_uid = {q.uid: q for q in asked}
    for chunk in _chunks(list(by_uid)):
        replies = await conn.execute(
            select(Activity.reply_to_uid, Activity.thread_uid, Activity.member_id)
            .join(Member, Member.id == Activity.member_id)
            .where(
                or_(Activity.reply_to_uid.in_(chunk), Activity.thread_uid.in_(chunk)),
                Activity.occurred_at < end,
                Activity.kind == "message",
                Member.is_bot.is_(False),
            )
        )
        for reply_to, thread, mid in replies:
            for target in (reply_to, thread):
                q = by_uid.get(target) if target else None
                if q is not None and q.member_id != mid:
                    answered.add(q.uid)
    return [q for q in asked if q.uid not in answered]


@dataclass(frozen=True, slots=True)
class Help:
    answers: dict[int, int]
    thanked: dict[int, int]
    solved: dict[int, int]


async def help_given(conn: AsyncConnection, start: datetime, end: datetime) -> Help:
    """Per person in [start, end): replies to others' questions, thanks received, confirmed solutions."""
    target = Activity.__table__.alias("target")
    replies = await conn.execute(
        select(Activity.member_id, Activity.own_text, target.c.member_id, target.c.own_text)
        .join(
            target,
            target.c.event_uid == func.coalesce(Activity.reply_to_uid, Activity.thread_uid),
        )
        .join(Member, Member.id == Activity.member_id)
        .where(
            Activity.occurred_at >= start,
            Activity.occurred_at < end,
            Activity.kind == "message",
            Member.is_bot.is_(False),
            target.c.member_id != Activity.member_id,
        )
    )
    answers: dict[int, int] = {}
    thanked: dict[int, int] = {}
    for author, text, other, other_text in replies:
        if other_text and is_question(other_text):
            answers[author] = answers.get(author, 0) + 1
        if text and message_signals(text).has(THANKS):
            thanked[other] = thanked.get(other, 0) + 1
    solved: dict[int, int] = {}
    rows = await conn.execute(
        select(SolutionCheck.helper_member_id, func.count())
        .where(
            SolutionCheck.status == "solved",
            SolutionCheck.answered_at >= start,
            SolutionCheck.answered_at < end,
        )
        .group_by(SolutionCheck.helper_member_id)
    )
    for mid, n in rows:
        solved[mid] = n
    return Help(answers, thanked, solved)


@dataclass(frozen=True, slots=True)
class InvitationRow:
    programme: str
    status: str
    sent_at: datetime | None
    opened_at: datetime | None
    answered_at: datetime | None
    active_at: datetime | None


async def invitations(conn: AsyncConnection, end: datetime) -> list[InvitationRow]:
    rows = await conn.execute(
        select(
            Invitation.programme,
            Invitation.status,
            Invitation.sent_at,
            Invitation.opened_at,
            Invitation.answered_at,
            Invitation.active_at,
        ).where(Invitation.planned_at < end)
    )
    return [InvitationRow(*r) for r in rows]


async def points(conn: AsyncConnection, end: datetime) -> list[tuple[str, int, int, datetime]]:
    """(programme, member, points, at) for every credit before ``end``."""
    rows = await conn.execute(
        select(
            ProgrammePoints.programme, ProgrammePoints.member_id, ProgrammePoints.points, ProgrammePoints.at
        ).where(ProgrammePoints.at < end)
    )
    return [(p, m, n, at) for p, m, n, at in rows]
