"""What the Community Hero loop reads from the store: messages by uid, bots, open checks, accounts.

Every reader takes the whole batch's keys and answers in one query per chunk, from a
statement built once at import: the loop runs after each ingested batch, and single-row
reads per answer (or composing a select per batch) cost more than the work itself. The
batch's activities come with what they answer and their authors' bot flags, names and time
zones in a single query.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import OutboxMessage, SolutionCheck
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place
from messages import sqlite_fast
from messages.snapshots import (
    CONSENTS,
    SQLITE_CONSENTS,
    SQLITE_PAUSED,
    Account,
    chunks,
    most_common_offset,
    paused_programmes,
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
    wanted = sorted({u for u in uids if u})
    pages = [
        list(await conn.execute(_WITH_TARGETS if with_targets else _ROWS, {"uids": list(chunk)}))
        for chunk in chunks(wanted)
    ]
    return _reads(wanted, pages, raw=False)


def _reads(wanted: list[str], pages: list[list[Any]], *, raw: bool) -> Reads:
    out = Reads()
    found: dict[str, Row] = {}
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
                occurred_at=sqlite_fast.aware(occurred_at) if raw else occurred_at,
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
    .where(
        SolutionCheck.asker_member_id.in_(
            select(_A.c.member_id).where(_A.c.event_uid.in_(_UIDS), _A.c.kind == "message")
        ),
        SolutionCheck.status == "asked",
    )
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
_SQLITE_WITH_TARGETS = (
    "WITH answered AS (SELECT activity.reply_to_uid AS reply_to_uid, activity.thread_uid AS thread_uid "
    "FROM activity WHERE activity.event_uid IN (%(uids)s)), "
    "answered_in_turn AS (SELECT answered_activity.reply_to_uid AS reply_to_uid, "
    "answered_activity.thread_uid AS thread_uid FROM activity AS answered_activity "
    "WHERE answered_activity.event_uid IN (SELECT answered.reply_to_uid FROM answered) "
    "OR answered_activity.event_uid IN (SELECT answered.thread_uid FROM answered)) "
    "SELECT activity.event_uid, activity.member_id, activity.kind, activity.own_text, activity.subject, "
    "activity.native_id, activity.reply_to_uid, activity.thread_uid, place.platform, activity.occurred_at, "
    "place.channel_id, place.name, member.is_bot, member.display_name FROM activity "
    "LEFT OUTER JOIN place ON place.id = activity.place_id JOIN member ON member.id = activity.member_id "
    "WHERE activity.event_uid IN (%(uids)s) "
    "OR activity.event_uid IN (SELECT answered.reply_to_uid FROM answered) "
    "OR activity.event_uid IN (SELECT answered.thread_uid FROM answered) "
    "OR activity.event_uid IN (SELECT answered_in_turn.reply_to_uid FROM answered_in_turn) "
    "OR activity.event_uid IN (SELECT answered_in_turn.thread_uid FROM answered_in_turn)"
)
_SQLITE_OPEN_CHECKS = (
    "SELECT solution_check.asker_member_id, solution_check.question_uid, solution_check.token, "
    "outbox.platform, outbox.receipt, outbox.sent_at FROM solution_check "
    "LEFT OUTER JOIN outbox ON outbox.dedupe_key = ('solved?:' || solution_check.question_uid) "
    "WHERE solution_check.asker_member_id IN (SELECT activity.member_id FROM activity "
    "WHERE activity.event_uid IN (%s) AND activity.kind = 'message') "
    "AND solution_check.status = 'asked' ORDER BY solution_check.id"
)
_SQLITE_ACCOUNTS = (
    "SELECT identity.member_id, identity.platform, identity.external_id, identity.email, "
    "identity.display_name, JSON_QUOTE(JSON_EXTRACT(member_features.features, '$.\"tz_offsets\"')) "
    "FROM identity LEFT OUTER JOIN member_features ON member_features.member_id = identity.member_id "
    "WHERE identity.member_id IN (%s) AND identity.is_bot IS 0 AND identity.undeliverable IS NULL "
    "ORDER BY identity.id"
)


@dataclass(slots=True)
class Start:
    """The loop's first reads for a batch."""

    paused: set[str]  # programmes paused now
    reads: Reads  # the batch's activities, what they answer and what that answers
    open: dict[int, list[OpenCheck]]  # the batch's message writers' checks waiting at its start


async def read_start(conn: AsyncConnection, uids: Collection[str]) -> Start:
    """Paused programmes, the batch's activities with their targets (two levels) and the open
    checks of its message writers, per asker in the order they were made: one trip on SQLite."""
    wanted = sorted({u for u in uids if u})
    parts = [list(chunk) for chunk in chunks(wanted)]
    queries: list[tuple[str, Sequence[Any]]] = [(SQLITE_PAUSED, ())]
    for part in parts:
        marks = sqlite_fast.in_list(part)
        queries += [
            (_SQLITE_WITH_TARGETS % {"uids": marks}, [*part, *part]),
            (_SQLITE_OPEN_CHECKS % marks, part),
        ]
    pages = await sqlite_fast.run_reads(conn, queries)
    raw = pages is not None
    if pages is None:
        pages = [[(name,) for name in await paused_programmes(conn)]]
        for part in parts:
            pages += [
                list(await conn.execute(_WITH_TARGETS, {"uids": part})),
                list(await conn.execute(_OPEN_CHECKS, {"uids": part})),
            ]
    out: dict[int, dict[str, OpenCheck]] = {}
    for page in pages[2::2]:
        for asker, question_uid, token, platform, receipt, sent_at in page:
            if raw:
                receipt, sent_at = sqlite_fast.loads(receipt), sqlite_fast.utc(sent_at)
            # A writer in two chunks has their checks read twice: the first reading counts.
            out.setdefault(asker, {}).setdefault(
                question_uid, OpenCheck(question_uid, token, platform, receipt, sent_at)
            )
    return Start(
        paused={name for (name,) in pages[0]},
        reads=_reads(wanted, pages[1::2], raw=raw),
        open={asker: list(checks.values()) for asker, checks in out.items()},
    )


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
