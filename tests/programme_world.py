"""A small community for the programme tests: members made by real ingest, segments written directly.

Members, identities, places and activities go through the Ingestor with kernel events
(as the live bot stores them); each member's segments and dimension values are written to
``member_features`` as the segmentation engine would, which is simpler than writing
messages that classify exactly as a test needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, ReactionAdded, event_uid
from bot.store.ingest import Ingestor
from bot.store.models import Identity, MemberFeatureRow

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

DEVELOPER = {"skill": "technical", "purpose": "volunteer", "org_type": "n/a", "engagement": "regular"}
END_USER = {"skill": "non_technical", "purpose": "volunteer", "engagement": "casual"}
INTEGRATOR = {
    "skill": "technical",
    "purpose": "business",
    "org_type": "system_integrator",
    "engagement": "casual",
}

_counter = iter(range(1, 10_000_000))


def actor(name: str, *, platform: str = "discord", is_bot: bool = False) -> ActorRef:
    if platform == "mail":
        return ActorRef(
            "mail", f"{name}@example.org", display_name=name, email=f"{name}@example.org", is_bot=is_bot
        )
    return ActorRef(platform, f"id-{name}", display_name=name, is_bot=is_bot)


def message(
    who: ActorRef,
    text: str,
    *,
    at: datetime = T0,
    channel: str = "general",
    reply_to: str | None = None,
    thread: str | None = None,
    patch_lines: int = 0,
    subject: str | None = None,
    signature: str = "",
) -> MessagePosted:
    native = f"m{next(_counter)}"
    return MessagePosted(
        uid=event_uid(who.platform, native),
        actor=who,
        place=PlaceRef(who.platform, f"c-{channel}", name=channel),
        occurred_at=at,
        text=MessageText(own=text, patch_lines=patch_lines, signature=signature),
        native_id=native,
        subject=subject,
        reply_to=reply_to,
        thread=thread,
    )


def reaction(who: ActorRef, target: str, emoji: str = "✅", *, at: datetime = T0) -> ReactionAdded:
    return ReactionAdded(
        uid=event_uid(who.platform, f"r{next(_counter)}"),
        actor=who,
        target_uid=target,
        emoji=emoji,
        occurred_at=at,
    )


async def member_id(conn: AsyncConnection, who: ActorRef) -> int:
    mid = (
        await conn.execute(
            select(Identity.member_id).where(
                Identity.platform == who.platform, Identity.external_id == who.external_id
            )
        )
    ).scalar()
    assert mid is not None
    return int(mid)


async def add_member(
    conn: AsyncConnection,
    who: ActorRef,
    *,
    segments: tuple[str, ...] = (),
    dims: dict[str, str] | None = None,
    tz: int | None = 0,
    at: datetime = T0,
) -> int:
    """Ingest one message by ``who`` and give them the segments and values a test needs."""
    await Ingestor(now=at).ingest(conn, [message(who, "hello everyone", at=at)])
    mid = await member_id(conn, who)
    await set_segments(conn, mid, segments=segments, dims=dims or {}, tz=tz, at=at)
    return mid


async def set_segments(
    conn: AsyncConnection,
    mid: int,
    *,
    segments: tuple[str, ...],
    dims: dict[str, str],
    tz: int | None = 0,
    at: datetime = T0,
) -> None:
    values: dict[str, Any] = {
        "member_id": mid,
        "features": {"tz_offsets": {str(tz): 5}} if tz is not None else {},
        "segments": list(segments),
        "decisions": {
            d: {"id": 0, "value": v, "confidence": 0.9, "digest": "", "pinned_by": None}
            for d, v in dims.items()
        },
        "ruleset_version": "test",
        "classified_at": at,
    }
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(MemberFeatureRow)
    stmt = insert.values(values).on_conflict_do_update(
        index_elements=["member_id"],
        set_={
            "segments": values["segments"],
            "decisions": values["decisions"],
            "features": values["features"],
        },
    )
    await conn.execute(stmt)


async def count(conn: AsyncConnection, table: Any, *where: Any) -> int:
    return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar() or 0)
