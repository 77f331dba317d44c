"""python -m bot: run the Discord bot (settings from the environment or .env)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from urllib.parse import urlparse

import aiohttp
import discord

from bot import logs
from bot.jobs.store import StoreUnavailable
from bot.settings import Settings, SettingsError, load_env_file, load_settings


def startup_error(exc: BaseException, settings: Settings) -> str | None:
    """One line naming the cause of a failed start and the setting to check; None for anything else (a bug keeps
    its traceback)."""
    if isinstance(exc, discord.LoginFailure):
        return "Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal"
    if isinstance(exc, StoreUnavailable):
        return f"cannot open the database {exc.path} ({exc.reason}); check DATABASE_URL"
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.host == urlparse(settings.discord_api_base).hostname:
        where, error = f"{exc.host}:{exc.port}", exc.os_error
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            cause = f"the name {exc.host} does not resolve"
        elif isinstance(exc, aiohttp.ClientSSLError):  # a certificate not trusted, or no TLS on that port
            cause = f"TLS with {where} failed ({getattr(error, 'verify_message', None) or error})"
        else:
            cause = f"cannot connect to {where} ({os.strerror(error.errno) if error.errno else error})"
        return f"Discord is unreachable: {cause}; check DISCORD_API_BASE ({settings.discord_api_base}) and the network"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the lip-sync Discord bot.")
    parser.add_argument("--sync", action="store_true", help="sync slash commands with Discord even if unchanged")
    args = parser.parse_args(argv)
    load_env_file()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    logs.setup(getattr(logging, settings.log_level, logging.INFO), settings.discord_token, settings.fal_key)

    from bot.app import LipSyncBot, point_at

    point_at(settings)

    async def run() -> None:
        async with LipSyncBot(settings, force_sync=args.sync) as bot:
            # A stop request closes cleanly; unfinished jobs stay in the store and resume on the next start.
            loop = asyncio.get_running_loop()
            closing: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

            def stop() -> None:
                task = asyncio.ensure_future(bot.close())
                closing.add(task)
                task.add_done_callback(closing.discard)

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop)
            await bot.start(settings.discord_token)
            await bot.close()  # start() returns as soon as the gateway closes; the store must close too

    try:
        asyncio.run(run())  # a failed start propagates out of bot.start(); `async with` has closed what was opened
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        message = startup_error(exc, settings)
        if message is None:
            raise
        print(f"Error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
