"""Reads over the outbox: due rows, stale claims, the last check before a send, the managers' views.

``hold_and_check`` runs right before every send, so an opt-out, an erasure or a
bounce recorded a moment ago stops a message that was enqueued days earlier.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import Consent, Erasure, ProgrammeState
from bot.store.models import Identity, Member
from bot.store.outbox import OUTBOX, OutboxRow
from bot.store.outbox import count_attempt as ob_count_attempt
from bot.store.outbox import hold as ob_hold
from bot.store.privacy import identity_hash

_C = OUTBOX.c
_CONSENT = Consent.__table__.c
_ERASURE = Erasure.__table__.c
_IDENTITY = Identity.__table__.c
_MEMBER = Member.__table__.c


def _recipient_identity(row: OutboxRow) -> tuple[str, str] | None:
    """(platform, external_id) of the person a DM or mail goes to; None for channel posts."""
    if row.kind == "email" or row.recipient.get("email"):
        email = row.recipient.get("email")
        return ("mail", str(email).strip().lower()) if email else None
    if row.kind == "dm" and row.recipient.get("user_id"):
        return (row.platform, str(row.recipient["user_id"]))
    return None


#: The template of the answer to an erasure by mail, which must reach the erased address once.
ERASURE_NOTICE = "erasure_notice"


def _last_check_statement() -> Any:
    """Every reason a row may not leave now, as one statement (built once: it runs before every send).

    Scalar subqueries, each over a unique or indexed column: whether the row's programme is
    paused, whether its member still exists, the first opted-out scope among the row's (its
    own, its programme's, "all"), whether the recipient's identity hash is in the erasure
    list, and why the recipient's account is undeliverable. One round trip instead of five.
    """
    paused = (
        select(literal_column("1"))
        .where(ProgrammeState.name == bindparam("programme"), ProgrammeState.paused.is_(True))
        .scalar_subquery()
    )
    present = select(literal_column("1")).where(_MEMBER.id == bindparam("member_id")).scalar_subquery()
    withdrawn = (
        select(func.min(_CONSENT.scope))
        .where(
            _CONSENT.member_id == bindparam("member_id"),
            _CONSENT.scope.in_(
                [bindparam("scope_all"), bindparam("scope_own"), bindparam("scope_programme")]
            ),
            _CONSENT.state == "out",
        )
        .scalar_subquery()
    )
    erased: Any = (
        select(literal_column("1")).where(_ERASURE.identity_hash == bindparam("identity_hash")).limit(1)
    )
    undeliverable = (
        select(_IDENTITY.undeliverable)
        .where(
            _IDENTITY.platform == bindparam("identity_platform"),
            _IDENTITY.external_id == bindparam("identity_external"),
            _IDENTITY.undeliverable.is_not(None),
        )
        .limit(1)
    )
    return select(
        paused.label("paused"),
        present.label("present"),
        withdrawn.label("withdrawn"),
        erased.scalar_subquery().label("erased"),
        undeliverable.scalar_subquery().label("undeliverable"),
    )


_LAST_CHECK = _last_check_statement()


@dataclass(frozen=True, slots=True)
class SendCheck:
    """The answer to "may this row leave now?": a paused programme waits, a block cancels."""

    paused: bool
    block: str | None


def _check_params(row: OutboxRow) -> dict[str, Any]:
    ident = _recipient_identity(row)
    return {
        "programme": row.programme,
        "member_id": row.member_id,
        "scope_all": "all",
        "scope_own": row.consent_scope,
        "scope_programme": f"programme:{row.programme}" if row.programme else None,
        "identity_hash": identity_hash(*ident) if ident is not None else None,
        "identity_platform": ident[0] if ident is not None else None,
        "identity_external": ident[1] if ident is not None else None,
    }


def _judge(row: OutboxRow, found: Sequence[Any]) -> SendCheck:
    """The answer from the check's columns: (paused, present, withdrawn, erased, undeliverable)."""
    paused_flag, present, withdrawn, erased, undeliverable = found
    paused = bool(row.programme) and paused_flag is not None
    if row.template == ERASURE_NOTICE:
        return SendCheck(paused, None)  # the one message an erased person still gets (scrubbed once sent)
    if row.member_id is not None:
        if present is None:
            return SendCheck(paused, "erased: the member no longer exists")
        if row.consent_scope is not None and withdrawn is not None:
            return SendCheck(paused, f"opted out of {withdrawn}")
    if _recipient_identity(row) is not None:
        if erased is not None:
            return SendCheck(paused, "erased: the recipient asked to be forgotten")
        if undeliverable is not None:
            return SendCheck(paused, f"undeliverable: {undeliverable}")
    return SendCheck(paused, None)


