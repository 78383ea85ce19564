"""The store: SQLAlchemy models, sessions, ingest and queries. ORM objects never leave it."""

from bot.store import live_models as _live_models  # noqa: F401  (registers the tables)
from bot.store.db import Store, open_store

__all__ = ["Store", "open_store"]
