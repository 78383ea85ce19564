"""What the Community Hero loop reads from the store: messages by uid, bots, open checks, accounts.

Every reader takes the whole batch's keys and answers in one query per chunk: the loop runs
after each ingested batch, and single-row reads per answer cost more than the work itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import OutboxMessage, SolutionCheck
from bot.store.models import Activity, Identity, Member, MemberFeatureRow, Place
from messages.snapshots import Account, chunks, consents
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


async def read_rows(conn: AsyncConnection, uids: Collection[str]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for chunk in chunks(sorted(u for u in uids if u)):
        rows = await conn.execute(
            select(
                Activity.event_uid,
                Activity.member_id,
                Activity.kind,
                Activity.own_text,
                Activity.subject,
                Activity.native_id,
                Activity.reply_to_uid,
                Activity.thread_uid,
                Place.platform,
                Activity.occurred_at,
                Place.channel_id,
                Place.name,
            )
            .outerjoin(Place, Place.id == Activity.place_id)
            .where(Activity.event_uid.in_(list(chunk)))
        )
        for r in rows:
            out[r.event_uid] = Row(
                uid=r.event_uid,
                member_id=r.member_id,
                kind=r.kind,
                own_text=r.own_text or "",
                subject=r.subject,
                native_id=r.native_id or "",
                reply_to=r.reply_to_uid,
                thread=r.thread_uid,
                platform=r.platform,
                occurred_at=r.occurred_at,
                place_id=r.channel_id or "",
                place_name=r.name or "",
            )
    return out


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """A check still waiting for its asker, with what its sent message left (if it left)."""

    question_uid: str
    token: str
    platform: str | None
    receipt: Any
    sent_at: datetime | None


async def open_checks(conn: AsyncConnection, member_ids: Collection[int]) -> dict[int, list[OpenCheck]]:
    """The members' checks in status ``asked``, per asker, in the order they were made."""
    out: dict[int, list[OpenCheck]] = {}
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(
                SolutionCheck.asker_member_id,
                SolutionCheck.question_uid,
                SolutionCheck.token,
                OutboxMessage.platform,
                OutboxMessage.receipt,
                OutboxMessage.sent_at,
            )
            .outerjoin(OutboxMessage, OutboxMessage.dedupe_key == "solved?:" + SolutionCheck.question_uid)
            .where(SolutionCheck.asker_member_id.in_(list(chunk)), SolutionCheck.status == "asked")
            .order_by(SolutionCheck.id)
        )
        for asker, question_uid, token, platform, receipt, sent_at in rows:
            out.setdefault(asker, []).append(OpenCheck(question_uid, token, platform, receipt, sent_at))
    return out


async def bot_members(conn: AsyncConnection, member_ids: Collection[int]) -> set[int]:
    out: set[int] = set()
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(Member.id).where(Member.id.in_(list(chunk)), Member.is_bot.is_(True))
        )
        out.update(rows.scalars())
    return out


async def accounts_of(conn: AsyncConnection, member_ids: Collection[int]) -> dict[int, list[Account]]:
    """The members' deliverable, non-bot accounts, oldest first."""
    out: dict[int, list[Account]] = {}
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(
                Identity.member_id,
                Identity.platform,
                Identity.external_id,
                Identity.email,
                Identity.display_name,
            )
            .where(
                Identity.member_id.in_(list(chunk)),
                Identity.is_bot.is_(False),
                Identity.undeliverable.is_(None),
            )
            .order_by(Identity.id)
        )
        for mid, platform, external_id, email, name in rows:
            out.setdefault(mid, []).append(Account(platform, external_id, email, name, False))
    return out


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
    people: dict[int, tuple[str | None, dict[str, Any] | None]]
    answered: set[str] = field(default_factory=set)  # checks answered during the batch
    pending: dict[str, tuple[Row, Row, Account, str]] = field(default_factory=dict)
    enqueued: list[str] = field(default_factory=list)


async def read_batch(
    conn: AsyncConnection, rows: Mapping[str, Row], targets: Mapping[str, Row], bots: Collection[int]
) -> CheckBatch:
    """Everything the batch's checks may need, read once: the writers' open checks, and for
    the askers of the questions answered here their consent, accounts, names and time zones."""
    messages = [r for r in rows.values() if r.kind == "message"]
    questions: dict[str, int] = {}
    for r in messages:
        q = targets.get(r.target or "")
        if q is None or q.kind != "message" or q.member_id in bots or q.uid in questions:
            continue
        if q.member_id != r.member_id and is_question(q.own_text):
            questions[q.uid] = q.member_id
    askers = set(questions.values())
    helpers = {r.member_id for r in messages if (q := targets.get(r.target or "")) and q.uid in questions}
    return CheckBatch(
        open=await open_checks(conn, {r.member_id for r in messages}),
        questions=questions,
        consent=await consents(conn, askers) if askers else {},
        accounts=await accounts_of(conn, askers) if askers else {},
        people=await names_and_features(conn, askers | helpers) if askers else {},
    )
