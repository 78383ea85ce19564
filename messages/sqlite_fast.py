"""SQLite fast paths for the programmes' per-batch reads and writes.

Reads: several of a batch's queries in one trip to aiosqlite's thread, values decoded here.
Writes: a multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING as plain SQL with the values
encoded here, instead of SQLAlchemy's per-row bind processing of an executemany.

The planner and the hero loop read a handful of small result sets per batch. Through
SQLAlchemy each is a trip to the thread that owns the sqlite3 connection plus per-row
result processing, which cost more than the queries. On SQLite they run as plain SQL in
one function on that thread (``bot.store.sqlite_trip``, the same internals as
``bot.store.sqlite_hops``), and the few typed values are decoded as SQLAlchemy's types
would: JSON text with orjson, naive UTC text as aware datetimes, 0/1 as booleans. Other
databases (and an aiosqlite of another shape) take the prebuilt SQLAlchemy statements;
the tests run both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.sqlite_trip import encode as encode
from bot.store.sqlite_trip import in_list as in_list
from bot.store.sqlite_trip import insert_returning as insert_returning
from bot.store.sqlite_trip import run_reads as run_reads
from bot.store.sqlite_trip import thread_runner


def aware(text: str) -> datetime:
    """A DateTime column as SQLAlchemy stores it on SQLite (naive UTC text), made aware."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utc(text: str | None) -> datetime | None:
    """``aware`` for a nullable column."""
    return None if text is None else aware(text)


def loads(text: str | bytes | None) -> Any:
    """A JSON column's text (None stays None, as JSON null does through SQLAlchemy)."""
    return None if text is None else orjson.loads(text)


Query = tuple[str, Sequence[Any]]
Statement = tuple[Any, Mapping[str, Any]]


async def read_all(
    conn: AsyncConnection, raw: Sequence[Query], portable: Sequence[Statement]
) -> tuple[bool, list[list[Any]]]:
    """The same reads given twice: as plain SQL in one trip on SQLite, else as the SQLAlchemy
    statements one by one. Returns (raw, pages in order): raw rows carry columns as SQLite
    stores them (the caller decodes JSON and times)."""
    pages = await run_reads(conn, raw)
    if pages is not None:
        return True, pages
    return False, [list(await conn.execute(stmt, params)) for stmt, params in portable]


async def read_chunks(
    conn: AsyncConnection,
    parts: Sequence[list[int]],
    *,
    raw: Callable[[list[int]], list[Query]],
    portable: Callable[[list[int]], list[Statement]],
    tail_raw: Sequence[Query] = (),
    tail_portable: Sequence[Statement] = (),
) -> tuple[bool, list[list[Any]]]:
    """``read_all`` of the same reads for each chunk of ids, then a few once."""
    return await read_all(
        conn,
        [q for part in parts for q in raw(part)] + list(tail_raw),
        [s for part in parts for s in portable(part)] + list(tail_portable),
    )


async def execute_many(conn: AsyncConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` of plain SQL in one trip to the connection's thread (through
    ``exec_driver_sql`` where that is not possible)."""
    run = await thread_runner(conn)
    if run is None:
        await conn.exec_driver_sql(sql, [tuple(r) for r in rows])
        return

    def on_thread(db: sqlite3.Connection) -> None:
        db.executemany(sql, rows)

    await run(on_thread)
