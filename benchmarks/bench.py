"""Prints the figures the project cares about, measured against the test stand-ins:

* how fast a command is acknowledged (Discord allows 3 s; we aim for well under 0.3 s),
* how many fal requests one job costs after its submit, following the status stream and by polling only,
* the bot process's resident memory after a run of jobs.

    python -m benchmarks.bench [--jobs 20] [--job-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import fal_client.client

from bot.fal.queue import FalQueue
from tests.botproc import BotProcess, bot_env
from tests.conftest import FAL_KEY, REPO
from tests.standins.discord_api import DiscordStandIn
from tests.standins.fal_queue import FalStandIn, JobScript

URLS = {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def requests_per_job(fal: FalStandIn, seconds: float) -> None:
    fal_client.client.QUEUE_URL_FORMAT = f"https://{fal.host}/"
    os.environ["SSL_CERT_FILE"] = fal.ca_path
    fal.script("fal-ai/sync-lipsync/v2", JobScript(queue_positions=[2, 1, 0], queue_step=seconds / 6, run_time=seconds / 2,
                                                   logs=[f"step {i}" for i in range(30)]))
    args = {"video_url": "https://cdn.example.com/v.mp4", "audio_url": "https://cdn.example.com/a.mp3"}
    for label, queue in (("status stream", FalQueue(FAL_KEY)), ("polling only", FalQueue(FAL_KEY, stream_attempts=0))):
        sub = await queue.submit("fal-ai/sync-lipsync/v2", args)
        await queue.run(sub)
        await queue.aclose()
        calls = sum(fal.count(route, sub.request_id) for route in ("status", "stream", "result"))
        print(f"fal requests after submit, {seconds:.0f} s job, {label}: {calls}")


async def bot_figures(fal: FalStandIn, jobs: int) -> None:
    fal.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.5))
    async with DiscordStandIn() as discord:
        with tempfile.TemporaryDirectory() as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "DISCORD_"))}
            env.update(FAL_KEY=FAL_KEY, FAL_QUEUE_RUN_HOST=fal.host, SSL_CERT_FILE=fal.ca_path, PYTHONPATH=str(REPO),
                       TEST_FAL_STORAGE_URL=fal.base_url)
            bot = BotProcess(bot_env(env, discord, Path(tmp), LOG_LEVEL="WARNING"), Path(tmp) / "bot.log")
            await bot.start(discord)
            try:
                print(f"bot memory after start: {rss_mb(bot.proc.pid):.0f} MB")
                config = await discord.send_command("config", {"user_cooldown": 0, "user_concurrent": 20, "guild_concurrent": 100,
                                                               "user_daily": 1000}, subcommand="limits", user_id=discord.owner_id)
                await discord.wait_for(lambda: config.callbacks)
                acks = []
                for _ in range(jobs):
                    interaction = await discord.send_command("talkinghead", URLS, user_id=discord.owner_id)
                    await discord.wait_for(lambda: interaction.callbacks)
                    acks.append(interaction.callbacks[0][0] * 1000)
                await discord.wait_for(lambda: sum(1 for m in discord.messages.values() if m.content.startswith("✅")) >= jobs, 120)
                print(f"acknowledgement over {jobs} commands: median {statistics.median(acks):.1f} ms, max {max(acks):.1f} ms")
                print(f"bot memory after {jobs} jobs: {rss_mb(bot.proc.pid):.0f} MB")
            finally:
                await bot.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--job-seconds", type=float, default=60)
    args = parser.parse_args()
    async with FalStandIn(key=FAL_KEY) as fal:
        await asyncio.gather(requests_per_job(fal, args.job_seconds), bot_figures(fal, args.jobs))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
