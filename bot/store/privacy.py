"""A member's rights over their data: consent, a full export, and erasure that stays erased.

Erasure deletes the member (every row that names them cascades, see ``COVERAGE``), scrubs
what other rows say about them (audit lines, merge records, a digest's lists), and keeps
only hashes of their accounts in ``erasure`` so that neither an import nor a live event
brings them back (``bot.store.ingest`` drops events from those accounts).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import (
    Consent,
    Erasure,
    Invitation,
    MemberMerge,
    OutboxMessage,
    PendingConfirmation,
    ProgrammeState,
)
from bot.store.models import Member
from bot.store.privacy_export import export_member, member_keys
from bot.store.privacy_scrub import ERASED, delete_addressed_outbox, scrub_audit, scrub_mentions, scrub_pins

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
    await _withdraw_invitations(conn, member_id, scope=scope, outbox_ids=ids)
    return len(ids)


async def _withdraw_invitations(
    conn: AsyncConnection, member_id: int, *, scope: str, outbox_ids: list[int]
) -> None:
    """Invitations that never reached the member are withdrawn with their message.

    An invitation whose message an opt-out stopped, or one still waiting for a manager's
    approval, was never seen: it is removed rather than left "planned" for ever, so after an
    ``optin`` the policy may invite them again (once per programme counts what they saw).
    """
    if scope == "digest":
        return
    unseen = Invitation.status.in_(("planned", "awaiting_approval"))
    mine = [Invitation.member_id == member_id, unseen]
    if scope.startswith("programme:"):
        mine.append(Invitation.programme == scope.removeprefix("programme:"))
    linked = Invitation.outbox_id.in_(outbox_ids) if outbox_ids else None
    waiting = Invitation.status == "awaiting_approval"
    condition = waiting if linked is None else (linked | waiting)
    found = (await conn.execute(select(Invitation.id, Invitation.outbox_id).where(*mine, condition))).all()
    if not found:
        return
    await conn.execute(delete(Invitation).where(Invitation.id.in_([i for i, _ in found])))
    # Their cancelled messages go too: they never left, and their dedupe keys must be free for
    # the invitation the policy may make again after an opt-in.
    stopped = [o for _, o in found if o is not None]
    if stopped:
        await conn.execute(
            delete(OutboxMessage).where(OutboxMessage.id.in_(stopped), OutboxMessage.status == "cancelled")
        )


async def erased_hashes(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(Erasure.identity_hash))).scalars())


async def identity_epoch(conn: AsyncConnection) -> tuple[int, int, int]:
    """Changes whenever accounts change hands by hand: an erasure, a merge or an unmerge.

    A long-lived ingestor compares it once per batch to know when its cached member ids and
    erased hashes are stale; the three parts are cheap (two indexed maxima, a tiny table).
    """
    row = (await conn.execute(_EPOCH)).one()
    return int(row[0]), int(row[1]), int(row[2])


#: Built once: it runs before every batch the pipeline stores.
_EPOCH = select(
    select(func.coalesce(func.max(Erasure.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(MemberMerge.id), 0)).scalar_subquery(),
    select(func.count()).where(MemberMerge.undone_at.is_not(None)).scalar_subquery(),
)


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
    scrub["outbox"] = await delete_addressed_outbox(conn, keys.user_ids, keys.emails)
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
        scrub["pinned_by"] = await scrub_pins(conn, actors)
    scrub["audit_log"] = await scrub_audit(conn, member_id, keys.actor_keys, names)
    scrub.update(await scrub_mentions(conn, member_id, names))
    await conn.execute(delete(Member).where(Member.id == member_id))
    log.info("erased member #%d (%d accounts, %d hashes kept)", member_id, report.identities, report.hashes)
    return report
