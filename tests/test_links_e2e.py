"""Links through the real bot (INPUT_HOSTING=fal, the default): fetched from the link host on 127.0.0.1 (allowed with
PRIVATE_LINK_HOSTS=127.0.0.1), checked like attachments, measured and handed to fal from its storage; refused
privately, naming the option and the cause, before anything is paid for. And in passthrough, an attachment that
declares no type is judged by its name."""

from __future__ import annotations

import pytest

from tests.botproc import BotProcess, bot_env
from tests.helpers import FIXTURES, attach, finished, private_followup, refused, shown_text
from tests.standins.fal_queue import JobScript

STEADY = JobScript(queue_positions=[1, 0], queue_step=1.0, run_time=2, logs=["Rendering frames"])
GENERIC = "Something went wrong"


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}


async def test_linked_audio_shows_its_true_length_and_cost_in_the_job_message(
    bot, discord_standin, fal_standin, link_host
):
    fal_standin.script("veed/fabric-1.0", STEADY)
    options = {"image_url": link_host.url("files/portrait.png"), "audio_url": link_host.url("files/speech.mp3")}
    interaction = await discord_standin.send_command("talkinghead", options)
    message = await finished(discord_standin, interaction)
    shown = [body.get("content") or "" for _, body in message.edits] + [shown_text(message)]
    # 5.3 s of speech at Fabric 1.0's 720p price, $0.08 a second: known only once the file was fetched.
    assert any("Estimated cost $0.42 · audio 5.3 s" in text for text in shown), shown
    (job,) = fal_standin.jobs.values()
    assert fal_standin.uploads[job.payload["audio_url"]] == (FIXTURES / "speech.mp3").read_bytes()
    assert fal_standin.uploads[job.payload["image_url"]] == (FIXTURES / "portrait.png").read_bytes()
    assert sorted(link_host.requests) == ["/files/portrait.png", "/files/speech.mp3"]


@pytest.mark.parametrize(
    "path,says",
    [
        ("page", "is a web page (text/html), not an audio file; link the file itself"),
        ("status/404", "could not be fetched: the server answered HTTP 404 Not Found"),
        ("hops/4/speech.mp3", "redirects more than 3 times"),
        ("files/portrait.png?type=audio/mpeg", "'portrait.png' is a PNG image; an audio file is needed"),
        ("to?url=https://10.0.0.7/a.mp3", "redirects to a link that is refused"),
    ],
)
async def test_a_link_that_fails_its_check_is_refused_privately_and_nothing_is_paid(
    bot, discord_standin, fal_standin, link_host, path, says
):
    options = {"image_url": link_host.url("files/portrait.png"), "audio_url": link_host.url(path)}
    interaction = await discord_standin.send_command("talkinghead", options)
    answer = await discord_standin.wait_for(lambda: private_followup(discord_standin, interaction), timeout=30)
    assert answer.content.startswith(f"⚠️ `audio_url`: {says}"), answer.content
    assert "Nothing was sent to fal or charged" in answer.content and GENERIC not in answer.content
    assert fal_standin.requests == []  # not even an upload: every input is checked before the first one
    assert "Traceback" not in bot.log


@pytest.mark.parametrize(
    "host",
    ["127.0.0.2", "localhost", "１２７．０．０．２", "[::1]", "2130706434"],
)
async def test_a_link_to_a_host_nobody_allowed_is_refused_at_once_without_a_connection(
    bot, discord_standin, fal_standin, link_host, host
):
    url = f"https://{host}:{link_host.port}/files/speech.mp3"
    interaction = await discord_standin.send_command(
        "talkinghead", {"image_url": link_host.url("x.png"), "audio_url": url}
    )
    await discord_standin.wait_for(lambda: interaction.callbacks)
    assert refused(interaction)
    content = interaction.callbacks[0][1]["data"]["content"]
    assert content.startswith("⚠️ `audio_url`: must point at a public") and GENERIC not in content
    assert link_host.connections == 0 and fal_standin.requests == []


async def test_in_passthrough_an_attachment_that_declares_no_type_needs_a_telling_name(
    discord_standin, fal_standin, subprocess_env, tmp_path
):
    env = bot_env(subprocess_env, discord_standin, tmp_path, INPUT_HOSTING="passthrough")
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start(discord_standin)
    try:
        voice = attach(discord_standin, "speech.mp3", None, filename="voice")
        voice.pop("content_type", None)
        interaction = await discord_standin.send_command(
            "talkinghead", {"image_url": "https://cdn.example.com/p.png", "audio": voice}
        )
        await discord_standin.wait_for(lambda: interaction.callbacks)
        assert refused(interaction)
        content = interaction.callbacks[0][1]["data"]["content"]
        assert content.startswith("⚠️ `audio`: 'voice' declares no media type and has no file extension")
        assert "mp3, wav" in content and "an audio file is needed" in content
        named = attach(discord_standin, "speech.mp3", None, filename="voice.mp3")
        named.pop("content_type", None)
        accepted = await discord_standin.send_command(
            "talkinghead", {"image_url": "https://cdn.example.com/p.png", "audio": named}
        )
        await finished(discord_standin, accepted)
    finally:
        assert await process.stop() == 0
    (job,) = fal_standin.jobs.values()
    assert job.payload["audio_url"] == named["url"]
