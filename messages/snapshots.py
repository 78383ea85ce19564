"""What policy needs to know about members, read from the store in a few batched queries.

The planner and the hero loop both ask "may we write to this person, where, and what have
they already had?"; this module answers for a set of members at once and hands back plain
``MemberSnapshot`` values (plus the accounts to address), so the policy stays pure. It
also says how a message is addressed to one of those accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.outbound import Kind, Recipient
from bot.store.activity_rows import sqlite_time
from bot.store.live_models import Consent, Invitation, OutboxMessage, ProgrammeState
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place, SegmentAssignment
from messages import sqlite_fast
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


class _Evidence(Mapping[str, list[str]]):
    """A member's evidence sentences per dimension, decoded from the rows on first use: a
    batch loads many members and writes invitations for few."""

    __slots__ = ("_decode", "_decoded", "_rows")

    def __init__(self, rows: list[tuple[str, Any]], decode: Callable[[Any], Any]) -> None:
        self._rows = rows
        self._decode = decode
        self._decoded: dict[str, list[str]] | None = None

    def _get(self) -> dict[str, list[str]]:
        if self._decoded is None:
            self._decoded = {}
            for dim, stored in self._rows:
                ev = self._decode(stored)
                items = (ev or {}).get("evidence", []) if isinstance(ev, dict) else []
                says = [str(e["says"]) for e in items if isinstance(e, dict) and e.get("says")]
                self._decoded[dim] = says[:_EVIDENCE_PER_DIMENSION]
        return self._decoded

    def __getitem__(self, key: str) -> list[str]:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def items(self) -> ItemsView[str, list[str]]:
        return self._get().items()

    def __repr__(self) -> str:
        return repr(self._get())


@dataclass(frozen=True, slots=True)
class MemberView:
    snapshot: MemberSnapshot
    display_name: str
    accounts: tuple[Account, ...]
    #: The current dimension values with confidence, as the segmentation cached them.
    decisions: dict[str, Any]
    #: Per dimension, the sentences the segmentation rules wrote for its current value (kept
    #: with an invitation's reason, for ``whyme``).
    evidence: Mapping[str, list[str]] = field(default_factory=dict)

    def account(self, platform: str) -> Account | None:
        for a in self.accounts:
            if a.platform == platform and not a.undeliverable:
                return a
        return None


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def most_common_offset(features: dict[str, Any] | None) -> int | None:
    offsets = (features or {}).get("tz_offsets") or {}
    if not offsets:
        return None
    return int(max(offsets.items(), key=lambda kv: (kv[1], kv[0]))[0])


# -- the reads, built once: composing a select per call cost more than running it -----------

_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_MEMBER = Member.__table__
_FEATURES = MemberFeatureRow.__table__
_ACTIVITY = Activity.__table__
_LAST = _ACTIVITY.alias("last_activity")
_PLACE = Place.__table__
_OUTBOX = OutboxMessage.__table__

PAUSED = select(ProgrammeState.name).where(ProgrammeState.paused.is_(True))
#: The paused programmes and the consent of members (an IN list at ``%s``), as plain SQL for
#: SQLite's one-trip reads here and in ``messages.hero_reads`` (``PAUSED`` and ``CONSENTS`` elsewhere).
SQLITE_PAUSED = "SELECT programme_state.name FROM programme_state WHERE programme_state.paused IS 1"
CONSENTS = select(Consent.member_id, Consent.scope, Consent.state).where(Consent.member_id.in_(_IDS))

#: One row per member: name, bot flag, segments, decisions, the time zones seen (not the whole
#: feature summary), the latest activity's platform and time, and the messages of the last day.
_LAST_ID = select(func.max(_ACTIVITY.c.id)).where(_ACTIVITY.c.member_id == _MEMBER.c.id).scalar_subquery()
_RECENT = (
    select(func.count())
    .select_from(_OUTBOX)
    .where(
        _OUTBOX.c.member_id == _MEMBER.c.id,
        _OUTBOX.c.created_at >= bindparam("day_ago", type_=OutboxMessage.created_at.type),
        _OUTBOX.c.status != "cancelled",
    )
    .scalar_subquery()
)
_MEMBERS = (
    select(
        _MEMBER.c.id,
        _MEMBER.c.display_name,
        _MEMBER.c.is_bot,
        _FEATURES.c.segments,
        _FEATURES.c.decisions,
        _FEATURES.c.features["tz_offsets"].label("tz_offsets"),
        _PLACE.c.platform,
        _LAST.c.occurred_at,
        _RECENT.label("recent"),
    )
    .select_from(
        _MEMBER.outerjoin(_FEATURES, _FEATURES.c.member_id == _MEMBER.c.id)
        .outerjoin(_LAST, _LAST.c.id == _LAST_ID)
        .outerjoin(_PLACE, _PLACE.c.id == _LAST.c.place_id)
    )
    .where(_MEMBER.c.id.in_(_IDS))
)
_IDENTITIES = select(
    Identity.member_id,
    Identity.platform,
    Identity.external_id,
    Identity.email,
    Identity.display_name,
    Identity.is_bot,
    Identity.undeliverable,
).where(Identity.member_id.in_(_IDS))
_EVIDENCE = select(
    SegmentAssignment.member_id, SegmentAssignment.dimension, SegmentAssignment.evidence
).where(SegmentAssignment.member_id.in_(_IDS), SegmentAssignment.current.is_(True))
#: Evidence sentences kept per dimension in an invitation's reason.
_EVIDENCE_PER_DIMENSION = 3
#: The planned send time is all of an invitation's reason the caps need.
_INVITATIONS = select(
    Invitation.member_id,
    Invitation.programme,
    Invitation.status,
    Invitation.sent_at,
    Invitation.planned_at,
    Invitation.reason["not_before"].as_string(),
).where(Invitation.member_id.in_(_IDS))


def _first(row: Any) -> Any:
    return row[0]


async def paused_programmes(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(PAUSED)
    return set(rows.scalars())


# The same reads as plain SQL for SQLite's one-trip path (``messages.sqlite_fast``).
_SQLITE_MEMBERS = (
    "SELECT member.id, member.display_name, member.is_bot, member_features.segments, "
    "member_features.decisions, JSON_QUOTE(JSON_EXTRACT(member_features.features, '$.\"tz_offsets\"')), "
    "place.platform, last_activity.occurred_at, (SELECT count(*) FROM outbox "
    "WHERE outbox.member_id = member.id AND outbox.created_at >= ? AND outbox.status != 'cancelled') "
    "FROM member LEFT OUTER JOIN member_features ON member_features.member_id = member.id "
    "LEFT OUTER JOIN activity AS last_activity ON last_activity.id = "
    "(SELECT max(activity.id) FROM activity WHERE activity.member_id = member.id) "
    "LEFT OUTER JOIN place ON place.id = last_activity.place_id WHERE member.id IN (%s)"
)
_SQLITE_EVIDENCE = (
    "SELECT segment_assignment.member_id, segment_assignment.dimension, segment_assignment.evidence "
    "FROM segment_assignment WHERE segment_assignment.member_id IN (%s) AND segment_assignment.current IS 1"
)
_SQLITE_IDENTITIES = (
    "SELECT identity.member_id, identity.platform, identity.external_id, identity.email, "
    "identity.display_name, identity.is_bot, identity.undeliverable FROM identity "
    "WHERE identity.member_id IN (%s)"
)
_SQLITE_INVITATIONS = (
    "SELECT invitation.member_id, invitation.programme, invitation.status, invitation.sent_at, "
    "invitation.planned_at, CAST(JSON_EXTRACT(invitation.reason, '$.\"not_before\"') AS VARCHAR) "
    "FROM invitation WHERE invitation.member_id IN (%s)"
)
SQLITE_CONSENTS = (
    "SELECT consent.member_id, consent.scope, consent.state FROM consent WHERE consent.member_id IN (%s)"
)


_READS = 5  # statements per chunk of members


async def _read_members(
    conn: AsyncConnection, ids: list[int], day_ago: datetime, *, paused: bool
) -> tuple[bool, list[list[Any]], set[str]]:
    """(raw, [member, identity, invitation, consent, evidence rows], paused programmes if
    asked): one trip on SQLite."""
    parts = [list(chunk) for chunk in chunks(ids)]

    def raw_reads(part: list[int]) -> list[sqlite_fast.Query]:
        marks = sqlite_fast.in_list(part)
        return [
            (_SQLITE_MEMBERS % marks, [sqlite_time(day_ago), *part]),
            (_SQLITE_IDENTITIES % marks, part),
            (_SQLITE_INVITATIONS % marks, part),
            (SQLITE_CONSENTS % marks, part),
            (_SQLITE_EVIDENCE % marks, part),
        ]

    def portable_reads(part: list[int]) -> list[sqlite_fast.Statement]:
        return [
            (_MEMBERS, {"ids": part, "day_ago": day_ago}),
            (_IDENTITIES, {"ids": part}),
            (_INVITATIONS, {"ids": part}),
            (CONSENTS, {"ids": part}),
            (_EVIDENCE, {"ids": part}),
        ]

    raw, pages = await sqlite_fast.read_chunks(
        conn,
        parts,
        raw=raw_reads,
        portable=portable_reads,
        tail_raw=[(SQLITE_PAUSED, ())] if paused else (),
        tail_portable=[(PAUSED, {})] if paused else (),
    )
    stopped = {name for (name,) in pages.pop()} if paused else set()
    kinds = [[row for page in pages[i::_READS] for row in page] for i in range(_READS)]
    return raw, kinds, stopped


async def load_members(
    conn: AsyncConnection, member_ids: Collection[int], *, now: datetime
) -> dict[int, MemberView]:
    """Snapshots of the members that exist (unknown ids are left out): five reads a chunk,
    all in one trip on SQLite."""
    views, _ = await _load(conn, member_ids, now=now, paused=False)
    return views


async def load_for_planning(
    conn: AsyncConnection, member_ids: Collection[int], *, now: datetime
) -> tuple[dict[int, MemberView], set[str]]:
    """``load_members`` and ``paused_programmes`` in the same trip."""
    return await _load(conn, member_ids, now=now, paused=True)


async def _load(
    conn: AsyncConnection, member_ids: Collection[int], *, now: datetime, paused: bool
) -> tuple[dict[int, MemberView], set[str]]:
    ids = sorted(set(member_ids))
    views: dict[int, MemberView] = {}
    if not ids:
        return views, await paused_programmes(conn) if paused else set()
    raw, kinds, stopped = await _read_members(conn, ids, now - timedelta(days=1), paused=paused)
    members, identity_rows, invitation_rows, consent_rows, evidence_rows = kinds
    utc: Callable[[Any], Any] = sqlite_fast.utc if raw else _same
    loads: Callable[[Any], Any] = sqlite_fast.loads if raw else _same
    accounts: dict[int, list[Account]] = {}
    bot_account: set[int] = set()
    for mid, platform, external_id, email, display_name, is_bot, undeliverable in identity_rows:
        if is_bot:
            bot_account.add(mid)
        accounts.setdefault(mid, []).append(
            Account(platform, external_id, email, display_name, undeliverable is not None)
        )
    invitations: dict[int, list[PastInvitation]] = {}
    fromiso = datetime.fromisoformat
    for mid, programme, status, sent_at, planned_at, due in invitation_rows:
        # When it went out, or is due to (caps and cooldowns count from then); only that time is converted.
        if sent_at is not None:
            when = utc(sent_at)
        elif isinstance(due, str):
            when = fromiso(due)
        else:
            when = utc(planned_at)
        invitations.setdefault(mid, []).append(PastInvitation(programme, status, when))
    consent: dict[int, dict[str, str]] = {}
    for mid, scope, state in consent_rows:
        consent.setdefault(mid, {})[scope] = state
    evidence: dict[int, list[tuple[str, Any]]] = {}
    for mid, dim, stored in evidence_rows:
        evidence.setdefault(mid, []).append((dim, stored))
    for mid, name, is_bot, segs, decisions, tz_offsets, platform, at, recent in sorted(members, key=_first):
        decisions = dict(loads(decisions) or {})
        last_at = utc(at)
        own = tuple(accounts.get(mid, []))
        reach = tuple(
            Reach(
                a.platform,
                undeliverable=a.undeliverable,
                last_active=last_at if platform is not None and platform == a.platform else None,
            )
            for a in own
        )
        snapshot = MemberSnapshot(
            member_id=mid,
            segments=frozenset(loads(segs) or []),
            dimensions={
                d: str(v.get("value", "unknown")) for d, v in decisions.items() if isinstance(v, dict)
            },
            is_bot=bool(is_bot) or mid in bot_account,
            consent=consent.get(mid, {}),
            reach=reach,
            tz_offset_minutes=most_common_offset({"tz_offsets": loads(tz_offsets)}),
            invitations=tuple(invitations.get(mid, [])),
            recent_sends=int(recent or 0),
        )
        views[mid] = MemberView(snapshot, name, own, decisions, _Evidence(evidence.get(mid, []), loads))
    return views, stopped


def _same(value: Any) -> Any:
    return value


#: Builds the signed link for a button (action, token, expiry), or None where the web server is off.
LinkMaker = Callable[[str, str, datetime], str | None]


def recipient_for(account: Account) -> tuple[Kind, Recipient]:
    """A direct message on chat platforms, an e-mail to the address on mail."""
    if account.platform == "mail":
        return "email", Recipient(
            email=account.email or account.external_id, display_name=account.display_name
        )
    return "dm", Recipient(user_id=account.external_id, display_name=account.display_name)
