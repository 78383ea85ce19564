"""The import runner: one transaction per batch with its cursor, resume after a crash, skip unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from adapters.base import ImportBatch
from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, event_uid
from bot.importing import import_sources
from bot.store import Store
from bot.store.models import Activity, ImportCursor

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class ReaderCrashed(RuntimeError):
    pass


@dataclass
class CountingSource:
    """A source of ``total`` numbered messages in batches of ``per_batch``; can crash after N batches."""

    total: int
    per_batch: int = 10
    crash_after_batches: int | None = None
    fingerprint: str = "v1"
    key: str = "test://source"

    @property
    def size(self) -> int:
        return self.total

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        self.started_at = start
        for produced, first in enumerate(range(start, self.total, self.per_batch)):
            if self.crash_after_batches is not None and produced == self.crash_after_batches:
                raise ReaderCrashed("disk went away")
            last = min(first + self.per_batch, self.total)
            events = tuple(
                MessagePosted(
                    uid=event_uid("mail", f"m{i}@test"),
                    actor=ActorRef("mail", f"p{i % 7}@example.org"),
                    place=PlaceRef("mail", "list.example.org"),
                    occurred_at=T0 + timedelta(minutes=i),
                    text=MessageText(own=f"message {i}"),
                )
                for i in range(first, last)
            )
            yield ImportBatch(
                position=last,
                events=events,
                records=last - first,
                progress=last,
                skipped={"not a message": 1} if first == 0 else {},
            )


async def activities(store: Store) -> int:
    async with store.connection() as conn:
        return (await conn.execute(select(func.count()).select_from(Activity))).scalar_one()


async def test_imports_everything_and_reports(store: Store) -> None:
    summary = await import_sources(store, [CountingSource(total=95)])
    assert (summary.imported, summary.duplicates, summary.records) == (95, 0, 95)
    assert summary.skipped == {"not a message": 1}
    assert summary.new_members == 7
    assert "imported 95" in summary.line() and "1 not a message" in summary.line()
    assert await activities(store) == 95


async def test_unchanged_source_is_skipped_and_changed_one_reread(store: Store) -> None:
    await import_sources(store, [CountingSource(total=30)])
    again = await import_sources(store, [CountingSource(total=30)])
    assert (again.unchanged, again.imported, again.records) == (1, 0, 0)
    grown = await import_sources(store, [CountingSource(total=40, fingerprint="v2")])
    # A changed file is read from the start; what was stored before is recognised, not doubled.
    assert (grown.imported, grown.duplicates) == (10, 30)
    assert await activities(store) == 40


async def test_crash_mid_import_resumes_at_the_last_committed_batch(store: Store) -> None:
    crashing = CountingSource(total=100, crash_after_batches=4)
    with pytest.raises(ReaderCrashed):
        await import_sources(store, [crashing])
    assert await activities(store) == 40
    async with store.connection() as conn:
        cursor = (await conn.execute(select(ImportCursor.position, ImportCursor.finished))).one()
    assert tuple(cursor) == (40, False)
    resumed_source = CountingSource(total=100)
    resumed = await import_sources(store, [resumed_source])
    assert resumed_source.started_at == 40
    assert (resumed.resumed, resumed.imported, resumed.duplicates) == (1, 60, 0)
    assert await activities(store) == 100


async def test_rescan_reads_an_unchanged_source_again(store: Store) -> None:
    await import_sources(store, [CountingSource(total=20)])
    again = await import_sources(store, [CountingSource(total=20)], rescan=True)
    assert (again.imported, again.duplicates) == (0, 20)
