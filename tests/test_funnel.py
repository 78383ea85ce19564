"""The invitation funnel: each transition once, with its time; counts per programme and segment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from programme_world import DEVELOPER, END_USER, T0, actor, add_member
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.store import Store
from bot.store.live_models import Invitation
from bot.store.outbox import OutboxRow
from bot.store.outbox_views import get_row
from messages import funnel
from messages.planner import PlannedInvitation, Planner
from messages.programmes import load_catalogue

PLANNER = Planner(load_catalogue())


async def _outbox_row(conn: AsyncConnection, outbox_id: int | None) -> OutboxRow:
    """The outbox row as the worker hands it to its sent-hooks."""
    assert outbox_id is not None
    row = await get_row(conn, outbox_id)
    assert row is not None
    return row


async def _planned(store: Store, name: str = "ada") -> PlannedInvitation:
    async with store.connection() as conn:
        mid = await add_member(conn, actor(name), segments=("developers",), dims=DEVELOPER)
        return (await PLANNER.plan(conn, [mid], now=T0))[0]


async def _row(store: Store, token: str) -> dict[str, object]:
    async with store.connection() as conn:
        row = (await conn.execute(select(Invitation).where(Invitation.token == token))).one()
        return dict(row._mapping)


async def test_sent_opened_accepted_each_once(store: Store) -> None:
    p = await _planned(store)
    assert p.outbox_id is not None
    async with store.connection() as conn:
        await funnel.on_sent(conn, await _outbox_row(conn, p.outbox_id), T0 + timedelta(minutes=1))
        retried = await _outbox_row(conn, p.outbox_id)  # the hook runs again after a retry
        await funnel.on_sent(conn, retried, T0 + timedelta(minutes=9))
        opened = await funnel.respond(conn, p.token, "open", at=T0 + timedelta(minutes=2))
        accepted = await funnel.respond(conn, p.token, "accept", at=T0 + timedelta(minutes=3))
        again = await funnel.respond(conn, p.token, "accept", at=T0 + timedelta(minutes=4))
        late_no = await funnel.respond(conn, p.token, "decline", at=T0 + timedelta(minutes=5))
    assert (opened.status, opened.changed) == ("opened", True)
    assert (accepted.status, accepted.changed) == ("accepted", True)
    assert (again.changed, late_no.changed, late_no.status) == (False, False, "accepted")
    row = await _row(store, p.token)
    assert row["sent_at"] == T0 + timedelta(minutes=1)
    assert row["opened_at"] == T0 + timedelta(minutes=2)
    assert row["answered_at"] == T0 + timedelta(minutes=3)


async def test_accept_without_open_fills_opened(store: Store) -> None:
    p = await _planned(store)
    async with store.connection() as conn:
        await funnel.respond(conn, p.token, "accept", at=T0 + timedelta(hours=1))
        with pytest.raises(BadArgument, match="not valid"):
            await funnel.respond(conn, "bogus", "accept", at=T0)
        with pytest.raises(BadArgument, match="unknown invitation action"):
            await funnel.respond(conn, p.token, "maybe", at=T0)
    assert (await _row(store, p.token))["opened_at"] == T0 + timedelta(hours=1)


async def test_unanswered_invitations_expire_and_a_late_yes_is_welcome(store: Store) -> None:
    p = await _planned(store)
    assert p.outbox_id is not None
    async with store.connection() as conn:
        await funnel.on_sent(conn, await _outbox_row(conn, p.outbox_id), T0)
        assert await funnel.expire(conn, now=T0 + timedelta(days=13)) == 0
        assert await funnel.expire(conn, now=T0 + timedelta(days=15)) == 1
        assert await funnel.expire(conn, now=T0 + timedelta(days=16)) == 0
        assert (
            await funnel.respond(conn, p.token, "accept", at=T0 + timedelta(days=20))
        ).status == "accepted"


async def test_counts_per_programme_and_segment(store: Store) -> None:
    a = await _planned(store, "ada")
    b = await _planned(store, "bea")
    async with store.connection() as conn:
        eve = await add_member(conn, actor("eve"), segments=("end_users",), dims=END_USER)
        await PLANNER.plan(conn, [eve], now=T0)
        assert a.outbox_id and b.outbox_id
        await funnel.on_sent(conn, await _outbox_row(conn, a.outbox_id), T0)
        await funnel.on_sent(conn, await _outbox_row(conn, b.outbox_id), T0)
        await funnel.respond(conn, a.token, "accept", at=T0)
        await funnel.respond(conn, b.token, "decline", at=T0)
        rows = {(r.programme, r.segment): r for r in await funnel.counts(conn)}
        only = await funnel.counts(conn, programme="device-testing")
    bug = rows[("bug-hunt", "developers")]
    assert bug.statuses == {"accepted": 1, "declined": 1} and bug.total == 2
    assert bug.reached == {"planned": 2, "sent": 2, "opened": 2, "accepted": 1, "active": 0}
    assert [(r.programme, r.segment, r.statuses) for r in only] == [
        ("device-testing", "end_users", {"planned": 1})
    ]