async def send_check(conn: AsyncConnection, row: OutboxRow) -> SendCheck:
    """Whether the row's programme is paused, and why it must not leave (opt-out, erasure,
    undeliverable) or None; one statement, asked right before every send."""
    found = (await conn.execute(_LAST_CHECK, _check_params(row))).one()
    return _judge(row, tuple(found))


async def hold_and_check(
    conn: AsyncConnection, row: OutboxRow, *, now: datetime, worker_id: str
) -> SendCheck | None:
    """The transaction before a send: touch the claim (``ob.hold``), ``send_check``, and when
    nothing stops the row, count the attempt (``ob.count_attempt``).

    None when the row is no longer this worker's. The worker runs it on SQLite's connection
    directly (``bot.store.sqlite_inline``), so three statements cost no more than one trip.
    """
    if not await ob_hold(conn, row.id, now=now, worker_id=worker_id):
        return None
    check = await send_check(conn, row)
    if not check.paused and check.block is None:
        await ob_count_attempt(conn, row.id)
    return check


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    lane: str
    platform: str
    count: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """What ``admin outbox status`` shows and ``/metrics`` exports."""

    counts: tuple[StatusCount, ...]
    depth: int  # pending + sending
    due: int  # pending and due now
    oldest_due: datetime | None  # the oldest not_before among due pending rows

    def total(self, status: str) -> int:
        return sum(c.count for c in self.counts if c.status == status)


async def status(conn: AsyncConnection, *, now: datetime) -> OutboxStatus:
    rows = await conn.execute(
        select(_C.status, _C.lane, _C.platform, func.count())
        .group_by(_C.status, _C.lane, _C.platform)
        .order_by(_C.status, _C.lane, _C.platform)
    )
    counts = tuple(StatusCount(s, lane, p, n) for s, lane, p, n in rows.all())
    due_row = (
        await conn.execute(
            select(func.count(), func.min(_C.not_before)).where(_C.status == "pending", _C.not_before <= now)
        )
    ).one()
    depth = sum(c.count for c in counts if c.status in ("pending", "sending"))
    return OutboxStatus(counts=counts, depth=depth, due=int(due_row[0]), oldest_due=due_row[1])


async def depth_by_lane(conn: AsyncConnection) -> dict[str, int]:
    """Pending and sending rows per lane, for the depth gauge."""
    rows = await conn.execute(
        select(_C.lane, func.count()).where(_C.status.in_(("pending", "sending"))).group_by(_C.lane)
    )
    return {lane: int(n) for lane, n in rows.all()}


async def dead_rows(conn: AsyncConnection, *, limit: int = 20) -> list[OutboxRow]:
    """The newest dead-lettered rows, with their reasons."""
    rows = await conn.execute(select(OUTBOX).where(_C.status == "dead").order_by(_C.id.desc()).limit(limit))
    return [OutboxRow.from_row(r) for r in rows.all()]


async def get_row(conn: AsyncConnection, outbox_id: int) -> OutboxRow | None:
    row = (await conn.execute(select(OUTBOX).where(_C.id == outbox_id))).first()
    return None if row is None else OutboxRow.from_row(row)


async def retry_dead(
    conn: AsyncConnection, outbox_id: int, *, now: datetime, deliver_within: timedelta = timedelta(days=1)
) -> bool:
    """Give a dead row another chance: pending now, attempts reset, a fresh deadline.

    False when the row is not dead (unknown id, or sent, pending, cancelled): a cancelled
    row was stopped by the member's own choice and stays stopped.
    """
    res = await conn.execute(
        update(OUTBOX)
        .where(and_(_C.id == outbox_id, _C.status == "dead"))
        .values(
            status="pending",
            not_before=now,
            deliver_until=now + deliver_within,
            attempts=0,
            claimed_by=None,
            claimed_at=None,
            last_error=None,
        )
    )
    return bool(res.rowcount)


