"""SQLite statements take one trip to aiosqlite's thread, and still report what SQLAlchemy reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

from bot.store import open_store
from bot.store.sqlite_hops import INSTALLED


async def test_one_trip_per_statement_with_rows_counts_and_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert INSTALLED
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}", migrate=False)
    trips = 0
    real = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await real(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    try:
        async with store.connection() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
            inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert inserted.lastrowid == 1
            assert trips == 1
            many = await conn.exec_driver_sql("INSERT INTO t (v) VALUES (?)", [("b",), ("c",), ("d",)])
            assert many.rowcount == 3
            assert many.lastrowid == 4  # kept after executemany, where sqlite3 leaves it unset
            updated = await conn.execute(text("UPDATE t SET v = 'z' WHERE id > 2"))
            assert updated.rowcount == 2
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "z"), (4, "z")]
            assert trips == 4  # four statements, four trips (the stock cursor took 3-4 each)
    finally:
        await store.close()
