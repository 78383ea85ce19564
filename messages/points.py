"""Points: programme rules applied to members' activity, credited once per source, and leaderboards.

Bag-a-Bug gives a point per bug reported and three per fix; Code Sniper rewards patches;
Phone Sniper rewards device reports; Community Hero's point comes from ``messages.hero``
when the asker confirms. Only participants earn (an accepted or active invitation), and a
row is unique per (programme, member, source), so re-reading the same messages never
counts twice. A member's first points after accepting make their invitation ``active``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.store.live_models import Invitation, ProgrammePoints
from bot.store.models import Activity, Member, Place
from messages import funnel, sqlite_fast
from messages.programmes import Catalogue
from messages.snapshots import chunks
from segmentation.signals import LOG, PATCH, TRACE, message_signals

_BUG_PLACE = re.compile(r"bug|issue|defect|tracker", re.IGNORECASE)
_DEVICE_PLACE = re.compile(r"device|phone|testing|beta", re.IGNORECASE)
_BUG_WORDS = re.compile(
    r"\b(?:bug|crash(?:es|ed)?|regression|broken|steps to reproduce|segfault|exception)\b", re.IGNORECASE
)
_FIXES = re.compile(r"^\s*Fixes:\s*\S|\bfix(?:es|ed)? #\d+", re.IGNORECASE | re.MULTILINE)
_DEVICE_REPORT = re.compile(
    r"\b(?:tested|works|working|runs|installed|tried it) (?:it )?on (?:my |an? |the )?"
    r"(?:phone|iphone|android|ipad|tablet|pixel|galaxy|nokia|motorola|xiaomi|oneplus|huawei|sony|htc|device)",
    re.IGNORECASE,
)
_PARTICIPANT = ("accepted", "active")


@dataclass(frozen=True, slots=True)
class Credit:
    member_id: int
    programme: str
    points: int
    reason: str
    source_uid: str


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    rank: int
    member_id: int
    display_name: str
    points: int


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    """What the points rules read of one message."""

    event_uid: str
    member_id: int
    own_text: str
    signature: str
    subject: str | None
    patch_lines: int
    place_name: str
    is_reply: bool


def _insert_ignore(conn: AsyncConnection) -> Any:
    keys = ["programme", "member_id", "source_uid"]
    if conn.dialect.name == "postgresql":
        return postgresql.insert(ProgrammePoints).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(ProgrammePoints).on_conflict_do_nothing(index_elements=keys)


async def credit(
    conn: AsyncConnection,
    *,
    member_id: int,
    programme: str,
    points: int,
    reason: str,
    source_uid: str,
    at: datetime,
) -> bool:
    """Credit points once per (programme, member, source); True when this call credited them."""
    res = await conn.execute(
        _insert_ignore(conn).values(
            member_id=member_id,
            programme=programme,
            points=points,
            reason=reason[:200],
            source_uid=source_uid[:120],
            at=at,
        )
    )
    if not res.rowcount:
        return False
    await funnel.mark_active(conn, member_id, programme, at=at)
    return True


async def credit_many(conn: AsyncConnection, credits: Sequence[Credit], *, at: datetime) -> list[Credit]:
    """``credit`` for many at once: one insert (an executemany sent as multi-row VALUES) and
    one update of the invitations that become active. Returns the credits that were new, in
    order; of two with the same (programme, member, source) only the first can be."""
    fresh: dict[tuple[str, int, str], Credit] = {}
    for c in credits:
        fresh.setdefault((c.programme, c.member_id, c.source_uid[:120]), c)
    if not fresh:
        return []
    res = await conn.execute(
        _insert_ignore(conn).returning(
            ProgrammePoints.programme, ProgrammePoints.member_id, ProgrammePoints.source_uid
        ),
        [
            {
                "member_id": c.member_id,
                "programme": c.programme,
                "points": c.points,
                "reason": c.reason[:200],
                "source_uid": source,
                "at": at,
            }
            for (_p, _m, source), c in fresh.items()
        ],
    )
    new = {(programme, mid, source) for programme, mid, source in res}
    out = [c for key, c in fresh.items() if key in new]
    await funnel.mark_active_many(conn, {(c.member_id, c.programme) for c in out}, at=at)
    return out


def earned(facts: ActivityFacts, rules: Mapping[str, int]) -> list[tuple[str, int, str]]:
    """The (rule, points, reason) a message earns under a programme's rules; pure."""
    signals = message_signals(facts.own_text, patch_lines=facts.patch_lines, subject=facts.subject)
    patch = signals.has(PATCH)
    out: list[tuple[str, int, str]] = []
    fix = patch or bool(_FIXES.search(facts.own_text) or _FIXES.search(facts.signature))
    if "bug_fixed" in rules and fix:
        out.append(("bug_fixed", rules["bug_fixed"], "bug fixed"))
    elif "bug_reported" in rules and not facts.is_reply:
        in_bug_place = bool(_BUG_PLACE.search(facts.place_name))
        text = f"{facts.subject or ''}\n{facts.own_text}"
        reported = in_bug_place or (
            _BUG_WORDS.search(text) is not None and (signals.has(TRACE) or signals.has(LOG))
        )
        if reported:
            out.append(("bug_reported", rules["bug_reported"], "bug reported"))
    if "patch_posted" in rules and patch:
        out.append(("patch_posted", rules["patch_posted"], "patch posted"))
    if "device_report" in rules and (
        _DEVICE_REPORT.search(facts.own_text)
        or (_DEVICE_PLACE.search(facts.place_name) and not facts.is_reply)
    ):
        out.append(("device_report", rules["device_report"], "device report"))
    return out


