"""Import transactions of several batches: what is stored always matches the cursor, whatever fails."""

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

T0 = datetime(2026, 4, 1, tzinfo=UTC)


@dataclass
class Source:
    """``total`` messages in batches of 10; ``poison`` has text no database takes, ``naive_at`` no zone."""

    total: int
    poison: int | None = None
    naive_at: int | None = None
    fingerprint: str = "v1"
    key: str = "test://tx"

    @property
    def size(self) -> int:
        return self.total

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        self.started_at = start
        for first in range(start, self.total, 10):
            last = min(first + 10, self.total)
            events = tuple(
                MessagePosted(
                    uid=event_uid("mail", f"tx{i}@test"),
                    actor=ActorRef("mail", f"p{i % 3}@example.org"),
                    place=PlaceRef("mail", "tx.example.org"),
                    occurred_at=at.replace(tzinfo=None) if i == self.naive_at else at,
                    # A lone surrogate cannot be encoded for SQLite or PostgreSQL: the write fails.
                    text=MessageText(own="\ud800" if i == self.poison else f"message {i}"),
                )
                for i in range(first, last)
                for at in [T0 + timedelta(minutes=i)]
            )
            yield ImportBatch(position=last, events=events, records=last - first, progress=last, skipped={})


async def committed(store: Store) -> tuple[int, int | None]:
    async with store.connection() as conn:
        stored = (await conn.execute(select(func.count()).select_from(Activity))).scalar_one()
        position = (await conn.execute(select(ImportCursor.position))).scalar()
    return stored, position


@pytest.mark.parametrize("bad", [{"poison": 55}, {"naive_at": 55}], ids=["unstorable text", "naive time"])
async def test_a_failed_write_leaves_exactly_the_committed_batches_and_resume_completes(
    store: Store, bad: dict[str, int]
) -> None:
    with pytest.raises(Exception):  # noqa: B017 - whichever error the driver or the store raises
        await import_sources(store, [Source(total=100, **bad)])
    stored, position = await committed(store)
    # Batches share transactions, so the failure may take earlier batches with it; but what
    # is stored is always exactly what the cursor says was read.
    assert stored == (position or 0)
    assert stored <= 50
    source = Source(total=100)
    summary = await import_sources(store, [source])
    assert source.started_at == stored
    assert (summary.imported, summary.duplicates) == (100 - stored, 0)
    assert await committed(store) == (100, 100)
