"""The audit log: every command call, refused ones included, in its own transaction.

Written apart from the command's work so that a refusal, or a command that failed and
rolled back, still leaves its line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import AuditLog

log = logging.getLogger(__name__)

Outcome = Literal["ok", "refused", "error", "pending"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    platform: str
    command: str
    args: tuple[str, ...]
    outcome: str
    detail: str

    def line(self) -> str:
        args = " ".join(self.args)
        text = f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.command}{' ' + args if args else ''}"
        return f"{text} → {self.outcome}{': ' + self.detail if self.detail else ''}"


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    platform: str,
    command: str,
    args: Sequence[str],
    outcome: Outcome,
    detail: str = "",
) -> None:
    await conn.execute(
        insert(AuditLog).values(
            at=at,
            actor=actor[:320],
            platform=platform[:16],
            command=command[:200],
            args={"args": list(args)},
            outcome=outcome,
            detail=detail,
        )
    )


async def entries(
    conn: AsyncConnection, *, since: datetime | None = None, limit: int = 50
) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditLog.at >= since)
    out = []
    for row in await conn.execute(query):
        raw = row.args.get("args", []) if isinstance(row.args, dict) else []
        out.append(
            AuditEntry(
                id=row.id,
                at=row.at,
                actor=row.actor,
                platform=row.platform,
                command=row.command,
                args=tuple(str(a) for a in raw),
                outcome=row.outcome,
                detail=row.detail,
            )
        )
    return out
