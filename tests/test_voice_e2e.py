"""Members' own voices through the real bot, both stand-ins and both stores: /voice clone (attachment and link),
/voice list, speaking with the voice on /talkinghead and /lipsync (text), refusals (no consent, cloning off on a
server and in DMs, another member's voice), /config features, a clone MiniMax deleted, and /voice delete."""

from __future__ import annotations

import pytest

from tests.helpers import FIXTURES, STORES, finished, refused, shown_text
from tests.standins.fal_queue import JobScript

QUICK = JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2, logs=["go"])
CLONE, TTS, FABRIC, SYNC = (
    "fal-ai/minimax/voice-clone",
    "fal-ai/minimax/speech-2.6-turbo",
    "veed/fabric-1.0",
    "fal-ai/sync-lipsync/v2",
)
USER, DM = 1, 1  # a user install; the DM with the bot (as Discord numbers them)
STRANGER = 5151515151515151
pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)  # voices are stored


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # VOICE_CLONING stays off: DMs refuse cloning


async def answer(discord, interaction) -> str:
    await discord.wait_for(lambda: interaction.callbacks)
    assert refused(interaction), interaction.callbacks  # private
    return interaction.callbacks[0][1]["data"]["content"]


async def voice(discord, subcommand: str, options: dict, **where) -> object:
    return await discord.send_command("voice", options, subcommand=subcommand, **where)


def clones(fal) -> list:
    return [j for j in fal.jobs.values() if j.endpoint_id == CLONE]


