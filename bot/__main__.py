"""python -m bot: run the Discord bot (settings from the environment or .env); python -m bot worker: a process that
only works jobs, beside bot processes that share its PostgreSQL database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from urllib.parse import urlparse

import aiohttp
import discord

from bot import logs
from bot.provenance import CredentialsError
from bot.settings import Settings, SettingsError, load_env_file, load_settings
from bot.store.base import StoreUnavailable


def startup_error(exc: BaseException, settings: Settings) -> str | None:
    """One line naming the cause of a failed start and the setting to check; None for anything else (a bug keeps
    its traceback)."""
    if isinstance(exc, discord.LoginFailure):
        return "Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal"
    if isinstance(exc, StoreUnavailable):
        return f"cannot open the database {exc.where} ({exc.reason}); check DATABASE_URL"
    if isinstance(exc, CredentialsError):  # the bot's own signer, kept in the store, no longer signs
        return f"content credentials: {exc}; set C2PA_CERT and C2PA_KEY, or delete the store's credentials row"
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
    parser.add_argument(
        "role",
        nargs="?",
        choices=("worker",),
        help="worker: no gateway connection; only work jobs (needs a PostgreSQL DATABASE_URL shared with the bot)",
    )
    parser.add_argument("--sync", action="store_true", help="sync slash commands with Discord even if unchanged")
    args = parser.parse_args(argv)
    load_env_file()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    if args.role == "worker" and not settings.database.shared:
        print(
            "Error: a worker shares jobs with the bot through PostgreSQL; set DATABASE_URL=postgresql://… "
            "(on SQLite, python -m bot works its jobs itself)",
            file=sys.stderr,
        )
        return 2
    secrets = (settings.discord_token, settings.fal_key, settings.database.password or "")
    logs.setup(getattr(logging, settings.log_level, logging.INFO), *secrets)

    from bot.discord_app.run import run, run_worker

    running = run_worker(settings) if args.role == "worker" else run(settings, force_sync=args.sync)
    try:
        asyncio.run(running)  # a failed start propagates; what was opened is closed
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
