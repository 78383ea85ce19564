"""Fault tests: two workers on one outbox, and the database gone at start and in the middle of a run."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from outbox_support import T0, dm, put, rows
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from adapters.fake import FakeAdapter
from bot.core.clock import FrozenClock, SystemClock
from bot.core.errors import StoreUnavailable
from bot.core.outbound import OutboundMessage
from bot.outbox_worker import OutboxWorker, RateLimits
from bot.store import Store, open_store
from bot.store import outbox as ob
from bot.store.outbox import OutboxRow

PG_URL = os.environ.get("COHORTBOT_TEST_PG_URL")


def _worker(
    store: Store, adapter: FakeAdapter, *, worker_id: str, clock: object, **kw: object
) -> OutboxWorker:
    return OutboxWorker(
        store,
        {adapter.platform: adapter},
        clock=clock,
        worker_id=worker_id,  # type: ignore[arg-type]
        limits=RateLimits.unlimited(),
        rng=random.Random(3),
        **kw,  # type: ignore[arg-type]
    )


async def test_two_workers_never_send_a_row_twice(store: Store, db_url: str) -> None:
    keys = [f"m{i}" for i in range(120)]
    await put(store, *[dm(k, user=f"u{i}") for i, k in enumerate(keys)])
    other = await open_store(db_url, migrate=False)  # a second engine, as a second process would have
    try:
        a, b = FakeAdapter("discord", clock=FrozenClock(T0)), FakeAdapter("discord", clock=FrozenClock(T0))
        wa = _worker(store, a, worker_id="a", clock=FrozenClock(T0), batch_size=5)
        wb = _worker(other, b, worker_id="b", clock=FrozenClock(T0), batch_size=5)
        done = await asyncio.gather(wa.drain(), wb.drain())
    finally:
        await other.close()
    sent = Counter(a.sent_keys() + b.sent_keys())
    assert a.transcript and b.transcript  # both really worked on the same rows at once
    assert sorted(sent) == sorted(keys) and set(sent.values()) == {1}
    assert sum(done) == len(keys)
    got = await rows(store)
    assert {r["status"] for r in got.values()} == {"sent"}
    assert {r["claimed_by"] for r in got.values()} <= {"a", "b"}


def _unreachable_url(tmp_path: Path) -> str:
    if PG_URL:
        return make_url(PG_URL).set(port=1, database="nowhere").render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'cohortbot.db'}"


async def test_an_unreachable_database_at_start_is_a_clear_error(tmp_path: Path) -> None:
    store = await open_store(_unreachable_url(tmp_path), migrate=False)
    try:
        worker = _worker(store, FakeAdapter("discord"), worker_id="w", clock=SystemClock())
        with pytest.raises(StoreUnavailable, match="outbox worker w: cannot reach the database"):
            await asyncio.wait_for(worker.run(), 60)
        with pytest.raises(StoreUnavailable, match="outbox worker w: database failed"):
            await asyncio.wait_for(worker.drain(), 60)
    finally:
        await store.close()


class Outage:
    """Takes a real database away and brings it back: SQLite by moving its folder, PostgreSQL by
    refusing connections to the database and terminating the open ones."""

    def __init__(self, store: Store, *, folder: Path | None = None) -> None:
        self.store = store
        self.folder = folder
        self.active = False

    async def _admin(self, sql: str) -> None:
        assert PG_URL
        admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await admin.dispose()

    async def begin(self) -> None:
        self.active = True
        if self.folder is not None:
            self.folder.rename(self.folder.with_name("away"))
            await self.store.engine.dispose()
            return
        name = self.store.engine.url.database
        await self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await self._admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            " AND pid <> pg_backend_pid()"
        )

    async def end(self) -> None:
        if self.folder is not None:
            self.folder.with_name("away").rename(self.folder)
        else:
            await self._admin(f'ALTER DATABASE "{self.store.engine.url.database}" ALLOW_CONNECTIONS true')
        self.active = False


@pytest.fixture
async def outage_store(store: Store, tmp_path: Path) -> AsyncIterator[tuple[Store, Outage]]:
    if PG_URL:
        outage = Outage(store)
        yield store, outage
        if outage.active:
            await outage.end()
        return
    folder = tmp_path / "db"
    folder.mkdir()
    own = await open_store(f"sqlite+aiosqlite:///{folder / 'cohortbot.db'}")
    outage = Outage(own, folder=folder)
    yield own, outage
    if outage.active:
        await outage.end()
    await own.close()


class _Watch(logging.Handler):
    """Sets an event when the worker logs that the database is unreachable."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "database unreachable" in message:
            self.messages.append(message)
            self.seen.set()


