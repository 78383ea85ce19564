"""Community Hero's loop: ask the asker, once, whether an answer solved it; credit the helper on yes.

At Funambol the programme failed because askers rarely confirmed. Here the bot asks:
when a member replies to another member's question, the asker gets one polite check
(``dedupe_key`` ``solved?:<question uid>``, one ``SolutionCheck`` row per question), with
buttons on chat platforms and a keyword reply by mail. Any of these counts as "yes": the
"solved" button, a reply to the check saying "solved"/"yes", a ✅ reaction by the asker on
the answer, or the asker writing "that worked" under their own question. The helper then
gets one point in the community-hero programme, once per question (the check's status
moves ``asked -> solved`` in one conditional UPDATE, and the points row is unique).
Never to bots, never to anyone who opted out of everything or of the programme.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.core.events import Event, MessagePosted, ReactionAdded, event_uid
from bot.core.outbound import Button
from bot.store.live_models import OutboxMessage, SolutionCheck
from bot.store.outbox import NewMessage, enqueue
from messages import points, sqlite_fast
from messages.composer import check_message
from messages.hero_reads import CheckBatch, Row, pick_account, read_batch, read_start
from messages.policy import next_allowed
from messages.programmes import Catalogue
from messages.snapshots import Account, LinkMaker
from messages.templates import Renderer
from segmentation.signals import SOLVED, message_signals

log = logging.getLogger(__name__)

#: A message to the bot alone this short, with a keyword, answers the asker's latest check.
_SHORT_REPLY_WORDS = 12


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a confirmation did: ``credited`` is True only the one time the helper got the point."""

    question_uid: str
    helper_member_id: int
    status: str
    credited: bool


@dataclass(slots=True)
class HeroResult:
    checks_enqueued: list[str] = field(default_factory=list)  # question uids
    outcomes: list[CheckOutcome] = field(default_factory=list)


