"""/healthz and /metrics (HEALTH_PORT) through the real bot: what an operator's probes and Prometheus read."""

from __future__ import annotations

import socket

import aiohttp
import pytest_asyncio

from tests.botproc import BotProcess, bot_env
from tests.helpers import finished
from tests.standins.fal_queue import JobScript

URLS = {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture
async def watched(discord_standin, fal_standin, subprocess_env, tmp_path):
    port = free_port()
    env = bot_env(subprocess_env, discord_standin, tmp_path, HEALTH_PORT=str(port), INPUT_HOSTING="passthrough")
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start(discord_standin)
    yield process, f"http://127.0.0.1:{port}"
    await process.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_healthz_says_the_shards_are_connected_and_the_store_reachable(watched):
    _, base = watched
    status, kind, body = await get(f"{base}/healthz")
    assert status == 200 and kind.startswith("application/json")
    assert '"ok": true' in body and '"shards": {"0": true}' in body and '"store": "reachable"' in body


async def test_metrics_count_commands_fal_requests_deliveries_and_discords_429s(watched, discord_standin, fal_standin):
    _, base = watched
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4))
    discord_standin.fail_next("PATCH", r"^/webhooks/\d+/[^/]+/messages/", 429, times=1, retry_after=0.2)
    await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS))
    status, kind, body = await get(f"{base}/metrics")
    assert status == 200 and kind.startswith("text/plain")
    for line in (
        'lipsync_commands_total{outcome="starting"} 1.0',
        'lipsync_fal_requests_total{kind="submit"} 1.0',
        'lipsync_fal_requests_total{kind="result"} 1.0',
        'lipsync_deliveries_total{result="shown"} 1.0',
        'lipsync_jobs_ended_total{outcome="done"} 1.0',
        "lipsync_discord_rate_limited_total 1.0",
        'lipsync_jobs{status="waiting"} 0.0',
        "lipsync_ack_seconds_count 1.0",
    ):
        assert line in body, (line, [b for b in body.splitlines() if b.startswith(line.split("{")[0].split(" ")[0])])
