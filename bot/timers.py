"""What the bot does because time passed, not because someone spoke: the policy sweep and the schedule.

Planning after each batch looks only at members whose segmentation moved; time alone also
changes what the policy allows (a cooldown or a 30-day cap runs out, a deferred programme
resumes), which the sweep catches. The scheduler runs it every six hours and the weekly
digest on its cron rule, in the configured time zone; on PostgreSQL an advisory-lock
lease makes one process of several run them.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core.clock import Clock
from bot.outbox_worker import OutboxWorker
from bot.scheduler import Rule, Scheduler, lease_for
from bot.settings import Settings
from bot.store import Store
from bot.store.models import Member
from messages import funnel
from messages.digest.service import DigestService
from messages.planner import Planner


class App(Protocol):
    """What the timers need of the composition root's ``bot.app.App``."""

    settings: Settings
    store: Store
    clock: Clock
    planner: Planner
    worker: OutboxWorker
    digest: DigestService | None

    async def sweep(self) -> int: ...

log = logging.getLogger(__name__)

#: The sweep's cron rule: four times a day, off the hour so it does not meet the digest.
SWEEP_CRON = "17 */6 * * *"


async def sweep(app: App) -> int:
    """Everyone before the policy again, and overdue invitations expired; returns invitations planned."""
    now = app.clock.now()
    async with app.store.connection() as conn:
        people = list((await conn.execute(select(Member.id).where(Member.is_bot.is_(False)))).scalars())
        await funnel.expire(conn, now=now)
    planned = 0
    for i in range(0, len(people), 500):
        async with app.store.connection() as conn:
            planned += len(await app.planner.plan(conn, people[i : i + 500], now=now))
    if planned:
        app.worker.wake()
    return planned


def scheduler_for(app: App) -> Scheduler:
    """The weekly digest (catching up after downtime) and the policy sweep."""
    assert app.digest is not None
    digest = app.digest

    async def digest_job(_at: datetime) -> None:
        await digest.run_due()

    async def sweep_job(_at: datetime) -> None:
        planned = await app.sweep()
        log.info("policy sweep: %d invitation(s) planned", planned)

    schedule = str(app.settings.digest.get("schedule", "0 9 * * MON"))
    rules = [
        Rule("digest", schedule, digest_job, catch_up=True),
        Rule("policy-sweep", SWEEP_CRON, sweep_job),
    ]
    return Scheduler(
        rules,
        tz=ZoneInfo(app.settings.timezone),
        clock=app.clock,
        lease=lease_for(app.store, holder=f"{socket.gethostname()}/scheduler"),
    )