async def test_a_member_clones_their_voice_and_speaks_with_it_where_cloning_is_on(
    bot, discord_standin, fal_standin, link_host
):
    for endpoint in (CLONE, TTS, FABRIC, SYNC):
        fal_standin.script(endpoint, QUICK)
    sample = discord_standin.add_attachment("me.mp3", (FIXTURES / "voice_12s.mp3").read_bytes(), "audio/mpeg")
    mine = {"name": "My Voice", "consent": True, "sample": sample}
    portrait = {"image_url": link_host.url("files/portrait.png")}

    # Off until an admin turns it on; consent is asked for; the DM follows VOICE_CLONING (off).
    off = await answer(discord_standin, await voice(discord_standin, "clone", mine))
    assert "voice cloning is off on this server" in off and "/config features voice_clone:True" in off
    dm = await answer(discord_standin, await voice(discord_standin, "clone", mine, context=DM, installs=USER))
    assert "setting `VOICE_CLONING`" in dm
    turned = await discord_standin.send_command(
        "config", {"voice_clone": True}, subcommand="features", user_id=discord_standin.owner_id
    )
    assert "Voice cloning: on" in await answer(discord_standin, turned)
    no = await answer(discord_standin, await voice(discord_standin, "clone", mine | {"consent": False}))
    assert "`consent: True`" in no and "this is my voice, or its owner agreed" in no
    short = {"name": "Short", "consent": True, "sample_url": link_host.url("files/speech.mp3")}
    too_short = await finished(discord_standin, await voice(discord_standin, "clone", short), marker="❌")
    assert "the audio lasts 5.3 s; MiniMax Voice Clone needs at least 10 s of speech" in shown_text(too_short)
    assert clones(fal_standin) == []  # nothing sent for any of these

    # Clone from an attachment and from a link: private jobs through the line, each ending in a voice.
    made = await finished(discord_standin, await voice(discord_standin, "clone", mine))
    assert made.ephemeral and "Voice `My Voice` is ready — use it with `voice:` on /talkinghead or /lipsync" in (
        shown_text(made)
    )
    linked = {"name": "Narrator", "consent": True, "sample_url": link_host.url("files/voice_12s.mp3")}
    await finished(discord_standin, await voice(discord_standin, "clone", linked))
    (first, second) = clones(fal_standin)
    assert (
        first.payload["noise_reduction"] is True
        and fal_standin.uploads[first.payload["audio_url"]] == (FIXTURES / "voice_12s.mp3").read_bytes()
    )
    my_id, narrator_id = first.output["custom_voice_id"], second.output["custom_voice_id"]
    assert my_id not in shown_text(made)

    listing = await answer(discord_standin, await voice(discord_standin, "list", {}))
    assert "`My Voice`" in listing and "`Narrator`" in listing and "not used yet" in listing

    offered = await discord_standin.send_autocomplete("talkinghead", {"voice": "my"}, "voice")
    await discord_standin.wait_for(lambda: offered.callbacks)
    choices = offered.callbacks[0][1]["data"]["choices"]
    assert choices[0] == {"name": "🎙️ My Voice — your voice", "value": "My Voice"}

    # Spoken with on /talkinghead (its name, any case) and /lipsync in text mode: the TTS gets the custom id.
    spoken = await finished(
        discord_standin,
        await discord_standin.send_command(
            "talkinghead", portrait | {"text": "Hello in my voice", "voice": "my voice"}
        ),
    )
    tts = [j for j in fal_standin.jobs.values() if j.endpoint_id == TTS]
    assert tts[-1].payload["voice_setting"] == {"voice_id": my_id}
    assert "voice `My Voice`" in shown_text(spoken) and my_id not in shown_text(spoken)
    video = {"video_url": link_host.url("files/clip.mp4")}
    await finished(
        discord_standin,
        await discord_standin.send_command("lipsync", video | {"text": "Narrated", "voice": "Narrator"}),
    )
    assert [j for j in fal_standin.jobs.values() if j.endpoint_id == TTS][-1].payload["voice_setting"] == {
        "voice_id": narrator_id
    }
    assert "last used" in await answer(discord_standin, await voice(discord_standin, "list", {}))

    # Another member's voice name is just an unknown voice.
    theirs = await discord_standin.send_command(
        "talkinghead", portrait | {"text": "Hi", "voice": "My Voice"}, user_id=STRANGER
    )
    assert "unknown voice 'My Voice'" in await answer(discord_standin, theirs)

    # MiniMax deleted a clone: the job says so and how to clone again; the video step is never sent.
    fal_standin.expire_voice(narrator_id)
    videos = len([j for j in fal_standin.jobs.values() if j.endpoint_id == FABRIC])
    gone = await finished(
        discord_standin,
        await discord_standin.send_command("talkinghead", portrait | {"text": "Still there?", "voice": "Narrator"}),
        marker="❌",
    )
    assert "Your voice 'Narrator' was deleted by MiniMax after 7 days unused; clone it again with /voice clone" in (
        shown_text(gone)
    )
    assert "Nothing was charged" in shown_text(gone)
    assert len([j for j in fal_standin.jobs.values() if j.endpoint_id == FABRIC]) == videos
    again = await discord_standin.send_command("talkinghead", portrait | {"text": "And now?", "voice": "narrator"})
    assert "was deleted by MiniMax" in await answer(discord_standin, again)  # known now: refused before TTS

    # Cloning off again: the server's cloned voices are not spoken there either.
    await discord_standin.send_command(
        "config", {"voice_clone": False}, subcommand="features", user_id=discord_standin.owner_id
    )
    off_use = await discord_standin.send_command("talkinghead", portrait | {"text": "Hi", "voice": "My Voice"})
    assert "voice cloning is off on this server" in await answer(discord_standin, off_use)

    # /voice delete forgets it (autocomplete offers the member's own names).
    names = await discord_standin.send_autocomplete("voice", {"name": ""}, "name", subcommand="delete")
    await discord_standin.wait_for(lambda: names.callbacks)
    assert [c["value"] for c in names.callbacks[0][1]["data"]["choices"]] == ["My Voice", "Narrator"]
    deleted = await answer(discord_standin, await voice(discord_standin, "delete", {"name": "my voice"}))
    assert "Voice `My Voice` deleted" in deleted
    listing = await answer(discord_standin, await voice(discord_standin, "list", {}))
    assert "My Voice" not in listing and "deleted by MiniMax" in listing
    assert discord_standin.violations == [] and fal_standin.violations == []
