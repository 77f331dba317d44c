"""Directing the video through the real bot (python -m bot against both stand-ins, on both stores): `emotion` on
/lipsync runs sync's react-1 with it, `prompt` on /talkinghead goes to OmniHuman 1.5; Run again keeps both; the
refusals (an emotion with another model, a clip react-1 cannot take, a prompt for a model without one, a banned word
in the prompt) are private, say what is accepted, and send fal nothing."""

from __future__ import annotations

import pytest

from tests import media_corpus
from tests.helpers import STORES, attach, custom_ids, finished, private_followup, refused, shown_text
from tests.standins.fal_queue import JobScript

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)

QUICK = JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2, logs=["go"])
REACT, OMNI = "fal-ai/sync-lipsync/react-1", "fal-ai/bytedance/omnihuman/v1.5"
DM, USER = 1, 1  # the DM with the bot, a user install: BLOCKED_WORDS applies there


@pytest.fixture
def bot_settings():
    return {"BLOCKED_WORDS": "launch codes"}


async def private_answer(discord, interaction) -> str:
    """A refusal: the command's own private answer, or the private followup once the files were looked at."""
    await discord.wait_for(lambda: interaction.callbacks, timeout=10)
    if refused(interaction):
        return interaction.callbacks[0][1]["data"]["content"]
    return (await discord.wait_for(lambda: private_followup(discord, interaction), timeout=30)).content


def shown_over_time(discord, interaction) -> list[str]:
    message = discord.messages[interaction.original_message_id]
    return [body.get("content") or "" for _, body in message.edits] + [shown_text(message)]


async def test_emotion_runs_react1_with_it_and_what_react1_cannot_take_is_refused(
    bot, discord_standin, fal_standin, tmp_path
):
    discord, fal = discord_standin, fal_standin
    fal.script(REACT, QUICK)
    clip, speech = attach(discord, "clip.mp4", "video/mp4"), attach(discord, "speech.mp3", "audio/mpeg")
    asked = await discord.send_command(
        "lipsync", {"video": clip, "audio": speech, "emotion": "happy", "sync_mode": "loop"}
    )
    card = shown_text(await finished(discord, asked))
    (job,) = fal.jobs.values()  # the stand-in took it: valid against react-1's contract
    assert job.endpoint_id == REACT
    assert job.payload["emotion"] == "happy" and job.payload["lipsync_mode"] == "loop"
    assert "sync_mode" not in job.payload
    assert card.startswith("✅ **Lip sync ready** · Sync React-1 · job `") and "· emotion **happy**" in card
    assert any("Emotion **happy**" in text for text in shown_over_time(discord, asked))

    sent = len(fal.requests)
    other = await discord.send_command(
        "lipsync", {"video": clip, "audio": speech, "emotion": "sad", "model": "fal-ai/sync-lipsync/v2"}
    )
    said = await private_answer(discord, other)
    assert said.startswith("⚠️ `emotion`: `emotion` works with Sync React-1") and "Sync Lipsync 2.0" in said

    long_clip = media_corpus.make(
        tmp_path,
        media_corpus.video("long.mp4", "video/mp4", "MP4", fmt="mp4", vcodec="libx264", acodec="aac", length=20),
    )
    twenty = discord.add_attachment("long.mp4", long_clip.read_bytes(), "video/mp4")
    too_long = await discord.send_command("lipsync", {"video": twenty, "audio": speech, "emotion": "angry"})
    said = await private_answer(discord, too_long)
    assert said.startswith("⚠️ `video`: the video lasts 20.0 s; Sync React-1 accepts at most 15 s"), said
    assert fal.requests[sent:] == []  # nothing uploaded, nothing submitted
    assert "Traceback" not in bot.log


async def test_prompt_goes_to_omnihuman_and_run_again_keeps_it_and_other_models_refuse_it(
    bot, discord_standin, fal_standin
):
    discord, fal = discord_standin, fal_standin
    fal.script(OMNI, QUICK)
    portrait, speech = attach(discord, "portrait.png", "image/png"), attach(discord, "speech.mp3", "audio/mpeg")
    prompt = "<@123> The camera slowly pushes in. She speaks thoughtfully, with a slight smile."
    asked = await discord.send_command(
        "talkinghead", {"image": portrait, "audio": speech, "model": OMNI, "prompt": f"  {prompt} "}
    )
    done = await finished(discord, asked)
    (job,) = fal.jobs.values()
    assert job.endpoint_id == OMNI and job.payload["prompt"] == prompt
    assert "· prompt `<@123> The camera slowly" in shown_text(done)
    assert any(text.startswith("Prompt `<@123>") for t in shown_over_time(discord, asked) for text in t.splitlines())
    mentions = discord.messages[asked.original_message_id].allowed_mentions  # shown, never a ping
    assert mentions is not None and not mentions.get("parse") and "123" not in str(mentions.get("users", []))

    again = await discord.send_component(done.id, custom_ids(done)[0])  # Run again
    await discord.wait_for(lambda: again.original_message_id)
    await finished(discord, again)
    assert [j.payload.get("prompt") for j in fal.jobs.values()] == [prompt, prompt]

    sent = len(fal.requests)
    fabric = await discord.send_command("talkinghead", {"image": portrait, "audio": speech, "prompt": "smile"})
    said = await private_answer(discord, fabric)
    assert said.startswith("⚠️ `prompt`: `prompt` works with OmniHuman 1.5 or Creatify Aurora; choose one with `model:`")
    banned = await discord.send_command(
        "talkinghead",
        {"image": portrait, "audio": speech, "model": OMNI, "prompt": "she reads the Launch  Codes aloud"},
        context=DM,
        installs=USER,
    )
    said = await private_answer(discord, banned)
    assert said.startswith("⚠️ `prompt`: the prompt contains a word not allowed here (`launch codes`)"), said
    assert fal.requests[sent:] == []
    assert "Traceback" not in bot.log
