"""Runs the Discord bot: opens the engine's resources outside the bot, hands them in, and closes them in order.

As in discord.py's examples/advanced_startup.py, the bot class is given what it needs; here the jobs also
resume between login (the REST client works) and the gateway connection, and a stop request lets the jobs stop
(a submit on its way finishes) before the connection and the store close.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import aiohttp

from bot.discord_app.client import LipSyncBot, point_at, settle_garbage_collector
from bot.engine import open_engine
from bot.jobs.deliveries import Deliveries
from bot.jobs.watchdog import Watchdog
from bot.settings import Settings

log = logging.getLogger(__name__)


async def run(settings: Settings, *, force_sync: bool = False) -> None:
    point_at(settings)
    async with aiohttp.ClientSession() as session, open_engine(settings, session) as engine:
        async with LipSyncBot(engine, force_sync=force_sync) as bot:
            notifier = bot.services.notifier
            deliveries = Deliveries(engine.store, notifier)
            watchdog = Watchdog(engine.events)

            async def close() -> None:
                await engine.runner.close()  # unfinished jobs stay in the store and resume on the next start
                await deliveries.close()
                await watchdog.close()
                await notifier.close()
                await bot.close()

            stop = _once(close)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop)
            try:
                await bot.login(settings.discord_token)
                unfinished = await engine.runner.start_up()
                await deliveries.start_up(unfinished)
                if unfinished:
                    log.info("Picked up %d job(s) whose outcome was not shown yet", len(unfinished))
                watchdog.start()
                settle_garbage_collector()
                await bot.connect()
            finally:
                await stop.wait()


class _once:  # noqa: N801 - used like a function
    """`close` started at most once (a signal, or the gateway ending); wait() for it to be done."""

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._close = close
        self._task: asyncio.Future[None] | None = None

    def __call__(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._close())

    async def wait(self) -> None:
        self()
        assert self._task is not None
        await asyncio.shield(self._task)
