"""A member's rights over their data: consent, a full export, and erasure that stays erased.

Erasure deletes the member (every row that names them cascades, see ``COVERAGE``), scrubs
what other rows say about them (audit lines, merge records, a digest's lists), and keeps
only hashes of their accounts in ``erasure`` so that neither an import nor a live event
brings them back (``bot.store.ingest`` drops events from those accounts).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, cast, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import (
    Consent,
    DigestRun,
    Erasure,
    Invitation,
    MemberMerge,
    OutboxMessage,
    PendingConfirmation,
    ProgrammeState,
)
from bot.store.models import AuditLog, Member, MemberFeatureRow, SegmentAssignment
from bot.store.privacy_export import addressed_outbox, export_member, member_keys

log = logging.getLogger(__name__)

__all__ = [
    "COVERAGE",
    "ErasureReport",
    "cancel_pending",
    "consents",
    "email_hash",
    "erase_member",
    "erased_hashes",
    "export_member",
    "identity_epoch",
    "identity_hash",
    "is_opted_out",
    "set_consent",
]

ConsentState = Literal["in", "out"]
ERASED = "[erased]"
_MIN_MENTION = 4

#: How erasure treats every table: a new table must be added here (a test checks), so nobody
#: forgets to decide what erasing a person means for it.
COVERAGE: dict[str, str] = {
    "member": "deleted",
    "identity": "cascade",
    "activity": "cascade",
    "member_features": "cascade; copies of overrides they pinned as a manager scrubbed",
    "segment_assignment": "cascade; pinned_by naming them (as a manager) scrubbed, with its evidence",
    "consent": "cascade; sources naming them (a manager's opt-out for someone) scrubbed",
    "invitation": "cascade; decided_by and mentions in reasons scrubbed",
    "programme_points": "cascade",
    "solution_check": "cascade (as asker or helper)",
    "outbox": "cascade; rows addressed to their accounts deleted; mentions in others' messages blanked",
    "member_merge": "cascade as kept member; rows where they were the merged member deleted; by scrubbed",
    "merge_suggestion": "cascade",
    "audit_log": "rows they made or that name them anonymised",
    "pending_confirmation": "their held commands deleted",
    "digest_run": "entries about them and mentions of them in stored digests replaced",
    "programme_state": "changed_by naming them scrubbed",
    "erasure": "receives the hashes of their accounts",
    "place": "no personal data (channels)",
    "import_cursor": "no personal data (archive positions)",
    "seen_event": "no personal data (event uids)",
    "scheduler_lease": "no personal data",
    "alembic_version": "no personal data",
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()


def identity_hash(platform: str, external_id: str) -> str:
    """What ``erasure`` keeps of an account: sha256 of ``platform:external_id``, lower-cased."""
    return _sha(f"{platform}:{external_id}")


def email_hash(email: str) -> str:
    return _sha(email)


def _upsert(dialect: str) -> Any:
    return postgresql.insert(Consent) if dialect == "postgresql" else sqlite.insert(Consent)


async def set_consent(
    conn: AsyncConnection,
    member_id: int,
    scope: str,
    state: ConsentState,
    *,
    source: str,
    at: datetime,
) -> None:
    """Record a member's word on one scope ("all", "programme:<name>", "digest"); the newest wins."""
    if state not in ("in", "out"):
        raise ValueError(f"consent state must be 'in' or 'out', not {state!r}")
    if scope != "all" and scope != "digest" and not scope.startswith("programme:"):
        raise ValueError(f"unknown consent scope {scope!r}")
    stmt = _upsert(conn.dialect.name).values(
        member_id=member_id, scope=scope, state=state, source=source[:80], at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id", "scope"],
        set_={"state": state, "source": source[:80], "at": at},
    )
    await conn.execute(stmt)


async def consents(conn: AsyncConnection, member_id: int) -> dict[str, str]:
    rows = await conn.execute(
        select(Consent.scope, Consent.state).where(Consent.member_id == member_id).order_by(Consent.scope)
    )
    return {scope: state for scope, state in rows}


async def is_opted_out(conn: AsyncConnection, member_id: int, scope: str | None) -> bool:
    """Whether a message of this consent scope may not go to the member (None = a reply to them)."""
    if scope is None:
        return False
    scopes = {"all", scope}
    found = await conn.execute(
        select(Consent.state).where(Consent.member_id == member_id, Consent.scope.in_(scopes))
    )
    return any(state == "out" for (state,) in found)


