"""The invitation funnel: planned -> sent -> opened -> accepted | declined | expired -> active.

Every transition is one conditional UPDATE on the invitation row (``WHERE status IN ...``),
so a replayed click, a second worker or a retried hook finds nothing to change and leaves
the row as it was: each transition happens once, with its timestamp. A manager's approval
(``awaiting_approval -> planned``) enqueues the message, which needs the planner; a
rejection ends the row as ``rejected``. Counts per programme and segment feed the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.store.live_models import Invitation
from bot.store.outbox import OutboxRow

if TYPE_CHECKING:
    from messages.planner import PlannedInvitation, Planner

log = logging.getLogger(__name__)

Action = Literal["accept", "decline", "open"]

#: Where each action may start from. A late "yes" to an expired invitation is still welcome.
_FROM: Mapping[str, tuple[str, ...]] = {
    "open": ("planned", "sent"),
    "accept": ("planned", "sent", "opened", "expired"),
    "decline": ("planned", "sent", "opened", "expired"),
}
_TO: Mapping[str, str] = {"open": "opened", "accept": "accepted", "decline": "declined"}

#: Funnel stages in order; a row counts towards its own stage and every stage before it.
STAGES = ("planned", "sent", "opened", "accepted", "active")
_REACHED: Mapping[str, tuple[str, ...]] = {
    "planned": ("planned",),
    "sent": ("planned", "sent"),
    "opened": ("planned", "sent", "opened"),
    "declined": ("planned", "sent", "opened"),
    "expired": ("planned", "sent"),
    "accepted": ("planned", "sent", "opened", "accepted"),
    "active": ("planned", "sent", "opened", "accepted", "active"),
}


@dataclass(frozen=True, slots=True)
class InvitationInfo:
    """An invitation after a response: ``changed`` is False when the response changed nothing."""

    id: int
    member_id: int
    programme: str
    segment: str
    status: str
    changed: bool


#: The invitation a sent outbox row belongs to, by its unique (member, programme); built once.
_MARK_SENT = (
    update(Invitation)
    .where(
        Invitation.member_id == bindparam("b_member_id"),
        Invitation.programme == bindparam("b_programme"),
        Invitation.outbox_id == bindparam("b_outbox_id"),
        Invitation.status == "planned",
    )
    .values(status="sent", sent_at=bindparam("b_at"))
)


async def on_sent(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
    """The outbox worker's hook, in the transaction that marks the row sent.

    It runs for every message that leaves, so it asks nothing of the database for a row that
    belongs to no programme (a welcome's reply, a command's answer), and is otherwise one
    indexed statement: the invitation is found by its unique (member, programme), which the
    row carries (``outbox_id`` has no index, and a scan per sent message grows with the table).
    """
    if row.member_id is None or not row.programme:
        return
    await conn.execute(
        _MARK_SENT,
        {"b_member_id": row.member_id, "b_programme": row.programme, "b_outbox_id": row.id, "b_at": at},
    )


async def _info(conn: AsyncConnection, token: str, *, changed: bool) -> InvitationInfo:
    row = (
        await conn.execute(
            select(
                Invitation.id,
                Invitation.member_id,
                Invitation.programme,
                Invitation.segment,
                Invitation.status,
            ).where(Invitation.token == token)
        )
    ).first()
    if row is None:
        raise BadArgument("this invitation link is not valid (it may have been erased)")
    return InvitationInfo(row.id, row.member_id, row.programme, row.segment, row.status, changed)


async def respond(conn: AsyncConnection, token: str, action: str, *, at: datetime) -> InvitationInfo:
    """A member's click or link: open, accept or decline; repeating it changes nothing."""
    if action not in _TO:
        raise BadArgument(f"unknown invitation action {action!r} (accept, decline or open)")
    values: dict[str, object] = {"status": _TO[action]}
    if action == "open":
        values["opened_at"] = at
    else:
        values["answered_at"] = at
        values["opened_at"] = func.coalesce(Invitation.opened_at, at)
    res = await conn.execute(
        update(Invitation)
        .where(Invitation.token == token, Invitation.status.in_(_FROM[action]))
        .values(**values)
    )
    info = await _info(conn, token, changed=bool(res.rowcount))
    if info.changed:
        log.info("invitation %s", info.status, extra={"invitation_id": info.id, "programme": info.programme})
    return info


