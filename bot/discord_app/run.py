"""Runs a bot process: a gateway process (python -m bot: its shards, and jobs too unless WORK_JOBS=false) or a
worker (python -m bot worker: no gateway, only jobs, through Discord's REST API).

As in discord.py's examples/advanced_startup.py, the resources are opened outside the client and handed in. The
jobs resume between login (the REST client works) and the gateway connection; a stop request lets them stop (a
submit on its way finishes), hands them back for the next process to carry on with, and then closes the
connection and the store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.discord_app.buttons import job_buttons
from bot.discord_app.client import LipSyncBot, point_at, settle_garbage_collector
from bot.discord_app.health import Health, count_rate_limits
from bot.discord_app.notifier import DiscordNotifier
from bot.engine import Engine, open_engine
from bot.jobs.audit import Keeper
from bot.jobs.deliveries import Deliveries
from bot.jobs.watchdog import Watchdog
from bot.settings import Settings

log = logging.getLogger(__name__)


def shards_of(settings: Settings) -> str | None:
    if settings.shard_ids is None:
        return None if settings.shard_count is None else f"all of {settings.shard_count}"
    return f"{','.join(map(str, settings.shard_ids))} of {settings.shard_count}"


async def run(settings: Settings, *, force_sync: bool = False) -> None:
    """python -m bot: the gateway for its shards; it works jobs too unless WORK_JOBS=false."""
    point_at(settings)
    async with (
        aiohttp.ClientSession() as session,
        open_engine(settings, session, role="gateway", shards=shards_of(settings)) as engine,
        LipSyncBot(engine, force_sync=force_sync, http_trace=count_rate_limits()) as bot,
    ):
        await _serve(engine, bot, bot.services.notifier, "gateway", connect=bot.connect)


async def run_worker(settings: Settings) -> None:
    """python -m bot worker: no gateway; it claims jobs, follows them on fal and shows them through Discord's REST API."""
    point_at(settings)
    async with (
        aiohttp.ClientSession() as session,
        open_engine(settings, session, role="worker") as engine,
        discord.Client(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=count_rate_limits(),
        ) as client,
    ):
        notifier = DiscordNotifier(
            client,
            engine.store,
            session,
            buttons=job_buttons,
            owner=engine.presence.id,
            share=lambda: engine.runner.acks.share,
            signer=engine.signer,
        )
        await _serve(engine, client, notifier, "worker", connect=None)


async def _serve(
    engine: Engine,
    client: discord.Client,
    notifier: DiscordNotifier,
    role: str,
    *,
    connect: Callable[[], Awaitable[None]] | None,
) -> None:
    settings = engine.settings
    deliveries = Deliveries(engine.store, notifier, engine.presence.id)
    engine.runner.on_claim = deliveries.start_up
    watchdog = Watchdog(engine.events)
    audit_keeper = Keeper(engine.store, settings.audit_retention_days)
    health = Health(engine, client, port=settings.health_port, role=role) if settings.health_port else None
    stopped = asyncio.Event()

    async def close() -> None:
        await engine.runner.close()  # unfinished jobs stay in the store
        await deliveries.close()
        await watchdog.close()
        await audit_keeper.close()
        await notifier.close()
        await engine.presence.close()  # hands this process's jobs back, for a restart or another process
        if health is not None:
            await health.close()
        await client.close()
        stopped.set()

    stop = _Once(close)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await client.login(settings.discord_token)
        await engine.presence.start()
        claimed = await engine.runner.start_up()
        if claimed:
            log.info("Carrying on with %d job(s) no process was working", len(claimed))
        watchdog.start()
        audit_keeper.start()
        if health is not None:
            await health.start()
        settle_garbage_collector()
        print(f"lipsync-bot: running as {role} {engine.presence.id}", file=sys.stderr, flush=True)
        if connect is not None:
            await connect()
        else:
            await stopped.wait()
    finally:
        await stop.wait()


class _Once:
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
