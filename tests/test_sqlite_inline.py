"""SQLite calls run on the loop's thread inside ``inline_sqlite()``, and a lock held elsewhere
still never blocks the loop: the call goes to aiosqlite's thread and waits there."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.store import Store, open_store, sqlite_inline
from bot.store.sqlite_inline import INSTALLED, WAIT_MS, inline_sqlite
from bot.store.sqlite_trip import thread_runner


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    assert INSTALLED
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", migrate=False)
    async with store.connection() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    try:
        yield store
    finally:
        await store.close()


def _where(raw: sqlite3.Connection) -> tuple[int, int]:
    """The thread a call ran on and the busy timeout it ran with."""
    return threading.get_ident(), int(raw.execute("PRAGMA busy_timeout").fetchone()[0])


async def test_inline_inside_the_block_and_on_the_thread_outside(sqlite_store: Store) -> None:
    here = threading.get_ident()
    async with sqlite_store.connection() as conn:
        run = await thread_runner(conn)
        assert run is not None
        thread, waits = await run(_where)
        assert thread != here and waits == WAIT_MS  # the stock path: aiosqlite's thread, waiting
        with inline_sqlite():
            thread, waits = await run(_where)
            assert thread == here and waits == 0  # inline: never waits on a lock
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        thread, waits = await run(_where)
        assert thread != here and waits == WAIT_MS  # the thread restores the wait it relies on
    async with sqlite_store.connection() as conn:
        rows = (await conn.execute(text("SELECT v FROM t"))).scalars().all()
    assert rows == ["a"]  # the inline insert was committed by the (inline) commit


async def test_errors_and_rollback_inline_as_on_the_thread(sqlite_store: Store) -> None:
    with inline_sqlite():
        async with sqlite_store.connection() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        with pytest.raises(IntegrityError):
            async with sqlite_store.connection() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))  # unique: fails
        async with sqlite_store.connection() as conn:
            rows = (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
    assert rows == ["a"]  # 'b' went with the failed transaction


async def test_a_lock_held_elsewhere_waits_on_the_thread_not_the_loop(sqlite_store: Store) -> None:
    """Another task of this process holds the write lock; an inline write must not block the
    loop (which would keep that task from ever committing) but wait for it on the thread."""
    waited_before = sqlite_inline.stats.waited
    about_to_write = asyncio.Event()
    here = threading.get_ident()

    async def writer() -> int:
        with inline_sqlite():
            async with sqlite_store.connection() as conn:
                run = await thread_runner(conn)
                assert run is not None
                # A connection opened inside the block (the holder has the pool's first): its
                # connect pragmas set a 30 s wait, which an inline call must not run with.
                assert await run(_where) == (here, 0)  # a read: inline, no lock needed
                about_to_write.set()
                await conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
                thread: int = (await run(_where))[0]
                return thread

    async with sqlite_store.connection() as holder:
        await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))  # holds the write lock
        task = asyncio.create_task(writer())
        await about_to_write.wait()
        # The writer met the lock inline and handed its insert to the thread; the loop is free,
        # which is why this task runs again at all. The insert cannot have finished.
        assert sqlite_inline.stats.waited == waited_before + 1
        assert not task.done()
    # The holder committed when its block ended; the writer's insert now goes through.
    thread_after = await task
    assert thread_after == here  # and its later calls are inline again
    async with sqlite_store.connection() as conn:
        rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["first", "second"]


async def test_a_cancelled_call_still_on_the_thread_keeps_the_next_one_off_the_loop(
    sqlite_store: Store,
) -> None:
    """A caller cancelled while its call runs on aiosqlite's thread (waiting for a lock, say)
    leaves that call running there. The connection's next call must queue behind it: inline
    it would use the sqlite3 connection from two threads at once (a crash, or a wait for
    SQLite's connection mutex on the loop's thread)."""
    here = threading.get_ident()
    started, gate = threading.Event(), threading.Event()

    def held_up(raw: sqlite3.Connection) -> None:
        if threading.get_ident() == here:  # the inline attempt: as if another writer held the lock
            raise sqlite3.OperationalError("database is locked")
        started.set()
        gate.wait(30)

    async with sqlite_store.connection() as conn:
        run = await thread_runner(conn)
        assert run is not None
        with inline_sqlite():
            first: asyncio.Future[Any] = asyncio.ensure_future(run(held_up))
            await asyncio.to_thread(started.wait, 30)  # it runs on the thread now
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            after: asyncio.Future[Any] = asyncio.ensure_future(run(_where))
            await asyncio.to_thread(gate.set)  # a turn of the loop for ``after``, then release
            thread, waits = await after
    assert thread != here and waits == WAIT_MS  # queued behind the cancelled call, on the thread
    assert started.is_set()
