"""Helpers shared by the tests and the benchmarks (importing them changes nothing in the environment)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins.discord_api import DiscordStandIn
from tests.standins.fal_queue import FalStandIn

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FAL_KEY = "test-fal-key"


def fal_child_env(fal: FalStandIn, home: Path) -> dict[str, str]:
    """Environment for a child process (CLI or bot) that talks to the fal stand-in and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "DISCORD_"))}
    env.update(
        FAL_KEY=FAL_KEY,
        FAL_QUEUE_RUN_HOST=fal.host,
        SSL_CERT_FILE=fal.ca_path,
        TEST_FAL_STORAGE_URL=fal.base_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        HOME=str(home),
    )
    return env


def attach(discord: DiscordStandIn, fixture: str, content_type: str, filename: str | None = None) -> dict:
    return discord.add_attachment(filename or fixture, (FIXTURES / fixture).read_bytes(), content_type)


async def finished(discord: DiscordStandIn, interaction, marker: str = "✅", timeout: float = 30):
    """The interaction's job message once its text starts with `marker`."""
    def check():
        mid = interaction.original_message_id
        message = discord.messages.get(mid) if mid else None
        return message if message and message.content and message.content.startswith(marker) else None
    return await discord.wait_for(check, timeout=timeout)


async def configure(discord: DiscordStandIn, guild_id: int | None = None, **limits: int) -> None:
    """/config limits as the server owner."""
    interaction = await discord.send_command("config", limits, subcommand="limits", user_id=discord.owner_id,
                                             guild_id=guild_id)
    await discord.wait_for(lambda: interaction.callbacks)
    assert "Settings for this server" in interaction.callbacks[0][1]["data"]["content"]
