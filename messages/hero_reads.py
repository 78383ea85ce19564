"""What the Community Hero loop reads from the store: messages by uid, bots, open checks, accounts.

Every reader takes the whole batch's keys and answers in one query per chunk, from a
statement built once at import: the loop runs after each ingested batch, and single-row
reads per answer (or composing a select per batch) cost more than the work itself. The
batch's activities come with their authors' bot flags and names; what they answer (and what
that answers) is read by uid in a second and third small query, not found in SQL: SQLite
spent twice as long on one statement with common table expressions and OR-ed subqueries.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import OutboxMessage, SolutionCheck
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place
from messages import sqlite_fast
from messages.snapshots import (
    CONSENTS,
    PAUSED,
    SQLITE_CONSENTS,
    SQLITE_PAUSED,
    Account,
    chunks,
    most_common_offset,
)
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


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """A check still waiting for its asker, with what its sent message left (if it left)."""

    question_uid: str
    token: str
    platform: str | None
    receipt: Any
    sent_at: datetime | None


#: The askers' checks still waiting, oldest first, with their sent message's receipt.
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


# The same reads as plain SQL for SQLite's one-trip path (``messages.sqlite_fast``).
_SQLITE_ROWS = (
    "SELECT activity.event_uid, activity.member_id, activity.kind, activity.own_text, activity.subject, "
    "activity.native_id, activity.reply_to_uid, activity.thread_uid, place.platform, activity.occurred_at, "
    "place.channel_id, place.name, member.is_bot, member.display_name FROM activity "
    "LEFT OUTER JOIN place ON place.id = activity.place_id JOIN member ON member.id = activity.member_id "
    "WHERE activity.event_uid IN (%s)"
)
_SQLITE_OPEN_CHECKS = (
    "SELECT solution_check.asker_member_id, solution_check.question_uid, solution_check.token, "
    "outbox.platform, outbox.receipt, outbox.sent_at FROM solution_check "
    "LEFT OUTER JOIN outbox ON outbox.dedupe_key = ('solved?:' || solution_check.question_uid) "
    "WHERE solution_check.asker_member_id IN (%s) AND solution_check.status = 'asked' "
    "ORDER BY solution_check.id"
)
_SQLITE_ACCOUNTS = (
    "SELECT identity.member_id, identity.platform, identity.external_id, identity.email, "
    "identity.display_name, JSON_QUOTE(JSON_EXTRACT(member_features.features, '$.\"tz_offsets\"')) "
    "FROM identity LEFT OUTER JOIN member_features ON member_features.member_id = identity.member_id "
    "WHERE identity.member_id IN (%s) AND identity.is_bot IS 0 AND identity.undeliverable IS NULL "
    "ORDER BY identity.id"
)


@dataclass(slots=True)
class _Trip:
    """One trip's pages: activities by uid, open checks of writers, then the paused programmes."""

    raw: bool
    rows: list[list[Any]]
    checks: list[list[Any]]
    paused: set[str]


async def _trip(
    conn: AsyncConnection, uids: Sequence[str], *, writers: Sequence[int] = (), paused: bool = False
) -> _Trip:
    """The activities with these uids, the open checks of these writers and (if asked) the
    paused programmes: one trip on SQLite, else statement by statement."""
    row_parts = [list(chunk) for chunk in chunks(uids)]
    writer_parts = [list(chunk) for chunk in chunks(writers)]
    raw, pages = await sqlite_fast.read_all(
        conn,
        [(_SQLITE_ROWS % sqlite_fast.in_list(part), part) for part in row_parts]
        + [(_SQLITE_OPEN_CHECKS % sqlite_fast.in_list(part), part) for part in writer_parts]
        + ([(SQLITE_PAUSED, ())] if paused else []),
        [(_ROWS, {"uids": part}) for part in row_parts]
        + [(_OPEN_CHECKS, {"ids": part}) for part in writer_parts]
        + ([(PAUSED, {})] if paused else []),
    )
    n, m = len(row_parts), len(writer_parts)
    stopped = {name for (name,) in pages[n + m]} if paused else set()
    return _Trip(raw, pages[:n], pages[n : n + m], stopped)


class _Found:
    """Activities read so far, as ``Row`` values, with their authors' bot flags and names."""

    __slots__ = ("bots", "names", "rows")

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.bots: set[int] = set()
        self.names: dict[int, str] = {}

    def add(self, pages: list[list[Any]], *, raw: bool) -> None:
        rows, names = self.rows, self.names
        for page in pages:
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
            ) in page:
                rows[uid] = Row(
                    uid,
                    mid,
                    kind,
                    own_text or "",
                    subject,
                    native_id or "",
                    reply_to,
                    thread,
                    platform,
                    sqlite_fast.aware(occurred_at) if raw else occurred_at,
                    channel_id or "",
                    place_name or "",
                )
                if is_bot:
                    self.bots.add(mid)
                names[mid] = name

    def missing(self, uids: Collection[str]) -> list[str]:
        return sorted(u for u in uids if u not in self.rows)

    def links(self, uids: Collection[str]) -> set[str]:
        """What the read activities among ``uids`` answer: both the replied-to message and the
        thread's root, whichever ``Row.target`` picks (a row more in the map changes no lookup)."""
        out: set[str] = set()
        rows = self.rows
        for uid in uids:
            row = rows.get(uid)
            if row is not None:
                if row.reply_to:
                    out.add(row.reply_to)
                if row.thread:
                    out.add(row.thread)
        return out

    def reads(self, wanted: list[str]) -> Reads:
        """``rows`` with the asked-for uids first, in sorted order, then the others."""
        found = dict(self.rows)
        out = Reads(bots=self.bots, names=self.names)
        out.rows = {u: found.pop(u) for u in wanted if u in found}
        out.rows.update(found)
        return out


