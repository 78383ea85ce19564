"""Issue 5's permission walk through the real Discord path: every registered command, every wrong way in.

The core-level matrix (``test_admin_permissions``) proves the rule; this proves nothing on
the way to it weakens it: discord.py parsing the interaction, the adapter's translation
(guild id as the container, ``""`` in a DM, role ids), the app's pipeline and the ephemeral
answer. One app and one gateway connection serve the whole walk. For each managers'
command, called with arguments that would change the store if it ran, three callers are
refused and audited: a member of the configured server who holds the role Discord shows
the command to (Manage Server) but is not in ``[managers]``, the configured manager from
another server, and the configured manager in a DM. The store must not change. Controls
show the walk can fail: the manager in the configured server is answered, and the same
effectful call from them does change the store. Members' commands work for anyone, from a
DM, and are audited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from discord_helpers import settings_for
from fakes.discord_server import APP_ID, GENERAL_ID, GUILD_ID, MANAGER_ROLE, MEMBER_ROLE, FakeDiscord
from sqlalchemy import func, select
from test_discord_pipeline import last_seen_in

from adapters.discord.adapter import DiscordAdapter
from bot.app import App, build_app
from bot.core.clock import FrozenClock
from bot.settings import Settings
from bot.store import Store
from bot.store.models import AuditLog, Base

ALICE = "920000000000000001"  # a member the managers' commands below would act on
CAROL = "920000000000000003"  # another member (``admin merge`` target)
DAVE = "920000000000000006"  # the member ``admin forget`` would erase
NOBODY = "920000000000000004"  # holds the "Managers" role (Manage Server), not listed in [managers]
BOSS = "920000000000000005"  # the configured manager
OTHER_GUILD = "930000000000000000"
OTHER_CHANNEL = "930000000000000010"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
REFUSAL = "cannot run managers' commands"
MANAGE_GUILD = "32"

#: Arguments that make a managers' command change the store if it ran (others go bare).
EFFECTFUL: dict[str, str] = {
    "optout": f"discord:{ALICE} all",
    "forget": f"discord:{DAVE} --confirm",
    "set": f"discord:{ALICE} skill non_technical",
    "merge": f"discord:{ALICE} discord:{CAROL}",
    "unmerge": "1",
    "suggestions": "approve 1",
    "approvals": "approve 1",
    "outbox": "retry 1",
    "programme": "pause welcome",
    "invite": "welcome developers --confirm",
    "digest": "send-now",
}
#: Written by the pipeline for any incoming interaction, whoever sent it.
BOOKKEEPING = {AuditLog.__tablename__, "seen_event"}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("COHORTBOT_SECRET", "x" * 40)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", roles=(MEMBER_ROLE,))
        server.add_member(CAROL, "carol", roles=(MEMBER_ROLE,))
        server.add_member(DAVE, "dave", roles=(MEMBER_ROLE,))
        server.add_member(NOBODY, "nobody", roles=(MANAGER_ROLE, MEMBER_ROLE), nick="Boss")
        server.add_member(BOSS, "boss", roles=(MEMBER_ROLE,))
        yield server


@dataclass(frozen=True, slots=True)
class Way:
    """One way of sending ``/cohort-admin``: who, and from where."""

    why: str
    user: str
    place: str  # "guild", "other guild" or "dm"
    reason: str  # a piece of the refusal's reason, as the audit log records it


REFUSED = (
    Way("non-manager holding the Manage Server role", NOBODY, "guild", f"discord:{NOBODY} is not a manager"),
    Way("manager from another server", BOSS, "other guild", f"server {OTHER_GUILD} is not the configured"),
    Way("manager in a DM", BOSS, "dm", "direct messages"),
)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    ephemeral: bool
    audit: list[tuple[str, str, str, str]]  # (actor, command, outcome, detail) written for this call


async def _app(store: Store, fake: FakeDiscord) -> App:
    adapter = DiscordAdapter(settings_for(fake), last_seen=last_seen_in(store))  # type: ignore[arg-type]
    settings = Settings(managers={"managers": [f"discord:{BOSS}"], "discord_guild": GUILD_ID})
    clock = FrozenClock(T0 + timedelta(hours=1))
    return await build_app(settings, clock=clock, adapters={"discord": adapter}, store=store)


def _payload(fake: FakeDiscord, *, user: str, place: str, name: str, value: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "1", "name": name, "type": 1}
    if value is not None:
        data["options"] = [{"name": "command", "type": 3, "value": value}]
    if place == "dm":
        return fake.interaction_payload(user_id=user, data=data, in_dm=True)
    guild = GUILD_ID if place == "guild" else OTHER_GUILD
    payload = fake.interaction_payload(user_id=user, data={**data, "guild_id": guild})
    # The Manage Server permission Discord computes from the role: it is why the command is shown.
    payload["member"]["permissions"] = MANAGE_GUILD if MANAGER_ROLE in payload["member"]["roles"] else "0"
    if place == "other guild":
        payload.update(guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL,
                       authorizing_integration_owners={"0": OTHER_GUILD},
                       channel={"id": OTHER_CHANNEL, "type": 0, "name": "general", "guild_id": OTHER_GUILD,
                                "position": 0, "parent_id": None, "permission_overwrites": [], "nsfw": False})
    return payload


async def _last_audit_id(store: Store) -> int:
    async with store.connection() as conn:
        return int((await conn.execute(select(func.coalesce(func.max(AuditLog.id), 0)))).scalar_one())


async def _call(store: Store, fake: FakeDiscord, *, user: str, place: str, name: str,
                value: str | None = None) -> Answer:
    """One interaction in; its ephemeral answer and the audit rows written for it out."""
    since = await _last_audit_id(store)
    payload = _payload(fake, user=user, place=place, name=name, value=value)
    await fake.dispatch("INTERACTION_CREATE", payload)
    (followup,) = await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    body = followup.body.get("payload_json", followup.body)  # multipart when a file is attached
    async with store.connection() as conn:
        rows = await conn.execute(
            select(AuditLog.actor, AuditLog.command, AuditLog.outcome, AuditLog.detail)
            .where(AuditLog.id > since)
            .order_by(AuditLog.id)
        )
        audit = [(r.actor, r.command, r.outcome, r.detail) for r in rows]
    return Answer(str(body.get("content", "")), body.get("flags") == 64, audit)


async def _state(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the bookkeeping ones: what a command that ran would change."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.connection() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in BOOKKEEPING:
                rows = (await conn.execute(select(table))).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def _seed(store: Store, fake: FakeDiscord) -> None:
    """Everyone posts once, so every member the commands name exists in the store."""
    for n, user in enumerate((ALICE, CAROL, DAVE, NOBODY, BOSS)):
        message = fake.message_payload(channel_id=GENERAL_ID, author_id=user, content=f"hello {n}",
                                       at=T0 + timedelta(minutes=n))
        await fake.dispatch("MESSAGE_CREATE", message)
    # A command queued after the messages: its answer means they were committed before it.
    await _call(store, fake, user=ALICE, place="guild", name="programmes")


async def test_every_command_through_discord_is_checked_and_audited(store: Store, fake: FakeDiscord) -> None:
    app = await _app(store, fake)
    await app.start_adapters()
    try:
        managers_commands = app.core.registry.names(manager=True)
        members_commands = app.core.registry.names(manager=False)
        assert "segments" in managers_commands and "optout" in managers_commands
        await _seed(store, fake)
        before = await _state(store)
        problems: list[str] = []
        for name in managers_commands:
            value = f"{name} {EFFECTFUL[name]}" if name in EFFECTFUL else name
            for way in REFUSED:
                answer = await _call(store, fake, user=way.user, place=way.place, name="cohort-admin",
                                     value=value)
                wanted = [(f"discord:{way.user}", f"admin {name}", "refused")]
                if REFUSAL not in answer.text or not answer.ephemeral:
                    problems.append(f"/cohort-admin {value!r} by {way.why}: answered {answer.text!r}")
                if [row[:3] for row in answer.audit] != wanted or way.reason not in answer.audit[-1][3]:
                    problems.append(f"/cohort-admin {value!r} by {way.why}: audited as {answer.audit}")
        assert problems == []
        after = await _state(store)
        assert {t: rows for t, rows in after.items() if rows != before[t]} == {}  # nothing ran

        # Controls: the configured manager in the configured server is answered, and the effectful
        # call that was refused above does change the store when it comes from them.
        segments = await _call(store, fake, user=BOSS, place="guild", name="cohort-admin", value="segments")
        assert REFUSAL not in segments.text and segments.ephemeral, segments.text
        assert [row[:3] for row in segments.audit] == [(f"discord:{BOSS}", "admin segments", "ok")]
        optout = await _call(store, fake, user=BOSS, place="guild", name="cohort-admin",
                             value=f"optout {EFFECTFUL['optout']}")
        assert [row[:3] for row in optout.audit] == [(f"discord:{BOSS}", "admin optout", "ok")], optout.text
        assert (await _state(store))["consent"] != before["consent"]

        # Members' commands: anyone, from a DM, each answered privately and audited.
        for name in members_commands:
            answer = await _call(store, fake, user=NOBODY, place="dm", name=name)
            assert REFUSAL not in answer.text and answer.text and answer.ephemeral, (name, answer.text)
            assert [row[:3] for row in answer.audit] == [(f"discord:{NOBODY}", name, "ok")], (name, answer)
    finally:
        await app.shutdown()
    (put,) = fake.requests_to("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert set(members_commands) <= {c["name"] for c in put.body}  # each one is a slash command of its own
