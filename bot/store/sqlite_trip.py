"""Several SQLite statements in one trip to aiosqlite's thread.

Every statement through SQLAlchemy's aiosqlite adapter is a trip from the event loop to
the thread that owns the sqlite3 connection and back; an incremental update that writes
decisions, feature summaries and the cursor paid one trip each, which on a single new
activity was a large share of its time. ``on_thread`` hands one plain function the raw
sqlite3 connection on that thread instead. The statements join the transaction the
caller's ``AsyncConnection`` has open (the driver begins it implicitly before the first
write), so the caller's commit or rollback covers them as before. That implicit BEGIN
comes only before a statement that *starts with* INSERT, UPDATE, DELETE or REPLACE: a
write that starts otherwise (``WITH ... INSERT``) as a transaction's first write would
commit on its own and escape the caller's rollback, so raw writes here start with one of
those four words.

It relies on the same aiosqlite internals as ``bot.store.sqlite_hops`` (the adapted
connection's ``_connection``, ``_execute`` and ``_conn``); ``thread_runner`` returns None
when they are not there and the caller takes its statement-by-statement path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

Runner = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]


async def thread_runner(conn: AsyncConnection) -> Runner[Any] | None:
    """A function running ``fn(raw_sqlite3_connection)`` on the connection's thread, or None."""
    if conn.dialect.name != "sqlite" or conn.dialect.driver != "aiosqlite":
        return None
    fairy = await conn.get_raw_connection()
    adapted = fairy.dbapi_connection
    aio = getattr(adapted, "_connection", None)
    execute = getattr(aio, "_execute", None)
    raw = getattr(aio, "_conn", None)
    mutex = getattr(adapted, "_execute_mutex", None)
    if execute is None or not isinstance(raw, sqlite3.Connection) or mutex is None:
        return None

    async def run(fn: Callable[[sqlite3.Connection], Any]) -> Any:
        async with mutex:
            return await execute(lambda: fn(raw))

    return run
