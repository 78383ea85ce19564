"""A reviewer's end-to-end pass through ``simulate``: the bugs found, and behaviours no other test drove.

Every test here goes through the whole live bot (``bot.simulate.simulate``: the real
pipeline, the command core, the planner and the outbox worker, with recorders for the
platforms) the way ``cohortbot simulate`` does. The first group are regression tests for
the seven bugs that review found (each was written failing, then fixed); the others pin
behaviours verified by hand that only the unit tests of single modules covered before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sim_support import MONDAY, integrator_mails, question_and_answer, run_lines, user
from sqlalchemy import func, select

from bot.settings import Settings, parse_settings
from bot.sim_events import to_line
from bot.simulate import simulate
from bot.store import Store
from bot.store.live_models import Invitation, ProgrammePoints, SolutionCheck
from bot.store.models import Activity, Identity, Member

ON_SQLITE = not os.environ.get("COHORTBOT_TEST_PG_URL")
GUILD = "123456789012345678"
WORKSPACE = "T0123ABCD"
BOSS = {"id": "900000000000000001", "name": "Boss"}
SLACK_BOSS = {"id": "U0900ABCD", "name": "Slack Boss"}
PATCH = (
    "The parser crashes on an empty header; backtrace:\n```\n"
    "#0 0x00007f in parse_header (p=0x0) at parser.c:42\n"
    "#1 0x00007f in main () at main.c:10\n```\nThis patch fixes it:\n```diff\n"
    "--- a/parser.c\n+++ b/parser.c\n"
    "@@ -40,3 +40,4 @@\n+  if (!p) return -1;\n   return parse(p);\n```"
)


def _settings() -> Settings:
    """A configuration with a [managers] table, as `cohortbot simulate --config` would read it."""
    return parse_settings(
        {
            "managers": {
                "managers": [f"discord:{BOSS['id']}", f"slack:{SLACK_BOSS['id']}", "mail:boss@example.org"],
                "discord_guild": GUILD,
                "slack_workspace": WORKSPACE,
            }
        }
    )




async def _run(store: Store, lines: Iterable[str]) -> list[dict[str, Any]]:
    return await run_lines(store, lines, _settings())


def _admin(at: datetime, command: str, *, platform: str = "discord") -> str:
    who = BOSS if platform == "discord" else SLACK_BOSS
    return to_line(at, platform, "command", who, channel="admin", text=command)


def _replies_to(actions: list[dict[str, Any]], user_id: str) -> list[str]:
    return [
        a["text"] for a in actions if a["template"] == "command_reply" and a["to"].get("user_id") == user_id
    ]


def _patches(dev: dict[str, Any], *, start: datetime, tag: str) -> list[str]:
    """Ten patches over forty days: enough for `developers` and the bug hunt."""
    return [
        to_line(
            start + timedelta(days=d),
            "discord",
            "message",
            dev,
            channel="dev",
            message_id=f"{tag}{d}",
            text=PATCH,
        )
        for d in range(0, 40, 4)
    ]


async def _token(store: Store, programme: str) -> str:
    async with store.connection() as conn:
        token = (
            await conn.execute(select(Invitation.token).where(Invitation.programme == programme))
        ).scalar()
    assert token is not None
    return str(token)


# ---------------------------------------------------------------------------------------------
# Bugs found in review (regression tests: each failed before its fix)
# ---------------------------------------------------------------------------------------------


async def test_a_click_on_someone_elses_invitation_token_changes_nothing(store: Store) -> None:
    dev = user("2001", "Dev")
    await _run(store, _patches(dev, start=MONDAY - timedelta(days=60), tag="p"))
    token = await _token(store, "bug-hunt")
    eve = user("2002", "Eve")
    mallory = user("U0777", "Mallory")
    actions = await _run(
        store,
        [
            to_line(MONDAY, "discord", "message", eve, channel="general", text="hi all"),
            to_line(MONDAY + timedelta(minutes=1), "discord", "click", eve, text=f"accept {token}"),
            to_line(MONDAY + timedelta(minutes=2), "slack", "click", mallory, text=f"decline {token}"),
        ],
    )
    async with store.connection() as conn:
        status = (await conn.execute(select(Invitation.status).where(Invitation.token == token))).scalar()
    assert status in ("sent", "opened", "expired")  # whatever it was: not answered by strangers
    eve_replies = _replies_to(actions, "2002")
    assert eve_replies and not any("You are in" in r for r in eve_replies)
    assert not any("we will not invite you" in r for r in _replies_to(actions, "U0777"))


async def test_only_the_asker_can_confirm_a_solution(store: Store) -> None:
    asker, helper = user("7001", "Asker"), user("7002", "Helper")
    await _run(
        store,
        [
            *question_and_answer(
                asker, helper, question="How do I make my phone sync contacts after the update?"
            ),
            to_line(
                MONDAY + timedelta(days=1), "discord", "message", user("7003"), channel="general", text="hi"
            ),
        ],
    )
    async with store.connection() as conn:
        token = (await conn.execute(select(SolutionCheck.token))).scalar()
    assert token is not None  # the check was asked (control)
    await _run(
        store,
        [to_line(MONDAY + timedelta(days=1, hours=1), "discord", "click", helper, text=f"solved {token}")],
    )
    async with store.connection() as conn:
        points = (await conn.execute(select(func.count()).select_from(ProgrammePoints))).scalar()
        status = (await conn.execute(select(SolutionCheck.status))).scalar()
    assert (points, status) == (0, "asked")


async def test_the_person_after_an_erasure_is_still_classified_and_welcomed(store: Store) -> None:
    ann, bob = user("1001", "Ann"), user("1002", "Bob")
    actions = await _run(
        store,
        [
            to_line(
                MONDAY, "discord", "message", ann, channel="general", text="hello, how do I install this?"
            ),
            to_line(MONDAY + timedelta(minutes=2), "discord", "command", ann, text="forgetme confirm"),
            to_line(
                MONDAY + timedelta(minutes=4),
                "discord",
                "message",
                bob,
                channel="general",
                text="hello, I am new",
            ),
            to_line(
                MONDAY + timedelta(hours=5), "discord", "message", user("1003"), channel="general", text="x"
            ),
        ],
    )
    assert sorted(a["to"]["user_id"] for a in actions if a["template"] == "welcome") == [
        "1001",
        "1002",
        "1003",
    ]


async def test_mail_erasure_is_confirmed_by_mail(store: Store) -> None:
    ann = user("ann@example.org", "Ann", email="ann@example.org")
    actions = await _run(
        store,
        [
            to_line(
                MONDAY,
                "mail",
                "message",
                ann,
                channel="users@lists.example.org",
                message_id="<m1@example.org>",
                text="How do I install it on my phone?",
                subject="install",
            ),
            to_line(MONDAY + timedelta(minutes=1), "mail", "command", ann, text="forgetme confirm"),
        ],
    )
    held = [a for a in actions if a["template"] == "command_reply"]
    found = re.search(r"confirm (\S+)\n", held[-1]["text"]) if held else None
    assert found is not None  # the bot asked for the token (control)
    actions = await _run(
        store,
        [to_line(MONDAY + timedelta(minutes=2), "mail", "command", ann, text=f"confirm {found.group(1)}")],
    )
    async with store.connection() as conn:
        members = (await conn.execute(select(func.count()).select_from(Member))).scalar()
    assert members == 0  # erased (control)
    answers = [a for a in actions if a["kind"] == "email" and a["to"].get("email") == "ann@example.org"]
    assert answers and "erased" in answers[0]["text"]


async def test_an_invitation_cancelled_by_optout_is_not_stuck_after_optin(store: Store) -> None:
    ann = user("1001", "Ann")
    lines = [
        to_line(
            MONDAY,
            "discord",
            "message",
            ann,
            channel="general",
            text="hello, how do I install this on my phone?",
        ),
        to_line(MONDAY + timedelta(minutes=1), "discord", "command", ann, text="optout all"),
        to_line(MONDAY + timedelta(minutes=2), "discord", "command", ann, text="optin"),
    ]
    lines += [
        to_line(
            MONDAY + timedelta(days=d),
            "discord",
            "message",
            ann,
            channel="general",
            text=f"Why does my phone not sync my contacts ({d})?",
        )
        for d in range(1, 60, 3)
    ]
    actions = await _run(store, lines)
    async with store.connection() as conn:
        statuses = dict((await conn.execute(select(Invitation.programme, Invitation.status))).all())
    # The device-testing invitation queued before "optout all" was withdrawn with its message,
    # and after "optin" the policy invited her again: it went out, nothing is left "planned".
    sent = [a for a in actions if a.get("programme") == "device-testing" and a["template"] == "invite"]
    assert len(sent) == 1 and sent[0]["ts"] > "2026-11-02T10:02"
    assert "planned" not in statuses.values()


async def test_no_invitation_of_a_paused_programme_goes_out(store: Store) -> None:
    await _run(store, integrator_mails(user("kim@capgemini.com", "Kim", email="kim@capgemini.com")))
    async with store.connection() as conn:
        waiting = (
            await conn.execute(select(Invitation.id).where(Invitation.status == "awaiting_approval"))
        ).scalar()
    assert waiting is not None
    actions = await _run(
        store,
        [
            _admin(MONDAY, f"admin approvals approve {waiting}"),
            # Kim just got an invitation: this one waits for the cooldown (about a week).
            _admin(MONDAY + timedelta(seconds=30), "admin invite code-sniper system_integrators --confirm"),
            _admin(MONDAY + timedelta(minutes=1), "admin programme pause code-sniper"),
            to_line(
                MONDAY + timedelta(days=10), "discord", "message", user("5555"), channel="general", text="hi"
            ),
        ],
    )
    replies = _replies_to(actions, BOSS["id"])
    assert "not before" in replies[1] and "paused" in replies[2]  # queued, deferred, then paused (control)
    assert [a["to"] for a in actions if a.get("programme") == "code-sniper"] == []


async def test_a_mail_members_click_is_answered_by_email(store: Store) -> None:
    dev = user("md@example.org", "Mail Dev", email="md@example.org")
    await _run(
        store,
        [
            to_line(
                MONDAY - timedelta(days=60) + timedelta(days=d),
                "mail",
                "message",
                dev,
                channel="dev@lists.example.org",
                message_id=f"<m{d}@example.org>",
                text=PATCH,
                subject="[PATCH] parser",
            )
            for d in range(0, 40, 4)
        ],
    )
    actions = await _run(
        store,
        [
            to_line(MONDAY, "mail", "click", dev, text="accept bug-hunt"),
            to_line(MONDAY + timedelta(minutes=1), "mail", "click", dev, text="accept champions"),
        ],
    )
    async with store.connection() as conn:
        status = (
            await conn.execute(select(Invitation.status).where(Invitation.programme == "bug-hunt"))
        ).scalar()
    assert status == "accepted"  # the click worked (control)
    answers = [a for a in actions if a["template"] == "command_reply"]
    assert [(a["kind"], a["to"].get("email")) for a in answers] == [("email", "md@example.org")] * 2


# ---------------------------------------------------------------------------------------------
# Verified behaviours (through simulate, which no other test drove)
# ---------------------------------------------------------------------------------------------


async def test_a_paused_programme_invites_nobody_and_a_campaign_dry_runs_first(store: Store) -> None:
    start = MONDAY - timedelta(days=60)
    lines = [_admin(start - timedelta(minutes=5), "admin programme pause bug-hunt")]
    for i in range(2):
        lines += _patches(user(f"20{i}1", f"Dev{i}"), start=start + timedelta(minutes=i), tag=f"d{i}-")
    lines.sort(key=lambda line: line.split('"ts":"', 1)[1][:20])
    actions = await _run(store, lines)
    assert not [a for a in actions if a.get("programme") == "bug-hunt"]
    assert "paused" in _replies_to(actions, BOSS["id"])[0]

    actions = await _run(
        store,
        [
            _admin(MONDAY, "admin invite bug-hunt developers"),
            _admin(MONDAY + timedelta(minutes=1), "admin programme resume bug-hunt"),
            _admin(MONDAY + timedelta(minutes=2), "admin invite bug-hunt developers"),
            _admin(MONDAY + timedelta(minutes=3), "admin invite bug-hunt developers --confirm"),
            _admin(MONDAY + timedelta(minutes=4), "admin invite bug-hunt developers --confirm"),
        ],
    )
    replies = _replies_to(actions, BOSS["id"])
    assert "skipped: paused 2" in replies[0]
    assert replies[2].startswith("Dry run: 2 of 2")
    assert replies[3].startswith("Invited 2 of 2") and replies[4].startswith("Invited 0 of 2")
    invited = sorted(a["to"]["user_id"] for a in actions if a.get("programme") == "bug-hunt")
    assert invited == ["2001", "2011"]  # once each, and only after --confirm
    first_invite = next(i for i, a in enumerate(actions) if a.get("programme") == "bug-hunt")
    assert actions[first_invite - 1]["text"].startswith("Invited 2 of 2")


async def test_an_approved_invitation_leaves_by_mail_and_strangers_are_refused(store: Store) -> None:
    await _run(
        store,
        integrator_mails(),
    )
    async with store.connection() as conn:
        waiting = (
            await conn.execute(select(Invitation.id).where(Invitation.status == "awaiting_approval"))
        ).scalar()
    assert waiting is not None
    stranger = user("1234", "Not Boss")
    actions = await _run(
        store,
        [
            to_line(
                MONDAY,
                "discord",
                "command",
                stranger,
                channel="admin",
                text=f"admin approvals approve {waiting}",
            ),
            _admin(MONDAY + timedelta(minutes=1), "admin approvals", platform="slack"),
            _admin(MONDAY + timedelta(minutes=2), f"admin approvals approve {waiting}"),
            _admin(MONDAY + timedelta(minutes=3), f"admin approvals approve {waiting}"),
        ],
    )
    assert "not a manager" in _replies_to(actions, "1234")[0]
    assert f"#{waiting}" in _replies_to(actions, SLACK_BOSS["id"])[0]
    boss = _replies_to(actions, BOSS["id"])
    assert "approved" in boss[0] and "not awaiting approval" in boss[1]
    sent = [a for a in actions if a["template"] == "invite"]
    assert [(a["kind"], a["to"].get("email")) for a in sent] == [("email", "sam@accenture.com")]


async def test_members_commands_answer_in_place_on_chat_and_by_email_on_mail(store: Store) -> None:
    people = {
        "discord": user("1001", "Ann"),
        "slack": user("U1001", "Ann"),
        "mail": user("ann@example.org", "Ann", email="ann@example.org"),
    }
    commands = ["help", "programmes", "whyme", "mydata", "optout bug-hunt", "optin", "frobnicate", "forgetme"]
    lines, at = [], MONDAY
    for platform, who in people.items():
        lines.append(
            to_line(at, platform, "message", who, channel="general", text="hello, how do I install this?")
        )
        for command in commands:
            at += timedelta(minutes=1)
            lines.append(to_line(at, platform, "command", who, text=command))
        at += timedelta(minutes=1)
    lines.append('{"ts": "2026-11-02T12:00:00Z", "platform": "irc"')
    report, actions = await simulate(lines, settings=_settings(), store=store)
    assert [n for n, _ in report.rejected] == [len(lines)]
    replies = [a for a in actions if a["template"] == "command_reply"]
    by_platform = {p: [a for a in replies if a["platform"] == p] for p in people}
    assert {a["kind"] for a in by_platform["discord"] + by_platform["slack"]} == {"reply"}
    assert {a["kind"] for a in by_platform["mail"]} == {"email"}
    assert {a["to"].get("email") for a in by_platform["mail"]} == {"ann@example.org"}
    for platform in people:
        texts = [a["text"] for a in by_platform[platform]]
        assert len(texts) == len(commands), platform
        assert texts[0].startswith("Commands:") and "Unknown command 'frobnicate'" in texts[6]
        assert "forgetme confirm" in texts[7]


async def test_an_erased_account_and_its_address_never_come_back(store: Store) -> None:
    ann = user("1001", "Ann", email="ann@example.org")
    actions = await _run(
        store,
        [
            to_line(
                MONDAY, "discord", "message", ann, channel="general", text="hello, how do I install this?"
            ),
            to_line(MONDAY + timedelta(minutes=2), "discord", "command", ann, text="forgetme confirm"),
            to_line(
                MONDAY + timedelta(minutes=4),
                "discord",
                "message",
                ann,
                channel="general",
                text="back again?",
            ),
            to_line(MONDAY + timedelta(minutes=5), "discord", "join", ann, channel="general"),
            to_line(
                MONDAY + timedelta(minutes=6),
                "mail",
                "message",
                user("ann@example.org", "Ann", email="ann@example.org"),
                channel="users@lists.example.org",
                message_id="<late@example.org>",
                text="Me again, from my mailbox",
                subject="hello",
            ),
            to_line(MONDAY + timedelta(minutes=7), "discord", "command", ann, text="mydata"),
        ],
    )
    async with store.connection() as conn:
        rows = [
            (await conn.execute(select(func.count()).select_from(table))).scalar()
            for table in (Member, Identity, Activity)
        ]
    assert rows == [0, 0, 0]
    replies = _replies_to(actions, "1001")
    assert "erased" in replies[0] and "nothing to export" in replies[-1]
    assert not [a for a in actions if a["template"] != "command_reply" and a["to"].get("email")]


async def test_a_mail_confirmation_token_works_only_from_its_own_address(store: Store) -> None:
    boss = user("boss@example.org", "Boss", email="boss@example.org")
    eve = user("eve@example.org", "Eve", email="eve@example.org")
    actions = await _run(store, [to_line(MONDAY, "mail", "command", boss, text="admin segments")])
    found = re.search(r"confirm (\S+)\n", actions[0]["text"])
    assert found is not None and actions[0]["kind"] == "email"
    token = found.group(1)
    actions = await _run(
        store,
        [
            to_line(MONDAY + timedelta(minutes=1), "mail", "command", eve, text=f"confirm {token}"),
            to_line(MONDAY + timedelta(minutes=2), "mail", "command", boss, text=f"confirm {token}"),
            to_line(MONDAY + timedelta(minutes=3), "mail", "command", boss, text=f"confirm {token}"),
        ],
    )
    answers = [(a["to"]["email"], a["text"]) for a in actions if a["template"] == "command_reply"]
    assert answers[0][0] == "eve@example.org" and "no command is waiting" in answers[0][1]
    assert answers[1][0] == "boss@example.org" and answers[1][1].startswith("Segments")
    assert "no command is waiting" in answers[2][1]  # used once


@pytest.mark.parametrize(
    "name",
    [
        "@everyone",
        "<!channel>",
        "@here <!here> <!everyone>",
        "<@&345678901234567890> hi",
        "\u202eevil\u202c",
        "Ann\r\nBcc: x@evil.example",
    ],
)
async def test_hostile_display_names_are_neutralised_in_chat_welcomes(store: Store, name: str) -> None:
    lines = [
        to_line(
            MONDAY,
            "discord",
            "message",
            user("d1", name),
            channel="general",
            text="hello, how do I install?",
        ),
        to_line(
            MONDAY,
            "slack",
            "message",
            user("U0D1", name),
            channel="general",
            text="hello, how do I install?",
        ),
    ]
    welcomes = [a for a in await _run(store, lines) if a["template"] == "welcome"]
    assert {a["platform"] for a in welcomes} == {"discord", "slack"}
    for welcome in welcomes:
        text = welcome["text"]
        for raw in ("@everyone", "@here", "<!channel>", "<!here>", "<!everyone>", "<@&", "\u202e", "\r"):
            # A backslash before "<" is Discord's escape: the mention shows as text and pings nobody.
            assert re.search(r"(?<!\\)" + re.escape(raw), text) is None, (welcome["platform"], raw)
        assert "\nBcc:" not in text