# aiosqlite's worker thread for a connection that failed during the outage may finish after
# the test's event loop closed; that late callback is aiosqlite's, not a lost message.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_the_database_going_away_mid_run_loses_nothing(outage_store: tuple[Store, Outage]) -> None:
    store, outage = outage_store
    discord = FakeAdapter("discord")
    keys = ["first", "second", "third"]
    sent_ids: list[int] = []
    all_sent = asyncio.Event()

    async def on_send(message: OutboundMessage) -> None:
        if message.dedupe_key == "first" and not outage.active and not sent_ids:
            await outage.begin()  # the platform takes it; recording it will fail

    async def on_sent(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        sent_ids.append(row.id)
        if len(sent_ids) == len(keys):
            all_sent.set()

    discord.on_send = on_send
    watch = _Watch()
    logger = logging.getLogger("bot.outbox_worker.worker")
    logger.addHandler(watch)
    worker = _worker(
        store, discord, worker_id="w", clock=SystemClock(), on_sent=[on_sent], store_retry_seconds=0.05
    )
    task = asyncio.create_task(worker.run())
    try:
        await put(store, *[dm(k, user=f"u{i}") for i, k in enumerate(keys)], now=SystemClock().now())
        worker.wake()
        await asyncio.wait_for(watch.seen.wait(), 60)
        assert task.done() is False  # still running through the outage
        await outage.end()
        await asyncio.wait_for(all_sent.wait(), 60)
    finally:
        logger.removeHandler(watch)
        await asyncio.wait_for(worker.stop(), 60)
        await asyncio.wait_for(task, 60)
    assert sorted(discord.sent_keys()) == sorted(keys)  # "first" was recorded, not sent again
    assert {r["status"] for r in (await rows(store)).values()} == {"sent"}
    assert worker.registry.get_sample_value("cohortbot_outbox_store_errors_total") >= 1
    assert "database unreachable" in watch.messages[0]


async def test_rows_left_sending_by_a_lost_worker_are_reconciled_but_a_live_claim_is_left_alone(
    store: Store,
) -> None:
    clock = FrozenClock(T0)
    discord = FakeAdapter("discord", clock=clock)  # no idempotent send: reconcile decides
    ids = [i for i in await put(store, dm("delivered"), dm("lost", user="u2"), dm("busy", user="u3")) if i]
    async with store.connection() as conn:
        [delivered, _] = await ob.claim(conn, ids[:2], now=T0 - timedelta(minutes=20), worker_id="gone")
        await ob.claim(conn, ids[2:], now=T0 - timedelta(minutes=1), worker_id="alive")
    receipt = await discord.send(delivered.to_message())  # the lost worker got this one out
    worker = _worker(store, discord, worker_id="new", clock=clock)
    assert await worker.drain() == 2
    got = await rows(store)
    assert discord.sent_keys() == ["delivered", "lost"]  # nothing twice
    assert (
        got["delivered"]["status"] == "sent" and got["delivered"]["receipt"]["native_id"] == receipt.native_id
    )
    assert got["lost"]["status"] == "sent"
    assert (got["busy"]["status"], got["busy"]["claimed_by"]) == ("sending", "alive")
