"""Small builders shared by the outbox tests: messages, members and their consent, row reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from bot.core.outbound import Kind, Lane, Recipient
from bot.store import Store
from bot.store.live_models import Consent, OutboxMessage
from bot.store.models import Identity, Member
from bot.store.outbox import NewMessage, enqueue

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def dm(
    key: str,
    *,
    user: str = "u1",
    platform: str = "discord",
    lane: Lane = "broadcast",
    member_id: int | None = None,
    scope: str | None = "all",
    within: timedelta = timedelta(days=2),
    not_before: datetime | None = None,
    text: str = "",
) -> NewMessage:
    return NewMessage(
        dedupe_key=key,
        platform=platform,
        kind="dm",
        to=Recipient(user_id=user),
        text=text or f"hi {key}",
        lane=lane,
        member_id=member_id,
        consent_scope=scope,
        deliver_within=within,
        not_before=not_before,
    )


def post(
    key: str, *, channel: str = "c1", platform: str = "slack", kind: Kind = "post", **kw: Any
) -> NewMessage:
    return NewMessage(
        dedupe_key=key, platform=platform, kind=kind, to=Recipient(channel=channel), text=f"post {key}", **kw
    )


async def put(store: Store, *messages: NewMessage, now: datetime = T0) -> list[int | None]:
    async with store.connection() as conn:
        return await enqueue(conn, list(messages), now=now)


async def add_member(
    store: Store, *, platform: str = "discord", external_id: str = "u1", undeliverable: str | None = None
) -> int:
    async with store.connection() as conn:
        member_id = (
            await conn.execute(
                insert(Member).values(display_name=external_id, created_at=T0).returning(Member.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(Identity).values(
                member_id=member_id,
                platform=platform,
                external_id=external_id,
                display_name=external_id,
                first_seen=T0,
                undeliverable=undeliverable,
                undeliverable_at=T0 if undeliverable else None,
            )
        )
    return int(member_id)


async def opt_out(store: Store, member_id: int, scope: str) -> None:
    async with store.connection() as conn:
        await conn.execute(
            insert(Consent).values(member_id=member_id, scope=scope, state="out", source="test", at=T0)
        )


async def rows(store: Store) -> dict[str, dict[str, Any]]:
    """Every outbox row by dedupe key: status, attempts, last_error, times."""
    t = OutboxMessage.__table__
    async with store.connection() as conn:
        result = await conn.execute(select(t).order_by(t.c.id))
        return {r.dedupe_key: dict(r._mapping) for r in result.all()}
