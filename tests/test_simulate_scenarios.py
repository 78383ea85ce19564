"""Issue 4's scenarios through ``simulate``: the real pipeline, recorders for platforms, virtual time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sim_support import MONDAY, integrator_mails, posts, question_and_answer, run_lines, user
from sqlalchemy import select

from bot.sim_events import to_line
from bot.store import Store
from bot.store.live_models import Invitation, ProgrammePoints
from bot.store.models import Identity

PATCH = (
    "The parser crashes on an empty header; backtrace:\n```\n"
    "#0 0x00007f in parse_header (p=0x0) at parser.c:42\n"
    "#1 0x00007f in main () at main.c:10\n```\nThis patch fixes it:\n```diff\n"
    "--- a/parser.c\n+++ b/parser.c\n"
    "@@ -40,3 +40,4 @@\n+  if (!p) return -1;\n   return parse(p);\n```"
)


_run = run_lines


def _to(actions: list[dict[str, Any]], **match: str) -> list[dict[str, Any]]:
    return [a for a in actions if all(a["to"].get(k) == v for k, v in match.items())]


def _programmes(actions: list[dict[str, Any]]) -> list[str]:
    return [a.get("programme", "") for a in actions]


async def test_a_newcomer_is_welcomed_once(store: Store) -> None:
    ann = user("1001", "Ann")
    lines = [to_line(MONDAY, "discord", "join", ann, channel="general")]
    lines += [
        to_line(
            MONDAY + timedelta(hours=h),
            "discord",
            "message",
            ann,
            channel="general",
            message_id=f"a{h}",
            text="hello all, happy to be here",
        )
        for h in range(1, 6)
    ]
    actions = await _run(store, lines)
    welcomes = [a for a in _to(actions, user_id="1001") if a["template"] == "welcome"]
    assert len(welcomes) == 1
    assert "Ann" in welcomes[0]["text"]
    # Running the same input again (replays) changes nothing.
    again = await _run(store, lines)
    assert [a for a in again if a["template"] == "welcome"] == []


async def test_a_patch_author_is_invited_to_the_bug_hunt_once_and_never_after_declining(store: Store) -> None:
    dev = user("2001", "Dev")
    lines = [
        to_line(
            MONDAY - timedelta(days=60) + timedelta(days=d),
            "discord",
            "message",
            dev,
            channel="dev",
            message_id=f"p{d}",
            text=PATCH,
        )
        for d in range(0, 40, 4)
    ]
    actions = await _run(store, lines)
    bug_hunt = [a for a in _to(actions, user_id="2001") if a.get("programme") == "bug-hunt"]
    assert len(bug_hunt) == 1
    decline = [to_line(MONDAY, "discord", "click", dev, text="decline bug-hunt")]
    later = [
        to_line(
            MONDAY + timedelta(days=d),
            "discord",
            "message",
            dev,
            channel="dev",
            message_id=f"q{d}",
            text=PATCH,
        )
        for d in range(1, 90, 10)
    ]
    actions = await _run(store, decline + later)
    assert [a for a in actions if a.get("programme") == "bug-hunt"] == []
    async with store.connection() as conn:
        status = (
            await conn.execute(select(Invitation.status).where(Invitation.programme == "bug-hunt"))
        ).scalar()
    assert status == "declined"


async def test_an_end_user_asking_basic_questions_is_invited_to_device_testing(store: Store) -> None:
    eve = user("3001", "Eve")
    questions = [
        "How do I install the app on my phone?",
        "Why does my phone not sync my contacts after the update?",
        "Is there a way to make the calendar show on my tablet?",
        "Where do I find the settings to change my password?",
    ]
    start = MONDAY - timedelta(days=50)
    lines = posts(eve, questions, platform="discord", channel="help", ids="e{}", start=start)
    actions = await _run(store, lines)
    assert "device-testing" in _programmes(_to(actions, user_id="3001"))


async def test_a_system_integrators_invitation_waits_for_approval(store: Store) -> None:
    lines = integrator_mails()
    actions = await _run(store, lines)
    async with store.connection() as conn:
        rows = (await conn.execute(select(Invitation.programme, Invitation.status))).all()
    waiting = {p for p, s in rows if s == "awaiting_approval"}
    assert waiting, rows
    assert not [a for a in actions if a.get("programme") in waiting]  # nothing left before a manager said yes


async def test_optout_all_stops_every_later_message_on_every_platform(store: Store) -> None:
    pat = user("4001", "Pat", email="pat@example.org")
    pat_mail = user("pat@example.org", "Pat", email="pat@example.org")
    lines = [
        to_line(MONDAY, "discord", "join", pat, channel="general"),
        to_line(MONDAY + timedelta(minutes=1), "discord", "command", pat, text="optout all"),
    ]
    lines += [
        to_line(
            MONDAY + timedelta(days=d),
            "mail",
            "message",
            pat_mail,
            channel="dev@lists.example.org",
            message_id=f"<pat{d}@example.org>",
            text=PATCH,
            subject="parser crash",
        )
        for d in range(1, 60, 5)
    ]
    lines += [
        to_line(
            MONDAY + timedelta(days=d),
            "discord",
            "message",
            pat,
            channel="dev",
            message_id=f"pd{d}",
            text=PATCH,
        )
        for d in range(2, 60, 5)
    ]
    actions = await _run(store, lines)
    async with store.connection() as conn:
        members = set((await conn.execute(select(Identity.member_id))).scalars())
    assert len(members) == 1  # one person across Discord and mail, merged by e-mail
    optout_at = (MONDAY + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    later = [a for a in actions if a["ts"] >= optout_at and a["template"] != "command_reply"]
    assert later == []
    assert [a["template"] for a in actions if a["ts"] < optout_at] == ["welcome"]  # before: it went


async def test_a_bot_gets_nothing(store: Store) -> None:
    bot = user("5001", "ci-bot", is_bot=True)
    lines = [to_line(MONDAY, "discord", "join", bot, channel="general")]
    lines += [
        to_line(
            MONDAY + timedelta(days=d),
            "discord",
            "message",
            bot,
            channel="dev",
            message_id=f"b{d}",
            text=PATCH,
        )
        for d in range(30)
    ]
    actions = await _run(store, lines)
    assert actions == []


async def test_a_display_name_of_everyone_pings_nobody(store: Store) -> None:
    troll = user("6001", "@everyone")
    slack_troll = user("U6001", "<!channel>")
    lines = [
        to_line(MONDAY, "discord", "join", troll, channel="general"),
        to_line(MONDAY, "slack", "join", slack_troll, channel="C1"),
    ]
    actions = await _run(store, lines)
    assert actions, "the newcomers are welcomed"
    for a in actions:
        assert "@everyone" not in a["text"]
        assert "<!channel>" not in a["text"]


async def test_the_askers_yes_solved_credits_the_helper(store: Store) -> None:
    asker = user("7001", "Asker")
    helper = user("7002", "Helper")
    lines = question_and_answer(
        asker, helper, question="How do I enable contact sync on my phone? It never syncs."
    )
    # The check waits a little after the answer (the asker may be trying it); a later event moves the clock.
    lines.append(
        to_line(MONDAY + timedelta(days=1), "discord", "message", user("7003"), channel="general", text="hi")
    )
    actions = await _run(store, lines)
    checks = [a for a in _to(actions, user_id="7001") if a["template"] == "solution_check"]
    assert len(checks) == 1
    click = [to_line(MONDAY + timedelta(days=1, hours=1), "discord", "click", asker, text="solved")]
    again = [to_line(MONDAY + timedelta(days=1, hours=2), "discord", "click", asker, text="solved")]
    await _run(store, click + again)
    async with store.connection() as conn:
        points = (
            await conn.execute(
                select(ProgrammePoints.member_id, ProgrammePoints.points, ProgrammePoints.programme)
            )
        ).all()
        helper_id = (
            await conn.execute(select(Identity.member_id).where(Identity.external_id == "7002"))
        ).scalar()
    assert [(m, p) for m, p, prog in points if prog == "community-hero"] == [(helper_id, 1)]
