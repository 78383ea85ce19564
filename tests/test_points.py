"""Points rules on stored messages, credited once per source; leaderboards per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from programme_world import DEVELOPER, T0, actor, add_member, message
from sqlalchemy import select

from bot.core.errors import BadArgument
from bot.core.events import MessagePosted
from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.live_models import Invitation
from messages import funnel, points
from messages.planner import Planner
from messages.points import ActivityFacts, Points, earned, leaderboard, period_start
from messages.programmes import load_catalogue

CATALOGUE = load_catalogue()
BUG_RULES = CATALOGUE.get("bug-hunt").settings.points


def facts(text: str, **changes: object) -> ActivityFacts:
    base: dict[str, object] = {
        "event_uid": "u1",
        "member_id": 1,
        "own_text": text,
        "signature": "",
        "subject": None,
        "patch_lines": 0,
        "place_name": "general",
        "is_reply": False,
    }
    base.update(changes)
    return ActivityFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts("The sync crashes when the address book is empty", place_name="bugs"), ["bug_reported"]),
        (
            facts('crash on start\nTraceback (most recent call last):\n  File "x.py", line 1'),
            ["bug_reported"],
        ),
        (facts("Here is the fix", patch_lines=40), ["bug_fixed"]),
        (facts("Fixed the empty address book crash.\n\nFixes: 1234abcd"), ["bug_fixed"]),
        (facts("Thanks, that makes sense", place_name="bugs", is_reply=True), []),
        (facts("Nice weather today"), []),
    ],
)
def test_bug_hunt_rules(f: ActivityFacts, expected: list[str]) -> None:
    assert [rule for rule, _, _ in earned(f, BUG_RULES)] == expected


def test_device_and_patch_rules() -> None:
    device = CATALOGUE.get("device-testing").settings.points
    assert [r for r, _, _ in earned(facts("I tested it on my Pixel 7, contacts sync fine"), device)] == [
        "device_report"
    ]
    sniper = CATALOGUE.get("code-sniper").settings.points
    assert earned(facts("connector attached", patch_lines=200), sniper) == [
        ("patch_posted", 5, "patch posted")
    ]


def test_period_start() -> None:
    at = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
    assert period_start("week", at) == datetime(2026, 11, 23, tzinfo=UTC)
    assert period_start("month", at) == datetime(2026, 11, 1, tzinfo=UTC)
    assert period_start("quarter", at) == datetime(2026, 10, 1, tzinfo=UTC)
    assert period_start("year", at) == datetime(2026, 1, 1, tzinfo=UTC)
    assert period_start("all", at) is None
    with pytest.raises(BadArgument):
        period_start("fortnight", at)


async def _participant(store: Store, name: str) -> tuple[int, str]:
    async with store.connection() as conn:
        mid = await add_member(conn, actor(name), segments=("developers",), dims=DEVELOPER)
        [bug_hunt, *_] = await Planner(CATALOGUE).plan(conn, [mid], now=T0)
        await funnel.respond(conn, bug_hunt.token, "accept", at=T0)
    return mid, bug_hunt.token


async def _ingest_and_credit(store: Store, events: list[MessagePosted], at: datetime) -> list[points.Credit]:
    async with store.connection() as conn:
        await Ingestor(now=at).ingest(conn, events)
        return await Points(CATALOGUE).on_activities(conn, [e.uid for e in events], now=at)


async def test_participants_earn_once_per_message_and_become_active(store: Store) -> None:
    ada, _ = await _participant(store, "ada")
    fix = message(
        actor("ada"), "Fix for the empty address book crash", patch_lines=30, at=T0 + timedelta(days=1)
    )
    report = message(actor("ada"), "Calendar sync loses events", channel="bugs", at=T0 + timedelta(days=1))
    outsider = message(actor("bob"), "Another patch", patch_lines=10, at=T0 + timedelta(days=1))
    credits = await _ingest_and_credit(store, [fix, report, outsider], T0 + timedelta(days=1))
    assert sorted((c.member_id, c.points, c.reason) for c in credits) == [
        (ada, 1, "bug reported"),
        (ada, 3, "bug fixed"),
    ]
    # The same messages again: nothing new.
    assert await _ingest_and_credit(store, [fix, report], T0 + timedelta(days=2)) == []
    async with store.connection() as conn:
        status, active_at = (
            await conn.execute(
                select(Invitation.status, Invitation.active_at).where(Invitation.programme == "bug-hunt")
            )
        ).one()
    assert (status, active_at) == ("active", T0 + timedelta(days=1))


async def test_leaderboard_per_period_with_shared_ranks(store: Store) -> None:
    async with store.connection() as conn:
        ids = [await add_member(conn, actor(n)) for n in ("ann", "ben", "cat")]
        # ann: 4 this quarter; ben: 4 this quarter; cat: 10 last quarter only.
        for i, (mid, pts, at) in enumerate(
            [
                (ids[0], 3, T0),
                (ids[0], 1, T0),
                (ids[1], 4, T0 - timedelta(days=5)),
                (ids[2], 10, datetime(2026, 8, 1, tzinfo=UTC)),
            ]
        ):
            assert await points.credit(
                conn,
                member_id=mid,
                programme="bug-hunt",
                points=pts,
                reason="test",
                source_uid=f"s{i}",
                at=at,
            )
        assert not await points.credit(
            conn, member_id=ids[0], programme="bug-hunt", points=3, reason="test", source_uid="s0", at=T0
        )
        quarter = await leaderboard(conn, "bug-hunt", "quarter", T0)
        everything = await leaderboard(conn, "bug-hunt", "all", T0)
    assert [(r.rank, r.member_id, r.points) for r in quarter] == [(1, ids[0], 4), (1, ids[1], 4)]
    assert [(r.rank, r.display_name, r.points) for r in everything] == [
        (1, "cat", 10),
        (2, "ann", 4),
        (2, "ben", 4),
    ]
