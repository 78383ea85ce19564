"""Everything the store holds about one member, as plain JSON (``mydata``), and their account keys.

The export walks the schema rather than a hand-kept list: every table with a column that
references ``member.id`` is read, so a table added later is exported without anyone
remembering to add it here. Rows that name the member without such a column (audit lines
they made, replies addressed to their account, merges that absorbed them) are added
explicitly.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Table, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import MemberMerge, OutboxMessage, PendingConfirmation
from bot.store.models import AuditLog, Base, Identity, Member

EXPORT_VERSION = 1


@dataclass(slots=True)
class MemberKeys:
    """The ways other rows can name a member: accounts, addresses, and lower-cased names."""

    accounts: list[tuple[str, str]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)
    user_ids: set[str] = field(default_factory=set)
    actor_keys: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


async def member_keys(conn: AsyncConnection, member_id: int) -> MemberKeys:
    keys = MemberKeys()
    display = (await conn.execute(select(Member.display_name).where(Member.id == member_id))).scalar()
    if display:
        keys.names.add(display.strip().lower())
    rows = await conn.execute(
        select(
            Identity.platform, Identity.external_id, Identity.email, Identity.username, Identity.display_name
        ).where(Identity.member_id == member_id)
    )
    for platform, external_id, email, username, name in rows:
        keys.accounts.append((platform, external_id))
        actor = f"{platform}:{external_id.lower() if platform == 'mail' else external_id}"
        keys.actor_keys.append(actor)
        if platform == "mail":
            keys.emails.add(external_id.lower())
        else:
            keys.user_ids.add(external_id)
        if email:
            keys.emails.add(email.lower())
        for value in (external_id, email, username, name, actor):
            if value and value.strip():
                keys.names.add(value.strip().lower())
    return keys


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _member_tables() -> list[tuple[Table, list[str]]]:
    """Tables with columns that reference ``member.id``, and those columns."""
    out = []
    for table in Base.metadata.sorted_tables:
        if table.name == "member":
            continue
        cols = [
            c.name for c in table.columns if any(fk.column.table.name == "member" for fk in c.foreign_keys)
        ]
        if cols:
            out.append((table, cols))
    return out


async def _rows(conn: AsyncConnection, table: Table, where: Any) -> list[dict[str, Any]]:
    result = await conn.execute(select(table).where(where).order_by(*table.primary_key.columns))
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in result]


async def export_member(conn: AsyncConnection, member_id: int) -> dict[str, Any]:
    """Every row about the member, by table name; raises ``LookupError`` for an unknown id."""
    member = await _rows(conn, Member.__table__, Member.__table__.c.id == member_id)  # type: ignore[arg-type]
    if not member:
        raise LookupError(f"no member #{member_id}")
    out: dict[str, Any] = {"export_version": EXPORT_VERSION, "member": member[0]}
    for table, cols in _member_tables():
        where = or_(*(table.c[c] == member_id for c in cols))
        out[table.name] = await _rows(conn, table, where)
    keys = await member_keys(conn, member_id)
    outbox = OutboxMessage.__table__
    addressed = await addressed_outbox(conn, keys.user_ids, keys.emails)
    if addressed:
        out["outbox"] = out.get("outbox", []) + await _rows(
            conn,
            outbox,  # type: ignore[arg-type]
            outbox.c.id.in_(addressed),
        )
    merges = MemberMerge.__table__
    out["member_merge"] = out.get("member_merge", []) + await _rows(
        conn,
        merges,  # type: ignore[arg-type]
        merges.c.merged_member_id == member_id,
    )
    if keys.actor_keys:
        audit = AuditLog.__table__
        out["audit_log"] = await _rows(conn, audit, audit.c.actor.in_(keys.actor_keys))  # type: ignore[arg-type]
        pending = PendingConfirmation.__table__
        out["pending_confirmation"] = [
            {k: v for k, v in row.items() if k != "token"}
            for row in await _rows(conn, pending, pending.c.actor.in_(keys.actor_keys))  # type: ignore[arg-type]
        ]
    return out


async def addressed_outbox(
    conn: AsyncConnection, user_ids: Iterable[str], emails: Iterable[str]
) -> list[int]:
    wanted = {("user_id", u) for u in user_ids} | {("email", e) for e in emails}
    if not wanted:
        return []
    text = cast(OutboxMessage.recipient, String)
    rows = await conn.execute(
        select(OutboxMessage.id, OutboxMessage.recipient).where(
            OutboxMessage.member_id.is_(None), or_(*(text.contains(v) for _, v in wanted))
        )
    )
    return [
        row_id
        for row_id, recipient in rows
        if isinstance(recipient, dict) and any(recipient.get(k) == v for k, v in wanted)
    ]
