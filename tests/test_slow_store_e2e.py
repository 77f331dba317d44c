"""The acknowledgement comes first, however busy the database is: with the line's lock held elsewhere (another
process in a long transaction), a command is still acknowledged within Discord's 3 s, and its answer follows —
through the real bot on PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from bot.store.postgres import LINE_LOCK
from tests.helpers import finished, private_followup
from tests.standins.fal_queue import JobScript

pytestmark = pytest.mark.parametrize("bot_database", ["postgres"], indirect=True)


@pytest.fixture
def bot_settings():
    """The jobs here stand for any job; their links are handed to fal as they are (INPUT_HOSTING=passthrough).
    The bot's own fetching of links has its tests in test_fetch.py and test_links_e2e.py."""
    return {"INPUT_HOSTING": "passthrough"}


URLS = {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3"}


async def test_a_command_is_acknowledged_in_time_while_admission_waits_and_runs_after(
    bot, bot_database, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4))
    other = await asyncpg.connect(bot_database)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", LINE_LOCK)  # another process holds the line
        interaction = await discord_standin.send_command("talkinghead", URLS)
        await discord_standin.wait_for(lambda: interaction.callbacks, timeout=5)
        took, body = interaction.callbacks[0]
        assert body["type"] == 5 and took < 2.5  # deferred: acknowledged first
        assert fal_standin.count("submit") == 0  # nothing admitted yet, nothing sent
    finally:
        await other.execute("SELECT pg_advisory_unlock($1)", LINE_LOCK)
        await other.close()
    await finished(discord_standin, interaction)  # admitted once the line was free, and run


async def test_a_command_refused_after_a_slow_admission_is_told_privately(bot, bot_database, discord_standin):
    budget = await discord_standin.send_command(
        "config", {"usd": 0.0}, subcommand="budget", user_id=discord_standin.owner_id
    )
    await discord_standin.wait_for(lambda: budget.callbacks)
    other = await asyncpg.connect(bot_database)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", LINE_LOCK)
        interaction = await discord_standin.send_command("talkinghead", URLS)
        await discord_standin.wait_for(lambda: interaction.callbacks, timeout=5)
        assert interaction.callbacks[0][1]["type"] == 5
    finally:
        await other.execute("SELECT pg_advisory_unlock($1)", LINE_LOCK)
        await other.close()
    followup = await discord_standin.wait_for(lambda: private_followup(discord_standin, interaction), timeout=10)
    assert "`daily_budget`" in followup.content and "server's budget" in followup.content
    await discord_standin.wait_for(
        lambda: discord_standin.messages[interaction.original_message_id].deleted, timeout=10
    )
