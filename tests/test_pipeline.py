"""The live pipeline on a real database: durable before acknowledged, in order, outages survived."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import FrozenClock
from bot.core.events import ActorRef, CommandInvoked, Event, MessagePosted, MessageText, PlaceRef, event_uid
from bot.core.outbound import CommandReply, Recipient
from bot.pipeline import Batch, Pipeline
from bot.store import Store, open_store
from bot.store.models import Activity, MemberFeatureRow
from bot.store.outbox import NewMessage, enqueue
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


TRACE = "I get a segfault in the parser, here is the trace"


def _msg(n: int, user: str = "u1", text: str = TRACE) -> MessagePosted:
    return MessagePosted(
        uid=event_uid("discord", f"m{n}"),
        actor=ActorRef("discord", user, display_name=user),
        place=PlaceRef("discord", "c1", "dev", container="g1"),
        occurred_at=T0 + timedelta(minutes=n),
        text=MessageText(own=text),
        native_id=f"m{n}",
    )


def _cmd(n: int, user: str = "u1") -> CommandInvoked:
    return CommandInvoked(
        uid=event_uid("discord", f"cmd{n}"),
        actor=ActorRef("discord", user, display_name=user),
        place=PlaceRef("discord", "dm", container="g1"),
        occurred_at=T0 + timedelta(minutes=n),
        command="whyme",
    )


def _pipeline(store: Store, **kwargs: object) -> Pipeline:
    clock = FrozenClock(T0 + timedelta(hours=1))
    engine = SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES), clock=clock)
    return Pipeline(store, engine=engine, clock=clock, **kwargs)  # type: ignore[arg-type]


async def _count(store: Store) -> int:
    async with store.connection() as conn:
        return int((await conn.execute(select(func.count()).select_from(Activity))).scalar_one())


async def test_events_are_stored_once_and_classified(store: Store) -> None:
    pipe = _pipeline(store)
    replies = await asyncio.gather(*(pipe.sink(_msg(n)) for n in range(20)))
    assert replies == [None] * 20
    await pipe.sink(_msg(3))  # a replay of an event already stored
    await pipe.close()
    assert await _count(store) == 20
    assert pipe.stats.duplicates == 1
    async with store.connection() as conn:
        segs = (await conn.execute(select(MemberFeatureRow.segments))).scalars().all()
    assert len(segs) == 1  # the one author was classified by the pipeline itself


async def test_commands_see_everything_queued_before_them(store: Store) -> None:
    seen: list[int] = []

    async def on_command(event: Event) -> CommandReply:
        seen.append(await _count(store))
        return CommandReply("ok")

    pipe = _pipeline(store, on_command=on_command)
    tasks = [asyncio.create_task(pipe.sink(_msg(n))) for n in range(5)]
    tasks.append(asyncio.create_task(pipe.sink(_cmd(6))))
    tasks += [asyncio.create_task(pipe.sink(_msg(n))) for n in range(7, 10)]
    results = await asyncio.gather(*tasks)
    await pipe.close()
    assert seen == [5]
    assert results[5] == CommandReply("ok")
    assert await _count(store) == 8


async def test_after_steps_share_one_transaction(store: Store) -> None:
    """A failing decision step rolls back every decision of the batch, never the stored events."""
    calls: list[frozenset[int]] = []

    async def write_marker(conn: AsyncConnection, batch: Batch) -> None:
        calls.append(batch.touched)
        await conn.execute(text("INSERT INTO seen_event (uid, at) VALUES ('marker', '2026-11-02 10:00:00')"))

    async def explode(conn: AsyncConnection, batch: Batch) -> None:
        raise RuntimeError("a bug in a decision step")

    pipe = _pipeline(store, after=[write_marker, explode])
    await pipe.sink(_msg(1))  # answered once stored, whatever the decision steps do later
    await pipe.close()
    assert await _count(store) == 1
    assert calls and calls[0]  # the author was touched
    async with store.connection() as conn:
        markers = (await conn.execute(text("SELECT count(*) FROM seen_event"))).scalar_one()
    assert markers == 0


async def test_close_finishes_everything_accepted(store: Store) -> None:
    pipe = _pipeline(store, max_batch=7)
    tasks = [asyncio.create_task(pipe.sink(_msg(n))) for n in range(50)]
    await asyncio.sleep(0)  # let the sinks enqueue (a scheduling point, not a wait for work)
    await pipe.close()
    await asyncio.gather(*tasks)
    assert await _count(store) == 50
    with pytest.raises(Exception, match="shutting down"):
        await pipe.sink(_msg(99))


@pytest.mark.skipif(
    not os.environ.get("COHORTBOT_TEST_PG_URL"),
    reason="needs PostgreSQL: a server whose connections can be refused mid-run",
)
async def test_database_outage_mid_run_loses_nothing(db_url: str) -> None:
    """The database refuses connections for a while: events wait in memory and land once it is back."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    store = await open_store(db_url)
    name = make_url(db_url).database
    admin = create_async_engine(os.environ["COHORTBOT_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
    outage_seen = asyncio.Event()

    def on_db_error(exc: BaseException) -> None:
        if pipe.stats.db_failures >= 2:
            outage_seen.set()

    pipe = _pipeline(store, retry_first=0.01, retry_max=0.05, on_db_error=on_db_error)
    try:
        await pipe.sink(_msg(0))
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name}
            )
        waiting = [asyncio.create_task(pipe.sink(_msg(n))) for n in range(1, 6)]
        await outage_seen.wait()  # the consumer has met the outage and is retrying
        assert not any(t.done() for t in waiting)  # not acknowledged while not stored
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        await asyncio.gather(*waiting)
        await pipe.close()
        assert await _count(store) == 6
    finally:
        await store.close()
        await admin.dispose()


