"""Managers' programme commands through the command core: list, show, pause/resume, invite, approvals."""

from __future__ import annotations

from admin_world import BOSS, command, make_world
from programme_world import DEVELOPER, END_USER, INTEGRATOR, T0, actor, add_member, count
from sqlalchemy import select

from bot.store import Store
from bot.store.live_models import Invitation, OutboxMessage, ProgrammeState
from messages.planner import Planner
from messages.programmes import load_catalogue


async def _world(store: Store):  # type: ignore[no-untyped-def]
    catalogue = load_catalogue()
    return await make_world(store, catalogue=catalogue, planner=Planner(catalogue))


async def test_list_show_pause_resume(store: Store) -> None:
    world = await _world(store)
    listing = await world.run(command(BOSS, "admin", "programme", "list"))
    assert (
        listing.ok and "bug-hunt: Bag-a-Bug" in listing.text and "every invitation approved" in listing.text
    )
    paused = await world.run(command(BOSS, "admin", "programme", "pause", "bug-hunt"))
    assert paused.ok and "paused" in paused.text
    async with store.connection() as conn:
        assert (await conn.execute(select(ProgrammeState.paused, ProgrammeState.changed_by))).one() == (
            True,
            f"discord:{BOSS.external_id}",
        )
        mid = await add_member(conn, actor("ada"), segments=("developers",), dims=DEVELOPER)
        planned = await Planner(load_catalogue()).plan(conn, [mid], now=T0)
    assert "bug-hunt" not in {p.programme for p in planned}
    shown = await world.run(command(BOSS, "admin", "programme", "show", "bug-hunt"))
    assert "[paused]" in shown.text and "bug_reported 1" in shown.text
    resumed = await world.run(command(BOSS, "admin", "programme", "resume", "bug-hunt"))
    assert resumed.ok
    async with store.connection() as conn:
        assert (await conn.execute(select(ProgrammeState.paused))).scalar() is False
    bad = await world.run(command(BOSS, "admin", "programme", "pause", "nonsense"))
    assert not bad.ok and "unknown programme" in bad.text


async def test_invite_is_a_dry_run_until_confirmed(store: Store) -> None:
    world = await _world(store)
    async with store.connection() as conn:
        for i in range(3):
            await add_member(conn, actor(f"eu{i}"), segments=("end_users",), dims=END_USER)
    dry = await world.run(command(BOSS, "admin", "invite", "champions", "end_users"))
    assert dry.ok and "Dry run: 3 of 3" in dry.text and "--confirm" in dry.text
    async with store.connection() as conn:
        assert await count(conn, Invitation.__table__) == 0
    done = await world.run(command(BOSS, "admin", "invite", "champions", "end_users", "--confirm"))
    assert done.ok and "Invited 3 of 3" in done.text
    async with store.connection() as conn:
        assert await count(conn, OutboxMessage.__table__, OutboxMessage.programme == "champions") == 3
    wrong = await world.run(command(BOSS, "admin", "invite", "champions", "wizards"))
    assert not wrong.ok and "unknown segment" in wrong.text


async def test_approvals_list_approve_reject(store: Store) -> None:
    world = await _world(store)
    async with store.connection() as conn:
        a = await add_member(conn, actor("sam"), segments=("system_integrators",), dims=INTEGRATOR)
        b = await add_member(conn, actor("sue"), segments=("system_integrators",), dims=INTEGRATOR)
        [pa] = await Planner(load_catalogue()).plan(conn, [a], now=T0)
        [pb] = await Planner(load_catalogue()).plan(conn, [b], now=T0)
    pending = await world.run(command(BOSS, "admin", "approvals"))
    assert f"#{pa.invitation_id} partner-referral: sam" in pending.text
    ok = await world.run(command(BOSS, "admin", "approvals", "approve", str(pa.invitation_id)))
    assert ok.ok and "approved" in ok.text
    no = await world.run(command(BOSS, "admin", "approvals", "reject", f"#{pb.invitation_id}"))
    assert no.ok and "rejected" in no.text
    twice = await world.run(command(BOSS, "admin", "approvals", "approve", str(pa.invitation_id)))
    assert not twice.ok and "not awaiting approval" in twice.text
    async with store.connection() as conn:
        statuses = dict((await conn.execute(select(Invitation.member_id, Invitation.status))).all())
        assert statuses == {a: "planned", b: "rejected"}
        assert await count(conn, OutboxMessage.__table__) == 1
    assert "No invitations are waiting" in (await world.run(command(BOSS, "admin", "approvals"))).text
