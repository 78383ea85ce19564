"""Drive archive sources into the store: a reader thread, transactions of whole batches, a cursor.

The reader (parsing, decompression) runs in a thread, with its own process pool where
the source has one, while this coroutine writes the previous batch, so parsing and
storing overlap. The queue between them is bounded, which bounds memory whatever the
archive size. Whole batches are stored together with the source's resume position (that
of the last batch) in one transaction: an import killed at any point resumes after the
last committed batch, and event uids make whatever is read twice a no-op. A transaction
takes several batches when they come quickly (see ``_TRANSACTION_EVENTS``), because
SQLite's cost per commit is high for an import.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import ArchiveSource, ImportBatch
from bot.store import Store
from bot.store.ingest import Ingestor, IngestResult
from bot.store.models import ImportCursor

log = logging.getLogger(__name__)

_QUEUE_DEPTH = 4
#: A transaction takes batches (and the cursor of its last one) until it holds this many
#: events or has been open this long. Each commit writes every index page the transaction
#: changed, and a few thousand random event uids already touch most pages of that index, so
#: fewer, bigger commits write far less (SQLite alone, 1.3M activities: 34 s in commits of
#: 13,000 rows, 18 s in commits of 65,000). The time bound keeps the write lock short for
#: the live bot and the work lost to a crash small.
_TRANSACTION_EVENTS = 50_000
_TRANSACTION_SECONDS = 2.0
_GC_THRESHOLD = 1_000_000


class ImportReporter(Protocol):
    """Where progress goes: a Rich bar on a terminal, nothing (then one summary line) elsewhere."""

    def source_started(self, key: str, *, total: int, resumed_at: int) -> None: ...

    def advanced(self, *, records: int, progress: int) -> None: ...

    def source_finished(self, key: str, *, unchanged: bool) -> None: ...


class SilentReporter:
    def source_started(self, key: str, *, total: int, resumed_at: int) -> None:
        log.info("importing %s (resume at %d)", key, resumed_at)

    def advanced(self, *, records: int, progress: int) -> None:
        pass

    def source_finished(self, key: str, *, unchanged: bool) -> None:
        pass


@dataclass(slots=True)
class ImportSummary:
    """Totals over every source; ``line()`` is the one-line summary printed off a terminal."""

    sources: int = 0
    unchanged: int = 0
    resumed: int = 0
    records: int = 0
    imported: int = 0
    duplicates: int = 0
    deleted: int = 0
    new_members: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def line(self) -> str:
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"imported {self.imported}",
            f"duplicates {self.duplicates}",
            f"skipped {self.skipped_total}",
        ]
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            parts[-1] += f" ({reasons})"
        parts.append(f"new members {self.new_members}")
        parts.append(f"sources {self.sources}")
        if self.unchanged:
            parts.append(f"unchanged {self.unchanged}")
        if self.resumed:
            parts.append(f"resumed {self.resumed}")
        parts.append(f"{self.seconds:.1f}s, {rate:,.0f} records/s")
        return "; ".join(parts)


class _Cursor:
    def __init__(self, position: int, finished: bool, fingerprint: str | None) -> None:
        self.position = position
        self.finished = finished
        self.fingerprint = fingerprint


async def _load_cursor(store: Store, key: str) -> _Cursor:
    async with store.connection() as conn:
        row = (
            await conn.execute(
                select(ImportCursor.position, ImportCursor.finished, ImportCursor.fingerprint).where(
                    ImportCursor.source == key
                )
            )
        ).first()
    if row is None:
        return _Cursor(0, False, None)
    return _Cursor(row.position, row.finished, row.fingerprint)


async def _save_cursor(
    conn: AsyncConnection, key: str, *, fingerprint: str, position: int, finished: bool, exists: bool
) -> None:
    now = datetime.now(UTC)
    if exists:
        await conn.execute(
            update(ImportCursor)
            .where(ImportCursor.source == key)
            .values(fingerprint=fingerprint, position=position, finished=finished, updated_at=now)
        )
    else:
        await conn.execute(
            ImportCursor.__table__.insert().values(  # type: ignore[attr-defined]
                source=key, fingerprint=fingerprint, position=position, finished=finished, updated_at=now
            )
        )


@contextmanager
def _rarer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while importing.

    An import allocates millions of objects (events, rows) that reference counting frees;
    the collector counts allocations net of frees, and at CPython's default of 700 it
    still runs thousands of times, each pass walking the batches waiting in the queue
    (1M chat messages: 9,000 collections, 13 s of the reader's and writer's time). At a
    million it runs a few dozen times, briefly; the cyclic garbage an import leaves is
    small (about a thousand objects for those 1M messages). Restored afterwards.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], _GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _Later:
    """Marks "no batch within the transaction's time": commit, then wait for the next one."""


_LATER: Final = _Later()


#: What the reader hands over: a batch, its failure, or None at the end.
_Item = ImportBatch | BaseException | None


async def _get_within(queue: asyncio.Queue[_Item], seconds: float) -> _Item | _Later:
    if seconds <= 0:
        return _LATER
    try:
        async with asyncio.timeout(seconds):
            return await queue.get()
    except TimeoutError:
        return _LATER


def _produce(
    batches: Iterator[ImportBatch],
    queue: asyncio.Queue[_Item],
    loop: asyncio.AbstractEventLoop,
    stop: threading.Event,
) -> None:
    """Reader thread: push batches until the source ends, the consumer stops us, or reading fails."""
    try:
        for batch in batches:
            if stop.is_set():
                return
            asyncio.run_coroutine_threadsafe(queue.put(batch), loop).result()
        asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()
    except BaseException as exc:  # handed to the consumer, which re-raises it on the loop
        if not stop.is_set():
            asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


async def import_source(
    store: Store,
    source: ArchiveSource,
    *,
    ingestor: Ingestor,
    reporter: ImportReporter,
    summary: ImportSummary,
    rescan: bool = False,
) -> None:
    cursor = await _load_cursor(store, source.key)
    fingerprint = source.fingerprint
    same = cursor.fingerprint == fingerprint
    summary.sources += 1
    if same and cursor.finished and not rescan:
        summary.unchanged += 1
        reporter.source_finished(source.key, unchanged=True)
        return
    # A changed file is read from the start; ids make what was stored before a no-op.
    start = cursor.position if same and not cursor.finished and not rescan else 0
    if start:
        summary.resumed += 1
    reporter.source_started(source.key, total=source.size, resumed_at=start)
    exists = cursor.fingerprint is not None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    reader = threading.Thread(
        target=_produce,
        args=(source.batches(start=start), queue, loop, stop),
        name=f"import-reader:{source.key[-40:]}",
        daemon=True,
    )
    reader.start()
    position = start
    try:
        following: _Item | _Later = await queue.get()
        while following is not None:
            if isinstance(following, _Later):
                following = await queue.get()
                continue
            if isinstance(following, BaseException):
                raise following
            batch = following
            held: list[tuple[ImportBatch, IngestResult]] = []
            failure: BaseException | None = None
            try:
                async with store.connection() as conn:
                    deadline = loop.time() + _TRANSACTION_SECONDS
                    events = 0
                    while True:
                        held.append((batch, await ingestor.ingest(conn, batch.events)))
                        events += len(batch.events)
                        if events >= _TRANSACTION_EVENTS:
                            following = _LATER
                            break
                        following = await _get_within(queue, deadline - loop.time())
                        if isinstance(following, BaseException):
                            # What was read before the reader failed is sound: commit it, then fail.
                            failure = following
                            break
                        if following is None or isinstance(following, _Later):  # the end, or out of time
                            break
                        batch = following
                    await _save_cursor(
                        conn, source.key, fingerprint=fingerprint, position=batch.position,
                        finished=False, exists=exists,
                    )
            except BaseException:
                ingestor.forget_caches()  # ids it created in the rolled-back transaction are gone
                raise
            exists = True
            for done, result in held:
                position = done.position
                summary.records += done.records
                summary.imported += result.stored
                summary.duplicates += result.duplicates
                summary.skipped.update(result.skipped)  # e.g. "erased person": never brought back
                summary.deleted += result.deleted
                summary.new_members += result.new_members
                summary.skipped.update(done.skipped)
                reporter.advanced(records=done.records, progress=done.progress)
            if failure is not None:
                raise failure
        async with store.connection() as conn:
            await _save_cursor(
                conn, source.key, fingerprint=fingerprint, position=position, finished=True, exists=exists
            )
        reporter.source_finished(source.key, unchanged=False)
    finally:
        stop.set()
        # Unblock a reader waiting on a full queue so the thread can end.
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(reader.join, 30)


async def import_sources(
    store: Store,
    sources: Sequence[ArchiveSource],
    *,
    reporter: ImportReporter | None = None,
    rescan: bool = False,
) -> ImportSummary:
    """Import every source in order; the summary adds them up."""
    reporter = reporter or SilentReporter()
    summary = ImportSummary()
    ingestor = Ingestor()
    started = time.perf_counter()
    try:
        with _rarer_collections():
            for source in sources:
                await import_source(
                    store, source, ingestor=ingestor, reporter=reporter, summary=summary, rescan=rescan
                )
    finally:
        summary.seconds = time.perf_counter() - started
    return summary
