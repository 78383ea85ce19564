"""What the scenario tests through ``simulate`` share: the clock's Monday, users, running lines, a Q&A."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.settings import Settings
from bot.sim_events import to_line
from bot.simulate import simulate
from bot.store import Store

MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # 10:00 UTC: outside everyone's quiet hours


def user(uid: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A simulate input line's ``user`` object."""
    return {"id": uid, "name": name or uid, **extra}


async def run_lines(
    store: Store, lines: Iterable[str], settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Run the lines through ``simulate`` (none may be rejected); the actions that would leave."""
    report, actions = await simulate(list(lines), settings=settings or Settings(), store=store)
    assert report.rejected == []
    return actions


def question_and_answer(
    asker: dict[str, Any], helper: dict[str, Any], *, question: str, at: datetime = MONDAY
) -> list[str]:
    """The asker's question in #help (``q1``) and, ten minutes later, the helper's answer to it (``a1``)."""
    return [
        to_line(at, "discord", "message", asker, channel="help", message_id="q1", text=question),
        to_line(
            at + timedelta(minutes=10),
            "discord",
            "message",
            helper,
            channel="help",
            message_id="a1",
            reply_to="q1",
            text="Open Settings > Accounts, enable Sync contacts, then restart the app.",
        ),
    ]


def posts(
    who: dict[str, Any],
    texts: Iterable[str],
    *,
    platform: str,
    channel: str,
    ids: str,
    start: datetime,
    every: timedelta = timedelta(days=10),
    subject: str | None = None,
) -> list[str]:
    """One message of ``who`` per text, ``every`` apart from ``start``; ``ids`` formats the
    message ids (``"e{}"`` gives e0, e1, ...)."""
    return [
        to_line(
            start + every * i,
            platform,
            "message",
            who,
            channel=channel,
            message_id=ids.format(i),
            text=text,
            subject=subject,
        )
        for i, text in enumerate(texts)
    ]


#: A system integrator writing from a company address to the users' list.
INTEGRATOR = user("sam@accenture.com", "Sam", email="sam@accenture.com")


def integrator_mails(who: dict[str, Any] = INTEGRATOR) -> list[str]:
    """Three mails of ``who`` over the last forty days: customers, config shipped, integration
    (a system integrator: business segment, so the partner referral waits for approval)."""
    texts = [
        "We deploy this for our customers at several banks; the LDAP connector needs a config option.",
        "Our customers run it on RHEL with our integration layer; here is the config we ship:\n"
        "```\n[sync]\nldap_url = ldaps://x\n```",
        "We integrate the server for our clients and maintain it; any plans for SAML?",
    ]
    local, domain = str(who["id"]).split("@")
    return posts(
        who,
        texts,
        platform="mail",
        channel="users@lists.example.org",
        ids=f"<{local}{{}}@{domain}>",
        start=MONDAY - timedelta(days=40),
        subject="LDAP connector",
    )
