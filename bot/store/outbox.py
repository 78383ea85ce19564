"""The outbox table's writes: enqueue in the caller's transaction, claim, and settle each row.

Everything that leaves the bot is a row here first, written in the same transaction as the
decision that caused it, so a crash can neither lose nor double a message. The worker
(``bot.outbox_worker``) claims due rows with a single conditional UPDATE (plus
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never hold the same row, and
settles each one: sent (with the receipt), rescheduled, dead (with the reason) or cancelled.

States: pending -> sending (claimed, committed before the platform is called) -> sent | dead |
cancelled; a "sending" row left by a crashed worker is released back to pending or marked
sent after reconciliation. The reads (due rows, stale claims, the pre-send check, the admin
views) are in ``bot.store.outbox_views``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.outbound import Button, Kind, Lane, OutboundMessage, Recipient, SendReceipt
from bot.store.live_models import OutboxMessage
from bot.store.sqlite_trip import insert_returning

OUTBOX = cast(Table, OutboxMessage.__table__)
_C = OUTBOX.c
# SQLite allows 32,766 bound parameters; an outbox row binds about 20.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to enqueue, already rendered for its platform."""

    dedupe_key: str
    platform: str
    kind: Kind
    to: Recipient
    text: str
    template: str = ""
    programme: str | None = None
    member_id: int | None = None
    subject: str | None = None
    html: str | None = None
    blocks: tuple[Mapping[str, Any], ...] = ()
    buttons: tuple[Button, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    reply_to_native: str | None = None
    lane: Lane = "broadcast"
    not_before: datetime | None = None
    deliver_within: timedelta = timedelta(days=2)
    #: The consent the member must not have withdrawn: "all", "programme:<name>", "digest";
    #: None for a transactional message (the answer to the member's own command).
    consent_scope: str | None = "all"


def destination(platform: str, to: Recipient) -> str:
    """The rate-limit key: the channel a post goes to, else the person a DM or mail goes to."""
    if to.channel:
        return f"{platform}:channel:{to.channel}"
    if to.user_id:
        return f"{platform}:user:{to.user_id}"
    if to.email:
        return f"{platform}:email:{to.email.strip().lower()}"
    raise ValueError(f"a {platform} message needs a channel, a user id or an address")


def _button_json(b: Button) -> dict[str, Any]:
    out: dict[str, Any] = {"action": b.action, "value": b.value, "label": b.label, "style": b.style}
    if b.url:
        out["url"] = b.url
    return out


def _row_values(m: NewMessage, now: datetime) -> dict[str, Any]:
    recipient: dict[str, Any] = m.to.to_json()
    if m.to.display_name:
        recipient["display_name"] = m.to.display_name
    body: dict[str, Any] = {"text": m.text, "consent_scope": m.consent_scope}
    if m.subject is not None:
        body["subject"] = m.subject
    if m.html is not None:
        body["html"] = m.html
    if m.blocks:
        body["blocks"] = [dict(b) for b in m.blocks]
    if m.buttons:
        body["buttons"] = [_button_json(b) for b in m.buttons]
    if m.headers:
        body["headers"] = dict(m.headers)
    if m.reply_to_native is not None:
        body["reply_to_native"] = m.reply_to_native
    not_before = m.not_before or now
    return {
        "dedupe_key": m.dedupe_key,
        "member_id": m.member_id,
        "platform": m.platform,
        "kind": m.kind,
        "recipient": recipient,
        "body": body,
        "template": m.template,
        "programme": m.programme,
        "lane": m.lane,
        "destination": destination(m.platform, m.to),
        "status": "pending",
        "attempts": 0,
        "not_before": not_before,
        "deliver_until": not_before + m.deliver_within,
        "created_at": now,
    }


_ENQUEUED = "cohortbot.outbox.enqueued"


def take_enqueued(conn: AsyncConnection) -> int:
    """How many rows ``enqueue`` added on this connection since the last call, and reset.

    The pipeline asks after its decision steps, so it wakes the outbox worker only when a
    batch enqueued something (a wake makes the worker look at once).
    """
    return int(conn.info.pop(_ENQUEUED, 0))


async def enqueue(
    conn: AsyncConnection, messages: Sequence[NewMessage], *, now: datetime
) -> list[int | None]:
    """Insert the messages inside the caller's transaction; a known ``dedupe_key`` is ignored.

    Returns the new row id per message, in order, None where the key was already enqueued
    (before, or earlier in the same list). Nothing is committed here: the caller's
    transaction decides, so a rolled-back decision leaves no message behind.
    """
    ids: dict[str, int] = {}
    fresh: list[NewMessage] = []
    seen: set[str] = set()
    for m in messages:
        if m.dedupe_key not in seen:
            seen.add(m.dedupe_key)
            fresh.append(m)
    dialect = conn.dialect.name
    if dialect == "sqlite" and fresh:
        ids = await _insert_sqlite(conn, [_row_values(m, now) for m in fresh])
        fresh = []
    for start in range(0, len(fresh), _CHUNK):
        rows = [_row_values(m, now) for m in fresh[start : start + _CHUNK]]
        if dialect == "postgresql":
            pg = postgresql.insert(OUTBOX).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
            stmt: Any = pg.returning(_C.id, _C.dedupe_key)
        else:  # pragma: no cover - the project supports SQLite and PostgreSQL only
            raise NotImplementedError(dialect)
        for row_id, key in (await conn.execute(stmt)).all():
            ids[key] = row_id
    if ids:
        conn.info[_ENQUEUED] = conn.info.get(_ENQUEUED, 0) + len(ids)
    out: list[int | None] = []
    for m in messages:
        out.append(ids.pop(m.dedupe_key, None))  # pop: a repeat later in the list is a duplicate
    return out


_SQLITE_COLUMNS = (
    "dedupe_key", "member_id", "platform", "kind", "recipient", "body", "template", "programme",
    "lane", "destination", "status", "attempts", "not_before", "deliver_until", "created_at",
)  # fmt: skip
_SQLITE_INSERT = (
    "INSERT INTO outbox (dedupe_key, member_id, platform, kind, recipient, body, template, programme, "
    "lane, destination, status, attempts, not_before, deliver_until, created_at) "
    "VALUES %s ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
)


async def _insert_sqlite(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Plain multi-row INSERT ... RETURNING of the new rows (``sqlite_trip.insert_returning``).

    Building SQLAlchemy's multi-row INSERT construct per call cost more than running it
    (≈ 3 ms a call on the live pipeline). Duplicates of a dedupe key are skipped by the
    unique index and not returned, so the ids are exactly the rows this call added.
    """
    values = [tuple(r[c] for c in _SQLITE_COLUMNS) for r in rows]  # encoded as SQLAlchemy would
    found = await insert_returning(conn, _SQLITE_INSERT, values)
    return {str(key): int(row_id) for row_id, key in found}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row as plain data; the worker turns it into an ``OutboundMessage``."""

    id: int
    dedupe_key: str
    member_id: int | None
    platform: str
    kind: str
    recipient: Mapping[str, Any]
    body: Mapping[str, Any]
    template: str
    programme: str | None
    lane: str
    destination: str
    status: str
    attempts: int
    not_before: datetime
    deliver_until: datetime
    created_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None
    sent_at: datetime | None
    receipt: Mapping[str, Any] | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> OutboxRow:
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})

    @property
    def consent_scope(self) -> str | None:
        scope = self.body.get("consent_scope", "all")
        return None if scope is None else str(scope)

    def to_message(self) -> OutboundMessage:
        r, b = self.recipient, self.body
        return OutboundMessage(
            outbox_id=self.id,
            dedupe_key=self.dedupe_key,
            platform=self.platform,
            kind=cast(Kind, self.kind),
            to=Recipient(
                user_id=r.get("user_id"),
                channel=r.get("channel"),
                email=r.get("email"),
                display_name=r.get("display_name", ""),
            ),
            text=b.get("text", ""),
            template=self.template,
            programme=self.programme,
            subject=b.get("subject"),
            html=b.get("html"),
            blocks=tuple(b.get("blocks", ())),
            buttons=tuple(Button(**x) for x in b.get("buttons", ())),
            headers=dict(b.get("headers", {})),
            reply_to_native=b.get("reply_to_native"),
            attempt=self.attempts + 1,
        )


