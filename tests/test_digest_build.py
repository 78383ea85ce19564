"""The digest's figures on a realistic community, checked against the store read another way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest_support import DEMO_WEEK, active_members, demo_community, first_seen
from sqlalchemy import insert, or_, select, update

from bot.core.clock import FrozenClock
from bot.store import Store
from bot.store.live_models import Invitation, ProgrammePoints
from bot.store.models import Activity, MemberFeatureRow, SegmentAssignment
from bot.store.queries import segment_sizes
from messages.digest import Digest, build_digest, parse_week
from messages.programmes import load_catalogue
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES
from segmentation.signals import is_question


async def test_digest_figures_match_the_store(store: Store, db_url: str, tmp_path: Path) -> None:
    await demo_community(db_url, tmp_path)
    config = load_config(known_rules=RULE_NAMES)
    start, end = parse_week(DEMO_WEEK).bounds(UTC)
    async with store.connection() as conn:
        digest = await build_digest(conn, week=DEMO_WEEK, tz=UTC, config=config, catalogue=load_catalogue())
        first = await first_seen(conn)
        active = await active_members(conn, start, end)
        active_before = await active_members(conn, start - timedelta(weeks=1), start)
        sizes = await segment_sizes(conn)
        segments_of = {m: set(s or ()) for m, s in await conn.execute(
            select(MemberFeatureRow.member_id, MemberFeatureRow.segments))}

    t = digest.totals
    assert t.members == sum(1 for at in first.values() if at < end) > 50
    assert t.members_change == t.members - sum(1 for at in first.values() if at < start)
    assert (t.active, t.active_change) == (len(active), len(active) - len(active_before))
    newcomers = {m for m, at in first.items() if start <= at < end}
    assert t.new == digest.newcomers_total == len(newcomers) > 0
    assert {n.member_id for n in digest.newcomers} <= newcomers
    # One classification, after the archive's end: every member's segments hold for the whole week.
    by_name = {r.segment: r for r in digest.segments}
    assert list(by_name) == list(config.segments)
    for name, row in by_name.items():
        assert row.members == sizes.get(name, 0)
        members = {m for m, s in segments_of.items() if name in s}
        assert row.active == len(members & active)
    assert not digest.has_baseline and all(m.entered == m.left == 0 for m in digest.movements)
    assert {n.member_id for n in digest.at_risk} <= {m for m, s in segments_of.items() if "at_risk" in s}
    assert all(n.evidence and n.evidence[0].startswith("engagement:") for n in digest.at_risk)

    assert digest.questions_total > 0
    uids = {q.uid for g in digest.questions for q in g.questions}
    async with store.connection() as conn:
        rows = (await conn.execute(select(Activity.event_uid, Activity.member_id, Activity.occurred_at,
                                          Activity.own_text).where(Activity.event_uid.in_(uids)))).all()
        for uid, asker, at, text in rows:
            assert is_question(text) and at <= end - timedelta(hours=48)
            replies = await conn.execute(select(Activity.member_id).where(
                or_(Activity.reply_to_uid == uid, Activity.thread_uid == uid), Activity.occurred_at < end,
                Activity.kind == "message"))  # a reaction is not an answer
            assert set(replies.scalars()) <= {asker}
    assert len(rows) == len(uids)
    assert [g.segment for g in digest.questions if g.warning] == (["end_users"] if any(
        g.segment == "end_users" for g in digest.questions) else [])
    assert digest.helpers and all(h.score == h.answers + 2 * h.thanked + 3 * h.solved for h in digest.helpers)
    assert [f.programme for f in digest.funnels][:3] == load_catalogue().names()[:3]
    assert all(f.invited == 0 for f in digest.funnels)  # no invitations yet: tolerated, shown as zero

    assert len(digest.activity.weeks) == 12 and digest.activity.weeks[-1] == DEMO_WEEK
    series = {s.segment: s.counts for s in digest.activity.series}
    assert sum(series["developers"]) > 0
    assert [p.members for p in digest.matrix] == [r.members for r in digest.segments]
    assert Digest.from_json(json.loads(json.dumps(digest.to_json()))) == digest


async def test_a_member_pinned_core_this_week_is_a_new_champion_with_evidence(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    await demo_community(db_url, tmp_path)
    config = load_config(known_rules=RULE_NAMES)
    tz = ZoneInfo("Europe/Berlin")
    start, end = parse_week(DEMO_WEEK).bounds(tz)
    async with store.connection() as conn:
        rows = (await conn.execute(select(MemberFeatureRow.member_id, MemberFeatureRow.segments))).all()
    # History first: the one classification so far happened "before" the week ...
    async with store.connection() as conn:
        await conn.execute(update(SegmentAssignment).values(decided_at=start - timedelta(days=20)))
    candidate = next(m for m, segs in rows if not {"champions", "at_risk"} & set(segs or ()))
    engine = SegmentationEngine(store, config=config, clock=FrozenClock(start + timedelta(days=2)))
    await engine.set_override(candidate, "engagement", "core", by="test:manager")
    async with store.connection() as conn:
        digest = await build_digest(conn, week=DEMO_WEEK, tz=tz, config=config)
    assert digest.has_baseline
    assert [n.member_id for n in digest.champions_new] == [candidate]
    assert digest.champions_new[0].new_this_week
    champions = next(m for m in digest.movements if m.segment == "champions")
    assert (champions.entered, champions.left) == (1, 0)
    row = next(r for r in digest.segments if r.segment == "champions")
    assert row.members_change == 1
    assert digest.start.endswith("+01:00") and digest.end == "2026-11-02T00:00:00+01:00"
    assert end == datetime(2026, 11, 1, 23, tzinfo=UTC)


async def test_funnel_and_leaderboards_count_invitations_and_points(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    await demo_community(db_url, tmp_path, members=40)
    # A programme of its own: the demo already plans invitations to the catalogue's programmes.
    start, end = parse_week(DEMO_WEEK).bounds(UTC)
    before = start - timedelta(days=3)
    inside = start + timedelta(days=1)
    async with store.connection() as conn:
        ids = [r[0] for r in (await conn.execute(select(MemberFeatureRow.member_id).limit(5))).all()]
        invitations = [
            # (status, sent, opened, answered, active)
            ("sent", before, None, None, None),
            ("opened", before, inside, None, None),
            ("accepted", inside, inside, inside, None),
            ("active", before, before, before, inside),
            ("awaiting_approval", None, None, None, None),
        ]
        for i, (status, sent, opened, answered, active) in enumerate(invitations):
            await conn.execute(insert(Invitation).values(
                member_id=ids[i], programme="test-hunt", segment="developers", status=status, token=f"t{i}",
                planned_at=before - timedelta(days=1), sent_at=sent, opened_at=opened, answered_at=answered,
                active_at=active))
        later = end + timedelta(hours=1)
        credits = [(ids[0], 3, before), (ids[0], 1, inside), (ids[1], 2, inside), (ids[2], 5, later)]
        for n, (mid, pts, at) in enumerate(credits):
            await conn.execute(insert(ProgrammePoints).values(
                member_id=mid, programme="test-hunt", points=pts, reason="bug reported", source_uid=f"s{n}",
                at=at))
        digest = await build_digest(
            conn, week=DEMO_WEEK, tz=UTC, config=load_config(), catalogue=load_catalogue()
        )
    funnel = next(f for f in digest.funnels if f.programme == "test-hunt")
    assert (funnel.invited, funnel.opened, funnel.accepted, funnel.active) == (4, 3, 2, 1)
    assert (funnel.invited_week, funnel.opened_week, funnel.accepted_week, funnel.active_week) == (1, 2, 1, 1)
    board = next(b for b in digest.leaderboards if b.programme == "test-hunt")
    # Ranked by this week's points, then by all points; the credit after the week does not count.
    assert [(s.member_id, s.points_week, s.points_total) for s in board.standings] == [
        (ids[1], 2, 2), (ids[0], 1, 4)]
