"""Results that last and play: the finished video attached to a card, shown once, whatever fal's CDN or
Discord does — through the real bot against both stand-ins."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs.results import DISCORD_DEFAULT_LIMIT
from tests.helpers import STORES, assert_signed_copy_of, finished, media_urls, shown_text
from tests.standins.fal_queue import JobScript, media_bytes

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)  # on SQLite and PostgreSQL


@pytest.fixture
def bot_settings():
    """The jobs here stand for any job; their links are handed to fal as they are (INPUT_HOSTING=passthrough).
    The bot's own fetching of links has its tests in test_fetch.py and test_links_e2e.py."""
    return {"INPUT_HOSTING": "passthrough"}


URLS = {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3"}


def quick(**output) -> JobScript:
    return JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4, logs=["go"], **output)


def channel_posts(discord) -> list:
    return [m for m in discord.messages.values() if m.source == "channel"]


async def test_a_video_over_the_limit_is_linked_and_the_card_says_why(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", quick(output_size=DISCORD_DEFAULT_LIMIT + 1024 * 1024))
    message = await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS))
    text = shown_text(message)
    assert not message.attachments and not media_urls(message)
    assert (
        "The video is 11.0 MB, more than the 10.0 MB Discord accepts here, so it is linked instead of attached." in text
    )
    (job,) = fal_standin.jobs.values()
    assert f"[Download the video from fal]({job.output['video']['url']})" in text


async def test_a_bigger_upload_limit_of_the_interaction_is_used(bot, discord_standin, fal_standin, tmp_path):
    size = DISCORD_DEFAULT_LIMIT + 2 * 1024 * 1024
    fal_standin.script("veed/fabric-1.0", quick(output_size=size))
    interaction = await discord_standin.send_command("talkinghead", URLS, attachment_size_limit=25 * 1024 * 1024)
    message = await finished(discord_standin, interaction)
    (attachment,) = message.attachments
    received = discord_standin.attachment_bytes(attachment)  # fal's file, with its content credentials
    assert attachment["size"] == len(received) > size
    assert_signed_copy_of(
        received, media_bytes("mp4", size), tmp_path / "received.mp4", "VEED Fabric 1.0", "veed/fabric-1.0"
    )


@pytest.mark.parametrize(
    "fault,why",
    [
        ({"output_status": 404}, "The video could not be attached (fal's CDN answered HTTP 404)"),
        (
            {"output_html": True},
            "The video could not be attached (fal's CDN sent a text/html page instead of the video)",
        ),
        ({"output_truncated": True}, "Downloading the video from fal failed, so it is linked instead of attached."),
    ],
)
async def test_a_download_that_fails_falls_back_to_the_link(bot, discord_standin, fal_standin, fault, why):
    fal_standin.script("veed/fabric-1.0", quick(**fault))
    message = await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS))
    text = shown_text(message)
    assert why in text and "[Download the video from fal](" in text and not message.attachments


async def test_a_result_without_a_video_ends_as_a_clear_failure(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", quick(output_without_video=True))
    message = await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS), marker="❌")
    assert "fal finished the job, but its result has no video file" in message.content
    fal_standin.violations.clear()  # the scripted result breaks the endpoint's output schema on purpose


async def test_discord_refusing_the_upload_leaves_the_link(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.3, run_time=4.0, logs=[]))
    interaction = await discord_standin.send_command("talkinghead", URLS)
    await discord_standin.wait_for(
        lambda: (m := discord_standin.messages.get(interaction.original_message_id or 0)) and "Generating" in m.content,
        timeout=15,
    )
    discord_standin.fail_next(
        "PATCH",
        r"/webhooks/.*/messages/\d+$",
        413,
        code=40005,
        body={"message": "Request entity too large", "code": 40005},
    )
    message = await finished(discord_standin, interaction)  # the next edit is the one that carries the video
    assert not message.attachments and not media_urls(message)
    assert "Discord refused the upload here, so the video is linked instead of attached." in shown_text(message)


async def test_a_sigkill_right_after_the_channel_post_posts_nothing_twice(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=1, run_time=3, logs=["go"]))
    interaction = await discord_standin.send_command("talkinghead", URLS, age=840)  # the token is past its use
    await discord_standin.wait_for(lambda: channel_posts(discord_standin), timeout=30)
    await bot.kill()
    await bot.start(discord_standin)
    message = await finished(discord_standin, interaction)
    (post,) = channel_posts(discord_standin)
    await discord_standin.wait_for(lambda: message.content.endswith(f"/{post.channel_id}/{post.id}"))
    await asyncio.sleep(2.0)  # room for a second post, if there were one
    assert len(channel_posts(discord_standin)) == 1 and len(post.attachments) == 1


def refuse_channel_posts(discord, channel: int) -> None:
    """The bot's next posts in `channel` (and their one retry) are refused: it lacks Send Messages there."""
    discord.fail_next(
        "POST",
        rf"/channels/{channel}/messages",
        403,
        code=50013,
        times=2,
        body={"message": "Missing Permissions", "code": 50013},
    )


async def test_a_channel_that_cannot_be_written_sends_the_video_by_dm_and_else_jobs_keeps_it(
    bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", quick())
    channel = discord_standin.channel_id
    refuse_channel_posts(discord_standin, channel)
    first = await discord_standin.send_command("talkinghead", URLS, age=840)
    dm = await discord_standin.wait_for(
        lambda: next(
            (m for m in discord_standin.messages.values() if m.source == "channel" and m.channel_id != channel), None
        ),
        timeout=30,
    )
    assert "video is ready" not in shown_text(dm) and "Talking head ready" in shown_text(dm)
    assert len(dm.attachments) == 1

    discord_standin.close_dms(discord_standin.user_id)
    refuse_channel_posts(discord_standin, channel)
    second = await discord_standin.send_command("talkinghead", URLS, age=840)
    job_id = None
    await discord_standin.wait_for(lambda: second.original_message_id, timeout=10)
    job_id = await discord_standin.wait_for(
        lambda: (
            (m := discord_standin.messages.get(second.original_message_id))
            and "job `" in m.content
            and m.content.split("job `")[1][:8]
        ),
        timeout=10,
    )
    await asyncio.sleep(6)
    detail = await discord_standin.send_command("jobs", {"job_id": job_id}, subcommand="show")
    await discord_standin.wait_for(lambda: detail.callbacks)
    text = detail.callbacks[0][1]["data"]["content"]
    assert "Talking head ready" in text and "Could not be shown on Discord" in text and "/files/out-" in text
    assert first.original_message_id