@dataclass(slots=True)
class Start:
    """The loop's first reads for a batch."""

    paused: set[str]  # programmes paused now
    reads: Reads  # the batch's activities, what they answer and what that answers
    open: dict[int, list[OpenCheck]]  # the batch's message writers' checks waiting at its start


async def read_start(conn: AsyncConnection, uids: Collection[str]) -> Start:
    """Paused programmes, the batch's activities with their targets (two levels: a ✅ names an
    answer whose question the loop needs too) and the open checks of its message writers, per
    asker in the order they were made.

    Up to three reads by uid (the batch's activities and the paused programmes; what they
    answer and the writers' open checks; what that answers), each one trip on SQLite."""
    wanted = sorted({u for u in uids if u})
    first = await _trip(conn, wanted, paused=True)
    raw = first.raw
    found = _Found()
    found.add(first.rows, raw=raw)
    writers = sorted({row.member_id for row in found.rows.values() if row.kind == "message"})
    answered = found.links(wanted)
    second = await _trip(conn, found.missing(answered), writers=writers)
    found.add(second.rows, raw=raw)
    in_turn = found.missing(found.links(answered))
    if in_turn:
        found.add((await _trip(conn, in_turn)).rows, raw=raw)
    out: dict[int, list[OpenCheck]] = {}
    for page in second.checks:
        for asker, question_uid, token, platform, receipt, sent_at in page:
            if raw:
                receipt, sent_at = sqlite_fast.loads(receipt), sqlite_fast.utc(sent_at)
            out.setdefault(asker, []).append(OpenCheck(question_uid, token, platform, receipt, sent_at))
    return Start(paused=first.paused, reads=found.reads(wanted), open=out)


async def askers_reads(
    conn: AsyncConnection, member_ids: Collection[int]
) -> tuple[dict[int, dict[str, str]], dict[int, list[Account]], dict[int, int | None]]:
    """The askers' consent, their deliverable non-bot accounts (oldest first) and the most common
    time-zone offset of those with an account to write to: one trip on SQLite."""
    parts = [list(chunk) for chunk in chunks(sorted(member_ids))]
    raw, pages = await sqlite_fast.read_chunks(
        conn,
        parts,
        raw=lambda part: [
            (SQLITE_CONSENTS % sqlite_fast.in_list(part), part),
            (_SQLITE_ACCOUNTS % sqlite_fast.in_list(part), part),
        ],
        portable=lambda part: [(CONSENTS, {"ids": part}), (_ACCOUNTS, {"ids": part})],
    )
    consent: dict[int, dict[str, str]] = {}
    for page in pages[0::2]:
        for mid, scope, state in page:
            consent.setdefault(mid, {})[scope] = state
    out: dict[int, list[Account]] = {}
    zones: dict[int, int | None] = {}
    for page in pages[1::2]:
        for mid, platform, external_id, email, name, tz_offsets in page:
            out.setdefault(mid, []).append(Account(platform, external_id, email, name, False))
            offsets = sqlite_fast.loads(tz_offsets) if raw else tz_offsets
            zones[mid] = most_common_offset({"tz_offsets": offsets})
    return consent, out, zones


def pick_account(accounts: Collection[Account], platform: str | None) -> Account | None:
    """The account on the question's platform, else the first other deliverable one."""
    return sorted(accounts, key=lambda a: a.platform != platform)[0] if accounts else None


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


async def read_batch(conn: AsyncConnection, rows: Mapping[str, Row], start: Start) -> CheckBatch:
    """Everything the batch's checks may need, read once: ``start`` has the writers' open checks
    and the authors' names; this adds, for the askers of the questions answered here, their
    consent, accounts and time zones."""
    targets, bots = start.reads.rows, start.reads.bots
    messages = [r for r in rows.values() if r.kind == "message"]
    questions: dict[str, int] = {}
    for r in messages:
        q = targets.get(r.target or "")
        if q is None or q.kind != "message" or q.member_id in bots or q.uid in questions:
            continue
        if q.member_id != r.member_id and is_question(q.own_text):
            questions[q.uid] = q.member_id
    askers = set(questions.values())
    consent, accounts, zones = await askers_reads(conn, askers) if askers else ({}, {}, {})
    return CheckBatch(
        open=start.open,
        questions=questions,
        consent=consent,
        accounts=accounts,
        names=start.reads.names,
        zones=zones,
    )
