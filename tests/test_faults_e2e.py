"""Faults injected on both sides of the real bot: fal failing a fifth of its answers, stalling streams, refusing
or losing submissions, going away for a minute; Discord rate limiting, failing edits and posts, dropping the
gateway. Every admitted job is delivered exactly once, none is submitted twice, and the one fal may or may not
have is reported as such."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import STORES, acknowledged, finished, shown_text
from tests.standins.fal_queue import JobScript

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)  # on SQLite and PostgreSQL


@pytest.fixture
def bot_settings():
    """The jobs here stand for any job; their links are handed to fal as they are (INPUT_HOSTING=passthrough).
    The bot's own fetching of links has its tests in test_fetch.py and test_links_e2e.py."""
    return {"INPUT_HOSTING": "passthrough"}


AUDIO = "https://cdn.example.com/a.mp3"
EDITS = r"^/webhooks/\d+/[^/]+/messages/"
POSTS = r"^/channels/\d+/messages$"


def options(i: int) -> dict:
    return {"image_url": f"https://cdn.example.com/face-{i}.png", "audio_url": AUDIO}


def delivered(discord, sent) -> list:
    """Every message that shows a finished video, from any source (job messages, posts, followups)."""
    return [m for m in discord.messages.values() if shown_text(m).startswith("✅") and not m.deleted]


async def test_jobs_come_through_faults_on_both_sides_delivered_once_and_paid_once(bot, discord_standin, fal_standin):
    fal_standin.script(
        "veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=0.5, run_time=1.5, logs=["go"])
    )
    fal_standin.flaky(routes=("status", "stream", "result"), rate=0.2, kinds=("503", "502:nginx", "drop"), seed=12)
    fal_standin.fail_next("submit", 503, times=2)  # refused before fal recorded anything: sent again
    fal_standin.fail_next("result", 504, times=1, body={"detail": "Gateway Timeout"})
    fal_standin.fail_next("result", "504:text", times=1)  # plain text, which fal_client does not retry by itself
    fal_standin.stall_stream(times=2)
    discord_standin.fail_next("PATCH", EDITS, 429, times=4, retry_after=0.3)
    discord_standin.fail_next("PATCH", EDITS, 500, times=3)
    discord_standin.fail_next("POST", POSTS, 502, times=2)

    sent = await asyncio.gather(
        *(discord_standin.send_command("talkinghead", options(i), user_id=30_000 + i) for i in range(12))
    )
    await discord_standin.wait_for(lambda: all(i.callbacks for i in sent), timeout=15)
    assert all(acknowledged(i) for i in sent)
    await fal_standin.wait_for_submissions(6, timeout=20)
    discord_standin.disconnect_gateway()  # mid-job: discord.py resumes; the jobs go on

    for interaction in sent:
        await finished(discord_standin, interaction, timeout=150)
    await asyncio.sleep(1.5)  # room for a duplicate to show up, if there were one
    finals = delivered(discord_standin, sent)
    assert len(finals) == 12 and {m.id for m in finals} == {i.original_message_id for i in sent}
    assert len(fal_standin.jobs) == 12  # none recorded twice: each job paid once
    faulted = [r for r in fal_standin.requests if r.fault]
    assert len(faulted) >= 8, [(r.route, r.fault) for r in faulted]  # the faults did happen
    assert any(r.route == "submit" and r.fault for r in faulted)
    fal_standin.steady()


async def test_a_submission_lost_on_the_way_back_is_reported_and_never_sent_twice(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.5))
    fal_standin.drop_after_submit(times=1)
    interaction = await discord_standin.send_command("talkinghead", options(0))
    message = await finished(discord_standin, interaction, marker="❌", timeout=60)
    assert "The connection to fal broke while the job was being sent, so fal may or may not have it" in shown_text(
        message
    )
    assert "It was not sent again, so it cannot run twice" in shown_text(message)
    assert "Retry" in str(message.components)  # the member decides whether to pay for another try
    await asyncio.sleep(1.0)
    assert len(fal_standin.jobs) == 1 and fal_standin.count("submit") == 1

    after = await discord_standin.send_command("talkinghead", options(1))
    await finished(discord_standin, after, timeout=30)  # and the next job is served as usual


async def test_a_job_whose_fal_requests_fail_for_half_a_minute_is_delivered_when_fal_answers(
    bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.5, run_time=3.0))
    interaction = await discord_standin.send_command("talkinghead", options(0))
    await fal_standin.wait_for_submissions(1)
    fal_standin.outage(routes=("status", "stream", "result"), seconds=25)
    message = await finished(discord_standin, interaction, timeout=120)
    assert shown_text(message).startswith("✅")
    assert len(fal_standin.jobs) == 1 and fal_standin.count("submit") == 1
    failed = [r for r in fal_standin.requests if r.fault]
    # it kept following through the outage, attempt after attempt with longer pauses, and never resubmitted
    assert failed and failed[-1].time - failed[0].time > 12


async def test_a_crash_while_a_job_is_being_sent_is_reported_and_never_sent_twice(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.5))
    fal_standin.hold("submit")
    interaction = await discord_standin.send_command("talkinghead", options(0))
    await discord_standin.wait_for(lambda: fal_standin.count("submit") == 1, timeout=15)
    await bot.kill()
    fal_standin.release("submit", drop=False)  # fal takes the job after all; the bot never heard back
    await bot.start(discord_standin)
    message = await finished(discord_standin, interaction, marker="❌", timeout=30)
    assert (
        "The bot stopped while it was sending the job to fal, so fal may or may not have it. It was not sent again"
    ) in shown_text(message)
    assert fal_standin.count("submit") == 1
