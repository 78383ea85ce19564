"""Helpers for the digest tests: a realistic community (the demo generator through the real
importers, ingest and segmentation engine) and a few direct readings to check the digest against."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.imports.discord_export import discover_discord_export
from adapters.imports.mbox import discover_mbox
from adapters.imports.slack_export import discover_slack_export
from bot.demo.generate import generate_demo
from bot.importing import SilentReporter, import_sources
from bot.store import open_store
from bot.store.models import Activity, Member
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
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

#: The demo archives end on Monday 2026-11-02 00:00 UTC, so 2026-W44 is its last full week.
DEMO_WEEK = "2026-W44"
DEMO_END = datetime(2026, 11, 2, tzinfo=UTC)


async def demo_community(db_url: str, tmp_path: Path, *, members: int = 80) -> Path:
    """The demo generator's archives imported by the real importers (ingest) and classified by the
    segmentation engine into ``db_url``, without the demo's simulated live week; returns the folder."""
    out = tmp_path / "demo"
    files = await asyncio.to_thread(generate_demo, out, members=members)
    sources = [*discover_mbox(files.mbox), *discover_slack_export(files.slack),
               *discover_discord_export(files.discord)]
    store = await open_store(db_url)
    try:
        await import_sources(store, sources, reporter=SilentReporter())
        await SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES)).rebuild()
    finally:
        await store.close()
    return out


async def active_members(conn: AsyncConnection, start: datetime, end: datetime) -> set[int]:
    rows = await conn.execute(
        select(Activity.member_id)
        .join(Member, Member.id == Activity.member_id)
        .where(Activity.occurred_at >= start, Activity.occurred_at < end, Member.is_bot.is_(False))
        .distinct()
    )
    return set(rows.scalars())


async def first_seen(conn: AsyncConnection) -> dict[int, datetime]:
    rows = await conn.execute(
        select(Activity.member_id, func.min(Activity.occurred_at))
        .join(Member, Member.id == Activity.member_id)
        .where(Member.is_bot.is_(False))
        .group_by(Activity.member_id)
    )
    return {mid: at for mid, at in rows}


HOSTILE = "@everyone <script>alert(1)</script> **bold** <@123> <!channel>"


def sample_digest(*, members: int = 30, questions: int = 12) -> Digest:
    """A digest with long lists and hostile member text, for the renderers' limits and escaping."""
    segments = ("developers", "end_users", "it_people", "isvs", "system_integrators", "device_makers",
                "service_providers", "academics", "champions", "at_risk")
    scores = {"developers": (2, 5), "end_users": (1, 3), "it_people": (4, 3), "isvs": (5, 4),
              "system_integrators": (4, 4), "device_makers": (5, 5), "service_providers": (4, 4),
              "academics": (1, 3), "champions": (3, 5), "at_risk": (2, 4)}
    rows = tuple(
        SegmentRow(s, f"about {s}", *scores[s], members + i, i - 3, i, 1, i % 3, 0)
        for i, s in enumerate(segments)
    )
    why = ("engagement: 0 activities in the last 30 days against about 6 usually",)
    note = MemberNote(7, HOSTILE, True, why)
    q = tuple(
        Question(f"discord:{i}", 10 + i, f"{HOSTILE} {i}", "2026-10-27T10:00:00+00:00", "help",
                 f"How do I {i}? " + "x" * 150 + " <@&999>", 60 + i)
        for i in range(questions)
    )
    return Digest(
        week="2026-W44", timezone="Europe/Berlin", start="2026-10-26T00:00:00+01:00",
        end="2026-11-02T00:00:00+01:00", generated_at="2026-11-02T08:00:00+00:00",
        totals=Totals(members * 10, 5, 80, -4, 7, 2),
        segments=rows,
        movements=tuple(SegmentMove(s, i % 2, 0) for i, s in enumerate(segments)),
        has_baseline=True,
        champions_new=(note,),
        at_risk=tuple(note for _ in range(8)),
        newcomers=tuple(Newcomer(100 + i, f"{HOSTILE} newcomer {i}", "2026-10-28T09:00:00+00:00", "slack",
                                 ("end_users",)) for i in range(10)),
        newcomers_total=25,
        questions=(
            QuestionGroup("end_users", True, questions, q), QuestionGroup("developers", False, 2, q[:2])
        ),
        questions_total=questions + 2,
        question_hours=48,
        funnels=(
            Funnel("bug-hunt", 10, 6, 3, 2, 4, 3, 1, 1), Funnel("community-hero", 0, 0, 0, 0, 0, 0, 0, 0)
        ),
        leaderboards=(Leaderboard("bug-hunt", tuple(Standing(i + 1, 50 + i, f"{HOSTILE} {i}", 9 - i, 20 - i)
                                                  for i in range(5))),
                      Leaderboard("community-hero", ())),
        helpers=tuple(Helper(60 + i, f"{HOSTILE} helper {i}", 5 - i, 2, 1, 11 - i) for i in range(5)),
        matrix=tuple(MatrixPoint(s, *scores[s], members + i) for i, s in enumerate(segments)),
        activity=ActivityChart(
            tuple(f"2026-W{w:02d}" for w in range(33, 45)),
            tuple(Series(s, tuple((i * 7 + w * 3) % 40 for w in range(12))) for i, s in enumerate(segments)),
        ),
    )
