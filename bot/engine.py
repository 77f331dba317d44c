"""The job engine, assembled from the settings: store, fal queue, limits, the waiting line, this process's
presence among the others, and the runner.

Opened and closed here, outside any front end, and handed to it (the Discord bot and the worker in
bot/discord_app/run.py). Nothing here imports discord.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from bot import i18n, provenance
from bot.fal.queue import FalQueue
from bot.jobs import inputs
from bot.jobs.events import JobEvents
from bot.jobs.limits import Configs, personal_config
from bot.jobs.line import Line
from bot.jobs.presence import GATEWAY_WORKING, WORKER, Presence
from bot.jobs.recent import RecentInputs
from bot.jobs.runner import JobRunner
from bot.settings import Settings
from bot.store import open_store
from bot.store.base import JobStore
from bot.store.sqlite import ProcessLock

STREAM_MARGIN = 16  # status streams beyond the running slots (a job's TTS step and its video step may overlap)


@dataclass(frozen=True)
class Engine:
    settings: Settings
    events: JobEvents
    store: JobStore
    queue: FalQueue
    configs: Configs
    line: Line
    presence: Presence
    runner: JobRunner
    recent_inputs: RecentInputs
    session: aiohttp.ClientSession
    signer: provenance.Signer  # gives every attached video content credentials, in a process of its own


@asynccontextmanager
async def open_engine(
    settings: Settings, session: aiohttp.ClientSession, *, role: str = "gateway", shards: str | None = None
) -> AsyncIterator[Engine]:
    """Open the store (migrating it) and build the engine on it; close what was opened, however far it got. On
    SQLite, a second process is refused (StoreUnavailable naming DATABASE_URL's way out)."""
    i18n.load_all()  # a catalog that does not compile stops the start, not a member's message
    lock = ProcessLock(settings.database.path) if settings.database.path is not None else None
    if lock is not None:
        lock.acquire()
    try:
        events = JobEvents()
        store = await open_store(settings.database, events)
        try:
            signer = provenance.Signer(settings.c2pa or await provenance.stored(store))
            configs = await Configs.load(
                store,
                personal_config(
                    settings.user_running_jobs,
                    settings.user_waiting_jobs,
                    settings.user_daily_jobs,
                    settings.blocked_words,
                    settings.voice_cloning,
                ),
            )
            works = settings.work_jobs or role == WORKER
            shown = role if role == WORKER or not works else GATEWAY_WORKING
            presence = Presence(store, role=shown, shards=shards, takeover=settings.takeover_seconds)
            line = Line(
                store,
                configs,
                max_running=settings.max_running_jobs,
                bot_budget=settings.daily_budget_usd,
                owner=presence.id if works else None,
            )
            queue = FalQueue(settings.fal_key, stream_connections=settings.max_running_jobs + STREAM_MARGIN)
            try:
                runner = JobRunner(
                    store,
                    queue,
                    line,
                    presence,
                    session=session,
                    hosting=inputs.Hosting(settings.input_hosting, settings.private_link_hosts),
                    works_jobs=works,
                )
                yield Engine(
                    settings,
                    events,
                    store,
                    queue,
                    configs,
                    line,
                    presence,
                    runner,
                    RecentInputs(store, session),
                    session,
                    signer,
                )
            finally:
                await signer.close()
                await queue.aclose()
        finally:
            await store.close()
    finally:
        if lock is not None:
            lock.release()
