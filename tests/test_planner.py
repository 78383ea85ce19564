"""The planner on a real database: invitations and their outbox rows written together, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from programme_world import DEVELOPER, END_USER, INTEGRATOR, T0, actor, add_member, count
from sqlalchemy import insert, select

from bot.core.errors import BadArgument
from bot.store import Store
from bot.store.live_models import Consent, Invitation, OutboxMessage, ProgrammeState
from messages import funnel
from messages.planner import Planner
from messages.programmes import load_catalogue

CATALOGUE = load_catalogue()


@pytest.fixture
def planner() -> Planner:
    return Planner(CATALOGUE, community="Funambol")


async def _invitations(store: Store, mid: int) -> dict[str, tuple[str, int | None]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(Invitation.programme, Invitation.status, Invitation.outbox_id).where(
                Invitation.member_id == mid
            )
        )
        return {p: (s, o) for p, s, o in rows}


async def test_developer_gets_bug_hunt_now_community_hero_after_cooldown_and_nothing_past_the_cap(
    store: Store, planner: Planner
) -> None:
    async with store.connection() as conn:
        mid = await add_member(conn, actor("ada"), segments=("developers",), dims=DEVELOPER)
        planned = await planner.plan(conn, [mid], now=T0)
    assert [(p.programme, p.status) for p in planned] == [
        ("bug-hunt", "planned"),
        ("community-hero", "planned"),
    ]
    assert planned[0].not_before is None
    assert planned[1].not_before == T0 + timedelta(days=7)  # cooldown
    async with store.connection() as conn:
        out = (
            await conn.execute(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == f"invite:bug-hunt:{mid}")
            )
        ).one()
        inv = (await conn.execute(select(Invitation).where(Invitation.programme == "bug-hunt"))).one()
    assert out.platform == "discord" and out.kind == "dm" and out.recipient["user_id"] == "id-ada"
    assert out.body["consent_scope"] == "programme:bug-hunt"
    assert [b["action"] for b in out.body["buttons"]] == ["accept", "decline"]
    assert all(b["value"] == inv.token for b in out.body["buttons"])
    assert "Bag-a-Bug" in out.body["text"]
    assert inv.outbox_id == out.id and inv.segment == "developers"
    assert inv.reason["rule"] == "eligible" and inv.reason["target"] == "developers"
    assert inv.reason["dimensions"]["skill"]["value"] == "technical"
    # code-sniper also fits, but two invitations within 30 days is the cap.
    assert "code-sniper" not in await _invitations(store, mid)


async def test_planning_again_invites_nobody_twice(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        mid = await add_member(conn, actor("ada"), segments=("developers",), dims=DEVELOPER)
        await planner.plan(conn, [mid], now=T0)
    async with store.connection() as conn:
        again = await planner.plan(conn, [mid], now=T0 + timedelta(days=40))
        assert {p.programme for p in again} == {"code-sniper"}
        assert await count(conn, Invitation.__table__) == 3
        assert await count(conn, OutboxMessage.__table__) == 3


async def test_rollback_leaves_neither_invitation_nor_message(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        mid = await add_member(conn, actor("ada"), segments=("developers",), dims=DEVELOPER)
    async with store.engine.connect() as conn:
        tx = await conn.begin()
        assert await planner.plan(conn, [mid], now=T0)
        await tx.rollback()
    async with store.connection() as conn:
        assert await count(conn, Invitation.__table__) == 0
        assert await count(conn, OutboxMessage.__table__) == 0


async def test_declined_means_never_again(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        mid = await add_member(conn, actor("ada"), segments=("developers",), dims=DEVELOPER)
        [first, *_] = await planner.plan(conn, [mid], now=T0)
        info = await funnel.respond(conn, first.token, "decline", at=T0 + timedelta(hours=1))
        assert (info.status, info.changed) == ("declined", True)
    for days in (10, 100, 400):
        async with store.connection() as conn:
            later = await planner.plan(conn, [mid], now=T0 + timedelta(days=days))
            assert "bug-hunt" not in {p.programme for p in later}
    assert (await _invitations(store, mid))["bug-hunt"][0] == "declined"


async def test_system_integrator_waits_for_approval_then_is_enqueued(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        mid = await add_member(
            conn, actor("sam", platform="mail"), segments=("system_integrators",), dims=INTEGRATOR
        )
        planned = await planner.plan(conn, [mid], now=T0)
    [p] = planned
    assert (p.programme, p.status, p.outbox_id) == ("partner-referral", "awaiting_approval", None)
    async with store.connection() as conn:
        assert await count(conn, OutboxMessage.__table__) == 0
        approved = await funnel.approve(
            conn, p.invitation_id, by="discord:boss", at=T0 + timedelta(hours=2), planner=planner
        )
    assert approved.status == "planned" and approved.outbox_id is not None
    async with store.connection() as conn:
        out = (await conn.execute(select(OutboxMessage))).one()
        inv = (await conn.execute(select(Invitation))).one()
        assert out.kind == "email" and out.recipient["email"] == "sam@example.org" and out.body["subject"]
        assert (inv.status, inv.decided_by, inv.outbox_id) == ("planned", "discord:boss", out.id)
        with pytest.raises(BadArgument, match="not awaiting approval"):
            await planner.approve(conn, p.invitation_id, by="discord:boss", at=T0)


async def test_reject_ends_the_invitation_without_a_message(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        mid = await add_member(conn, actor("sam"), segments=("system_integrators",), dims=INTEGRATOR)
        [p] = await planner.plan(conn, [mid], now=T0)
        await funnel.reject(conn, p.invitation_id, by="discord:boss", at=T0)
        with pytest.raises(BadArgument, match="rejected"):
            await funnel.reject(conn, p.invitation_id, by="discord:boss", at=T0)
        assert await count(conn, OutboxMessage.__table__) == 0
        again = await planner.plan(conn, [mid], now=T0 + timedelta(days=60))
        assert again == []


async def test_quiet_hours_defer_the_message(store: Store, planner: Planner) -> None:
    late = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    async with store.connection() as conn:
        mid = await add_member(conn, actor("eve"), segments=("end_users",), dims=END_USER, tz=60, at=late)
        [p] = await planner.plan(conn, [mid], now=late)
        out = (await conn.execute(select(OutboxMessage))).one()
    assert p.programme == "device-testing"
    assert out.not_before == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


async def test_bots_opted_out_and_paused_get_nothing(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        bot = await add_member(conn, actor("ci", is_bot=True), segments=("developers",), dims=DEVELOPER)
        quiet = await add_member(conn, actor("bob"), segments=("developers",), dims=DEVELOPER)
        paused = await add_member(conn, actor("pat"), segments=("end_users",), dims=END_USER)
        await conn.execute(
            insert(Consent).values(member_id=quiet, scope="all", state="out", source="test", at=T0)
        )
        await conn.execute(
            insert(ProgrammeState).values(name="device-testing", paused=True, changed_by="x", changed_at=T0)
        )
        assert await planner.plan(conn, [bot, quiet, paused], now=T0) == []
        assert await count(conn, OutboxMessage.__table__) == 0


async def test_campaign_dry_run_then_confirm(store: Store, planner: Planner) -> None:
    async with store.connection() as conn:
        ids = [
            await add_member(conn, actor(f"user{i}"), segments=("end_users",), dims=END_USER)
            for i in range(7)
        ]
        await conn.execute(
            insert(Consent).values(member_id=ids[0], scope="all", state="out", source="test", at=T0)
        )
        preview = await planner.campaign(conn, "champions", "end_users", now=T0, confirm=False)
        assert (preview.members, preview.would_invite, preview.skipped) == (7, 6, {"opted_out": 1})
        assert len(preview.sample) == 5 and not preview.confirmed
        assert await count(conn, Invitation.__table__) == 0
        done = await planner.campaign(conn, "champions", "end_users", now=T0, confirm=True, by="discord:boss")
        assert done.enqueued == 6
        assert await count(conn, OutboxMessage.__table__) == 6
        again = await planner.campaign(conn, "champions", "end_users", now=T0, confirm=False)
        assert again.would_invite == 0 and again.skipped["once_per_programme"] == 6
        with pytest.raises(BadArgument, match="unknown segment"):
            await planner.campaign(conn, "champions", "wizards", now=T0, confirm=False)