async def claim(
    conn: AsyncConnection, ids: Collection[int], *, now: datetime, worker_id: str
) -> list[OutboxRow]:
    """Mark those of ``ids`` that are still pending as "sending" by this worker; return them.

    One conditional UPDATE: on SQLite writes are serialised, on PostgreSQL the inner
    ``FOR UPDATE SKIP LOCKED`` passes over rows another worker is claiming, and the outer
    ``status = 'pending'`` re-check means a row is never claimed twice. The caller commits
    before it calls the platform, so a crash leaves the row visibly "sending".
    """
    if not ids:
        return []
    params = {"b_ids": list(ids), "b_at": now, "b_worker": worker_id}
    rows = [OutboxRow.from_row(r) for r in (await conn.execute(CLAIM, params)).all()]
    rows.sort(key=lambda r: (r.not_before, r.id))
    return rows


async def hold(conn: AsyncConnection, outbox_id: int, *, now: datetime, worker_id: str) -> bool:
    """Touch our claim as the transaction's first statement; False if the row is no longer ours.

    Writing first takes SQLite's write lock before the consent reads, so the check and the
    attempt count that follow see one consistent database.
    """
    res = await conn.execute(HOLD, {"b_id": outbox_id, "b_worker": worker_id, "b_at": now})
    return bool(res.rowcount)


