"""The live pipeline: one inbound event travels down the middle of design section 1 once.

Adapters call ``Pipeline.sink(event)``. Events wait in one ordered queue; a single consumer
takes whatever has queued up (so a busy minute costs a few transactions, not thousands),
stores the batch in one transaction and only then answers the adapters — an event is
acknowledged to its platform once it is durable. Then, for the same batch, one more
transaction: segmentation folds the new activities in, and the "after" steps (invitation
planning, the Community Hero loop, points) decide on them and write every outbox row those
decisions cause. Commands and clicks keep their place in the order: a batch
ends before each, so ``optout all`` is in force before anything queued after it is planned.

The database can go away. Then the consumer keeps the batch, says so in the log, and
tries again with a growing pause; adapters waiting on ``sink`` simply wait (that is the
back-pressure), and nothing accepted is dropped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.errors import CohortbotError, StoreUnavailable
from bot.core.events import ActionClicked, CommandInvoked, Event
from bot.core.outbound import CommandReply
from bot.store import Store
from bot.store.ingest import Ingestor, IngestResult
from bot.store.outbox import take_enqueued
from bot.store.sqlite_inline import inline_sqlite
from segmentation.engine import SegmentationEngine
from segmentation.repository import CursorMoved

log = logging.getLogger(__name__)

#: Errors that mean "the database is not there right now", as opposed to a bug or bad input.
_UNREACHABLE = (OperationalError, DBAPIError, OSError, StoreUnavailable, ConnectionError)


@dataclass(frozen=True, slots=True)
class Batch:
    """What the after-steps see of one stored batch."""

    events: tuple[Event, ...]
    ingested: IngestResult
    touched: frozenset[int]  # members whose segments were just recomputed
    moved: frozenset[int]  # of those, members with a dimension whose value changed (new members too)
    now: datetime


#: A decision step after segmentation; all steps of a batch share one transaction.
AfterStep = Callable[[AsyncConnection, Batch], Awaitable[None]]
#: Answers a command or a click; runs after everything queued before it.
Handler = Callable[[Event], Awaitable[CommandReply]]


@dataclass(slots=True)
class PipelineStats:
    events: int = 0
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    commands: int = 0
    db_failures: int = 0
    #: Seconds from an event's arrival to the commit of the decisions it caused.
    latencies: list[float] = field(default_factory=list)
    #: The same, for the events of batches that enqueued at least one message.
    enqueuing_latencies: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Item:
    event: Event
    done: asyncio.Future[CommandReply | None]
    arrived: float


class Pipeline:
    """Owns the inbound queue and its one consumer; built by the composition root."""

    def __init__(
        self,
        store: Store,
        *,
        engine: SegmentationEngine,
        clock: Clock,
        ingestor: Ingestor | None = None,
        after: Sequence[AfterStep] = (),
        on_command: Handler | None = None,
        on_click: Handler | None = None,
        on_committed: Callable[[], None] | None = None,  # after each command or click
        on_enqueued: Callable[[], None] | None = None,  # after a batch that enqueued messages
        on_batch: Callable[[Batch], None] | None = None,
        on_db_error: Callable[[BaseException], None] | None = None,
        max_batch: int = 256,
        queue_size: int = 10_000,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
        keep_latencies: bool = False,
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.ingestor = ingestor or Ingestor()
        self.after = list(after)
        self.on_command = on_command
        self.on_click = on_click
        self.on_committed = on_committed
        self.on_enqueued = on_enqueued
        self.on_batch = on_batch
        self.on_db_error = on_db_error
        self.max_batch = max_batch
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.keep_latencies = keep_latencies
        self.stats = PipelineStats()
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=queue_size)
        self._consumer: asyncio.Task[None] | None = None
        self._closing = False

    # -- the adapters' side ------------------------------------------------------------

    async def sink(self, event: Event) -> CommandReply | None:
        """Accept one event; returns once it is stored (and, for a command or click, answered)."""
        if self._closing:
            raise CohortbotError("the bot is shutting down; the platform will deliver this again")
        item = _Item(event, asyncio.get_running_loop().create_future(), time.perf_counter())
        await self._queue.put(item)
        self._ensure_consumer()
        return await item.done

    # -- lifecycle ---------------------------------------------------------------------

    def _ensure_consumer(self) -> None:
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume(), name="pipeline-consumer")

    async def close(self) -> None:
        """Stop taking events and finish every one already accepted (SIGTERM's drain)."""
        self._closing = True
        if self._consumer is not None and not self._consumer.done():
            await self._queue.put(None)
            await self._consumer
        self._consumer = None

    async def process(self, events: Sequence[Event]) -> list[CommandReply | None]:
        """Run events through in order without the queue: ``simulate`` and benchmarks drive this."""
        replies: list[CommandReply | None] = []
        loop = asyncio.get_running_loop()
        items = [_Item(ev, loop.create_future(), time.perf_counter()) for ev in events]
        await self._run_items(items)
        for item in items:
            replies.append(item.done.result())
        return replies

    # -- the consumer ------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            items = [first]
            stop = False
            while len(items) < self.max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            await self._run_items(items)
            if stop:
                return

    async def _run_items(self, items: list[_Item]) -> None:
        """Split at commands and clicks, which must see everything before them done."""
        run: list[_Item] = []
        for item in items:
            if isinstance(item.event, CommandInvoked | ActionClicked):
                if run:
                    await self._with_retry(self._run_inline, run)
                    run = []
                await self._with_retry(self._run_interactive, [item])
            else:
                run.append(item)
        if run:
            await self._with_retry(self._run_inline, run)

    async def _run_inline(self, items: list[_Item]) -> None:
        """A batch with its SQLite calls on this thread (``sqlite_inline``): its statements are
        index lookups and small writes, cheaper than the trips to aiosqlite's thread. Commands
        keep the thread: a manager's ``digest`` or a member's ``mydata`` may read a lot, and
        the loop must not stop for it."""
        with inline_sqlite():
            await self._run_batch(items)

    async def _with_retry(self, step: Callable[[list[_Item]], Awaitable[None]], items: list[_Item]) -> None:
        delay = self.retry_first
        while True:
            try:
                await step(items)
                return
            except _UNREACHABLE as exc:
                self.stats.db_failures += 1
                self.ingestor.forget_caches()
                if self.on_db_error is not None:
                    self.on_db_error(exc)
                log.error(
                    "database unreachable while handling %d event(s): %s: %s; "
                    "kept in memory, retrying in %.1fs",
                    len(items),
                    exc.__class__.__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                    delay,
                )
                if self._closing and delay >= self.retry_max:
                    for item in items:
                        if not item.done.done():
                            item.done.set_exception(StoreUnavailable(f"database unreachable: {exc}"))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
            except Exception as exc:  # a bug or bad input: say so, answer the waiters, keep running
                log.exception("could not handle %d event(s)", len(items))
                for item in items:
                    if not item.done.done():
                        item.done.set_exception(exc)
                return

    async def _run_batch(self, items: list[_Item]) -> None:
        events = tuple(item.event for item in items)
        async with self.store.connection() as conn:
            result = await self.ingestor.ingest(conn, events)
        self.stats.events += len(events)
        self.stats.batches += 1
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        for item in items:  # durable now: the adapters may acknowledge
            if not item.done.done():
                item.done.set_result(None)
        await self._decide(events, result, items)

    async def _decide(self, events: tuple[Event, ...], result: IngestResult, items: list[_Item]) -> None:
        """Segmentation and every decision the batch causes, in one transaction with its outbox rows.

        One transaction, so a database failure anywhere in it leaves the segmentation cursor
        where it was and the retry sees the same members move. A decision step that raises
        anything else is a bug that would raise again on every retry, and the batches behind
        would fold an ever longer backlog for it: then segmentation is committed alone (the
        periodic sweep plans for those members later) and the error is raised for the log.
        The cyclic collector is paused for
        the few milliseconds this takes: a batch allocates tens of thousands of short-lived
        objects that reference counting frees at the end, and collections in the middle only
        promote them until a full collection of the heap pauses a later batch.
        """
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            for attempt in range(3):
                try:
                    batch, enqueued = await self._decide_once(events, result)
                    break
                except CursorMoved:  # another process (``classify --all``) moved it: read it again
                    if attempt == 2:
                        raise
                except _UNREACHABLE:
                    raise  # kept in memory and retried whole by ``_with_retry``
                except Exception:
                    log.exception(
                        "decision steps failed for a batch of %d event(s); keeping its segmentation "
                        "without them",
                        len(events),
                    )
                    await self._decide_once(events, result, steps=False)
                    raise
        finally:
            if collecting:
                gc.enable()
        if self.keep_latencies:
            end = time.perf_counter()
            waited = [end - item.arrived for item in items]
            self.stats.latencies.extend(waited)
            if enqueued:
                self.stats.enqueuing_latencies.extend(waited)
        if self.on_batch is not None:
            self.on_batch(batch)
        if enqueued and self.on_enqueued is not None:
            self.on_enqueued()

    async def _decide_once(
        self, events: tuple[Event, ...], result: IngestResult, *, steps: bool = True
    ) -> tuple[Batch, int]:
        try:
            async with self.store.connection() as conn:
                report = await self.engine.update_in(conn)
                batch = Batch(
                    events=events,
                    ingested=result,
                    touched=report.touched,
                    moved=report.moved_members,
                    now=self.clock.now(),
                )
                take_enqueued(conn)  # a count left by an earlier, rolled-back use of the connection
                for step in self.after if steps else ():
                    await step(conn, batch)
                enqueued = take_enqueued(conn)
        except BaseException:
            self.engine.forget_cursor()
            raise
        self.engine.committed()
        return batch, enqueued

    async def _run_interactive(self, items: list[_Item]) -> None:
        (item,) = items
        event = item.event
        handler = self.on_command if isinstance(event, CommandInvoked) else self.on_click
        self.stats.commands += 1
        if handler is None:
            reply = CommandReply("This bot does not take commands here.", ok=False)
        else:
            reply = await handler(event)
        if not item.done.done():
            item.done.set_result(reply)
        if self.on_committed is not None:
            self.on_committed()