async def cancel_pending(
    conn: AsyncConnection, member_id: int, *, scope: str, reason: str, at: datetime
) -> int:
    """Cancel the member's unsent messages that the scope covers; returns how many.

    Transactional rows (``body.consent_scope`` explicitly null: answers to their own
    commands) stay. ``at`` is kept with the reason, so the row says when it was stopped.
    """
    query = select(
        OutboxMessage.id, OutboxMessage.programme, OutboxMessage.template, OutboxMessage.body
    ).where(OutboxMessage.member_id == member_id, OutboxMessage.status == "pending")
    ids = []
    for row_id, programme, _template, body in await conn.execute(query):
        row_scope = body.get("consent_scope", "all") if isinstance(body, dict) else "all"
        if row_scope is None:
            continue
        if (
            scope == "all"
            or row_scope == scope
            or (scope.startswith("programme:") and programme == scope.removeprefix("programme:"))
        ):
            ids.append(row_id)
    if ids:
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
            .values(status="cancelled", last_error=f"{reason} ({at.isoformat()})")
        )
    return len(ids)


async def erased_hashes(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(Erasure.identity_hash))).scalars())


async def identity_epoch(conn: AsyncConnection) -> tuple[int, int, int]:
    """Changes whenever accounts change hands by hand: an erasure, a merge or an unmerge.

    A long-lived ingestor compares it once per batch to know when its cached member ids and
    erased hashes are stale; the three parts are cheap (two indexed maxima, a tiny table).
    """
    row = (
        await conn.execute(
            select(
                select(func.coalesce(func.max(Erasure.id), 0)).scalar_subquery(),
                select(func.coalesce(func.max(MemberMerge.id), 0)).scalar_subquery(),
                select(func.count()).where(MemberMerge.undone_at.is_not(None)).scalar_subquery(),
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


@dataclass(slots=True)
class ErasureReport:
    member_id: int
    identities: int = 0
    hashes: int = 0
    scrubbed: dict[str, int] = field(default_factory=dict)


async def erase_member(conn: AsyncConnection, member_id: int, *, at: datetime) -> ErasureReport:
    """Erase one member inside the caller's transaction; raises ``LookupError`` for an unknown id."""
    exists = (await conn.execute(select(Member.id).where(Member.id == member_id))).scalar()
    if exists is None:
        raise LookupError(f"no member #{member_id}")
    report = ErasureReport(member_id=member_id)
    keys = await member_keys(conn, member_id)
    report.identities = len(keys.accounts)
    hashes = {identity_hash(p, e) for p, e in keys.accounts} | {email_hash(e) for e in keys.emails}
    add: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(Erasure)
    add = add.on_conflict_do_nothing()
    if hashes:
        await conn.execute(add, [{"identity_hash": h, "at": at} for h in sorted(hashes)])
    report.hashes = len(hashes)
    names = keys.names
    scrub = report.scrubbed
    scrub["outbox"] = await _delete_addressed_outbox(conn, keys.user_ids, keys.emails)
    scrub["member_merge"] = (
        await conn.execute(delete(MemberMerge).where(MemberMerge.merged_member_id == member_id))
    ).rowcount or 0
    if keys.actor_keys:
        actors = list(keys.actor_keys)
        scrub["pending_confirmation"] = (
            await conn.execute(delete(PendingConfirmation).where(PendingConfirmation.actor.in_(actors)))
        ).rowcount or 0
        await conn.execute(update(MemberMerge).where(MemberMerge.by.in_(actors)).values(by=ERASED))
        await conn.execute(
            update(Invitation).where(Invitation.decided_by.in_(actors)).values(decided_by=ERASED)
        )
        await conn.execute(
            update(ProgrammeState).where(ProgrammeState.changed_by.in_(actors)).values(changed_by=ERASED)
        )
        scrub["pinned_by"] = await _scrub_pins(conn, actors)
    scrub["audit_log"] = await _scrub_audit(conn, member_id, keys.actor_keys, names)
    scrub.update(await _scrub_mentions(conn, member_id, names))
    await conn.execute(delete(Member).where(Member.id == member_id))
    log.info("erased member #%d (%d accounts, %d hashes kept)", member_id, report.identities, report.hashes)
    return report


async def _delete_addressed_outbox(
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


async def _scrub_pins(conn: AsyncConnection, actors: list[str]) -> int:
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


async def _scrub_audit(
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


async def _scrub_mentions(conn: AsyncConnection, member_id: int, names: set[str]) -> dict[str, int]:
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