async def mark_active(conn: AsyncConnection, member_id: int, programme: str, *, at: datetime) -> bool:
    """First points after accepting: the member is active in the programme."""
    res = await conn.execute(
        update(Invitation)
        .where(
            Invitation.member_id == member_id,
            Invitation.programme == programme,
            Invitation.status == "accepted",
        )
        .values(status="active", active_at=at)
    )
    return bool(res.rowcount)


async def mark_active_many(
    conn: AsyncConnection, pairs: Collection[tuple[int, str]], *, at: datetime
) -> None:
    """``mark_active`` for several (member, programme) pairs in one executemany."""
    if not pairs:
        return
    await conn.execute(
        update(Invitation)
        .where(
            Invitation.member_id == bindparam("m"),
            Invitation.programme == bindparam("p"),
            Invitation.status == "accepted",
        )
        .values(status="active", active_at=at),
        [{"m": m, "p": p} for m, p in sorted(pairs)],
    )


async def approve(
    conn: AsyncConnection, invitation_id: int, *, by: str, at: datetime, planner: Planner
) -> PlannedInvitation:
    """A manager's yes: planned and enqueued now (the planner renders the message)."""
    return await planner.approve(conn, invitation_id, by=by, at=at)


async def reject(conn: AsyncConnection, invitation_id: int, *, by: str, at: datetime) -> None:
    """A manager's no: the member is never invited to this programme by the bot."""
    res = await conn.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.status == "awaiting_approval")
        .values(status="rejected", decided_by=by, answered_at=at)
    )
    if not res.rowcount:
        status = (
            await conn.execute(select(Invitation.status).where(Invitation.id == invitation_id))
        ).scalar()
        if status is None:
            raise BadArgument(f"no invitation #{invitation_id}")
        raise BadArgument(f"invitation #{invitation_id} is {status}, not awaiting approval")


async def expire(conn: AsyncConnection, *, now: datetime) -> int:
    """Invitations left unanswered past their expiry; returns how many."""
    res = await conn.execute(
        update(Invitation)
        .where(
            Invitation.status.in_(("sent", "opened")),
            Invitation.expires_at.is_not(None),
            Invitation.expires_at < now,
        )
        .values(status="expired")
    )
    return int(res.rowcount or 0)


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One programme and segment: how many invitations are in each status, and reached each stage."""

    programme: str
    segment: str
    statuses: Mapping[str, int]

    @property
    def reached(self) -> dict[str, int]:
        out = dict.fromkeys(STAGES, 0)
        for status, n in self.statuses.items():
            for stage in _REACHED.get(status, ()):
                out[stage] += n
        return out

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


async def counts(
    conn: AsyncConnection, *, programme: str | None = None, since: datetime | None = None
) -> list[FunnelRow]:
    """Funnel per programme and segment (invitations planned since ``since``, if given)."""
    query = select(Invitation.programme, Invitation.segment, Invitation.status, func.count()).group_by(
        Invitation.programme, Invitation.segment, Invitation.status
    )
    if programme is not None:
        query = query.where(Invitation.programme == programme)
    if since is not None:
        query = query.where(Invitation.planned_at >= since)
    table: dict[tuple[str, str], dict[str, int]] = {}
    for prog, seg, status, n in await conn.execute(query):
        table.setdefault((prog, seg), {})[status] = int(n)
    return [FunnelRow(p, s, statuses) for (p, s), statuses in sorted(table.items())]
