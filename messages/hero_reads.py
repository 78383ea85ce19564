"""What the Community Hero loop reads from the store: messages by uid, bots, open checks, accounts.

Every reader takes the whole batch's keys and answers in one query per chunk, from a
statement built once at import: the loop runs after each ingested batch, and single-row
reads per answer (or composing a select per batch) cost more than the work itself. The
batch's activities come with what they answer and their authors' bot flags, names and time
zones in a single query.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import OutboxMessage, SolutionCheck
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place
from messages.snapshots import Account, chunks, consents, most_common_offset
from segmentation.signals import is_question


@dataclass(frozen=True, slots=True)
class Row:
    uid: str
    member_id: int
    kind: str
    own_text: str
    subject: str | None
    native_id: str
    reply_to: str | None
    thread: str | None
    platform: str | None
    occurred_at: datetime
    place_id: str = ""
    place_name: str = ""

    @property
    def private(self) -> bool:
        """Written to the bot alone: a Discord DM, a Slack D… channel, a mail to the bot's address."""
        if self.platform == "discord":
            return self.place_name == "DM"
        if self.platform == "slack":
            return self.place_id.startswith("D")
        return self.platform == "mail" and self.place_name == "bot"

    @property
    def target(self) -> str | None:
        """The message this one answers: the replied-to message, else the thread's root."""
        if self.reply_to:
            return self.reply_to
        if self.thread and self.thread != self.uid:
            return self.thread
        return None


@dataclass(slots=True)
class Reads:
    """Activities by uid, with what the loop needs to know of their authors."""

    rows: dict[str, Row] = field(default_factory=dict)
    bots: set[int] = field(default_factory=set)  # authors that are bots
    names: dict[int, str] = field(default_factory=dict)  # author -> display name

    def update(self, other: Reads) -> None:
        self.rows.update(other.rows)
        self.bots |= other.bots
        self.names.update(other.names)


# -- the reads, built once: composing a select per call cost more than running it -----------

_UIDS: BindParameter[Any] = bindparam("uids", expanding=True)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_A = Activity.__table__
_COLUMNS = (
    _A.c.event_uid,
    _A.c.member_id,
    _A.c.kind,
    _A.c.own_text,
    _A.c.subject,
    _A.c.native_id,
    _A.c.reply_to_uid,
    _A.c.thread_uid,
    Place.platform,
    _A.c.occurred_at,
    Place.channel_id,
    Place.name,
    Member.is_bot,
    Member.display_name,
)
_FROM = _A.outerjoin(Place, Place.id == _A.c.place_id).join(Member, Member.id == _A.c.member_id)
_ROWS = select(*_COLUMNS).select_from(_FROM).where(_A.c.event_uid.in_(_UIDS))
# What the batch's activities answer (reply or thread root), and what those answer in turn: a
# ✅ names an answer whose question the loop needs too. Both links are read, whichever
# ``Row.target`` picks; a row more in the map changes no lookup.
_FIRST = select(_A.c.reply_to_uid, _A.c.thread_uid).where(_A.c.event_uid.in_(_UIDS)).cte("answered")
_A2 = _A.alias("answered_activity")
_SECOND = (
    select(_A2.c.reply_to_uid, _A2.c.thread_uid)
    .where(
        or_(
            _A2.c.event_uid.in_(select(_FIRST.c.reply_to_uid)),
            _A2.c.event_uid.in_(select(_FIRST.c.thread_uid)),
        )
    )
    .cte("answered_in_turn")
)
_WITH_TARGETS = (
    select(*_COLUMNS)
    .select_from(_FROM)
    .where(
        or_(
            _A.c.event_uid.in_(_UIDS),
            _A.c.event_uid.in_(select(_FIRST.c.reply_to_uid)),
            _A.c.event_uid.in_(select(_FIRST.c.thread_uid)),
            _A.c.event_uid.in_(select(_SECOND.c.reply_to_uid)),
            _A.c.event_uid.in_(select(_SECOND.c.thread_uid)),
        )
    )
)


async def read_rows(conn: AsyncConnection, uids: Collection[str], *, with_targets: bool = False) -> Reads:
    """The activities (messages, reactions) with these uids; ``with_targets`` adds the messages
    they answer and what those answer, in the same query. ``rows`` lists the asked-for uids
    first, in sorted order, then the others."""
    out = Reads()
    found: dict[str, Row] = {}
    wanted = sorted({u for u in uids if u})
    for chunk in chunks(wanted):
        result = await conn.execute(_WITH_TARGETS if with_targets else _ROWS, {"uids": list(chunk)})
        for (
            uid,
            mid,
            kind,
            own_text,
            subject,
            native_id,
            reply_to,
            thread,
            platform,
            occurred_at,
            channel_id,
            place_name,
            is_bot,
            name,
        ) in result:
            found[uid] = Row(
                uid=uid,
                member_id=mid,
                kind=kind,
                own_text=own_text or "",
                subject=subject,
                native_id=native_id or "",
                reply_to=reply_to,
                thread=thread,
                platform=platform,
                occurred_at=occurred_at,
                place_id=channel_id or "",
                place_name=place_name or "",
            )
            if is_bot:
                out.bots.add(mid)
            out.names[mid] = name
    out.rows = {u: found.pop(u) for u in wanted if u in found}
    out.rows.update(found)
    return out


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """A check still waiting for its asker, with what its sent message left (if it left)."""

    question_uid: str
    token: str
    platform: str | None
    receipt: Any
    sent_at: datetime | None


