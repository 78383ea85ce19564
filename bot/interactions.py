"""Clicks and reports that are not messages: buttons, signed links, bounces, complaints.

Every front end turns them into ``ActionClicked``; this is where they take effect, in one
transaction each, handled once per uid (a platform that delivers a click twice, or a
retried webhook, changes nothing the second time). ``simulate`` and typed replies may
name a programme instead of an invitation token ("accept bug-hunt"); that is resolved
to the clicker's own invitation, never to anyone else's.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.errors import BadArgument
from bot.core.events import ActionClicked
from bot.core.outbound import CommandReply
from bot.store import Store
from bot.store.live_models import Invitation, SeenEvent, SolutionCheck
from bot.store.models import Identity
from bot.store.privacy import cancel_pending, set_consent
from messages import funnel
from messages.hero import Hero

log = logging.getLogger(__name__)

#: Click actions that answer an invitation, and those that answer "did it solve it?".
INVITATION_ACTIONS = ("accept", "decline", "open")
SOLUTION_ACTIONS = {"solved": True, "yes": True, "not-solved": False, "unsolved": False, "no": False}
#: What the mail adapter reports (adapters.mail.inbound): a hard bounce, an ARF complaint.
BOUNCE = "bounce-permanent"
COMPLAINT = "complaint"


async def first_time(conn: AsyncConnection, uid: str, now: datetime) -> bool:
    """Record an interaction's uid; False when it was handled before (a retried delivery)."""
    seen = (await conn.execute(select(SeenEvent.uid).where(SeenEvent.uid == uid))).scalar()
    if seen is not None:
        return False
    await conn.execute(SeenEvent.__table__.insert().values(uid=uid, at=now))  # type: ignore[attr-defined]
    return True


async def handle_click(event: ActionClicked, *, store: Store, clock: Clock, hero: Hero) -> CommandReply:
    now = clock.now()
    try:
        async with store.connection() as conn:
            if not await first_time(conn, event.uid, now):
                return CommandReply("Already recorded — thank you.")
            return await _click(conn, event, now, hero)
    except BadArgument as exc:
        return CommandReply(str(exc), ok=False)


async def _click(conn: AsyncConnection, event: ActionClicked, now: datetime, hero: Hero) -> CommandReply:
    action = event.action.lower()
    if action in (BOUNCE, COMPLAINT):
        return await _mail_report(conn, action, event.value, now)
    member_id = await _member_of(conn, event.actor.platform, event.actor.external_id)
    if action in INVITATION_ACTIONS:
        token = await _invitation_token(conn, event.value, member_id)
        info = await funnel.respond(conn, token, action, at=now)
        if action == "accept":
            return CommandReply(f"Welcome to {info.programme}! You are in.")
        if action == "decline":
            return CommandReply(f"Understood — we will not invite you to {info.programme} again.")
        return CommandReply("Thanks for opening the invitation.")
    if action in SOLUTION_ACTIONS:
        token = await _check_token(conn, event.value, member_id)
        await hero.on_confirmation(conn, token, SOLUTION_ACTIONS[action], at=now)
        return CommandReply("Thanks for letting us know!")
    raise BadArgument(f"unknown action {event.action!r}")


async def _mail_report(conn: AsyncConnection, action: str, address: str, now: datetime) -> CommandReply:
    """A hard bounce makes the address undeliverable; a complaint is an opt-out from everything."""
    address = address.strip().lower()
    if action == BOUNCE:
        await conn.execute(
            update(Identity)
            .where(Identity.platform == "mail", Identity.external_id == address)
            .values(undeliverable="hard bounce", undeliverable_at=now)
        )
        log.warning("mail address %s bounced permanently; marked undeliverable", address)
        return CommandReply("bounce recorded")
    member_id = await _member_of(conn, "mail", address)
    if member_id is None:
        return CommandReply("complaint about an unknown address ignored")
    await set_consent(conn, member_id, "all", "out", source="mail:complaint", at=now)
    await cancel_pending(conn, member_id, scope="all", reason="complaint", at=now)
    log.warning("spam complaint from member %d: opted out of everything", member_id)
    return CommandReply("complaint recorded as an opt-out")


async def _member_of(conn: AsyncConnection, platform: str, external_id: str) -> int | None:
    key = external_id.strip().lower() if platform == "mail" else external_id
    found = await conn.execute(
        select(Identity.member_id).where(Identity.platform == platform, Identity.external_id == key)
    )
    return found.scalar()


async def _invitation_token(conn: AsyncConnection, value: str, member_id: int | None) -> str:
    """The clicker's own invitation, by its token or by the programme named; never anyone else's.

    A button's token travels in the clicker's own DM, but a token can be copied: a click
    answers an invitation only for the member it was made for. (A signed link from an
    e-mail is answered by the web server, where the signature is the proof.)
    """
    found = (
        await conn.execute(select(Invitation.token, Invitation.member_id).where(Invitation.token == value))
    ).first()
    if found is not None:
        if member_id is None or found[1] != member_id:
            raise BadArgument("this invitation is not yours to answer")
        return str(found[0])
    if member_id is not None and value:
        mine = await conn.execute(
            select(Invitation.token).where(Invitation.member_id == member_id, Invitation.programme == value)
        )
        token = mine.scalar()
        if token is not None:
            return str(token)
    raise BadArgument("this invitation is not known (it may have expired or been erased)")


async def _check_token(conn: AsyncConnection, value: str, member_id: int | None) -> str:
    """The clicker's own open "did it solve it?" check: only the asker confirms (a helper must not)."""
    if value:
        found = (
            await conn.execute(
                select(SolutionCheck.token, SolutionCheck.asker_member_id).where(SolutionCheck.token == value)
            )
        ).first()
        if found is not None:
            if member_id is None or found[1] != member_id:
                raise BadArgument("only the person who asked can say whether it was solved")
            return str(found[0])
    if member_id is not None:
        latest = await conn.execute(
            select(SolutionCheck.token)
            .where(SolutionCheck.asker_member_id == member_id, SolutionCheck.status == "asked")
            .order_by(SolutionCheck.asked_at.desc())
            .limit(1)
        )
        token = latest.scalar()
        if token is not None:
            return str(token)
    raise BadArgument("there is no open question of yours to confirm")
