"""The demo's last act: a simulated week of the live bot on the demo community.

The same composition root as ``cohortbot run`` and ``simulate`` is built on the demo
database with recorders for the platforms and a virtual clock set to the day after the
archive ends. Every member is put before the policy once, then the outbox worker runs
through seven virtual days — quiet hours, caps and approvals play out — and we print
what would have gone out, and why, from the store (so a second ``cohortbot demo`` shows
the same week rather than nothing: invitations are once per member and programme).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from adapters.fake import FakeAdapter
from bot.app import build_app
from bot.core.clock import FrozenClock
from bot.settings import Settings
from bot.simulate import CAPABILITIES
from bot.store import Store
from bot.store.live_models import Invitation, OutboxMessage
from bot.store.models import Activity, Member

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class WeekResult:
    start: datetime
    sent: list[dict[str, Any]]
    awaiting_approval: int
    by_programme: dict[str, int]


async def simulate_week(store: Store) -> WeekResult:
    async with store.connection() as conn:
        latest = (await conn.execute(select(func.max(Activity.occurred_at)))).scalar()
        people = list((await conn.execute(select(Member.id).where(Member.is_bot.is_(False)))).scalars())
    if latest is None:
        raise ValueError("the demo database holds no activity")
    start = (latest + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    clock = FrozenClock(start)
    recorders = {
        name: FakeAdapter(name, capabilities=caps, clock=clock) for name, caps in CAPABILITIES.items()
    }
    app = await build_app(
        Settings(),
        clock=clock,
        adapters=recorders,
        store=store,
        worker_id="demo/outbox",
        managers_required=False,
    )
    try:
        async with store.connection() as conn:
            await app.planner.plan(conn, people, now=start)
        await app.worker.drain(until=start + WEEK)
    finally:
        await app.shutdown()
    return await _read_week(store, start)


async def _read_week(store: Store, start: datetime) -> WeekResult:
    end = start + WEEK
    async with store.connection() as conn:
        rows = (
            await conn.execute(
                select(
                    OutboxMessage.sent_at,
                    OutboxMessage.platform,
                    OutboxMessage.programme,
                    Member.display_name,
                    Invitation.segment,
                    Invitation.reason,
                )
                .join(Invitation, Invitation.outbox_id == OutboxMessage.id)
                .join(Member, Member.id == Invitation.member_id)
                .where(
                    OutboxMessage.status == "sent",
                    OutboxMessage.sent_at >= start,
                    OutboxMessage.sent_at < end,
                )
                .order_by(OutboxMessage.sent_at, OutboxMessage.id)
            )
        ).all()
        waiting = (
            await conn.execute(
                select(func.count()).select_from(Invitation).where(Invitation.status == "awaiting_approval")
            )
        ).scalar_one()
    sent = [
        {
            "at": at,
            "platform": platform,
            "programme": programme or "",
            "member": name,
            "segment": segment,
            "why": _why(reason or {}),
        }
        for at, platform, programme, name, segment, reason in rows
    ]
    return WeekResult(
        start=start,
        sent=sent,
        awaiting_approval=int(waiting),
        by_programme=dict(Counter(s["programme"] for s in sent).most_common()),
    )


def _why(reason: dict[str, Any]) -> str:
    evidence = reason.get("evidence") or {}
    dims = reason.get("dimensions") or {}
    real = {d for d, v in dims.items() if v.get("value") not in (None, "unknown", "n/a")}
    ordered = [evidence.get(d) for d in ("org_type", "skill", "purpose", "engagement") if d in real]
    first = next((lines[0] for lines in ordered if lines), "")
    values = ", ".join(
        f"{d}={v.get('value')}" for d, v in dims.items() if d in ("skill", "purpose", "org_type")
    )
    return "; ".join(p for p in (values, first) if p)


def render_week(console: Console, week: WeekResult, *, rows: int = 12) -> None:
    console.rule(f"A simulated week of the live bot from {week.start:%Y-%m-%d}")
    counts = ", ".join(f"{n} {p}" for p, n in week.by_programme.items()) or "none"
    console.print(
        f"{len(week.sent)} invitations would go out ({counts}); "
        f"{week.awaiting_approval} wait for a manager's approval (business segments).",
        highlight=False,
    )
    for s in week.sent[:rows]:
        console.print(
            f"  {s['at']:%a %H:%M} {s['platform']:<7} → [bold]{s['member']}[/bold]: "
            f"{s['programme']} [dim](segment {s['segment']})[/dim]",
            highlight=False,
        )
        if s["why"]:
            console.print(f"      [dim]why: {s['why'][:160]}[/dim]", highlight=False)
    if len(week.sent) > rows:
        console.print(
            f"[dim]… and {len(week.sent) - rows} more; `cohortbot simulate` runs your own events.[/dim]"
        )
