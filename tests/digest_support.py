"""Helpers for the digest tests: a realistic community (the demo generator through the real
importers, ingest and segmentation engine) and a few direct readings to check the digest against."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.demo.run import run_demo
from bot.store.models import Activity, Member

#: The demo archives end on Monday 2026-11-02 00:00 UTC, so 2026-W44 is its last full week.
DEMO_WEEK = "2026-W44"
DEMO_END = datetime(2026, 11, 2, tzinfo=UTC)


async def demo_community(db_url: str, tmp_path: Path, *, members: int = 80) -> Path:
    """Generate the demo community, import it and classify it into ``db_url``; returns its folder."""
    out = tmp_path / "demo"
    quiet = Console(file=io.StringIO())
    await run_demo(db_url=db_url, out_dir=out, console=quiet, members=members, show=False)
    return out


async def active_members(conn: AsyncConnection, start: datetime, end: datetime) -> set[int]:
    rows = await conn.execute(
        select(Activity.member_id)
        .join(Member, Member.id == Activity.member_id)
        .where(Activity.occurred_at >= start, Activity.occurred_at < end, Member.is_bot.is_(False))
        .distinct()
    )
    return set(rows.scalars())


async def first_seen(conn: AsyncConnection) -> dict[int, datetime]:
    rows = await conn.execute(
        select(Activity.member_id, func.min(Activity.occurred_at))
        .join(Member, Member.id == Activity.member_id)
        .where(Member.is_bot.is_(False))
        .group_by(Activity.member_id)
    )
    return {mid: at for mid, at in rows}
