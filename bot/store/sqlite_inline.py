"""SQLite statements run on the event loop's own thread in the hot paths, never waiting there.

aiosqlite hands every call to a thread of its own and back. On a local SQLite file the
statements of the live pipeline take tens of microseconds, and the hand-over costs more than
they do: ~160 µs a trip (two thread wake-ups, the GIL changing hands, a turn of the event
loop), a sixth of the whole pipeline's time at 2,000 events/s. Inside ``inline_sqlite()``
a call is made directly on the calling thread instead, when the connection is idle.

What the thread was also for is kept:

* **Waiting on a lock never blocks the loop.** An inline call runs with SQLite's busy
  timeout at 0: if another connection holds the write lock, SQLite answers SQLITE_BUSY at
  once, before the statement changed anything, and the call is sent to the thread as
  before, where it waits (busy timeout restored) while the loop goes on, so the holder,
  maybe another task of this process, can commit. Waiting inline would have blocked the
  loop and with it that holder: a deadlock until the timeout.
* **Long statements stay off the loop.** Only code that opts in runs inline: the live
  pipeline's batches and the outbox worker's rounds, whose statements are index lookups
  and small writes. Commands and clicks, the scheduler, imports, rebuilds, digests and
  exports keep the thread, so a second-long query never freezes the adapters or the web
  server.
* **One call at a time per connection.** A call goes inline only while none of that
  connection's calls is queued for or running on its thread: one whose caller was cancelled
  while it waited for a lock there goes on running, and everything after it queues behind.

A commit that finds the write-ahead log past ``wal_autocheckpoint`` checkpoints it on the
calling thread, inline too; the background checkpointer (``bot.store.checkpoint``) keeps
the log far below that, so it is the safety net it was, not a step of every commit.

A call sent back to the thread runs again from its start. The functions that reach here
(one statement, or a few in ``bot.store.sqlite_trip``'s one-trip functions) can be re-run:
SQLITE_BUSY comes only at a transaction's first write, before which they have only read
and kept their results to themselves. SQLITE_BUSY_SNAPSHOT, which no wait cures, fails on
the thread as it did before.

Installed over ``aiosqlite.Connection._execute`` (the one door every call of its goes
through) when that has the shape relied on here; otherwise nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: What the connection pragmas set (``bot.store.db``); restored for calls on the thread.
WAIT_MS = 30_000

_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("cohortbot_sqlite_inline", default=False)


@dataclass(slots=True)
class InlineStats:
    """For tests: how many inline attempts met a lock held elsewhere and went to the thread."""

    waited: int = 0


stats = InlineStats()


@contextmanager
def inline_sqlite(enabled: bool = True) -> Iterator[None]:
    """Within this block (and the tasks it starts), SQLite calls run on the calling thread."""
    token = _INLINE.set(enabled)
    try:
        yield
    finally:
        _INLINE.reset(token)


def waiting_pragma(cursor: Any, dbapi_conn: Any) -> None:
    """Set the busy timeout of a new connection (``bot.store.db``'s connect pragmas) and note it.

    The inline path switches the timeout off and the thread path back on only when the
    connection's note says it must; a timeout set behind its back would let an inline call
    wait on a lock and block the loop.
    """
    cursor.execute(f"PRAGMA busy_timeout={WAIT_MS}")
    aio = getattr(dbapi_conn, "_connection", None)
    if aio is not None:
        aio._cohortbot_waits = True


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc)


def _install() -> bool:
    try:
        import aiosqlite.core as core
    except ImportError:  # pragma: no cover - aiosqlite is a dependency
        return False
    cls: Any = getattr(core, "Connection", None)
    stock = getattr(cls, "_execute", None)
    uses = getattr(getattr(cls, "__init__", None), "__code__", None)
    if stock is None or uses is None or not {"_tx", "_connection", "_running"} <= set(uses.co_names):
        log.info("aiosqlite has another shape; every SQLite call keeps its thread")
        return False

    async def _execute(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raw = self._connection
        if (
            _INLINE.get()
            and self._running
            and isinstance(raw, sqlite3.Connection)
            and not getattr(self, "_cohortbot_busy", 0)
            and self._tx.empty()
            and not getattr(self, "_cohortbot_no_inline", False)
        ):
            try:
                if getattr(self, "_cohortbot_waits", True):
                    raw.execute("PRAGMA busy_timeout=0")
                    self._cohortbot_waits = False
                result = fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                stats.waited += 1
            except sqlite3.ProgrammingError as exc:
                # A connection bound to its thread (check_same_thread): use the thread from now on.
                if "thread" not in str(exc):
                    raise
                self._cohortbot_no_inline = True
                log.info("SQLite connection is bound to its thread; calls keep the thread")
            else:
                return result
        return await _threaded(self, fn, args, kwargs)

    async def _threaded(self: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            return await stock(self, fn, *args, **kwargs)  # "Connection closed", as ever
        loop = asyncio.get_running_loop()
        handover = threading.Lock()
        state = {"done": False, "orphaned": False}

        def finished() -> None:
            self._cohortbot_busy -= 1

        def waiting() -> Any:
            try:
                raw = self._connection
                if raw is not None and not getattr(self, "_cohortbot_waits", True):
                    raw.execute(f"PRAGMA busy_timeout={WAIT_MS}")
                    self._cohortbot_waits = True
                return fn(*args, **kwargs)
            finally:
                with handover:
                    state["done"] = True
                    orphaned = state["orphaned"]
                if orphaned:  # the caller was cancelled meanwhile: count it back from here
                    with contextlib.suppress(RuntimeError):  # the loop is gone: nobody left to ask
                        loop.call_soon_threadsafe(finished)

        self._cohortbot_busy = getattr(self, "_cohortbot_busy", 0) + 1
        try:
            return await stock(self, waiting)
        finally:
            # Counted back when the thread is done with the call, not when the caller stops
            # waiting: a cancelled caller leaves the call running there, and until it ends no
            # call of this connection may run inline (it would use the sqlite3 connection from
            # two threads, or wait on the loop's thread for SQLite's connection mutex, held
            # through a 30 s lock wait).
            with handover:
                state["orphaned"] = not state["done"]
            if not state["orphaned"]:
                finished()

    cls._execute = _execute
    return True


INSTALLED = _install()
