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
from bot.store.models import Member, MemberFeatureRow
from bot.store.outbox import NewMessage, enqueue
from messages import points
from messages.hero_reads import Row, asker_account, bot_members, open_askers, read_rows
from messages.policy import next_allowed
from messages.programmes import Catalogue
from messages.snapshots import LinkMaker, consents, most_common_offset, paused_programmes, recipient_for
from messages.templates import Renderer
from segmentation.signals import SOLVED, is_question, message_signals

log = logging.getLogger(__name__)

_QUESTION_EXCERPT = 300
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


def _insert_check(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(SolutionCheck).on_conflict_do_nothing(index_elements=["question_uid"])
    return sqlite.insert(SolutionCheck).on_conflict_do_nothing(index_elements=["question_uid"])


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
        if self.programme not in self.catalogue or self.programme in await paused_programmes(conn):
            return result
        uids = [e.uid for e in events if isinstance(e, MessagePosted | ReactionAdded)]
        if not uids:
            return result
        rows = await read_rows(conn, uids)
        if not rows:
            return result
        targets = await read_rows(conn, {r.target for r in rows.values() if r.target} - set(rows))
        targets.update(rows)
        # A ✅ names the answer, and so may "that worked" written in reply to it: the answer's
        # own target is then the question.
        solved = {
            r.uid
            for r in rows.values()
            if r.kind == "message" and r.target and message_signals(r.own_text).has(SOLVED)
        }
        second = {
            t.target
            for r in rows.values()
            if (r.kind == "reaction" or r.uid in solved) and (t := targets.get(r.target or ""))
        }
        more = {u for u in second if u and u not in targets}
        if more:
            targets.update(await read_rows(conn, more))
        bots = await bot_members(conn, {r.member_id for r in targets.values()})
        askers = await open_askers(conn, {r.member_id for r in rows.values() if r.kind == "message"})
        for row in sorted(rows.values(), key=lambda r: r.occurred_at):
            if row.member_id in bots:
                continue
            outcome: CheckOutcome | None = None
            if row.kind == "reaction":
                outcome = await self._reaction(conn, row, targets, at=now)
            elif row.member_id in askers:
                outcome = await self._reply_to_check(conn, row, at=now)
            if outcome is None and row.uid in solved:
                outcome = await self._said_solved(conn, row, targets, at=now)
            if outcome is not None:
                result.outcomes.append(outcome)
            if outcome is not None or row.kind != "message":
                continue
            question = targets.get(row.target or "")
            if question is None or question.kind != "message" or question.member_id == row.member_id:
                continue
            if question.member_id in bots or not is_question(question.own_text):
                continue
            if await self._start_check(conn, question, row, now=now):
                result.checks_enqueued.append(question.uid)
        return result

    async def _start_check(self, conn: AsyncConnection, question: Row, answer: Row, *, now: datetime) -> bool:
        asker = question.member_id
        consent = (await consents(conn, [asker])).get(asker, {})
        if consent.get("all") == "out" or consent.get(f"programme:{self.programme}") == "out":
            return False
        account = await asker_account(conn, asker, question.platform)
        if account is None:
            return False
        token = secrets.token_urlsafe(24)
        res = await conn.execute(
            _insert_check(conn)
            .values(
                question_uid=question.uid,
                asker_member_id=asker,
                helper_member_id=answer.member_id,
                answer_uid=answer.uid,
                token=token,
                status="asked",
                asked_at=now,
            )
            .returning(SolutionCheck.id)
        )
        if res.scalar() is None:
            return False  # asked before: once per question
        helper = (
            await conn.execute(select(Member.display_name).where(Member.id == answer.member_id))
        ).scalar()
        asker_name = (await conn.execute(select(Member.display_name).where(Member.id == asker))).scalar()
        expires = now + timedelta(days=14)
        buttons = (
            self._button("solved", token, "Yes, solved", expires, style="primary"),
            self._button("not-solved", token, "Not yet", expires),
        )
        rendered = self.renderer.render(
            "solution_check",
            account.platform,
            {
                "name": asker_name or account.display_name,
                "helper": helper or "someone",
                "question": question.own_text[:_QUESTION_EXCERPT],
                "community": self.community,
                "buttons": buttons,
            },
        )
        kind, to = recipient_for(account)
        subject = rendered.subject
        if account.platform == "mail" and question.subject:
            subject = (
                question.subject if question.subject.lower().startswith("re:") else f"Re: {question.subject}"
            )
        await enqueue(
            conn,
            [
                NewMessage(
                    dedupe_key=f"solved?:{question.uid}",
                    platform=account.platform,
                    kind=kind,
                    to=to,
                    text=rendered.text,
                    template="solution_check",
                    programme=self.programme,
                    member_id=asker,
                    subject=subject,
                    html=rendered.html,
                    blocks=tuple(rendered.blocks),
                    buttons=buttons,
                    headers={"X-Cohortbot-Check": token} if account.platform == "mail" else {},
                    reply_to_native=question.native_id if account.platform == "mail" else None,
                    not_before=await self._send_time(conn, asker, now),
                    deliver_within=timedelta(days=3),
                    consent_scope=f"programme:{self.programme}",
                )
            ],
            now=now,
        )
        log.info("solution check", extra={"question_uid": question.uid, "asker": asker})
        return True

    async def _send_time(self, conn: AsyncConnection, asker: int, now: datetime) -> datetime:
        """After the delay that lets the asker try the answer, and outside their quiet hours."""
        at = now + timedelta(minutes=self.settings.check_delay_minutes)
        features = (
            await conn.execute(select(MemberFeatureRow.features).where(MemberFeatureRow.member_id == asker))
        ).scalar()
        offset = most_common_offset(features)
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
        self, conn: AsyncConnection, row: Row, targets: Mapping[str, Row], *, at: datetime
    ) -> CheckOutcome | None:
        if row.own_text not in self.settings.solved_reactions:
            return None
        answer = targets.get(row.target or "")
        if answer is None or answer.member_id == row.member_id:
            return None
        question = targets.get(answer.target or "")
        if question is None or question.member_id != row.member_id:
            return None  # only the asker's ✅ confirms
        return await self._confirm_question(
            conn, question.uid, solved=True, at=at, helper=answer.member_id, answer_uid=answer.uid
        )

    async def _said_solved(
        self, conn: AsyncConnection, row: Row, targets: Mapping[str, Row], *, at: datetime
    ) -> CheckOutcome | None:
        """The asker writing "that worked": under their own question (the check's helper is
        credited) or in reply to an answer to it (that answer's author is)."""
        target = targets.get(row.target or "")
        if target is None or target.kind != "message":
            return None
        if target.member_id == row.member_id:
            return await self._confirm_question(conn, target.uid, solved=True, at=at)
        question = targets.get(target.target or "")
        if question is None or question.member_id != row.member_id:
            return None
        return await self._confirm_question(
            conn, question.uid, solved=True, at=at, helper=target.member_id, answer_uid=target.uid
        )

    async def _reply_to_check(self, conn: AsyncConnection, row: Row, *, at: datetime) -> CheckOutcome | None:
        """A message from an asker with an open check that answers it, with a yes or no keyword:
        a reply to the check's message, text carrying its token (mail quoting), or a short
        message written to the bot alone (the latest check that went out is the one meant)."""
        open_checks = (
            await conn.execute(
                select(
                    SolutionCheck.question_uid,
                    SolutionCheck.token,
                    OutboxMessage.platform,
                    OutboxMessage.receipt,
                    OutboxMessage.sent_at,
                )
                .outerjoin(OutboxMessage, OutboxMessage.dedupe_key == "solved?:" + SolutionCheck.question_uid)
                .where(SolutionCheck.asker_member_id == row.member_id, SolutionCheck.status == "asked")
            )
        ).all()
        meant: str | None = None
        for question_uid, token, platform, receipt, _sent in open_checks:
            native = (receipt or {}).get("native_id") if isinstance(receipt, dict) else None
            if (native and platform and row.reply_to == event_uid(platform, native)) or token in row.own_text:
                meant = question_uid
                break
        if meant is None and row.private and len(row.own_text.split()) <= _SHORT_REPLY_WORDS:
            sent = [(s, q) for q, _t, p, _r, s in open_checks if s is not None and p == row.platform]
            meant = max(sent)[1] if sent else None
        if meant is None:
            return None
        text = row.own_text
        if _has_word(text, self.settings.unsolved_words) and not _has_word(text, ["solved"]):
            return await self._confirm_question(conn, meant, solved=False, at=at)
        if _has_word(text, self.settings.solved_words):
            return await self._confirm_question(conn, meant, solved=True, at=at)
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
    ) -> CheckOutcome | None:
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
