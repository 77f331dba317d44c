"""python -m bot: run the Discord bot (settings from the environment or .env)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import discord

from bot import logs
from bot.settings import SettingsError, load_env_file, load_settings


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
        asyncio.run(run())
    except discord.LoginFailure:
        print("Error: Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
