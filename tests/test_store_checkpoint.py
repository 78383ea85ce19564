"""The background WAL checkpointer: it copies the log back from its own thread, and stops with the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.store import open_store


async def test_commits_are_checkpointed_by_the_thread_and_close_stops_it(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        assert store.keep_wal_short(every=0.0)
        checkpointer = store.checkpointer
        assert checkpointer is not None and checkpointer.running
        checkpointer.checkpointed.clear()
        async with store.connection() as conn:  # well below wal_autocheckpoint: no commit copies it
            await conn.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
            await conn.exec_driver_sql(
                "INSERT INTO filler (body) VALUES (?)", [("x" * 2000,) for _ in range(500)]
            )
        assert await asyncio.to_thread(checkpointer.checkpointed.wait, 30)
        assert checkpointer.stats.frames_copied > 0
        async with store.connection() as conn:
            count = (await conn.exec_driver_sql("SELECT count(*) FROM filler")).scalar_one()
        assert count == 500
    finally:
        await store.close()
    assert store.checkpointer is None and not checkpointer.running


async def test_only_a_sqlite_file_gets_one(tmp_path: Path) -> None:
    memory = await open_store("sqlite+aiosqlite:///:memory:")
    try:
        assert not memory.keep_wal_short()
        assert memory.checkpointer is None
    finally:
        await memory.close()


@pytest.mark.parametrize("every", [0.0, 3600.0])
async def test_nudge_respects_the_interval(tmp_path: Path, every: float) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'nudge.db'}")
    try:
        store.keep_wal_short(every=every)
        checkpointer = store.checkpointer
        assert checkpointer is not None
        checkpointer.nudge()  # the first nudge always runs one
        assert await asyncio.to_thread(checkpointer.checkpointed.wait, 30)
        runs = checkpointer.stats.runs
        checkpointer.checkpointed.clear()
        checkpointer.nudge()
        if every == 0.0:
            assert await asyncio.to_thread(checkpointer.checkpointed.wait, 30)
            assert checkpointer.stats.runs == runs + 1
        else:
            assert not checkpointer._wanted.is_set()  # within the interval: not even asked
    finally:
        await store.close()