async def test_the_outbox_is_woken_only_after_a_batch_that_enqueued(store: Store) -> None:
    wakes: list[int] = []
    enqueue_now = [False]

    async def step(conn: AsyncConnection, batch: Batch) -> None:
        if enqueue_now[0]:
            message = NewMessage(
                dedupe_key=f"k{batch.events[0].uid}",
                platform="discord",
                kind="dm",
                to=Recipient(user_id="u1"),
                text="hi",
                template="welcome",
            )
            await enqueue(conn, [message], now=T0)

    pipe = _pipeline(
        store,
        after=[step],
        on_committed=lambda: wakes.append(2),
        on_enqueued=lambda: wakes.append(1),
        keep_latencies=True,
    )
    await pipe.process([_msg(1)])
    assert wakes == []  # nothing enqueued: the worker is left asleep
    enqueue_now[0] = True
    await pipe.process([_msg(2)])
    assert wakes == [1]  # nudged: broadcasts can wait for the next round
    assert len(pipe.stats.latencies) == 2 and len(pipe.stats.enqueuing_latencies) == 1
    await pipe.process([_cmd(3)])  # a command may enqueue its answer: always woken at once
    assert wakes == [1, 2]


async def test_a_decision_step_that_fails_is_retried_with_the_same_members_moved(store: Store) -> None:
    from sqlalchemy.exc import OperationalError

    seen: list[frozenset[int]] = []

    async def step(conn: AsyncConnection, batch: Batch) -> None:
        seen.append(batch.moved)
        if len(seen) == 1:  # the database goes away after segmentation wrote, before the commit
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    pipe = _pipeline(store, after=[step], retry_first=0.0)
    await pipe.process([_msg(1)])
    assert pipe.stats.db_failures == 1
    assert len(seen) == 2 and seen[0] and seen[1] == seen[0]  # the retry still sees who moved
    async with store.connection() as conn:
        segs = (await conn.execute(select(MemberFeatureRow.segments))).scalars().all()
    assert len(segs) == 1


async def test_a_step_that_raises_a_bug_keeps_the_batch_segmentation_and_blocks_nothing_after(
    store: Store,
) -> None:
    seen: list[frozenset[int]] = []
    poisoned: list[int] = []

    async def step(conn: AsyncConnection, batch: Batch) -> None:
        seen.append(batch.moved)
        if not poisoned:
            poisoned.extend(batch.moved)
        if set(poisoned) & batch.moved:
            raise ValueError("a bug in planning for this member")

    pipe = _pipeline(store, after=[step], retry_first=0.0)
    await pipe.process([_msg(1, user="ann")])
    await pipe.process([_msg(2, user="bob")])
    await pipe.process([_msg(3, user="cid")])
    assert pipe.stats.db_failures == 0
    # ann's batch failed once; the later batches decide on their own members only, instead of
    # folding ann's activity again and failing on it for ever
    assert len(seen) == 3 and seen[1].isdisjoint(seen[0]) and seen[2].isdisjoint(seen[0])
    async with store.connection() as conn:
        segs = (await conn.execute(select(MemberFeatureRow.member_id))).scalars().all()
    assert len(segs) == 3  # everyone's segmentation was kept
