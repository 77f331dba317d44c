"""Shared fixtures: the fal stand-in over TLS and the environment that points fal_client at it."""

from __future__ import annotations

import os
from pathlib import Path

import fal_client.client
import pytest
import pytest_asyncio

from bot.fal.queue import FalQueue
from tests.botproc import BotProcess, bot_env, secrets_in
from tests.standins.discord_api import DiscordStandIn
from tests.standins.fal_queue import FalStandIn

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FAL_KEY = "test-fal-key"

# Nothing in the suite may reach the real services, whatever a test forgets to set.
for _name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "DISCORD_TOKEN"):
    os.environ.pop(_name, None)


@pytest_asyncio.fixture
async def fal_standin():
    server = FalStandIn(key=FAL_KEY, keepalive=0.5)
    await server.start()
    yield server
    await server.close()
    assert not server.violations, server.violations


@pytest.fixture
def fal_env(fal_standin, monkeypatch):
    """Point this process's fal_client at the stand-in, as FAL_QUEUE_RUN_HOST and SSL_CERT_FILE would.

    fal_client reads FAL_QUEUE_RUN_HOST once at import, so in-process tests set the constant it
    derives; subprocesses get the real variable (see subprocess_env). Storage hosts are fixed
    constants in fal_client, so they are patched the same way.
    """
    monkeypatch.setenv("SSL_CERT_FILE", fal_standin.ca_path)
    monkeypatch.setenv("FAL_KEY", FAL_KEY)
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{fal_standin.host}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", fal_standin.base_url)
    monkeypatch.setattr(fal_client.client, "CDN_URL", fal_standin.base_url)
    return fal_standin


@pytest_asyncio.fixture
async def queue(fal_env):
    q = FalQueue(FAL_KEY, poll_min=0.05, poll_max=0.2, backoff=0.01)
    yield q
    await q.aclose()


@pytest.fixture
def subprocess_env(fal_standin, tmp_path):
    """Environment for a child process (CLI or bot) that talks to the fal stand-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "DISCORD_"))}
    env.update(
        FAL_KEY=FAL_KEY,
        FAL_QUEUE_RUN_HOST=fal_standin.host,
        SSL_CERT_FILE=fal_standin.ca_path,
        TEST_FAL_STORAGE_URL=fal_standin.base_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        HOME=str(tmp_path),
    )
    return env


# ---- the Discord side: the stand-in and the real bot process


@pytest_asyncio.fixture
async def discord_standin():
    server = DiscordStandIn()
    await server.start()
    yield server
    await server.close()
    assert not server.violations, server.violations


@pytest_asyncio.fixture
async def bot(discord_standin, fal_standin, subprocess_env, tmp_path):
    process = BotProcess(bot_env(subprocess_env, discord_standin, tmp_path), tmp_path / "bot.log")
    await process.start(discord_standin)
    yield process
    await process.stop()
    tokens = [i.token for i in discord_standin.interactions.values()]
    assert not secrets_in(process.log, discord_standin.token, FAL_KEY, *tokens), "a secret reached the bot's log"
    log = process.log
    assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]


def attach(discord: DiscordStandIn, fixture: str, content_type: str, filename: str | None = None) -> dict:
    return discord.add_attachment(filename or fixture, (FIXTURES / fixture).read_bytes(), content_type)


async def finished(discord: DiscordStandIn, interaction, marker: str = "✅", timeout: float = 30):
    """The interaction's job message once its text starts with `marker`."""
    def check():
        mid = interaction.original_message_id
        message = discord.messages.get(mid) if mid else None
        return message if message and message.content and message.content.startswith(marker) else None
    return await discord.wait_for(check, timeout=timeout)


async def configure(discord: DiscordStandIn, **limits: int) -> None:
    """/config limits as the server owner."""
    interaction = await discord.send_command("config", limits, subcommand="limits", user_id=discord.owner_id)
    await discord.wait_for(lambda: interaction.callbacks)
    assert "Settings for this server" in interaction.callbacks[0][1]["data"]["content"]
