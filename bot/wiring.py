"""How the composition root builds each configured platform, and the store queries adapters are given.

Adapters never see the database (design section 2); what they need from it — where a
channel's history stops, an IMAP cursor, how many automatic replies a sender got today —
they receive as small async callables built here over the store. Each adapter validates
its own ``[adapters.<name>]`` section; a problem there is a ``ConfigurationError`` that
names the section.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import LiveAdapter
from bot.core.clock import Clock
from bot.core.errors import ConfigurationError
from bot.core.outbound import Recipient
from bot.core.toml_config import validate
from bot.store import Store
from bot.store.live_models import OutboxMessage
from bot.store.models import Activity, Identity, ImportCursor, Place
from bot.store.outbox import OutboxRow, destination
from bot.store.outbox_views import ERASURE_NOTICE

log = logging.getLogger(__name__)

LastSeen = Callable[[str], Awaitable[str | None]]


def last_seen_in(store: Store, platform: str) -> LastSeen:
    """The newest stored message of a channel, as its native id: where a back-fill resumes."""

    async def last_seen(channel_id: str) -> str | None:
        async with store.connection() as conn:
            row = await conn.execute(
                select(Activity.native_id)
                .join(Place, Activity.place_id == Place.id)
                .where(Place.platform == platform, Place.channel_id == channel_id, Activity.native_id != "")
                .order_by(Activity.occurred_at.desc(), Activity.id.desc())
                .limit(1)
            )
            return row.scalar_one_or_none()

    return last_seen


def imap_cursor(store: Store) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[None]]]:
    """The IMAP reader's (UIDVALIDITY, last UID) per mailbox, kept in the import cursor table."""

    async def get(key: str) -> tuple[int, int] | None:
        async with store.connection() as conn:
            row = (
                await conn.execute(
                    select(ImportCursor.fingerprint, ImportCursor.position).where(ImportCursor.source == key)
                )
            ).first()
        if row is None:
            return None
        return int(row[0]), int(row[1])

    async def put(key: str, uidvalidity: int, last_uid: int) -> None:
        now = datetime.now(UTC)
        async with store.connection() as conn:
            done = await conn.execute(
                update(ImportCursor)
                .where(ImportCursor.source == key)
                .values(fingerprint=str(uidvalidity), position=last_uid, updated_at=now)
            )
            if not done.rowcount:
                await conn.execute(
                    ImportCursor.__table__.insert().values(  # type: ignore[attr-defined]
                        source=key,
                        fingerprint=str(uidvalidity),
                        position=last_uid,
                        finished=False,
                        updated_at=now,
                    )
                )

    return get, put


def auto_replies(store: Store) -> Callable[[str, date], Awaitable[int]]:
    """The mail adapter's loop brake: this mail plus the automatic answers the address got that day.

    The adapter calls it once per mail that would be answered and refuses past its daily
    budget; the answers are the outbox's replies to commands and clicks, so the count
    survives a restart (the adapter's default keeps it in memory).
    """

    async def count(address: str, day: date) -> int:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        async with store.connection() as conn:
            n = await conn.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.destination == destination("mail", Recipient(email=address)),
                    OutboxMessage.template.in_(("command_reply", ERASURE_NOTICE)),
                    OutboxMessage.created_at >= start,
                    OutboxMessage.created_at < start + timedelta(days=1),
                )
            )
        return int(n.scalar_one()) + 1  # this mail, as the adapter's own counter counts it

    return count


async def mark_unreachable(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
    """Dead-letter hook: a "recipient unreachable" failure marks that account undeliverable."""
    reason = row.last_error  # the dead row's reason (``Settler.dead`` and expiry hand it over)
    if reason is None or "recipient unreachable" not in reason:
        return
    recipient = row.recipient or {}
    platform = row.platform
    external = recipient.get("email", "").lower() if platform == "mail" else recipient.get("user_id")
    if not external:
        return
    await conn.execute(
        update(Identity)
        .where(Identity.platform == platform, Identity.external_id == external)
        .values(undeliverable=reason[:300], undeliverable_at=at)
    )
    log.warning("%s account %s marked undeliverable: %s", platform, external, reason)


async def scrub_erasure_notice(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
    """Sent-hook: once the "you are forgotten" mail left, its row keeps no address and no text."""
    if row.template != ERASURE_NOTICE:
        return
    await conn.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.template == ERASURE_NOTICE)
        .values(recipient={}, body={"text": "(erasure confirmation, sent)"}, receipt=None)
    )


def _section(model: Any, name: str, section: Mapping[str, Any]) -> Any:
    return validate(model, dict(section), source=f"[adapters.{name}]")


async def build_adapter(name: str, section: Mapping[str, Any], *, store: Store, clock: Clock) -> LiveAdapter:
    """One configured platform. Imported here, so a build without a platform's library still runs."""
    if name == "discord":
        from adapters.discord.adapter import DiscordAdapter
        from adapters.discord.settings import DiscordSettings

        discord_settings = _section(DiscordSettings, name, section)
        return DiscordAdapter(discord_settings, last_seen=last_seen_in(store, "discord"), clock=clock)
    if name == "slack":
        from adapters.slack.adapter import SlackAdapter
        from adapters.slack.settings import SlackSettings

        slack_settings = _section(SlackSettings, name, section)
        return SlackAdapter(slack_settings, last_seen=last_seen_in(store, "slack"), clock=clock)
    if name == "mail":
        from adapters.mail.adapter import MailAdapter
        from adapters.mail.settings import MailSettings

        mail_settings = _section(MailSettings, name, section)
        get, put = imap_cursor(store)
        return MailAdapter(
            mail_settings, cursor_get=get, cursor_set=put, clock=clock, reply_counter=auto_replies(store)
        )
    raise ConfigurationError(f"unknown adapter {name!r}")