class Points:
    """Applies the catalogue's activity rules (everything but ``answer_confirmed``, which hero applies)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._rules = {
            p.name: {r: n for r, n in p.settings.points.items() if r != "answer_confirmed"} for p in catalogue
        }
        self._rules = {name: rules for name, rules in self._rules.items() if rules}

    async def on_activities(
        self, conn: AsyncConnection, event_uids: Collection[str], *, now: datetime
    ) -> list[Credit]:
        """Credit participants for the given stored messages; returns the new credits."""
        if not self._rules or not event_uids:
            return []
        facts, participants = await _participants_facts(conn, event_uids, list(self._rules))
        earned_here = [
            Credit(f.member_id, programme, points, reason, f.event_uid)
            for f in facts
            for programme, rules in self._rules.items()
            if (f.member_id, programme) in participants
            for _rule, points, reason in earned(f, rules)
        ]
        return await credit_many(conn, earned_here, at=now)


# Built once: the messages of members taking part in a programme with activity rules, one row
# per (message, programme). Most writers take part in none, so most batches read no row.
_FACTS = (
    select(
        Activity.event_uid,
        Activity.member_id,
        Activity.own_text,
        Activity.signature,
        Activity.subject,
        Activity.patch_lines,
        Activity.reply_to_uid,
        Activity.thread_uid,
        Place.name,
        Invitation.programme,
    )
    .select_from(Activity)
    .join(
        Invitation,
        (Invitation.member_id == Activity.member_id)
        & Invitation.programme.in_(bindparam("programmes", expanding=True))
        & Invitation.status.in_(_PARTICIPANT),
    )
    .outerjoin(Place, Place.id == Activity.place_id)
    .where(Activity.event_uid.in_(bindparam("uids", expanding=True)), Activity.kind == "message")
)


# The same read as plain SQL for SQLite's one-trip path (``messages.sqlite_fast``): through
# SQLAlchemy, compiling the expanding IN lists and processing the (usually empty) result cost
# several times the query.
_SQLITE_FACTS = (
    "SELECT activity.event_uid, activity.member_id, activity.own_text, activity.signature, activity.subject, "
    "activity.patch_lines, activity.reply_to_uid, activity.thread_uid, place.name, invitation.programme "
    "FROM activity JOIN invitation ON invitation.member_id = activity.member_id "
    "AND invitation.programme IN (%(programmes)s) AND invitation.status IN ("
    + ", ".join(f"'{status}'" for status in _PARTICIPANT)
    + ") "
    "LEFT OUTER JOIN place ON place.id = activity.place_id "
    "WHERE activity.event_uid IN (%(uids)s) AND activity.kind = 'message'"
)


async def _participants_facts(
    conn: AsyncConnection, event_uids: Collection[str], programmes: list[str]
) -> tuple[list[ActivityFacts], set[tuple[int, str]]]:
    """The messages among ``event_uids`` written by participants of ``programmes`` (by uid),
    and which (member, programme) pairs take part."""
    facts: dict[str, ActivityFacts] = {}
    participants: set[tuple[int, str]] = set()
    parts = [list(chunk) for chunk in chunks(sorted(set(event_uids)))]
    marks = sqlite_fast.in_list(programmes)
    _raw, pages = await sqlite_fast.read_chunks(
        conn,
        parts,
        raw=lambda part: [
            (_SQLITE_FACTS % {"programmes": marks, "uids": sqlite_fast.in_list(part)}, [*programmes, *part])
        ],
        portable=lambda part: [(_FACTS, {"uids": part, "programmes": programmes})],
    )
    for page in pages:
        for (
            uid,
            mid,
            text,
            signature,
            subject,
            patch,
            reply_to,
            thread,
            place,
            programme,
        ) in page:
            participants.add((mid, programme))
            if uid not in facts:
                facts[uid] = ActivityFacts(
                    event_uid=uid,
                    member_id=mid,
                    own_text=text or "",
                    signature=signature or "",
                    subject=subject,
                    patch_lines=patch or 0,
                    place_name=place or "",
                    is_reply=bool(reply_to) or (bool(thread) and thread != uid),
                )
    return [facts[uid] for uid in sorted(facts)], participants


def period_start(period: str, now: datetime) -> datetime | None:
    """Where the current leaderboard period began (UTC); None for "all"."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "all":
        return None
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    raise BadArgument(f"unknown leaderboard period {period!r} (week, month, quarter, year, all)")


async def leaderboard(
    conn: AsyncConnection, programme: str, period: str, now: datetime, *, limit: int = 10
) -> list[LeaderboardRow]:
    """The period's top members by points (ties share a rank, listed by member id)."""
    total = func.sum(ProgrammePoints.points).label("total")
    query = (
        select(ProgrammePoints.member_id, Member.display_name, total)
        .join(Member, Member.id == ProgrammePoints.member_id)
        .where(ProgrammePoints.programme == programme)
        .group_by(ProgrammePoints.member_id, Member.display_name)
        .order_by(total.desc(), ProgrammePoints.member_id)
        .limit(limit)
    )
    start = period_start(period, now)
    if start is not None:
        query = query.where(ProgrammePoints.at >= start, ProgrammePoints.at <= now)
    out: list[LeaderboardRow] = []
    rank, previous = 0, None
    for i, (mid, name, points) in enumerate(await conn.execute(query), start=1):
        if points != previous:
            rank, previous = i, points
        out.append(LeaderboardRow(rank, mid, name, int(points)))
    return out
