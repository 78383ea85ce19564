"""What erasure does to rows that are not the erased member's own: it blanks every mention.

Rows of other people and of the community keep what they say about everyone else: an
audit line keeps the act, a digest keeps its other champions, a pinned override keeps its
value; only the erased person's names, accounts and addresses become ``[erased]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import Consent, DigestRun, Invitation, OutboxMessage
from bot.store.models import AuditLog, MemberFeatureRow, SegmentAssignment
from bot.store.privacy_export import addressed_outbox

ERASED = "[erased]"
#: Shorter names are not blanked inside other texts: three letters would match other people's words.
_MIN_MENTION = 4


async def delete_addressed_outbox(
    conn: AsyncConnection, user_ids: Iterable[str], emails: Iterable[str]
) -> int:
    """Outbox rows with no member id (replies, digests by mail) that are addressed to them."""
    ids = await addressed_outbox(conn, user_ids, emails)
    if ids:
        await conn.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    return len(ids)


def _swap(value: Any, keys: set[str]) -> Any:
    """JSON with every string that is one of ``keys`` replaced by ``ERASED``."""
    if isinstance(value, dict):
        return {k: _swap(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, keys) for v in value]
    return ERASED if isinstance(value, str) and value in keys else value


async def scrub_pins(conn: AsyncConnection, actors: list[str]) -> int:
    """Overrides this person pinned as a manager keep their value but lose the name, in the
    assignment row, its evidence, and the copy of current decisions in ``member_features``."""
    keys = set(actors)
    changed = 0
    rows = await conn.execute(
        select(SegmentAssignment.id, SegmentAssignment.evidence).where(
            SegmentAssignment.pinned_by.in_(actors)
        )
    )
    for row_id, evidence in rows.all():
        await conn.execute(
            update(SegmentAssignment)
            .where(SegmentAssignment.id == row_id)
            .values(pinned_by=ERASED, evidence=_swap(evidence, keys))
        )
        changed += 1
    text = cast(MemberFeatureRow.decisions, String)
    found = await conn.execute(
        select(MemberFeatureRow.member_id, MemberFeatureRow.decisions).where(
            or_(*(text.contains(k) for k in actors))
        )
    )
    for owner, decisions in found.all():
        await conn.execute(
            update(MemberFeatureRow)
            .where(MemberFeatureRow.member_id == owner)
            .values(decisions=_swap(decisions, keys))
        )
    return changed


def _names_them(value: str, member_id: int, names: set[str]) -> bool:
    low = value.strip().lower()
    return low in names or low in (f"#{member_id}", str(member_id))


async def scrub_audit(
    conn: AsyncConnection, member_id: int, actor_keys: Sequence[str], names: set[str]
) -> int:
    """Audit rows they made, or whose arguments name them, keep the act but lose the person."""
    changed = 0
    if actor_keys:
        res = await conn.execute(
            update(AuditLog).where(AuditLog.actor.in_(list(actor_keys))).values(actor=ERASED)
        )
        changed += res.rowcount or 0
    needles = [n for n in names if len(n) >= 3] + [f"#{member_id}", str(member_id)]
    text = cast(AuditLog.args, String)
    rows = await conn.execute(
        select(AuditLog.id, AuditLog.args).where(or_(*(text.contains(n) for n in needles)))
    )
    for row_id, args in rows:
        raw = args.get("args", []) if isinstance(args, dict) else []
        cleaned = [ERASED if _names_them(str(a), member_id, names) else a for a in raw]
        if cleaned != raw:
            await conn.execute(update(AuditLog).where(AuditLog.id == row_id).values(args={"args": cleaned}))
            changed += 1
    return changed


def _mentions(names: set[str]) -> re.Pattern[str] | None:
    """Their names, accounts and addresses anywhere inside a text (short names are left alone:
    three letters would match too much of other people's words)."""
    needles = sorted((n for n in names if len(n) >= _MIN_MENTION), key=len, reverse=True)
    if not needles:
        return None
    return re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in needles), re.IGNORECASE)


def _redact(value: Any, member_id: int | None, pattern: re.Pattern[str] | None) -> tuple[Any, bool]:
    """JSON with every entry about the member replaced and every mention of them blanked;
    True when anything changed."""
    if isinstance(value, dict):
        if member_id is not None and value.get("member_id") == member_id:
            return {"member_id": None, "display_name": ERASED}, True
        out, hit = {}, False
        for k, v in value.items():
            out[k], h = _redact(v, member_id, pattern)
            hit |= h
        return out, hit
    if isinstance(value, list):
        items, hit = [], False
        for v in value:
            new, h = _redact(v, member_id, pattern)
            items.append(new)
            hit |= h
        return items, hit
    if isinstance(value, str) and pattern is not None:
        new_text, count = pattern.subn(ERASED, value)
        return new_text, bool(count)
    return value, False


async def _scrub_json(
    conn: AsyncConnection,
    column: Any,
    key: Any,
    member_id: int | None,
    pattern: re.Pattern[str] | None,
    needles: list[str],
) -> int:
    """Rewrite the JSON ``column`` of rows whose text mentions them (or names their member id)."""
    if pattern is None and member_id is None:
        return 0
    text = func.lower(cast(column, String))
    conditions = [text.contains(n) for n in needles]
    if member_id is not None:
        conditions.append(text.contains(f'"member_id": {member_id}'))
        conditions.append(text.contains(f'"member_id":{member_id}'))
    changed = 0
    for row_key, value in (await conn.execute(select(key, column).where(or_(*conditions)))).all():
        new, hit = _redact(value, member_id, pattern)
        if hit:
            await conn.execute(update(key.table).where(key == row_key).values({column.key: new}))
            changed += 1
    return changed


async def scrub_mentions(conn: AsyncConnection, member_id: int, names: set[str]) -> dict[str, int]:
    """Stored digests, other people's messages in the outbox, invitation reasons and consent
    sources that mention them (a digest's champions, a manager's name in a decision)."""
    pattern = _mentions(names)
    needles = sorted(n for n in names if len(n) >= _MIN_MENTION)
    out = {
        "digest_run": await _scrub_json(conn, DigestRun.content, DigestRun.id, member_id, pattern, needles),
        "outbox_bodies": await _scrub_json(
            conn, OutboxMessage.body, OutboxMessage.id, None, pattern, needles
        ),
        "invitation_reasons": await _scrub_json(
            conn, Invitation.reason, Invitation.id, None, pattern, needles
        ),
    }
    if pattern is not None and needles:
        rows = await conn.execute(
            select(Consent.id, Consent.source).where(
                or_(*(func.lower(Consent.source).contains(n) for n in needles))
            )
        )
        for row_id, source in rows.all():
            await conn.execute(
                update(Consent).where(Consent.id == row_id).values(source=pattern.sub(ERASED, source))
            )
    return out
