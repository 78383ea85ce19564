"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL when the test command says so)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("COHORTBOT_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    """The third-party data folder, or a clean skip where this checkout has none."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data absent at {path}; these tests need ../shared/data")
    return path


PG_URL = os.environ.get("COHORTBOT_TEST_PG_URL")


async def _fresh_pg_database(base_url: str) -> str:
    """A new empty database on the test server, so tests never see each other's rows."""
    name = f"cb_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture
async def db_url(tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of the kind this run tests (SQLite file or PostgreSQL)."""
    if PG_URL:
        url = await _fresh_pg_database(PG_URL)
        yield url
        await _drop_pg_database(PG_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'cohortbot.db'}"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """An opened, migrated store on a fresh database."""
    s = await open_store(db_url)
    yield s
    await s.close()
