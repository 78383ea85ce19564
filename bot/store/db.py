"""Opening the database: engine, SQLite pragmas, migrations and the unit of work."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.core.errors import StoreUnavailable
from bot.store import (
    sqlite_hops,  # noqa: F401  (one thread trip per SQLite statement)
    sqlite_inline,  # no thread trip at all in the hot paths
)
from bot.store.checkpoint import WalCheckpointer

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite+aiosqlite:///cohortbot.db"


def database_url(explicit: str | None = None) -> str:
    """The URL in force: the explicit one, else ``COHORTBOT_DATABASE_URL``, else the embedded default."""
    return explicit or os.environ.get("COHORTBOT_DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the bot read while an import writes; foreign keys make erasure cascade.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # NORMAL in WAL mode: a commit is durable once the WAL is synced at the next checkpoint;
    # the database never corrupts, a power cut can only lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    # Wait up to 30 s for another writer's lock (on aiosqlite's thread; ``sqlite_inline``).
    sqlite_inline.waiting_pragma(cur, dbapi_conn)
    # 64 MiB of page cache (default 2 MiB): an import inserts into the random-keyed event_uid
    # and member indexes, which outgrow a small cache within thousands of rows; then every
    # insert reads its index pages back through the OS (1M chat messages: 24 GB read and
    # 14.5 GB written with 2 MiB, 5.5 and 4.9 GB with 64 MiB). It grows only as pages are used.
    cur.execute("PRAGMA cache_size=-65536")
    # Checkpoint after ~40 MB of WAL (default ~4 MB), so that commits of a few MB (mail
    # imports, the live bot) do not each pay a checkpoint: a copy back and two syncs.
    # Big import commits exceed either size and checkpoint every time anyway.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.close()


def json_text(value: Any) -> str:
    """JSON for the database: orjson is several times faster than the standard library on the
    feature summaries and evidence written per member; the standard library takes what orjson
    refuses (lone surrogates in text that slipped through)."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False)


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_pre_ping=True, connect_args={"timeout": 10})
    if parsed.get_backend_name() == "sqlite":
        # Every use of a connection here ends its transaction itself (``begin()`` commits or
        # rolls back; ``Connection.close`` rolls back what is left), so the pool's extra
        # rollback on return is one more trip to aiosqlite's thread for nothing — about a
        # tenth of an incremental segmentation update.
        kwargs["pool_reset_on_return"] = None
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@dataclass(slots=True)
class Store:
    """The database handle every command and worker receives from the composition root."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    #: Started by the live bot (``keep_wal_short``); None for one-shot commands and tests.
    checkpointer: WalCheckpointer | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction, for the batched paths that keep ORM objects out."""
        async with self.engine.begin() as conn:
            yield conn
        if self.checkpointer is not None:
            self.checkpointer.nudge()

    def keep_wal_short(self, *, every: float = 0.05) -> bool:
        """On a SQLite file, checkpoint the WAL from a background thread (see ``checkpoint``).

        For long-running processes with a steady stream of small commits (the live bot,
        ``simulate``); True when one runs. Stopped by ``close``.
        """
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return False
        if self.checkpointer is None:
            self.checkpointer = WalCheckpointer(url.database, every=every)
            self.checkpointer.start()
        return True

    async def migrate(self, revision: str = "head") -> None:
        await self._migrating(_upgrade, revision)

    async def downgrade(self, revision: str = "base") -> None:
        await self._migrating(_downgrade, revision)

    async def _migrating(self, step: Any, revision: str) -> None:
        """Run migrations; on SQLite with foreign keys off while they run.

        SQLite changes a table by copying it into a new one and dropping the old: with
        foreign keys on, that drop is a DELETE that cascades to every referencing row
        (erasing all activity when ``member`` is rebuilt). The pragma only takes effect
        outside a transaction, so it is set before the migration's transaction begins,
        and the references are checked before they are turned back on.
        """
        async with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                await conn.run_sync(step, revision)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        await conn.rollback()
                        raise StoreUnavailable(f"migration left {len(broken)} broken references; rolled back")
                await conn.commit()
            finally:
                if sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def close(self) -> None:
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
            self.checkpointer = None
        await self.engine.dispose()


async def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Connect, and bring a new or older database up to the current schema.

    An unreachable or unopenable database becomes ``StoreUnavailable`` with the URL (minus
    its password) in the message, so the CLI can say what went wrong instead of a traceback.
    """
    url = database_url(url)
    safe = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url)
    store = Store(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))
    try:
        if migrate and await store.current_revision() != _head():
            log.info("migrating %s to head", safe)
            await store.migrate()
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        raise StoreUnavailable(f"cannot open database {safe}: {exc.__class__.__name__}: {exc}") from exc
    return store
