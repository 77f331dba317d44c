"""The bot as users run it (python -m bot), through the real discord.py and fal_client, against the
Discord stand-in (REST + gateway) and the fal stand-in (queue + storage over TLS)."""

from __future__ import annotations

import pytest

from tests.helpers import (
    FIXTURES,
    assert_signed_copy_of,
    attach,
    finished,
    media_urls,
    private_followup,
    shown_text,
)
from tests.standins.fal_queue import JobScript, media_bytes

QUICK = JobScript(queue_positions=[1, 0], queue_step=0.3, run_time=0.6, logs=["Loading model", "Rendering frames"])
STEADY = JobScript(queue_positions=[1, 0], queue_step=1.5, run_time=3, logs=["Loading model", "Rendering frames"])


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # links here point at the link host on 127.0.0.1


def links_to(link_host) -> dict[str, str]:
    return {"image_url": link_host.url("files/portrait.png"), "audio_url": link_host.url("files/speech.mp3")}


async def test_talkinghead_with_attachments_runs_end_to_end(bot, discord_standin, fal_standin, tmp_path):
    fal_standin.script("veed/fabric-1.0", STEADY)
    portrait = attach(discord_standin, "portrait.png", "image/png", "face.png")
    speech = attach(discord_standin, "speech.wav", "audio/wav")
    interaction = await discord_standin.send_command(
        "talkinghead", {"image": portrait, "audio": speech, "resolution": "720p"}
    )
    message = await finished(discord_standin, interaction)

    first_time, first = interaction.callbacks[0]
    print(f"deferred {first_time * 1000:.0f} ms after dispatch")
    assert first["type"] == 5 and first_time < discord_standin.ack_deadline  # Discord's deadline, not a speed target
    (job,) = fal_standin.jobs.values()
    assert fal_standin.uploads[job.payload["image_url"]] == (FIXTURES / "portrait.png").read_bytes()
    assert fal_standin.uploads[job.payload["audio_url"]] == (FIXTURES / "speech.wav").read_bytes()
    assert job.payload["resolution"] == "720p"
    lines = shown_text(message).splitlines()
    assert lines[0].startswith("✅ **Talking head ready** · VEED Fabric 1.0 · job `")
    assert "image `face.png` · audio `speech.wav` · resolution 720p" in lines[1]
    assert (
        lines[2] == "🤖 **Generated with AI** by VEED Fabric 1.0 (`veed/fabric-1.0` on fal.ai) — not a real recording."
    )
    assert "The attached file carries C2PA content credentials saying so." in lines
    assert f"[Download the video from fal]({job.output['video']['url']})" in lines[-1]
    # the video is attached (Discord hosts and plays it) and shown in the card's media gallery
    (attachment,) = message.attachments
    assert attachment["filename"].endswith(".mp4") and media_urls(message) == [f"attachment://{attachment['filename']}"]
    # the file Discord received is fal's video with content credentials: AI-generated, by VEED Fabric 1.0
    received = discord_standin.attachment_bytes(attachment)
    assert_signed_copy_of(received, media_bytes("mp4"), tmp_path / "received.mp4", "VEED Fabric 1.0", "veed/fabric-1.0")
    progress = [body["content"] for _, body in message.edits if body.get("content")]
    assert any("Queued on fal" in text for text in progress) and any("Rendering frames" in text for text in progress)
    assert message.allowed_mentions is not None and not message.allowed_mentions.get("parse")


async def test_talkinghead_from_text_speaks_then_animates(bot, discord_standin, fal_standin):
    fal_standin.script("fal-ai/minimax/speech-2.6-turbo", STEADY)
    portrait = attach(discord_standin, "portrait.jpg", "image/jpeg")
    interaction = await discord_standin.send_command(
        "talkinghead", {"image": portrait, "text": "Hello @everyone", "voice": "Calm_Woman"}
    )
    message = await finished(discord_standin, interaction)
    tts, video = fal_standin.jobs.values()
    assert tts.payload["prompt"] == "Hello @everyone" and tts.payload["voice_setting"] == {"voice_id": "Calm_Woman"}
    assert video.payload["audio_url"] == tts.output["audio"]["url"]
    assert "text (15 characters, voice `Calm_Woman`)" in shown_text(message)
    assert any("Speaking the text" in body.get("content", "") for _, body in message.edits)


async def test_lipsync_and_animate_run_end_to_end(bot, discord_standin, fal_standin, link_host):
    clip = attach(discord_standin, "clip.mp4", "video/mp4")
    speech = attach(discord_standin, "speech.mp3", "audio/mpeg")
    lipsync = await discord_standin.send_command("lipsync", {"video": clip, "audio": speech, "sync_mode": "loop"})
    portrait = attach(discord_standin, "portrait.png", "image/png")
    animate = await discord_standin.send_command(
        "animate",
        {"image": portrait, "video_url": link_host.url("files/clip.mp4")},
        user_id=discord_standin.owner_id,
    )
    await finished(discord_standin, lipsync)
    await finished(discord_standin, animate)
    by_endpoint = {job.endpoint_id: job.payload for job in fal_standin.jobs.values()}
    assert by_endpoint["fal-ai/sync-lipsync/v2"]["sync_mode"] == "loop"
    # The linked video was fetched, checked and handed to fal from fal's storage, like an attachment.
    driving = by_endpoint["fal-ai/live-portrait"]["video_url"]
    assert fal_standin.uploads[driving] == (FIXTURES / "clip.mp4").read_bytes() and driving.endswith("/clip.mp4")
    assert link_host.requests == ["/files/clip.mp4"]


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"audio_url": "https://cdn.example.com/a.mp3"}, "`image`: missing: give one of `image` or `image_url`"),
        (
            {"image_url": "https://cdn.example.com/p.png", "audio_url": "https://cdn.example.com/a.mp3", "text": "hi"},
            "give only one of `audio` or `audio_url` or `text`",
        ),
        ({"image_url": "http://cdn.example.com/p.png", "text": "hi"}, "`image_url`: must be an https:// link"),
        (
            {"image_url": "https://192.168.0.10/p.png", "text": "hi"},
            "not a private, loopback, multicast or reserved one",
        ),
        (
            {
                "image_url": "https://cdn.example.com/p.png",
                "text": "hi",
                "model": "fal-ai/bytedance/omnihuman/v1.5",
                "resolution": "480p",
            },
            "OmniHuman 1.5 accepts resolution 720p or 1080p",
        ),
    ],
)
async def test_bad_input_is_answered_privately_and_nothing_reaches_fal(
    bot, discord_standin, fal_standin, options, needle
):
    interaction = await discord_standin.send_command("talkinghead", options)
    await discord_standin.wait_for(lambda: interaction.callbacks)
    ((_, callback),) = interaction.callbacks
    assert callback["type"] == 4 and callback["data"]["flags"] & 64  # ephemeral
    assert needle in callback["data"]["content"]
    assert fal_standin.requests == []