async def count_attempt(conn: AsyncConnection, outbox_id: int) -> None:
    """Count a send attempt, in the transaction committed just before the platform is called."""
    await conn.execute(COUNT_ATTEMPT, {"b_id": outbox_id})


#: ``hold`` and ``count_attempt``, built once: they run before every message that leaves
#: (``outbox_views.hold_and_check``).
HOLD = (
    update(OUTBOX)
    .where(_C.id == bindparam("b_id"), _C.status == "sending", _C.claimed_by == bindparam("b_worker"))
    .values(claimed_at=bindparam("b_at"))
)
COUNT_ATTEMPT = update(OUTBOX).where(_C.id == bindparam("b_id")).values(attempts=_C.attempts + 1)
#: ``mark_sent`` and ``claim``, built once for the same reason.
MARK_SENT = (
    update(OUTBOX)
    .where(_C.id == bindparam("b_id"), _C.status == "sending")
    .values(status="sent", sent_at=bindparam("b_at"), receipt=bindparam("b_receipt"), last_error=None)
)
CLAIM = (
    update(OUTBOX)
    .where(
        _C.id.in_(
            select(_C.id)
            .where(_C.id.in_(bindparam("b_ids", expanding=True)), _C.status == "pending")
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        ),
        _C.status == "pending",
    )
    .values(status="sending", claimed_at=bindparam("b_at"), claimed_by=bindparam("b_worker"))
    .returning(*OUTBOX.c)
)


def _receipt_json(receipt: SendReceipt) -> dict[str, Any]:
    out: dict[str, Any] = {"native_id": receipt.native_id}
    if receipt.detail:
        out["detail"] = receipt.detail
    if receipt.delivered_at is not None:
        out["delivered_at"] = receipt.delivered_at.isoformat()
    return out


async def mark_sent(conn: AsyncConnection, outbox_id: int, receipt: SendReceipt, *, now: datetime) -> bool:
    """Record the platform's receipt; False if the row was not "sending" (erased meanwhile)."""
    res = await conn.execute(MARK_SENT, {"b_id": outbox_id, "b_at": now, "b_receipt": _receipt_json(receipt)})
    return bool(res.rowcount)


async def reschedule(conn: AsyncConnection, outbox_id: int, *, not_before: datetime, error: str) -> bool:
    """Back to pending, not before the given time, with the error that made it wait."""
    res = await conn.execute(
        update(OUTBOX)
        .where(_C.id == outbox_id, _C.status == "sending")
        .values(status="pending", not_before=not_before, last_error=error, claimed_by=None, claimed_at=None)
    )
    return bool(res.rowcount)


async def mark_dead(conn: AsyncConnection, outbox_id: int, *, reason: str) -> bool:
    """Dead-letter a claimed row with the reason (a manager can retry it)."""
    res = await conn.execute(
        update(OUTBOX)
        .where(_C.id == outbox_id, _C.status == "sending")
        .values(status="dead", last_error=reason)
    )
    return bool(res.rowcount)


async def mark_cancelled(conn: AsyncConnection, outbox_id: int, *, reason: str) -> bool:
    """Cancel a claimed row that must not leave (opt-out, erasure, undeliverable address)."""
    res = await conn.execute(
        update(OUTBOX)
        .where(_C.id == outbox_id, _C.status == "sending")
        .values(status="cancelled", last_error=reason)
    )
    return bool(res.rowcount)


async def expire_overdue(
    conn: AsyncConnection, *, now: datetime, platforms: Collection[str], limit: int = 500
) -> list[OutboxRow]:
    """Dead-letter pending rows past their ``deliver_until`` as "expired"; each row as it now is."""
    inner = (
        select(_C.id)
        .where(_C.status == "pending", _C.deliver_until < now, _C.platform.in_(list(platforms)))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(OUTBOX)
        .where(_C.id.in_(inner), _C.status == "pending")
        .values(status="dead", last_error="expired: not delivered before deliver_until")
        .returning(*OUTBOX.c)
    )
    return [OutboxRow.from_row(r) for r in (await conn.execute(stmt)).all()]


async def release(conn: AsyncConnection, outbox_id: int) -> bool:
    """Give a "sending" row back to pending, due at once (after a crash, or on a clean stop)."""
    res = await conn.execute(
        update(OUTBOX)
        .where(_C.id == outbox_id, _C.status == "sending")
        .values(status="pending", claimed_by=None, claimed_at=None)
    )
    return bool(res.rowcount)
