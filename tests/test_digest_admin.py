"""``admin digest preview|send-now`` through the command core: managers only, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from admin_world import ALICE_D, BOSS, SETTINGS, command, make_world
from sqlalchemy import select

from bot.admin.permissions import ManagerSettings
from bot.admin.registry import CommandCore, Services
from bot.core.clock import FrozenClock
from bot.store import Store
from bot.store.live_models import OutboxMessage
from bot.store.models import AuditLog
from messages.digest import DigestSettings
from messages.digest.service import DigestService
from messages.digest.settings import Destination
from messages.programmes import load_catalogue
from segmentation.config import load_config


def core_with_digest(store: Store, clock: FrozenClock, wake: Callable[[], None]) -> CommandCore:
    service = DigestService(
        store,
        config=load_config(),
        catalogue=load_catalogue(),
        settings=DigestSettings(channels=(Destination("slack", "C0MGRS"),)),
        tz=UTC,
        clock=clock,
        holder="app-1",
    )
    services = Services(store=store, clock=clock, digest=service, wake_outbox=wake)
    return CommandCore(services, managers=ManagerSettings.from_mapping(SETTINGS))


async def test_preview_summarises_and_attaches_the_html(store: Store) -> None:
    world = await make_world(store)
    reply = await world.run(command(BOSS, "admin", "digest", "preview", "--week", "2026-W48"))
    assert reply.ok, reply.text
    # Alice (Discord and mail, one person), Bob and the manager; Bob's question is still open.
    assert reply.text.startswith(
        "Digest 2026-W48 (2026-11-23 to 2026-11-29, UTC): 3 members (+3), 3 active (+3), 3 new (+3); "
        "1 question(s) unanswered after 48 hours."
    )
    assert reply.attachment is not None
    name, body = reply.attachment
    assert name == "digest-2026-W48.html" and b"<svg" in body
    async with store.connection() as conn:
        assert (await conn.execute(select(OutboxMessage.id))).all() == []  # a preview sends nothing


async def test_members_cannot_run_it_and_the_refusal_is_audited(store: Store) -> None:
    world = await make_world(store)
    reply = await world.run(command(ALICE_D, "admin", "digest", "preview"))
    assert not reply.ok and "cannot run managers' commands" in reply.text
    async with store.connection() as conn:
        rows = (await conn.execute(select(AuditLog.command, AuditLog.outcome))).all()
    assert ("admin digest", "refused") in [tuple(r) for r in rows]


async def test_send_now_queues_once_and_wakes_the_outbox(store: Store) -> None:
    world = await make_world(store)
    woken: list[bool] = []
    core = core_with_digest(store, world.clock, lambda: woken.append(True))
    first = await core.dispatch(command(BOSS, "admin", "digest", "send-now"))
    assert first.ok and first.text == "The digest of 2026-W47 is queued: 1 message(s) in the outbox."
    again = await core.dispatch(command(BOSS, "admin", "digest", "send-now", "--week", "2026-W47"))
    assert again.text == "The digest of 2026-W47 was already sent; it goes out once per week."
    assert woken == [True]
    not_yet = await core.dispatch(command(BOSS, "admin", "digest", "send-now", "--week", "2026-W48"))
    assert not not_yet.ok and "has not ended" in not_yet.text
    bad = await core.dispatch(command(BOSS, "admin", "digest", "resend"))
    assert not bad.ok and "usage: digest preview" in bad.text
    unconfigured = await world.run(command(BOSS, "admin", "digest", "send-now"))
    assert not unconfigured.ok and "not configured" in unconfigured.text
