"""The scheduler: cron rules in a non-UTC zone across DST changes, one holder of the lease at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.core.clock import FrozenClock
from bot.core.errors import ConfigurationError
from bot.scheduler import Rule, Scheduler, TableLease, lease_for
from bot.store import Store, open_store

BERLIN = ZoneInfo("Europe/Berlin")


class Recorder:
    def __init__(self) -> None:
        self.fired: list[datetime] = []

    async def __call__(self, at: datetime) -> None:
        self.fired.append(at)


async def drive(
    scheduler: Scheduler, clock: FrozenClock, start: datetime, end: datetime, step: timedelta
) -> None:
    clock.set(start)
    while clock.now() <= end:
        await scheduler.tick(clock.now())
        clock.advance(step)


async def test_monday_nine_in_berlin_stays_nine_across_the_autumn_change(store: Store) -> None:
    weekly, daily = Recorder(), Recorder()
    clock = FrozenClock(datetime(2026, 10, 18, tzinfo=UTC))
    scheduler = Scheduler(
        [Rule("digest", "0 9 * * MON", weekly), Rule("nightly", "30 2 * * *", daily)],
        tz=BERLIN, clock=clock, lease=lease_for(store, holder="a"),
    )
    await drive(scheduler, clock, datetime(2026, 10, 18, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
                timedelta(minutes=30))
    await scheduler.close()
    # Nine o'clock Berlin: 07:00 UTC in summer time, 08:00 UTC after 25 October.
    assert [f.astimezone(UTC) for f in weekly.fired] == [
        datetime(2026, 10, 19, 7, tzinfo=UTC),
        datetime(2026, 10, 26, 8, tzinfo=UTC),
        datetime(2026, 11, 2, 8, tzinfo=UTC),
    ]
    assert all(f.astimezone(BERLIN).hour == 9 for f in weekly.fired)
    # 02:30 happens twice on 25 October (clocks go back at 03:00); the job runs once that day.
    days = [f.astimezone(BERLIN).date() for f in daily.fired]
    assert len(days) == len(set(days)) == 16


async def test_spring_forward_runs_a_missing_local_time_once(store: Store) -> None:
    daily = Recorder()
    clock = FrozenClock(datetime(2026, 3, 27, tzinfo=UTC))
    scheduler = Scheduler([Rule("nightly", "30 2 * * *", daily)], tz=BERLIN, clock=clock,
                          lease=lease_for(store, holder="a"))
    await drive(scheduler, clock, datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC),
                timedelta(hours=1))
    await scheduler.close()
    days = [f.astimezone(BERLIN).date().isoformat() for f in daily.fired]
    assert days == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"]


async def test_missed_fire_times_run_the_job_once_not_once_each(store: Store) -> None:
    job = Recorder()
    clock = FrozenClock(datetime(2026, 11, 2, tzinfo=UTC))
    scheduler = Scheduler([Rule("hourly", "0 * * * *", job)], tz=BERLIN, clock=clock,
                          lease=lease_for(store, holder="a"))
    assert await scheduler.tick(clock.now()) == []  # first tick: starts the clock, nothing due
    clock.advance(timedelta(hours=5, minutes=10))
    assert await scheduler.tick(clock.now()) == ["hourly"]
    assert job.fired == [datetime(2026, 11, 2, 6, tzinfo=BERLIN)]  # the latest fire time missed
    await scheduler.close()


async def test_only_the_lease_holder_runs_jobs(store: Store, db_url: str) -> None:
    other = await open_store(db_url)  # another process
    try:
        clock = FrozenClock(datetime(2026, 11, 2, 8, tzinfo=BERLIN))
        a_jobs, b_jobs = Recorder(), Recorder()
        a = Scheduler([Rule("digest", "0 9 * * MON", a_jobs, catch_up=True)], tz=BERLIN, clock=clock,
                      lease=lease_for(store, holder="host-a"))
        b = Scheduler([Rule("digest", "0 9 * * MON", b_jobs, catch_up=True)], tz=BERLIN, clock=clock,
                      lease=lease_for(other, holder="host-b"))
        assert await a.tick(clock.now()) == ["digest"] and a.holding
        assert await b.tick(clock.now()) == [] and not b.holding
        clock.advance(timedelta(hours=1, seconds=1))
        assert await a.tick(clock.now()) == ["digest"]
        assert await b.tick(clock.now()) == []
        assert len(a_jobs.fired) == 2 and b_jobs.fired == []
        await a.close()  # a stops cleanly: the lease is free at once
        assert await b.tick(clock.now()) == ["digest"] and b.holding
        assert await a.tick(clock.now()) == [] and not a.holding
        await b.close()
        await a.close()  # a waiting scheduler holds a connection too (PostgreSQL)
    finally:
        await other.close()


async def test_a_crashed_holders_lease_expires(store: Store, db_url: str) -> None:
    if store.dialect == "postgresql":
        # The advisory lock dies with the holder's connection: ending its backend is the crash
        # (with a timeout, pg_terminate_backend waits until the backend has really gone).
        other = await open_store(db_url)
        a = lease_for(store, holder="a")
        b = lease_for(other, holder="b")
        now = datetime(2026, 11, 2, tzinfo=UTC)
        assert await a.acquire(now) and not await b.acquire(now)
        async with other.connection() as conn:
            killed = await conn.execute(text(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ))
            assert killed.scalars().all() == [True]
        assert await b.acquire(now)
        assert not await a.acquire(now)  # a notices its connection is gone and does not hold
        await b.release()
        assert await a.acquire(now)  # and takes the lock again on a new connection once it is free
        await a.release()
        await other.close()
        return
    now = datetime(2026, 11, 2, tzinfo=UTC)
    a = TableLease(store, name="scheduler", holder="a", ttl=timedelta(seconds=60))
    b = TableLease(store, name="scheduler", holder="b", ttl=timedelta(seconds=60))
    assert await a.acquire(now) and not await b.acquire(now + timedelta(seconds=30))
    assert await a.acquire(now + timedelta(seconds=40))  # renewal pushes the expiry on
    assert not await b.acquire(now + timedelta(seconds=90))
    assert await b.acquire(now + timedelta(seconds=101))  # a stopped renewing: b takes over
    assert not await a.acquire(now + timedelta(seconds=102))


async def test_run_loop_ticks_at_once_and_releases_on_stop(store: Store) -> None:
    ran = asyncio.Event()

    async def job(_at: datetime) -> None:
        ran.set()

    clock = FrozenClock(datetime(2026, 11, 2, 8, tzinfo=BERLIN))
    scheduler = Scheduler([Rule("digest", "0 9 * * MON", job, catch_up=True)], tz=BERLIN, clock=clock,
                          lease=lease_for(store, holder="a"))
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(ran.wait(), timeout=10)
    await scheduler.stop()
    await asyncio.wait_for(task, timeout=10)
    assert not scheduler.holding
    other = lease_for(store, holder="b")
    assert await other.acquire(clock.now())  # released on stop
    await other.release()


async def test_a_failing_job_does_not_stop_the_others(store: Store) -> None:
    async def broken(_at: datetime) -> None:
        raise RuntimeError("boom")

    good = Recorder()
    clock = FrozenClock(datetime(2026, 11, 2, 8, tzinfo=BERLIN))
    scheduler = Scheduler(
        [Rule("broken", "0 9 * * *", broken, catch_up=True), Rule("good", "0 9 * * *", good, catch_up=True)],
        tz=BERLIN, clock=clock, lease=lease_for(store, holder="a"),
    )
    assert await scheduler.tick(clock.now()) == ["broken", "good"]
    assert len(good.fired) == 1
    await scheduler.close()


def test_a_bad_cron_rule_stops_start_up() -> None:
    with pytest.raises(ConfigurationError, match="not a cron expression"):
        Rule("digest", "every monday", Recorder())
