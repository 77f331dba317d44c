"""Labels through the real bot (python -m bot against both stand-ins): the result card says the video was generated
with AI and by which model, and the video file Discord received carries C2PA content credentials saying so, read
back with c2pa's Reader. The bot signs with a signer it made on its first start and keeps in the job store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers import (
    FIXTURES,
    assert_signed_copy_of,
    attach,
    finished,
    media_urls,
    shown_text,
)
from tests.standins.fal_queue import JobScript, media_bytes

URLS = {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3"}
QUICK = JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4, logs=["go"])
FABRIC = ("VEED Fabric 1.0", "veed/fabric-1.0")
SIGNED = "The attached file carries C2PA content credentials saying so."


@pytest.fixture
def bot_settings():
    return {"INPUT_HOSTING": "passthrough"}  # the links here stand for any input


def stored_key(bot_database: str) -> str:
    """The private key of the bot's own signer, as the job store keeps it (SQLite)."""
    with sqlite3.connect(bot_database.removeprefix("sqlite:///")) as db:
        ((key,),) = db.execute("SELECT key FROM credentials").fetchall()
    return key


def key_body(key: str) -> str:
    """The key's base64 lines, which is what a leak would show."""
    return "".join(line for line in key.splitlines() if not line.startswith("-----"))


async def test_a_spoken_talking_head_is_labelled_and_its_file_carries_content_credentials(
    bot, discord_standin, fal_standin, tmp_path, bot_database
):
    fal_standin.script("fal-ai/minimax/speech-2.6-turbo", QUICK)
    fal_standin.script("veed/fabric-1.0", QUICK)
    portrait = attach(discord_standin, "portrait.jpg", "image/jpeg")
    interaction = await discord_standin.send_command("talkinghead", {"image": portrait, "text": "Hello there"})
    message = await finished(discord_standin, interaction)
    lines = shown_text(message).splitlines()
    assert lines[2] == (
        "🤖 **Generated with AI** by VEED Fabric 1.0 (`veed/fabric-1.0` on fal.ai), "
        "speech by MiniMax Speech 2.6 Turbo — not a real recording."
    )
    assert SIGNED in lines
    (attachment,) = message.attachments
    assert media_urls(message) == [f"attachment://{attachment['filename']}"]
    received = discord_standin.attachment_bytes(attachment)  # what Discord received in the upload
    created = assert_signed_copy_of(received, media_bytes("mp4"), tmp_path / "received.mp4", *FABRIC)
    assert (
        "speech by MiniMax Speech 2.6 Turbo (fal.ai endpoint fal-ai/minimax/speech-2.6-turbo)"
        in (created["description"])
    )
    # the signer's key stays in the store: never in the log, never sent anywhere
    body = key_body(stored_key(bot_database))
    assert len(body) > 100 and body not in bot.log and body not in received.decode("latin-1")
    for request in discord_standin.requests:
        sent = (request.raw_json or b"").decode("utf-8", "replace") + "".join(
            d.decode("latin-1") for _, d in request.files
        )
        assert body not in sent


async def test_the_signer_is_the_same_after_a_restart(bot, discord_standin, fal_standin, tmp_path, bot_database):
    key = stored_key(bot_database)
    await bot.stop()
    await bot.start(discord_standin)
    fal_standin.script("veed/fabric-1.0", QUICK)
    message = await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS))
    (attachment,) = message.attachments
    path = tmp_path / "after-restart.mp4"
    assert_signed_copy_of(discord_standin.attachment_bytes(attachment), media_bytes("mp4"), path, *FABRIC)
    assert stored_key(bot_database) == key


async def test_a_long_jobs_channel_post_carries_the_label_and_credentials(bot, discord_standin, fal_standin, tmp_path):
    fal_standin.script("veed/fabric-1.0", QUICK)
    interaction = await discord_standin.send_command("talkinghead", URLS, age=840)  # the token is past its use
    post = await discord_standin.wait_for(
        lambda: next((m for m in discord_standin.messages.values() if m.source == "channel" and m.attachments), None),
        timeout=30,
    )
    text = shown_text(post)
    assert "🤖 **Generated with AI** by VEED Fabric 1.0 (`veed/fabric-1.0` on fal.ai)" in text and SIGNED in text
    (attachment,) = post.attachments
    received = discord_standin.attachment_bytes(attachment)
    assert_signed_copy_of(received, media_bytes("mp4"), tmp_path / "post.mp4", *FABRIC)
    assert interaction.original_message_id


async def test_a_video_that_cannot_be_signed_is_still_attached_and_the_card_says_so(
    bot, discord_standin, fal_standin, link_host
):
    """A file c2pa cannot sign (here a WebM where fal promised an MP4) is not lost: it is attached as fal made it,
    with a warning in the log, and the card says it carries no content credentials — and is AI-generated."""
    webm = FIXTURES / "v_webm_vp9_opus.webm"
    output = {
        "video": {
            "url": link_host.url("files/v_webm_vp9_opus.webm"),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": webm.stat().st_size,
        }
    }
    fal_standin.script(
        "veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4, logs=[], output=output)
    )
    message = await finished(discord_standin, await discord_standin.send_command("talkinghead", URLS))
    text = shown_text(message)
    assert "🤖 **Generated with AI** by VEED Fabric 1.0" in text
    assert "⚠️ The attached file carries no content credentials (signing them failed)" in text and SIGNED not in text
    (attachment,) = message.attachments
    assert discord_standin.attachment_bytes(attachment) == Path(webm).read_bytes()
    await discord_standin.wait_for(lambda: "could not be given content credentials" in bot.log, timeout=5)
    fal_standin.violations.clear()  # a WebM served as the MP4 the output promised, on purpose
