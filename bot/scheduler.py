"""Cron-like jobs in the community's time zone, run by exactly one scheduler among several processes.

Only the holder of a lease runs jobs. On PostgreSQL the lease is a session advisory lock
(``pg_try_advisory_lock``) held on a dedicated connection: it vanishes with the process,
so a crashed holder cannot block the others. On SQLite it is a ``scheduler_lease`` row
with an expiry that the holder renews on every tick. Time comes from the injected clock:
tests call ``tick(now)`` on virtual time, production runs ``run()``, which sleeps until
the next due job. Rules are cron expressions read in the configured zone (``0 9 * * MON``
is nine in the morning there, across DST changes); a fire time that a fall-back repeats
runs once. Jobs are injected callables, so the scheduler knows nothing about digests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from croniter import croniter  # type: ignore[import-untyped]  # no stubs shipped
from sqlalchemy import delete, insert, or_, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.errors import ConfigurationError
from bot.store import Store
from bot.store.live_models import SchedulerLease

log = logging.getLogger(__name__)

#: A job gets the fire time it runs for (the latest one due, when several were missed).
Job = Callable[[datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    cron: str
    job: Job
    #: Also run once whenever this process becomes the scheduler (start-up, fail-over), so a
    #: fire time missed while no scheduler ran is caught up; the job must be idempotent.
    catch_up: bool = False

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigurationError(f"schedule {self.name!r}: {self.cron!r} is not a cron expression")


class Lease(Protocol):
    async def acquire(self, now: datetime) -> bool:
        """Take or renew the lease; True while this process holds it."""
        ...

    async def release(self) -> None: ...


class TableLease:
    """The lease as a row with an expiry (SQLite, or any database without advisory locks)."""

    def __init__(
        self, store: Store, *, name: str, holder: str, ttl: timedelta = timedelta(seconds=90)
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder[:64]
        self.ttl = ttl

    async def acquire(self, now: datetime) -> bool:
        expires = now + self.ttl
        try:
            async with self.store.connection() as conn:
                await conn.execute(
                    insert(SchedulerLease).values(name=self.name, holder=self.holder, expires_at=expires)
                )
            return True
        except IntegrityError:
            pass
        async with self.store.connection() as conn:
            took = await conn.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
            )
        return bool(took.rowcount == 1)

    async def release(self) -> None:
        async with self.store.connection() as conn:
            await conn.execute(
                delete(SchedulerLease).where(
                    SchedulerLease.name == self.name, SchedulerLease.holder == self.holder
                )
            )


def advisory_key(name: str) -> int:
    """A stable signed 64-bit lock id for a lease name."""
    digest = hashlib.blake2b(f"cohortbot:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLease:
    """A PostgreSQL session advisory lock on a connection of its own, outside any transaction."""

    def __init__(self, store: Store, *, name: str) -> None:
        self.store = store
        self.key = advisory_key(name)
        self._conn: AsyncConnection | None = None
        self._held = False

    async def acquire(self, now: datetime) -> bool:
        try:
            if self._conn is None:
                conn = await self.store.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if self._held:
                await self._conn.execute(text("SELECT 1"))  # still connected means still held
                return True
            lock = text("SELECT pg_try_advisory_lock(:k)")
            got = (await self._conn.execute(lock, {"k": self.key})).scalar()
            self._held = bool(got)
            return self._held
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("scheduler lease: lost the database connection (%s); will retry", exc)
            await self._drop(broken=True)
            return False

    async def release(self) -> None:
        """Unlock if held, and close the dedicated connection either way (a waiting process holds one too)."""
        if self._conn is not None and self._held:
            # Closing the connection releases it anyway.
            with contextlib.suppress(OperationalError, DBAPIError, OSError):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        await self._drop()

    async def _drop(self, *, broken: bool = False) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is None:
            return
        if broken:  # a dead connection must not go back into the pool
            with contextlib.suppress(OperationalError, DBAPIError, OSError):
                await conn.invalidate()
        with contextlib.suppress(OperationalError, DBAPIError, OSError):
            await conn.close()


def lease_for(store: Store, *, name: str = "scheduler", holder: str) -> Lease:
    """The advisory lock on PostgreSQL, the lease row elsewhere."""
    if store.dialect == "postgresql":
        return AdvisoryLease(store, name=name)
    return TableLease(store, name=name, holder=holder)


class Scheduler:
    """Runs each rule's job at its fire times while holding the lease."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        tz: tzinfo,
        clock: Clock,
        lease: Lease,
        renew_every: timedelta = timedelta(seconds=30),
    ) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"schedule names repeat: {', '.join(names)}")
        self.rules = tuple(rules)
        self.tz = tz
        self.clock = clock
        self.lease = lease
        self.renew_every = renew_every
        self.holding = False
        self._since: datetime | None = None
        self._last_fire: dict[str, datetime] = {}
        self._stopping = asyncio.Event()

    def _fires(self, rule: Rule, after: datetime, until: datetime) -> list[datetime]:
        """Fire times in (after, until], local wall times repeated by a fall-back counted once."""
        out: list[datetime] = []
        it = croniter(rule.cron, after.astimezone(self.tz))
        last = self._last_fire.get(rule.name)
        while True:
            at: datetime = it.get_next(datetime)
            if at > until:
                return out
            if last is not None and at.replace(tzinfo=None) == last.replace(tzinfo=None):
                continue
            out.append(at)
            last = at

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Renew the lease and run every job due by ``now``; returns the names of the jobs run."""
        now = now or self.clock.now()
        held = await self.lease.acquire(now)
        if not held:
            if self.holding:
                log.warning("scheduler: lease lost; another process schedules now")
            self.holding = False
            self._since = None
            return []
        ran: list[str] = []
        became = not self.holding
        self.holding = True
        since, self._since = self._since, now
        for rule in self.rules:
            due = self._fires(rule, since, now) if since is not None else []
            if due:
                self._last_fire[rule.name] = due[-1]
            if due or (became and rule.catch_up):
                await self._run(rule, due[-1] if due else now)
                ran.append(rule.name)
        return ran

    async def _run(self, rule: Rule, at: datetime) -> None:
        try:
            await rule.job(at)
        except Exception:  # one failing job must not stop the others or the scheduler
            log.exception("scheduled job %s failed (fire time %s)", rule.name, at.isoformat())

    def next_due(self, now: datetime) -> datetime | None:
        fires = [croniter(r.cron, now.astimezone(self.tz)).get_next(datetime) for r in self.rules]
        return min(fires, default=None)

    async def run(self) -> None:
        """Tick until ``stop()``: at the next fire time, and often enough to keep the lease."""
        try:
            while not self._stopping.is_set():
                now = self.clock.now()
                await self.tick(now)
                wait = self.renew_every
                due = self.next_due(now)
                if due is not None and self.holding:
                    wait = min(wait, max(due - now, timedelta(seconds=1)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait.total_seconds())
        finally:
            await self.lease.release()
            self.holding = False

    async def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Give the lease up (for tests and callers that only ``tick``)."""
        await self.lease.release()
        self.holding = False
