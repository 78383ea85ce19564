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


#: A system integrator writing from a company address to the users' list.
INTEGRATOR = user("sam@accenture.com", "Sam", email="sam@accenture.com")


def integrator_mails() -> list[str]:
    """Three mails of ``INTEGRATOR`` over the last forty days: customers, config shipped, integration."""
    texts = [
        "We deploy this for our customers at several banks; the LDAP connector needs a config option.",
        "Our customers run it on RHEL with our integration layer; here is the config we ship:\n"
        "```\n[sync]\nldap_url = ldaps://x\n```",
        "We integrate the server for our clients and maintain it; any plans for SAML?",
    ]
    return [
        to_line(
            MONDAY - timedelta(days=40) + timedelta(days=10 * i),
            "mail",
            "message",
            INTEGRATOR,
            channel="users@lists.example.org",
            message_id=f"<si{i}@accenture.com>",
            text=t,
            subject="LDAP connector",
        )
        for i, t in enumerate(texts)
    ]