# Built once per dialect: composing it per batch cost more than running it. On SQLite the
# same as plain SQL, values encoded as SQLAlchemy's types would (``messages.sqlite_fast``).
_CHECK_COLUMNS = (
    "question_uid",
    "asker_member_id",
    "helper_member_id",
    "answer_uid",
    "token",
    "status",
    "asked_at",
)
_SQLITE_INSERT_CHECK = (
    "INSERT INTO solution_check (question_uid, asker_member_id, helper_member_id, answer_uid, token, status, "
    "asked_at) VALUES %s ON CONFLICT (question_uid) DO NOTHING RETURNING question_uid"
)
_INSERT_CHECK = {
    name: dialect.insert(SolutionCheck)
    .on_conflict_do_nothing(index_elements=["question_uid"])
    .returning(SolutionCheck.question_uid)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _has_word(text: str, words: Collection[str]) -> bool:
    lowered = " ".join(text.lower().split())
    return any(re.search(rf"(?<![\w']){re.escape(w.lower())}(?![\w'])", lowered) for w in words)


class Hero:
    """The loop's state is in the store; this object holds the settings and the renderer."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        renderer: Renderer | None = None,
        community: str = "our community",
        links: LinkMaker | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.settings = catalogue.hero
        self.programme = self.settings.programme
        #: The helper's points per confirmed answer (the programme's ``answer_confirmed``, else 1).
        #: Without the programme in the catalogue the loop is off.
        self.points = 1
        if self.programme in catalogue:
            self.points = catalogue.get(self.programme).points_for("answer_confirmed") or 1
        self.renderer = renderer or Renderer()
        self.community = community
        self.links = links

    # ---- after each ingested batch ---------------------------------------------------------
    async def on_messages(
        self, conn: AsyncConnection, events: Sequence[Event], *, now: datetime
    ) -> HeroResult:
        """Look at new messages and reactions: answers start checks; replies and ✅ confirm them."""
        result = HeroResult()
        if self.programme not in self.catalogue:
            return result
        uids = [e.uid for e in events if isinstance(e, MessagePosted | ReactionAdded)]
        if not uids:
            return result
        # Paused programmes, the batch's rows, what they answer and what that answers, and the
        # writers' open checks: one read.
        start = await read_start(conn, uids)
        if self.programme in start.paused:
            return result
        reads = start.reads
        asked = set(uids)
        rows = {uid: row for uid, row in reads.rows.items() if uid in asked}
        if not rows:
            return result
        targets = reads.rows
        # A ✅ names the answer, and so may "that worked" written in reply to it: the answer's
        # own target is then the question.
        solved = {
            r.uid
            for r in rows.values()
            if r.kind == "message" and r.target and message_signals(r.own_text).has(SOLVED)
        }
        # What those answers answer was read with them (``read_start`` reads two levels).
        bots = reads.bots
        batch = await read_batch(conn, rows, start)
        for row in sorted(rows.values(), key=lambda r: r.occurred_at):
            if row.member_id in bots:
                continue
            outcome: CheckOutcome | None = None
            if row.kind == "reaction":
                outcome = await self._reaction(conn, row, targets, at=now, batch=batch)
            elif row.member_id in batch.open:
                outcome = await self._reply_to_check(conn, row, batch, at=now)
            if outcome is None and row.uid in solved:
                outcome = await self._said_solved(conn, row, targets, at=now, batch=batch)
            if outcome is not None:
                result.outcomes.append(outcome)
            if outcome is not None or row.kind != "message":
                continue
            question = targets.get(row.target or "")
            if (
                question is not None
                and question.uid in batch.questions
                and question.member_id != row.member_id
            ):
                self._start_check(question, row, batch)
        await self._flush(conn, batch, now=now)
        result.checks_enqueued.extend(batch.enqueued)
        return result

    def _start_check(self, question: Row, answer: Row, batch: CheckBatch) -> None:
        """Queue the question's check for ``_flush`` (the first answer in the batch asks)."""
        asker = question.member_id
        if question.uid in batch.pending:
            return  # a second answer: the check is asked once per question
        consent = batch.consent.get(asker, {})
        if consent.get("all") == "out" or consent.get(f"programme:{self.programme}") == "out":
            return
        account = pick_account(batch.accounts.get(asker, ()), question.platform)
        if account is not None:
            batch.pending[question.uid] = (question, answer, account, secrets.token_urlsafe(24))

    async def _flush(self, conn: AsyncConnection, batch: CheckBatch, *, now: datetime) -> None:
        """Insert the queued checks (one executemany, sent as multi-row VALUES) and enqueue the
        messages of those that are new in one call."""
        if not batch.pending:
            return
        pending, batch.pending = list(batch.pending.values()), {}
        rows = [
            (q.uid, q.member_id, a.member_id, a.uid, token, "asked", now) for q, a, _acc, token in pending
        ]
        if conn.dialect.name == "sqlite":
            returned = await sqlite_fast.insert_returning(conn, _SQLITE_INSERT_CHECK, rows)
        else:
            res = await conn.execute(
                _INSERT_CHECK[conn.dialect.name], [dict(zip(_CHECK_COLUMNS, r, strict=True)) for r in rows]
            )
            returned = list(res)
        new = {uid for (uid,) in returned}  # the others were asked before: once per question
        messages = [
            self._check_message(q, a, acc, token, batch, now) for q, a, acc, token in pending if q.uid in new
        ]
        if messages:
            await enqueue(conn, messages, now=now)
        for q, _a, _acc, _token in pending:
            if q.uid in new:
                batch.enqueued.append(q.uid)
                log.info("solution check", extra={"question_uid": q.uid, "asker": q.member_id})

    def _check_message(
        self, question: Row, answer: Row, account: Account, token: str, batch: CheckBatch, now: datetime
    ) -> NewMessage:
        asker_name = batch.names.get(question.member_id)
        helper = batch.names.get(answer.member_id)
        offset = batch.zones.get(question.member_id)
        expires = now + timedelta(days=14)
        buttons = (
            self._button("solved", token, "Yes, solved", expires, style="primary"),
            self._button("not-solved", token, "Not yet", expires),
        )
        return check_message(
            self.renderer,
            question,
            account,
            token=token,
            names=(asker_name, helper),
            community=self.community,
            programme=self.programme,
            buttons=buttons,
            not_before=self._send_time(offset, now),
        )

    def _send_time(self, offset: int | None, now: datetime) -> datetime:
        """After the delay that lets the asker try the answer, and outside their quiet hours
        (``offset``: the asker's most common time-zone offset in minutes, when known)."""
        at = now + timedelta(minutes=self.settings.check_delay_minutes)
        if offset is None:
            return at
        quiet = self.catalogue.policy
        return next_allowed(at, offset, start=quiet.quiet_start, end=quiet.quiet_end)

    def _button(
        self, action: str, token: str, label: str, expires_at: datetime, *, style: Any = "secondary"
    ) -> Button:
        url = self.links(action, token, expires_at) if self.links else None
        return Button(action, token, label, style, url=url)

    async def _reaction(
        self, conn: AsyncConnection, row: Row, targets: Mapping[str, Row], *, at: datetime, batch: CheckBatch
    ) -> CheckOutcome | None:
        if row.own_text not in self.settings.solved_reactions:
            return None
        answer = targets.get(row.target or "")
        if answer is None or answer.member_id == row.member_id:
            return None
        return await self._confirm_answer(conn, row, answer, targets, at=at, batch=batch)

    async def _said_solved(
        self, conn: AsyncConnection, row: Row, targets: Mapping[str, Row], *, at: datetime, batch: CheckBatch
    ) -> CheckOutcome | None:
        """The asker writing "that worked": under their own question (the check's helper is
        credited) or in reply to an answer to it (that answer's author is)."""
        target = targets.get(row.target or "")
        if target is None or target.kind != "message":
            return None
        if target.member_id == row.member_id:
            return await self._confirm_question(conn, target.uid, solved=True, at=at, batch=batch)
        return await self._confirm_answer(conn, row, target, targets, at=at, batch=batch)

    async def _confirm_answer(
        self,
        conn: AsyncConnection,
        row: Row,
        answer: Row,
        targets: Mapping[str, Row],
        *,
        at: datetime,
        batch: CheckBatch,
    ) -> CheckOutcome | None:
        """``row``'s author confirms ``answer`` solved their question: only when the answer
        replies to a question of theirs (only the asker confirms); its author is credited."""
        question = targets.get(answer.target or "")
        if question is None or question.member_id != row.member_id:
            return None
        return await self._confirm_question(
            conn,
            question.uid,
            solved=True,
            at=at,
            helper=answer.member_id,
            answer_uid=answer.uid,
            batch=batch,
        )

    async def _reply_to_check(
        self, conn: AsyncConnection, row: Row, batch: CheckBatch, *, at: datetime
    ) -> CheckOutcome | None:
        """A message from an asker with an open check that answers it, with a yes or no keyword:
        a reply to the check's message, text carrying its token (mail quoting), or a short
        message written to the bot alone (the latest check that went out is the one meant)."""
        # Read at the batch's start; a check confirmed since is no longer open.
        waiting = [c for c in batch.open[row.member_id] if c.question_uid not in batch.answered]
        meant: str | None = None
        for c in waiting:
            native = (c.receipt or {}).get("native_id") if isinstance(c.receipt, dict) else None
            if (
                native and c.platform and row.reply_to == event_uid(c.platform, native)
            ) or c.token in row.own_text:
                meant = c.question_uid
                break
        if meant is None and row.private and len(row.own_text.split()) <= _SHORT_REPLY_WORDS:
            sent = [
                (c.sent_at, c.question_uid)
                for c in waiting
                if c.sent_at is not None and c.platform == row.platform
            ]
            meant = max(sent)[1] if sent else None
        if meant is None:
            return None
        text = row.own_text
        if _has_word(text, self.settings.unsolved_words) and not _has_word(text, ["solved"]):
            return await self._confirm_question(conn, meant, solved=False, at=at, batch=batch)
        if _has_word(text, self.settings.solved_words):
            return await self._confirm_question(conn, meant, solved=True, at=at, batch=batch)
        return None

    # ---- a click ---------------------------------------------------------------------------
    async def on_confirmation(
        self, conn: AsyncConnection, token: str, solved: bool, *, at: datetime
    ) -> CheckOutcome:
        """The "solved" / "not-solved" button or link; repeating it changes nothing."""
        question_uid = (
            await conn.execute(select(SolutionCheck.question_uid).where(SolutionCheck.token == token))
        ).scalar()
        if question_uid is None:
            raise BadArgument("this link is not valid any more (it may have been erased)")
        outcome = await self._confirm_question(conn, question_uid, solved=solved, at=at)
        assert outcome is not None  # the check exists: we just read it
        return outcome

    async def _confirm_question(
        self,
        conn: AsyncConnection,
        question_uid: str,
        *,
        solved: bool,
        at: datetime,
        helper: int | None = None,
        answer_uid: str | None = None,
        batch: CheckBatch | None = None,
    ) -> CheckOutcome | None:
        if batch is not None and question_uid in batch.pending:
            await self._flush(conn, batch, now=at)  # its check must exist before it is answered
        values: dict[str, Any] = {"status": "solved" if solved else "unsolved", "answered_at": at}
        if helper is not None:
            values["helper_member_id"] = helper
        if answer_uid is not None:
            values["answer_uid"] = answer_uid
        # "Not yet" can still become a yes later; a yes is final.
        allowed = ("asked", "unsolved") if solved else ("asked",)
        res = await conn.execute(
            update(SolutionCheck)
            .where(SolutionCheck.question_uid == question_uid, SolutionCheck.status.in_(allowed))
            .values(**values)
        )
        check = (
            await conn.execute(
                select(SolutionCheck.helper_member_id, SolutionCheck.status).where(
                    SolutionCheck.question_uid == question_uid
                )
            )
        ).first()
        if check is None:
            return None
        if batch is not None and check.status != "asked":
            batch.answered.add(question_uid)
        credited = False
        if res.rowcount and solved:
            credited = await points.credit(
                conn,
                member_id=check.helper_member_id,
                programme=self.programme,
                points=self.points,
                reason="answer confirmed by the asker",
                source_uid=f"solved:{question_uid}",
                at=at,
            )
            # Confirmed before the check left: it need not leave at all.
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.dedupe_key == f"solved?:{question_uid}", OutboxMessage.status == "pending"
                )
                .values(status="cancelled", last_error="answered before it was sent")
            )
        return CheckOutcome(question_uid, check.helper_member_id, check.status, credited)
