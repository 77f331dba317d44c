"""The bot's other commands end to end: /jobs, /usage, /config, autocomplete, start-up behaviour."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.botproc import BotProcess, bot_env
from tests.helpers import REPO, acknowledged, attach, configure, finished
from tests.standins.fal_queue import JobScript

AUDIO_LINK = "https://cdn.example.com/a.mp3"  # handed to fal as it is, in passthrough


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # the links point at the link host on 127.0.0.1


async def reply(discord, interaction) -> str:
    await discord.wait_for(lambda: interaction.callbacks)
    return interaction.callbacks[0][1]["data"]["content"]


async def test_jobs_lists_mine_and_admins_see_the_queue(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[3], queue_step=60, run_time=60))
    mine = await discord_standin.send_command("talkinghead", link_urls)
    await fal_standin.wait_for_submissions(1)
    job_id = (
        await discord_standin.wait_for(
            lambda: (m := discord_standin.messages.get(mine.original_message_id)) and "job `" in m.content and m
        )
    ).content.split("job `")[1][:8]

    listing = await reply(discord_standin, await discord_standin.send_command("jobs", subcommand="list"))
    assert listing.startswith("**Your jobs**") and f"`{job_id}` Talking head · VEED Fabric 1.0 · queued" in listing
    assert "on this server" not in listing
    detail = await reply(
        discord_standin, await discord_standin.send_command("jobs", {"job_id": job_id}, subcommand="show")
    )
    assert f"job `{job_id}`" in detail and "fal request `" in detail
    admin = await reply(
        discord_standin, await discord_standin.send_command("jobs", subcommand="list", user_id=discord_standin.owner_id)
    )
    assert "**Running and waiting on this server**" in admin and f"<@{discord_standin.user_id}>" in admin
    other = await reply(
        discord_standin, await discord_standin.send_command("jobs", {"job_id": "ffffffff"}, subcommand="show")
    )
    assert "no job" in other


async def test_config_and_usage_and_the_budget_under_a_burst(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=3, run_time=3))
    await configure(discord_standin, user_cooldown=0, user_concurrent=5)
    text = "x" * 140  # ≈10 s of speech: about $0.81 with Fabric 480p
    budget = await discord_standin.send_command(
        "config", {"usd": 1.0}, subcommand="budget", user_id=discord_standin.owner_id
    )
    assert "Budget: $1.00 per day" in await reply(discord_standin, budget)

    denied = await discord_standin.send_command("config", {"usd": 5.0}, subcommand="budget")
    assert "needs the Manage Server permission" in await reply(discord_standin, denied)

    burst = await asyncio.gather(
        *(
            discord_standin.send_command(
                "talkinghead", {"image_url": link_urls["image_url"], "text": text}, user_id=user
            )
            for user in [discord_standin.user_id, discord_standin.owner_id] * 3
        )
    )
    await discord_standin.wait_for(lambda: all(i.callbacks for i in burst), timeout=15)
    started = [i for i in burst if acknowledged(i)]
    refused = [i.callbacks[0][1]["data"]["content"] for i in burst if not acknowledged(i)]
    assert len(started) == 1 and len(refused) == 5
    assert all("past the server's budget ($0.81 of $1.00 committed)" in r for r in refused)

    usage = await reply(discord_standin, await discord_standin.send_command("usage"))
    assert "about $0.81 committed of $1.00" in usage and "VEED Fabric 1.0: 1 " in usage


async def test_channels_and_models_can_be_restricted(link_urls, bot, discord_standin, fal_standin):
    other = await discord_standin.add_channel("bot-jobs")
    done = await discord_standin.send_command(
        "config",
        {"action": "add", "channel": {"type": 7, "value": str(other)}},
        subcommand="channels",
        user_id=discord_standin.owner_id,
    )
    assert f"Channels: <#{other}>" in await reply(discord_standin, done)
    here = await discord_standin.send_command("talkinghead", link_urls)
    assert f"jobs run only in <#{other}>" in await reply(discord_standin, here)

    off = await discord_standin.send_command(
        "config", {"model": "veed/fabric-1.0", "offered": False}, subcommand="model", user_id=discord_standin.owner_id
    )
    offered = (await reply(discord_standin, off)).split("Models offered: ")[1].splitlines()[0].split(", ")
    assert "VEED Fabric 1.0" not in offered and "VEED Fabric 1.0 Fast" in offered
    there = await discord_standin.send_command("talkinghead", link_urls, channel_id=other)
    assert "VEED Fabric 1.0 is switched off on this server; offered: VEED Fabric 1.0 Fast" in await reply(
        discord_standin, there
    )
    assert fal_standin.requests == []


async def test_voice_autocomplete_offers_matching_voices(bot, discord_standin):
    interaction = await discord_standin.send_autocomplete("talkinghead", {"voice": "girl"}, "voice")
    await discord_standin.wait_for(lambda: interaction.callbacks)
    body = interaction.callbacks[0][1]
    assert body["type"] == 8
    assert {c["value"] for c in body["data"]["choices"]} == {
        "Inspirational_girl",
        "Lively_Girl",
        "Sweet_Girl_2",
        "Exuberant_Girl",
        "Lovely_Girl",
    }


async def test_commands_are_synced_once_not_on_every_start(bot, discord_standin, fal_standin):
    names = {c["name"] for c in discord_standin.commands[discord_standin.guild_id]}
    assert names == {
        "talkinghead",
        "lipsync",
        "animate",
        "dub",
        "voice",
        "jobs",
        "config",
        "usage",
        "audit",
        "Make this talk",
        "Lip-sync this video",
        "Animate with this video",
        "Dub this video",
        "Report",
    }
    await bot.stop()
    await bot.start(discord_standin)
    assert len(discord_standin.command_puts) == 1
    assert f"oauth2/authorize?client_id={discord_standin.application_id}&scope=bot+applications.commands" in bot.log


async def test_the_bot_refuses_to_start_without_its_secrets(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "DISCORD_TOKEN is not set; FAL_KEY is not set" in err.decode()


async def test_passthrough_hands_fal_the_attachment_link_and_moves_no_bytes(
    discord_standin, fal_standin, subprocess_env, tmp_path
):
    env = bot_env(subprocess_env, discord_standin, tmp_path, INPUT_HOSTING="passthrough")
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start(discord_standin)
    try:
        portrait = attach(discord_standin, "portrait.png", "image/png")
        interaction = await discord_standin.send_command("talkinghead", {"image": portrait, "audio_url": AUDIO_LINK})
        await finished(discord_standin, interaction)
    finally:
        assert await process.stop() == 0
    (job,) = fal_standin.jobs.values()
    assert job.payload["image_url"] == portrait["url"]
    assert fal_standin.uploads == {} and not [r for r in discord_standin.requests if r.path.startswith("/attachments/")]
