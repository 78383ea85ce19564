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
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.activity_rows import sqlite_time
from bot.store.db import json_text

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


def in_list(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def encode(value: Any) -> Any:
    """A value as SQLAlchemy's types write it on SQLite: JSON as the store's serializer writes
    it (``json_text``), aware datetimes as naive UTC text."""
    if isinstance(value, dict | list):
        return json_text(value)
    if isinstance(value, datetime):
        return sqlite_time(value)
    return value


async def run_reads(
    conn: AsyncConnection, queries: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[Any]] | None:
    """Every (sql, parameters) in one trip on SQLite, their rows in order; None elsewhere
    (the caller then runs its SQLAlchemy statements). Writes among them join the transaction
    the caller's connection has open (``bot.store.sqlite_trip``)."""
    run = await thread_runner(conn)
    if run is None:
        return None

    def on_thread(db: sqlite3.Connection) -> list[list[Any]]:
        return [db.execute(sql, params).fetchall() for sql, params in queries]

    result: list[list[Any]] = await run(on_thread)
    return result


async def insert_returning(
    conn: AsyncConnection,
    insert: str,
    rows: Sequence[Sequence[Any]],
    *,
    chunk: int = 500,
    encoded: bool = False,
) -> list[Any]:
    """``insert`` ("INSERT INTO t (a, b) VALUES %s ON CONFLICT ... RETURNING ...") once per
    ``chunk`` rows, the ``%s`` replaced by a placeholder group per row; the returned rows.

    Runs in one trip to the connection's thread where it can (the statements join the
    transaction the caller's connection has open, as ``bot.store.sqlite_trip`` explains),
    else through ``exec_driver_sql``. ``encoded``: the caller already passed every value
    through ``encode`` (it knows which columns need it, and a batch's shared times once)."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        group = "(" + in_list(part[0]) + ")"
        params = (
            tuple(v for row in part for v in row)
            if encoded
            else tuple(encode(v) for row in part for v in row)
        )
        statements.append((insert % ",".join([group] * len(part)), params))
    done = await run_reads(conn, statements)
    if done is not None:
        return [row for page in done for row in page]
    out: list[Any] = []
    for sql, params in statements:
        out.extend((await conn.exec_driver_sql(sql, params)).all())
    return out