async def test_a_file_that_is_not_what_it_claims_is_refused_privately_without_a_fal_request(
    bot, discord_standin, fal_standin
):
    fake = attach(discord_standin, "not-an-image.png", "image/png")
    interaction = await discord_standin.send_command("talkinghead", {"image": fake, "text": "hi"})
    answer = await discord_standin.wait_for(lambda: private_followup(discord_standin, interaction), timeout=20)
    assert answer.content.startswith(
        "⚠️ `image`: 'not-an-image.png' is a text file; an image is needed: PNG, JPEG, "
        "WebP, GIF or AVIF (up to 20 MB). Nothing was sent to fal or charged"
    )
    await discord_standin.wait_for(lambda: discord_standin.messages[interaction.original_message_id].deleted)
    assert fal_standin.requests == []


async def test_progress_edits_are_spaced_and_only_when_something_changed(bot, discord_standin, fal_standin, link_host):
    fal_standin.script(
        "veed/fabric-1.0",
        JobScript(queue_positions=[3, 2, 1, 0], queue_step=0.5, run_time=5, logs=[f"step {i}" for i in range(40)]),
    )
    interaction = await discord_standin.send_command("talkinghead", links_to(link_host))
    message = await finished(discord_standin, interaction)
    times = [t for t, _ in message.edits]
    gaps = [b - a for a, b in zip(times, times[1:-1], strict=False)]  # the final edit is not throttled
    print(f"{len(times)} edits in {times[-1] - times[0]:.1f}s; smallest gap {min(gaps):.2f}s")
    assert len(times) <= (times[-1] - times[0]) / 2 + 3
    assert min(gaps) >= 1.9
    bodies = [body.get("content") for _, body in message.edits]
    assert len(bodies) == len(set(bodies))


async def test_a_rate_limited_edit_is_retried_and_the_result_still_lands(bot, discord_standin, fal_standin, link_host):
    fal_standin.script("veed/fabric-1.0", QUICK)
    discord_standin.fail_next("PATCH", r"/webhooks/.*", 429, retry_after=0.5, times=2)
    interaction = await discord_standin.send_command("talkinghead", links_to(link_host))
    message = await finished(discord_standin, interaction)
    assert len(discord_standin.rate_limited) == 2
    assert message.attachments and shown_text(message).startswith("✅")


async def test_a_job_that_outlives_the_interaction_token_is_still_delivered(
    bot, discord_standin, fal_standin, link_host
):
    fal_standin.script(
        "veed/fabric-1.0",
        JobScript(queue_positions=[1, 0], queue_step=1, run_time=8, logs=[f"step {i}" for i in range(8)]),
    )
    # Created 13 min 27 s ago: the token has 93 s left and the bot stops using it 90 s before expiry,
    # so the job outlives the usable token after about 3 s.
    interaction = await discord_standin.send_command(
        "talkinghead",
        links_to(link_host),
        age=807,
    )
    message = await finished(discord_standin, interaction)
    ping = await discord_standin.wait_for(
        lambda: next((m for m in discord_standin.messages.values() if m.source == "channel"), None)
    )
    # shown once: the channel message carries the video and mentions the requester ...
    assert shown_text(ping).startswith(f"<@{discord_standin.user_id}> your talking head video is ready")
    assert len(ping.attachments) == 1 and media_urls(ping) == [f"attachment://{ping.attachments[0]['filename']}"]
    assert [int(u) for u in ping.allowed_mentions["users"]] == [discord_standin.user_id]
    assert not ping.allowed_mentions.get("parse")
    posts = [r for r in discord_standin.requests if r.method == "POST" and r.path.startswith("/channels/")]
    assert ping.nonce and all(r.json.get("enforce_nonce") is True for r in posts)
    # ... and the job's own message points to it, without a second copy of the video
    await discord_standin.wait_for(lambda: message.content.endswith(f"/{ping.channel_id}/{ping.id}"))
    assert not message.attachments and not media_urls(message)
    assert message.content.startswith("✅ **Talking head ready**")
    assert message.content.endswith(f"/{ping.channel_id}/{ping.id}")
    handoff = interaction.dispatched_at + 3.5
    webhook = [r.time for r in discord_standin.requests if r.path.startswith("/webhooks/")]
    channel = [r.time for r in discord_standin.requests if r.method == "PATCH" and r.path.startswith("/channels/")]
    assert webhook and max(webhook) < handoff
    assert channel and min(channel) > min(webhook)
