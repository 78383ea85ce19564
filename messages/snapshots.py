"""What policy needs to know about members, read from the store in a few batched queries.

The planner and the hero loop both ask "may we write to this person, where, and what have
they already had?"; this module answers for a set of members at once and hands back plain
``MemberSnapshot`` values (plus the accounts to address), so the policy stays pure. It
also says how a message is addressed to one of those accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.outbound import Kind, Recipient
from bot.store.live_models import Consent, Invitation, OutboxMessage, ProgrammeState
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place
from messages.policy import MemberSnapshot, PastInvitation, Reach

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Account:
    """An identity to address a message to."""

    platform: str
    external_id: str
    email: str | None
    display_name: str
    undeliverable: bool


@dataclass(frozen=True, slots=True)
class MemberView:
    snapshot: MemberSnapshot
    display_name: str
    accounts: tuple[Account, ...]
    #: The current dimension values with confidence, as the segmentation cached them.
    decisions: dict[str, Any]

    def account(self, platform: str) -> Account | None:
        for a in self.accounts:
            if a.platform == platform and not a.undeliverable:
                return a
        return None


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def invitation_time(
    sent_at: datetime | None, planned_at: datetime, reason: dict[str, Any] | None
) -> datetime:
    """When an invitation went out, or is due to: caps and cooldowns count from then."""
    if sent_at is not None:
        return sent_at
    due = (reason or {}).get("not_before")
    if isinstance(due, str):
        return datetime.fromisoformat(due)
    return planned_at


def most_common_offset(features: dict[str, Any] | None) -> int | None:
    offsets = (features or {}).get("tz_offsets") or {}
    if not offsets:
        return None
    return int(max(offsets.items(), key=lambda kv: (kv[1], kv[0]))[0])


async def paused_programmes(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(select(ProgrammeState.name).where(ProgrammeState.paused.is_(True)))
    return set(rows.scalars())


async def consents(conn: AsyncConnection, member_ids: Collection[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(Consent.member_id, Consent.scope, Consent.state).where(Consent.member_id.in_(list(chunk)))
        )
        for mid, scope, state in rows:
            out.setdefault(mid, {})[scope] = state
    return out


async def load_members(
    conn: AsyncConnection, member_ids: Collection[int], *, now: datetime
) -> dict[int, MemberView]:
    """Snapshots of the members that exist (unknown ids are left out)."""
    ids = sorted(set(member_ids))
    views: dict[int, MemberView] = {}
    if not ids:
        return views
    members: dict[int, tuple[str, bool]] = {}
    features: dict[int, tuple[list[str], dict[str, Any], dict[str, Any]]] = {}
    accounts: dict[int, list[Account]] = {}
    bot_account: set[int] = set()
    invitations: dict[int, list[PastInvitation]] = {}
    recent: dict[int, int] = {}
    latest: dict[int, tuple[str, datetime]] = {}
    day_ago = now - timedelta(days=1)
    for chunk in chunks(ids):
        part = list(chunk)
        for mid, name, is_bot in await conn.execute(
            select(Member.id, Member.display_name, Member.is_bot).where(Member.id.in_(part))
        ):
            members[mid] = (name, is_bot)
        for mid, segs, decisions, feats in await conn.execute(
            select(
                MemberFeatureRow.member_id,
                MemberFeatureRow.segments,
                MemberFeatureRow.decisions,
                MemberFeatureRow.features,
            ).where(MemberFeatureRow.member_id.in_(part))
        ):
            features[mid] = (list(segs or []), dict(decisions or {}), dict(feats or {}))
        for row in await conn.execute(
            select(
                Identity.member_id,
                Identity.platform,
                Identity.external_id,
                Identity.email,
                Identity.display_name,
                Identity.is_bot,
                Identity.undeliverable,
            ).where(Identity.member_id.in_(part))
        ):
            if row.is_bot:
                bot_account.add(row.member_id)
            accounts.setdefault(row.member_id, []).append(
                Account(
                    row.platform, row.external_id, row.email, row.display_name, row.undeliverable is not None
                )
            )
        for mid, programme, status, sent_at, planned_at, reason in await conn.execute(
            select(
                Invitation.member_id,
                Invitation.programme,
                Invitation.status,
                Invitation.sent_at,
                Invitation.planned_at,
                Invitation.reason,
            ).where(Invitation.member_id.in_(part))
        ):
            invitations.setdefault(mid, []).append(
                PastInvitation(programme, status, invitation_time(sent_at, planned_at, reason))
            )
        for outbox_mid, n in await conn.execute(
            select(OutboxMessage.member_id, func.count())
            .where(
                OutboxMessage.member_id.in_(part),
                OutboxMessage.created_at >= day_ago,
                OutboxMessage.status != "cancelled",
            )
            .group_by(OutboxMessage.member_id)
        ):
            if outbox_mid is not None:
                recent[outbox_mid] = int(n)
        last_ids = select(func.max(Activity.id).label("aid")).where(Activity.member_id.in_(part))
        last_ids = last_ids.group_by(Activity.member_id)
        for mid, platform, at in await conn.execute(
            select(Activity.member_id, Place.platform, Activity.occurred_at)
            .join(Place, Place.id == Activity.place_id)
            .where(Activity.id.in_(last_ids.scalar_subquery()))
        ):
            latest[mid] = (platform, at)
    consent = await consents(conn, ids)
    for mid in ids:
        if mid not in members:
            continue
        name, is_bot = members[mid]
        segs, decisions, feats = features.get(mid, ([], {}, {}))
        own = tuple(accounts.get(mid, []))
        last = latest.get(mid)
        reach = tuple(
            Reach(
                a.platform,
                undeliverable=a.undeliverable,
                last_active=last[1] if last and last[0] == a.platform else None,
            )
            for a in own
        )
        snapshot = MemberSnapshot(
            member_id=mid,
            segments=frozenset(segs),
            dimensions={
                d: str(v.get("value", "unknown")) for d, v in decisions.items() if isinstance(v, dict)
            },
            is_bot=is_bot or mid in bot_account,
            consent=consent.get(mid, {}),
            reach=reach,
            tz_offset_minutes=most_common_offset(feats),
            invitations=tuple(invitations.get(mid, [])),
            recent_sends=recent.get(mid, 0),
        )
        views[mid] = MemberView(snapshot, name, own, decisions)
    return views


#: Builds the signed link for a button (action, token, expiry), or None where the web server is off.
LinkMaker = Callable[[str, str, datetime], str | None]


def recipient_for(account: Account) -> tuple[Kind, Recipient]:
    """A direct message on chat platforms, an e-mail to the address on mail."""
    if account.platform == "mail":
        return "email", Recipient(
            email=account.email or account.external_id, display_name=account.display_name
        )
    return "dm", Recipient(user_id=account.external_id, display_name=account.display_name)
