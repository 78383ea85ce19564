"""Managers' commands by e-mail wait for a one-time token to come back from the same address.

Anyone can write any ``From:`` line, but only the owner of the address reads the reply that
carries the token. The token is stored only as a hash, expires, and works once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.store.live_models import PendingConfirmation


@dataclass(frozen=True, slots=True)
class HeldCommand:
    command: str
    args: tuple[str, ...]


def _hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


async def hold(
    conn: AsyncConnection,
    *,
    actor: str,
    platform: str,
    command: str,
    args: Sequence[str],
    now: datetime,
    ttl: timedelta,
) -> str:
    """Keep a command until confirmed; returns the token to send back to the address."""
    token = secrets.token_urlsafe(12)
    await conn.execute(
        insert(PendingConfirmation).values(
            token=_hash(token),
            actor=actor,
            platform=platform,
            command=command[:200],
            args=list(args),
            created_at=now,
            expires_at=now + ttl,
            used_at=None,
        )
    )
    return token


async def redeem(conn: AsyncConnection, token: str, *, actor: str, now: datetime) -> HeldCommand:
    """The held command, once, for its own actor, before it expires; otherwise ``BadArgument``."""
    key = _hash(token)
    row = (await conn.execute(select(PendingConfirmation).where(PendingConfirmation.token == key))).first()
    # One message for every failure, so a guesser learns nothing about which tokens exist.
    unknown = BadArgument("no command is waiting for that confirmation (unknown, used or expired token)")
    if row is None or row.actor != actor or row.used_at is not None or row.expires_at <= now:
        raise unknown
    claimed = await conn.execute(
        update(PendingConfirmation)
        .where(PendingConfirmation.token == key, PendingConfirmation.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise unknown
    return HeldCommand(command=row.command, args=tuple(str(a) for a in row.args))
