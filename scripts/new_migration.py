"""Autogenerate an Alembic revision from bot/store/models.py against a scratch SQLite database.

Usage: .venv/bin/python scripts/new_migration.py "add segment assignments"
Review the generated file: autogenerate cannot see renames or data moves.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.store import open_store

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/scratch.db"
        os.environ["COHORTBOT_DATABASE_URL"] = url

        async def prepare() -> None:
            store = await open_store(url)
            await store.close()

        asyncio.run(prepare())
        cfg = Config()
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        versions = sorted((ROOT / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
        rev_id = f"{len(versions) + 1:04d}"
        command.revision(cfg, message=sys.argv[1], autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main()
