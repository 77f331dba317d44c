"""The job store: one interface (base.JobStore), SQLite embedded or PostgreSQL shared, chosen by DATABASE_URL."""

from __future__ import annotations

from bot.jobs.events import JobEvents
from bot.settings import Database
from bot.store.base import JobStore, StaleJob, StoreUnavailable

__all__ = ["JobStore", "StaleJob", "StoreUnavailable", "open_store"]


async def open_store(database: Database, events: JobEvents | None = None) -> JobStore:
    """Open and migrate the database the settings name."""
    if database.path is not None:
        from bot.store.sqlite import SQLiteStore

        return await SQLiteStore.open(database.path, events)
    from bot.store.postgres import PostgresStore

    return await PostgresStore.open(database.url, events)
