"""A minimal discord.py bot for measuring the Discord stand-in under a burst: it defers every /burst command and
then edits its response once. Run by test_discord_standin.py's burst test as a separate process, so the stand-in's
CPU time can be told apart from the client's:

    STANDIN_API=... STANDIN_GATEWAY=... STANDIN_TOKEN=... python -m tests.standins.burst_bot
"""

from __future__ import annotations

import asyncio
import logging
import os

import discord
import discord.gateway
import discord.http
import yarl
from discord.ext import commands


def main() -> None:
    discord.http.Route.BASE = os.environ["STANDIN_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["STANDIN_GATEWAY"])
    logging.basicConfig(level=logging.WARNING)
    bot = commands.Bot(
        command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1
    )

    @bot.tree.command(name="burst", description="Defer, then edit once")
    async def burst(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="done")

    asyncio.run(bot.start(os.environ["STANDIN_TOKEN"]))


if __name__ == "__main__":
    main()