_OPEN_CHECKS = (
    select(
        SolutionCheck.asker_member_id,
        SolutionCheck.question_uid,
        SolutionCheck.token,
        OutboxMessage.platform,
        OutboxMessage.receipt,
        OutboxMessage.sent_at,
    )
    .outerjoin(OutboxMessage, OutboxMessage.dedupe_key == "solved?:" + SolutionCheck.question_uid)
    .where(SolutionCheck.asker_member_id.in_(_IDS), SolutionCheck.status == "asked")
    .order_by(SolutionCheck.id)
)
#: Deliverable, non-bot accounts, oldest first, with the member's time zones seen (a JSON path:
#: the rest of the feature summary is not needed, and reading it costs more than the query).
_ACCOUNTS = (
    select(
        Identity.member_id,
        Identity.platform,
        Identity.external_id,
        Identity.email,
        Identity.display_name,
        MemberFeatureRow.features["tz_offsets"],
    )
    .outerjoin(MemberFeatureRow, MemberFeatureRow.member_id == Identity.member_id)
    .where(Identity.member_id.in_(_IDS), Identity.is_bot.is_(False), Identity.undeliverable.is_(None))
    .order_by(Identity.id)
)


async def open_checks(conn: AsyncConnection, member_ids: Collection[int]) -> dict[int, list[OpenCheck]]:
    """The members' checks in status ``asked``, per asker, in the order they were made."""
    out: dict[int, list[OpenCheck]] = {}
    for chunk in chunks(sorted(member_ids)):
        for asker, question_uid, token, platform, receipt, sent_at in await conn.execute(
            _OPEN_CHECKS, {"ids": list(chunk)}
        ):
            out.setdefault(asker, []).append(OpenCheck(question_uid, token, platform, receipt, sent_at))
    return out


async def accounts_of(
    conn: AsyncConnection, member_ids: Collection[int]
) -> tuple[dict[int, list[Account]], dict[int, int | None]]:
    """The members' deliverable, non-bot accounts, oldest first, and the most common time-zone
    offset of those that have one (a member without an account to write to is left out)."""
    out: dict[int, list[Account]] = {}
    zones: dict[int, int | None] = {}
    for chunk in chunks(sorted(member_ids)):
        for mid, platform, external_id, email, name, tz_offsets in await conn.execute(
            _ACCOUNTS, {"ids": list(chunk)}
        ):
            out.setdefault(mid, []).append(Account(platform, external_id, email, name, False))
            zones[mid] = most_common_offset({"tz_offsets": tz_offsets})
    return out, zones


def pick_account(accounts: Collection[Account], platform: str | None) -> Account | None:
    """The account on the question's platform, else the first other deliverable one."""
    return sorted(accounts, key=lambda a: a.platform != platform)[0] if accounts else None


async def names_and_features(
    conn: AsyncConnection, member_ids: Collection[int]
) -> dict[int, tuple[str | None, dict[str, Any] | None]]:
    """Display name and segmentation features (None without them) per existing member."""
    out: dict[int, tuple[str | None, dict[str, Any] | None]] = {}
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(Member.id, Member.display_name, MemberFeatureRow.features)
            .outerjoin(MemberFeatureRow, MemberFeatureRow.member_id == Member.id)
            .where(Member.id.in_(list(chunk)))
        )
        for mid, name, features in rows:
            out[mid] = (name, features)
    return out


@dataclass(slots=True)
class CheckBatch:
    """One batch's reads for the loop, and the checks it decided to ask but has not written yet."""

    open: dict[int, list[OpenCheck]]  # asker -> checks waiting at the batch's start
    questions: dict[str, int]  # answered in the batch by someone else: uid -> asker
    consent: dict[int, dict[str, str]]
    accounts: dict[int, list[Account]]
    names: Mapping[int, str]  # the batch's authors (askers and helpers among them)
    zones: dict[int, int | None]  # askers' most common time-zone offset in minutes
    answered: set[str] = field(default_factory=set)  # checks answered during the batch
    pending: dict[str, tuple[Row, Row, Account, str]] = field(default_factory=dict)
    enqueued: list[str] = field(default_factory=list)


async def read_batch(conn: AsyncConnection, rows: Mapping[str, Row], reads: Reads) -> CheckBatch:
    """Everything the batch's checks may need, read once: the writers' open checks, and for
    the askers of the questions answered here their consent, accounts and time zones (``reads``
    has the names: askers and helpers wrote the rows read)."""
    targets, bots = reads.rows, reads.bots
    messages = [r for r in rows.values() if r.kind == "message"]
    questions: dict[str, int] = {}
    for r in messages:
        q = targets.get(r.target or "")
        if q is None or q.kind != "message" or q.member_id in bots or q.uid in questions:
            continue
        if q.member_id != r.member_id and is_question(q.own_text):
            questions[q.uid] = q.member_id
    askers = set(questions.values())
    accounts, zones = await accounts_of(conn, askers) if askers else ({}, {})
    return CheckBatch(
        open=await open_checks(conn, {r.member_id for r in messages}),
        questions=questions,
        consent=await consents(conn, askers) if askers else {},
        accounts=accounts,
        names=reads.names,
        zones=zones,
    )
