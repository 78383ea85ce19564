"""Build one week's digest from the store: figures, movements, questions, funnels, charts' data.

Everything is computed as of the week's end, so building a past week later (a catch-up
after downtime) gives that week's picture, not today's, as far as the store keeps history:
segment membership is replayed from segment_assignment, activity is counted by time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from messages.digest import reads
from messages.digest.model import (
    ActivityChart,
    Digest,
    Funnel,
    Helper,
    Leaderboard,
    MatrixPoint,
    MemberNote,
    Newcomer,
    Question,
    QuestionGroup,
    SegmentMove,
    SegmentRow,
    Series,
    Standing,
    Totals,
)
from messages.digest.settings import DigestSettings
from messages.digest.weeks import Week, parse_week
from segmentation.config import SegmentationConfig

log = logging.getLogger(__name__)

UNSEGMENTED = "unsegmented"
_OPENED = ("opened", "accepted", "declined", "active")
_ACCEPTED = ("accepted", "active")


def programme_names(catalogue: Any) -> list[str]:
    """Programme names from whatever the catalogue is: a mapping, an object with ``programmes``,
    or an iterable of names or of objects with a ``name``. None means no catalogue."""
    if catalogue is None:
        return []
    source = getattr(catalogue, "programmes", catalogue)
    if isinstance(source, Mapping):
        return [str(k) for k in source]
    out: list[str] = []
    for item in source:
        out.append(item if isinstance(item, str) else str(item.name))
    return out


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _tz_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)


async def build_digest(
    conn: AsyncConnection,
    *,
    week: str | Week,
    tz: tzinfo,
    config: SegmentationConfig,
    catalogue: Any = None,
    settings: DigestSettings | None = None,
    now: datetime | None = None,
) -> Digest:
    """The digest of ``week`` (an ISO week such as ``2026-W47``) in time zone ``tz``."""
    s = settings or DigestSettings()
    wk = parse_week(week) if isinstance(week, str) else week
    start, end = wk.bounds(tz)
    prev_start, prev_end = wk.shifted(-1).bounds(tz)
    generated = now or end

    first = await reads.first_seen(conn)
    hist = await reads.history(conn)
    existing_now = [m for m, at in first.items() if at < end]
    existing_before = [m for m, at in first.items() if at < prev_end]
    seg_now = reads.memberships(hist, existing_now, end, config)
    seg_before = reads.memberships(hist, existing_before, prev_end, config)
    active_now = await reads.activity_per_member(conn, start, end)
    active_before = await reads.activity_per_member(conn, prev_start, prev_end)
    new_now = {m for m, at in first.items() if start <= at < end}
    new_before = {m for m, at in first.items() if prev_start <= at < prev_end}

    totals = Totals(
        members=len(existing_now),
        members_change=len(existing_now) - len(existing_before),
        active=len(active_now),
        active_change=len(active_now) - len(active_before),
        new=len(new_now),
        new_change=len(new_now) - len(new_before),
    )
    segments = []
    for name, (_, seg) in config.segments.items():
        now_m, before_m = seg_now[name], seg_before[name]
        segments.append(
            SegmentRow(
                segment=name,
                description=seg.description,
                financial_impact=seg.financial_impact,
                strategic_importance=seg.strategic_importance,
                members=len(now_m),
                members_change=len(now_m) - len(before_m),
                active=len(now_m & active_now.keys()),
                active_change=len(now_m & active_now.keys()) - len(before_m & active_before.keys()),
                new=len(now_m & new_now),
                new_change=len(now_m & new_now) - len(before_m & new_before),
            )
        )

    before_set = set(existing_before)
    has_baseline = hist.has_change_before(prev_end)
    movements = []
    entered: dict[str, set[int]] = {}
    for name in config.segments:
        came = (seg_now[name] - seg_before[name]) & before_set
        went = seg_before[name] - seg_now[name]
        entered[name] = came
        movements.append(SegmentMove(name, len(came), len(went)))

    champions = sorted(entered.get(s.champion_segment, set()))[: s.list_limit]
    at_risk_all = seg_now.get(s.at_risk_segment, set())
    at_risk_new = entered.get(s.at_risk_segment, set())
    at_risk = sorted(at_risk_all, key=lambda m: (m not in at_risk_new, m))[: s.list_limit]
    champion_notes = await _notes(conn, config, s.champion_segment, champions, set(champions))
    at_risk_notes = await _notes(conn, config, s.at_risk_segment, at_risk, at_risk_new)

    newcomer_ids = sorted(new_now, key=lambda m: (first[m], m))[: s.list_limit]
    member_segments = _segments_of(seg_now)
    newcomer_names = await reads.names(conn, newcomer_ids)
    newcomer_platforms = await reads.platforms(conn, newcomer_ids)
    newcomers = tuple(
        Newcomer(
            member_id=m,
            name=newcomer_names.get(m, f"member {m}"),
            first_seen=_iso(first[m]),
            platform=newcomer_platforms.get(m, ""),
            segments=tuple(member_segments.get(m, ())),
        )
        for m in newcomer_ids
    )

    groups, questions_total = await _questions(conn, s, member_segments, end)
    funnels = _funnels(programme_names(catalogue), await reads.invitations(conn, end), start)
    leaderboards = await _leaderboards(conn, programme_names(catalogue), start, end, s.list_limit)
    helpers = await _helpers(conn, start, end, s.list_limit)
    matrix = tuple(
        MatrixPoint(name, seg.financial_impact, seg.strategic_importance, len(seg_now[name]))
        for name, (_, seg) in config.segments.items()
    )
    activity = await _activity_chart(conn, wk, tz, seg_now, s.chart_weeks)
    digest = Digest(
        week=str(wk),
        timezone=_tz_name(tz),
        start=start.astimezone(tz).isoformat(),
        end=end.astimezone(tz).isoformat(),
        generated_at=_iso(generated),
        totals=totals,
        segments=tuple(segments),
        movements=tuple(movements),
        has_baseline=has_baseline,
        champions_new=champion_notes,
        at_risk=at_risk_notes,
        newcomers=newcomers,
        newcomers_total=len(new_now),
        questions=groups,
        questions_total=questions_total,
        question_hours=s.question_hours,
        funnels=funnels,
        leaderboards=leaderboards,
        helpers=helpers,
        matrix=matrix,
        activity=activity,
    )
    log.info("digest %s built: %d members, %d active", wk, totals.members, totals.active)
    return digest


def _segments_of(seg_now: Mapping[str, set[int]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for name, members in seg_now.items():
        for m in members:
            out.setdefault(m, []).append(name)
    return out


async def _notes(
    conn: AsyncConnection, config: SegmentationConfig, segment: str, ids: list[int], new: set[int]
) -> tuple[MemberNote, ...]:
    if not ids or segment not in config.segments:
        return ()
    expression, _ = config.segments[segment]
    evidence = await reads.current_evidence(conn, ids, expression.dimensions)
    who = await reads.names(conn, ids)
    return tuple(
        MemberNote(m, who.get(m, f"member {m}"), m in new, tuple(evidence.get(m, [])[:3])) for m in ids
    )


async def _questions(
    conn: AsyncConnection, s: DigestSettings, member_segments: Mapping[int, list[str]], end: datetime
) -> tuple[tuple[QuestionGroup, ...], int]:
    open_ = await reads.unanswered_questions(
        conn,
        since=end - timedelta(days=s.question_lookback_days),
        asked_before=end - timedelta(hours=s.question_hours),
        end=end,
    )
    who = await reads.names(conn, [q.member_id for q in open_])
    grouped: dict[str, list[Question]] = {}
    for q in open_:
        text = " ".join(q.text.split())
        question = Question(
            uid=q.uid,
            member_id=q.member_id,
            name=who.get(q.member_id, f"member {q.member_id}"),
            asked_at=_iso(q.asked_at),
            place=q.place,
            excerpt=text[:160] + ("…" if len(text) > 160 else ""),
            hours_waiting=int((end - q.asked_at).total_seconds() // 3600),
        )
        for segment in member_segments.get(q.member_id) or [UNSEGMENTED]:
            grouped.setdefault(segment, []).append(question)
    groups = [
        QuestionGroup(
            segment=segment,
            warning=segment in s.warning_segments,
            count=len(qs),
            questions=tuple(qs[: s.list_limit]),
        )
        for segment, qs in grouped.items()
    ]
    groups.sort(key=lambda g: (not g.warning, -g.count, g.segment))
    return tuple(groups), len(open_)


def _funnels(known: Iterable[str], rows: list[reads.InvitationRow], start: datetime) -> tuple[Funnel, ...]:
    names = list(dict.fromkeys([*known, *sorted({r.programme for r in rows})]))
    out = []
    for name in names:
        mine = [r for r in rows if r.programme == name]

        def count(pred: Any, at: Any, rows_: list[reads.InvitationRow] = mine) -> tuple[int, int]:
            hits = [r for r in rows_ if pred(r)]
            return len(hits), sum(1 for r in hits if at(r) is not None and at(r) >= start)

        invited = count(lambda r: r.sent_at is not None, lambda r: r.sent_at)
        opened = count(lambda r: r.opened_at is not None or r.status in _OPENED, lambda r: r.opened_at)
        accepted = count(lambda r: r.status in _ACCEPTED, lambda r: r.answered_at)
        active = count(lambda r: r.active_at is not None or r.status == "active", lambda r: r.active_at)
        out.append(Funnel(name, invited[0], opened[0], accepted[0], active[0],
                          invited[1], opened[1], accepted[1], active[1]))
    return tuple(out)


async def _leaderboards(
    conn: AsyncConnection, known: Iterable[str], start: datetime, end: datetime, limit: int
) -> tuple[Leaderboard, ...]:
    credits = await reads.points(conn, end)
    names = list(dict.fromkeys([*known, *sorted({p for p, _, _, _ in credits})]))
    boards = []
    for programme in names:
        week: dict[int, int] = {}
        total: dict[int, int] = {}
        for p, member, n, at in credits:
            if p != programme:
                continue
            total[member] = total.get(member, 0) + n
            if at >= start:
                week[member] = week.get(member, 0) + n
        ranked = sorted(total, key=lambda m: (-week.get(m, 0), -total[m], m))[:limit]
        who = await reads.names(conn, ranked)
        boards.append(
            Leaderboard(
                programme,
                tuple(
                    Standing(i, m, who.get(m, f"member {m}"), week.get(m, 0), total[m])
                    for i, m in enumerate(ranked, start=1)
                ),
            )
        )
    return tuple(boards)


async def _helpers(conn: AsyncConnection, start: datetime, end: datetime, limit: int) -> tuple[Helper, ...]:
    got = await reads.help_given(conn, start, end)
    people = set(got.answers) | set(got.thanked) | set(got.solved)
    score = {
        m: got.answers.get(m, 0) + 2 * got.thanked.get(m, 0) + 3 * got.solved.get(m, 0) for m in people
    }
    top = sorted(people, key=lambda m: (-score[m], m))[:limit]
    who = await reads.names(conn, top)
    return tuple(
        Helper(m, who.get(m, f"member {m}"), got.answers.get(m, 0), got.thanked.get(m, 0),
               got.solved.get(m, 0), score[m])
        for m in top
    )


async def _activity_chart(
    conn: AsyncConnection, week: Week, tz: tzinfo, seg_now: Mapping[str, set[int]], weeks: int
) -> ActivityChart:
    """Activities of each segment's current members, week by week, oldest first."""
    labels = []
    per_week: list[dict[int, int]] = []
    for back in range(weeks - 1, -1, -1):
        w = week.shifted(-back)
        a, b = w.bounds(tz)
        labels.append(str(w))
        per_week.append(await reads.activity_per_member(conn, a, b))
    series = tuple(
        Series(name, tuple(sum(counts.get(m, 0) for m in members) for counts in per_week))
        for name, members in seg_now.items()
    )
    return ActivityChart(tuple(labels), series)
