"""The job engine, assembled from the settings: store, fal queue, limits, the waiting line and the runner.

Opened and closed here, outside any front end, and handed to it (the Discord bot in bot/discord_app/run.py).
Nothing here imports discord.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from bot.fal.queue import FalQueue
from bot.jobs.events import JobEvents
from bot.jobs.limits import Configs, personal_config
from bot.jobs.line import Line
from bot.jobs.recent import RecentInputs
from bot.jobs.runner import JobRunner
from bot.settings import Settings
from bot.store import open_store
from bot.store.base import JobStore

STREAM_MARGIN = 16  # status streams beyond the running slots (a job's TTS step and its video step may overlap)


@dataclass(frozen=True)
class Engine:
    settings: Settings
    events: JobEvents
    store: JobStore
    queue: FalQueue
    configs: Configs
    runner: JobRunner
    recent_inputs: RecentInputs
    session: aiohttp.ClientSession


@asynccontextmanager
async def open_engine(settings: Settings, session: aiohttp.ClientSession) -> AsyncIterator[Engine]:
    """Open the store (migrating it) and build the engine on it; close what was opened, however far it got."""
    events = JobEvents()
    store = await open_store(settings.database, events)
    try:
        configs = await Configs.load(
            store, personal_config(settings.user_running_jobs, settings.user_waiting_jobs, settings.user_daily_jobs)
        )
        line = Line(configs, max_running=settings.max_running_jobs, bot_budget=settings.daily_budget_usd)
        queue = FalQueue(settings.fal_key, stream_connections=settings.max_running_jobs + STREAM_MARGIN)
        try:
            runner = JobRunner(store, queue, line, session=session, input_hosting=settings.input_hosting)
            yield Engine(settings, events, store, queue, configs, runner, RecentInputs(store, session), session)
        finally:
            await queue.aclose()
    finally:
        await store.close()