# -- what the worker reads between claims ----------------------------------------------------


def _due_part(lane: str, platform: str) -> Any:
    return (
        select(_C.id, _C.platform, _C.destination, _C.lane, _C.not_before)
        .where(
            _C.status == "pending",
            _C.lane == lane,
            _C.platform == platform,
            _C.not_before <= bindparam("now"),
            _C.destination.not_in(bindparam("skip", expanding=True)),
        )
        .order_by(_C.not_before, _C.id)
        .limit(bindparam("limit"))
        .subquery()
    )


_DUE_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _due_statement(platforms: tuple[str, ...]) -> Any:
    """One UNION ALL part per lane and platform, each walking the due index on its own and
    stopping at its limit; built once per set of platforms."""
    stmt = _DUE_STATEMENTS.get(platforms)
    if stmt is None:
        parts = [select(_due_part(lane, p)) for lane in ("interactive", "broadcast") for p in platforms]
        stmt = _DUE_STATEMENTS[platforms] = union_all(*parts)
    return stmt


async def due_in_lanes(
    conn: AsyncConnection,
    *,
    now: datetime,
    platforms: Collection[str],
    skip_destinations: Collection[str] = (),
    skip_platforms: Collection[str] = (),
    limit: int = 50,
) -> list[tuple[int, str, str, str]]:
    """(id, platform, destination, lane) of due pending rows, the interactive lane first, then
    oldest first; at most ``limit`` per lane and platform; no lock taken.

    The worker picks the ones its rate limits allow and claims those with ``claim``;
    destinations and platforms that are waiting for a token are left out so they cannot
    starve the rest.
    """
    wanted = tuple(sorted(p for p in platforms if p not in skip_platforms))
    if not wanted:
        return []
    params = {"now": now, "skip": list(skip_destinations), "limit": limit}
    found = list((await conn.execute(_due_statement(wanted), params)).all())
    found.sort(key=lambda r: (r[3] != "interactive", r[4], r[0]))
    return [(r[0], r[1], r[2], r[3]) for r in found]


@dataclass(frozen=True, slots=True)
class Outlook:
    """What the worker needs between rounds: the next future row and whether any row is due now."""

    next_after: datetime | None
    due_now: bool


def _outlook_statement() -> Any:
    platforms: Any = bindparam("platforms", expanding=True)
    return select(
        select(func.min(_C.not_before))
        .where(_C.status == "pending", _C.not_before > bindparam("now"), _C.platform.in_(platforms))
        .scalar_subquery()
        .label("next_after"),
        select(_C.id)
        .where(_C.status == "pending", _C.not_before <= bindparam("now"), _C.platform.in_(platforms))
        .limit(1)
        .scalar_subquery()
        .label("due_id"),
    )


_OUTLOOK = _outlook_statement()


async def outlook(conn: AsyncConnection, *, now: datetime, platforms: Collection[str]) -> Outlook:
    """The earliest future ``not_before`` and whether any row is due now, in one statement
    (two index lookups)."""
    row = (await conn.execute(_OUTLOOK, {"now": now, "platforms": list(platforms)})).one()
    return Outlook(next_after=row.next_after, due_now=row.due_id is not None)


async def stale_sending(
    conn: AsyncConnection,
    *,
    worker_id: str,
    stale_before: datetime,
    platforms: Collection[str],
    exclude: Collection[int] = (),
) -> list[OutboxRow]:
    """Rows left "sending": this worker's own (it restarted) and anyone's claimed before ``stale_before``."""
    cond = [
        _C.status == "sending",
        _C.platform.in_(list(platforms)),
        (_C.claimed_by == worker_id) | (_C.claimed_at < stale_before) | _C.claimed_at.is_(None),
    ]
    if exclude:
        cond.append(_C.id.not_in(list(exclude)))
    stmt = select(OUTBOX).where(and_(*cond)).order_by(_C.id)
    return [OutboxRow.from_row(r) for r in (await conn.execute(stmt)).all()]
