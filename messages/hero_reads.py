"""What the Community Hero loop reads from the store: messages by uid, bots, askers, accounts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.live_models import SolutionCheck
from bot.store.models import Activity, Identity, Member, Place
from messages.snapshots import Account, chunks


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


async def open_askers(conn: AsyncConnection, member_ids: Collection[int]) -> set[int]:
    """Those of the members who have a check waiting for their answer (one query per batch)."""
    out: set[int] = set()
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(SolutionCheck.asker_member_id)
            .where(SolutionCheck.asker_member_id.in_(list(chunk)), SolutionCheck.status == "asked")
            .distinct()
        )
        out.update(rows.scalars())
    return out


async def bot_members(conn: AsyncConnection, member_ids: Collection[int]) -> set[int]:
    out: set[int] = set()
    for chunk in chunks(sorted(member_ids)):
        rows = await conn.execute(
            select(Member.id).where(Member.id.in_(list(chunk)), Member.is_bot.is_(True))
        )
        out.update(rows.scalars())
    return out


async def asker_account(conn: AsyncConnection, member_id: int, platform: str | None) -> Account | None:
    """The asker's account on the question's platform, else any deliverable one."""
    rows = (
        await conn.execute(
            select(
                Identity.platform,
                Identity.external_id,
                Identity.email,
                Identity.display_name,
                Identity.undeliverable,
            ).where(Identity.member_id == member_id, Identity.is_bot.is_(False))
        )
    ).all()
    accounts = [Account(p, x, e, d, u is not None) for p, x, e, d, u in rows if u is None]
    accounts.sort(key=lambda a: a.platform != platform)
    return accounts[0] if accounts else None
