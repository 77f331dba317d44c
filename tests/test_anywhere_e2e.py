"""Use it anywhere: the app installed to a member's account (servers that never added the bot, DMs, group
DMs), private jobs, and the message context menus with their modals — through the real bot process."""

from __future__ import annotations

import pytest

from tests.botproc import BotProcess, bot_env
from tests.helpers import FIXTURES, attach, finished, media_urls, shown_text
from tests.standins.fal_queue import JobScript


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # the links point at the link host on 127.0.0.1


QUICK = JobScript(queue_positions=[0], queue_step=0.2, run_time=0.5, logs=["go"])
GUILD, USER, DM, GROUP_DM = 0, 1, 1, 2  # install types and contexts, as Discord numbers them
EPHEMERAL = 1 << 6


def dms(discord) -> list:
    """Messages the bot posted in DM channels (its DM with a member)."""
    guild_channels = {discord.channel_id}
    return [m for m in discord.messages.values() if m.source == "channel" and m.channel_id not in guild_channels]


async def test_a_user_install_in_a_server_the_bot_is_not_in_works_through_the_interaction_only(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    guild, channel = await discord_standin.add_foreign_guild()
    interaction = await discord_standin.send_command(
        "talkinghead", link_urls, guild_id=guild, channel_id=channel, installs=USER
    )
    message = await finished(discord_standin, interaction)
    assert message.attachments and media_urls(message)
    assert discord_standin.refused_bot_writes == []  # it never tried to write with its own token there


async def test_a_user_install_job_that_outlives_its_token_ends_in_the_requesters_dms(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.5, run_time=1.0, logs=["go"]))
    guild, channel = await discord_standin.add_foreign_guild()
    interaction = await discord_standin.send_command(
        "talkinghead", link_urls, guild_id=guild, channel_id=channel, installs=USER, age=840
    )
    dm = await discord_standin.wait_for(lambda: next(iter(dms(discord_standin)), None), timeout=30)
    assert shown_text(dm).startswith("✅ **Talking head ready**") and len(dm.attachments) == 1
    assert discord_standin.refused_bot_writes == [] and interaction.original_message_id


async def test_in_the_dm_with_the_bot_a_long_job_ends_in_that_dm(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.5, run_time=1.0, logs=["go"]))
    interaction = await discord_standin.send_command("talkinghead", link_urls, context=DM, installs=USER, age=840)
    post = await discord_standin.wait_for(lambda: next(iter(dms(discord_standin)), None), timeout=30)
    assert post.channel_id == interaction.channel_id and len(post.attachments) == 1
    message = await discord_standin.wait_for(
        lambda: (m := discord_standin.messages[interaction.original_message_id]).content.endswith(str(post.id)) and m
    )
    assert "the video is here" in message.content


async def test_a_group_dm_job_is_delivered_and_a_long_one_ends_by_dm(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", QUICK)
    quick = await discord_standin.send_command("talkinghead", link_urls, context=GROUP_DM, installs=USER)
    assert (await finished(discord_standin, quick)).attachments
    late = await discord_standin.send_command("talkinghead", link_urls, context=GROUP_DM, installs=USER, age=840)
    dm = await discord_standin.wait_for(lambda: next(iter(dms(discord_standin)), None), timeout=30)
    assert len(dm.attachments) == 1 and late.original_message_id
    assert discord_standin.refused_bot_writes == []


async def test_a_private_job_is_seen_only_by_its_requester_and_a_long_one_ends_by_dm(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    private = await discord_standin.send_command("talkinghead", {**link_urls, "private": True})
    await discord_standin.wait_for(lambda: private.callbacks)
    assert private.callbacks[0][1]["data"]["flags"] & EPHEMERAL
    message = await finished(discord_standin, private)
    assert message.ephemeral and message.attachments
    long = await discord_standin.send_command("talkinghead", {**link_urls, "private": True}, age=840)
    dm = await discord_standin.wait_for(lambda: next(iter(dms(discord_standin)), None), timeout=30)
    assert len(dm.attachments) == 1 and long.original_message_id
    assert not [
        m
        for m in discord_standin.messages.values()
        if m.channel_id == discord_standin.channel_id and m.source == "channel"
    ]


async def test_a_server_without_external_apps_gets_private_replies_and_the_job_still_ends(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    guild, channel = await discord_standin.add_foreign_guild()
    discord_standin.disable_external_apps(guild)
    interaction = await discord_standin.send_command(
        "talkinghead", link_urls, guild_id=guild, channel_id=channel, installs=USER
    )
    message = await finished(discord_standin, interaction)
    assert message.ephemeral and message.attachments


async def test_commands_declare_where_they_can_be_installed_and_used(
    discord_standin, fal_standin, subprocess_env, tmp_path
):
    env = bot_env(subprocess_env, discord_standin, tmp_path, PRIVATE_LINK_HOSTS="127.0.0.1")
    env.pop("DISCORD_GUILD_ID")  # global commands: contexts and installs apply to them only
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start(discord_standin)
    try:
        commands = {c["name"]: c for c in discord_standin.commands[None]}
    finally:
        await process.stop()
    for name in (
        "talkinghead",
        "lipsync",
        "animate",
        "jobs",
        "Make this talk",
        "Lip-sync this video",
        "Animate with this video",
        "dub",
        "Dub this video",
    ):
        assert commands[name]["integration_types"] == [GUILD, USER] and commands[name]["contexts"] == [0, 1, 2], name
    for name in ("config", "usage", "audit"):
        assert commands[name]["integration_types"] == [GUILD] and commands[name]["contexts"] == [0], name


async def test_outside_servers_a_members_own_limits_come_from_the_settings(
    link_urls, discord_standin, fal_standin, subprocess_env, tmp_path
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=1.0, run_time=1.5))
    process = BotProcess(
        bot_env(
            subprocess_env,
            discord_standin,
            tmp_path,
            PRIVATE_LINK_HOSTS="127.0.0.1",
            USER_RUNNING_JOBS="1",
            USER_WAITING_JOBS="1",
        ),
        tmp_path / "bot.log",
    )
    await process.start(discord_standin)
    try:
        sent = []
        for _ in range(3):
            sent.append(await discord_standin.send_command("talkinghead", link_urls, context=DM, installs=USER))
            await discord_standin.wait_for(lambda: sent[-1].callbacks)
        kinds = [
            (i.callbacks[0][1]["type"], bool((i.callbacks[0][1].get("data") or {}).get("flags", 0) & EPHEMERAL))
            for i in sent
        ]
        assert kinds == [(5, False), (4, False), (4, True)]  # running, waiting, refused (the line of 1 is full)
        assert "waiting in line (the limit here is 1)" in sent[2].callbacks[0][1]["data"]["content"]
        for interaction in sent[:2]:
            await finished(discord_standin, interaction, timeout=30)
    finally:
        await process.stop()


# ---- the context menus and their modals


async def test_make_this_talk_takes_the_messages_image_and_the_text_from_the_modal(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", QUICK)
    photo = attach(discord_standin, "portrait.png", "image/png", "selfie.png")
    message = discord_standin.add_user_message("look at me", attachments=[photo])
    menu = await discord_standin.send_message_command("Make this talk", message)
    await discord_standin.wait_for(lambda: menu.callbacks)
    assert menu.callbacks[0][1]["type"] == 9  # a modal
    submitted = await discord_standin.send_modal_submit(
        menu, {"speech:text": "Hello from the picture", "speech:voice": ["Calm_Woman"]}
    )
    result = await finished(discord_standin, submitted)
    assert "image `selfie.png`" in shown_text(result)
    tts, video = fal_standin.jobs.values()
    assert (
        tts.payload["prompt"] == "Hello from the picture" and tts.payload["voice_setting"]["voice_id"] == "Calm_Woman"
    )
    assert fal_standin.uploads[video.payload["image_url"]] == discord_standin.attachment_bytes(photo)


async def test_lipsync_this_video_takes_an_audio_file_from_the_modal(bot, discord_standin, fal_standin):
    fal_standin.script("fal-ai/sync-lipsync/v2", QUICK)
    clip = attach(discord_standin, "clip.mp4", "video/mp4")
    message = discord_standin.add_user_message("", attachments=[clip])
    menu = await discord_standin.send_message_command("Lip-sync this video", message)
    await discord_standin.wait_for(lambda: menu.callbacks)
    speech = attach(discord_standin, "speech.mp3", "audio/mpeg")
    result = await finished(discord_standin, await discord_standin.send_modal_submit(menu, {"speech:audio": [speech]}))
    assert "video `clip.mp4` · audio `speech.mp3`" in shown_text(result)


async def test_animate_with_this_video_takes_a_video_embed_and_the_portrait_from_the_modal(
    bot, discord_standin, fal_standin, link_host
):
    fal_standin.script("fal-ai/live-portrait", QUICK)
    dance = link_host.url("files/clip.mp4")
    embed = {"type": "video", "url": dance, "video": {"url": dance}}
    message = discord_standin.add_user_message(dance, embeds=[embed])
    menu = await discord_standin.send_message_command("Animate with this video", message)
    await discord_standin.wait_for(lambda: menu.callbacks)
    portrait = attach(discord_standin, "portrait.jpg", "image/jpeg")
    await finished(discord_standin, await discord_standin.send_modal_submit(menu, {"portrait:image": [portrait]}))
    (job,) = fal_standin.jobs.values()
    # The embed's link was fetched and checked like an attachment, and fal got the checked copy.
    assert fal_standin.uploads[job.payload["video_url"]] == (FIXTURES / "clip.mp4").read_bytes()
    assert link_host.requests == ["/files/clip.mp4"]


@pytest.mark.parametrize(
    "menu,files,needle",
    [
        ("Make this talk", [], "that message has no image or video; 'Make this talk' needs an image"),
        (
            "Make this talk",
            ["portrait.png", "portrait.jpg"],
            "that message has 2 images; 'Make this talk' needs exactly one",
        ),
        ("Make this talk", ["clip.mp4"], "that message has a video but not an image"),
        ("Lip-sync this video", ["portrait.png"], "that message has an image but not a video"),
    ],
)
async def test_a_context_menu_on_a_message_without_the_right_media_is_answered_privately(
    bot, discord_standin, fal_standin, menu, files, needle
):
    types = {"png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}
    message = discord_standin.add_user_message(
        "hi", attachments=[attach(discord_standin, f, types[f.rsplit(".", 1)[1]]) for f in files]
    )
    interaction = await discord_standin.send_message_command(menu, message)
    await discord_standin.wait_for(lambda: interaction.callbacks)
    body = interaction.callbacks[0][1]
    assert body["type"] == 4 and body["data"]["flags"] & EPHEMERAL and needle in body["data"]["content"]
    assert fal_standin.requests == []


@pytest.mark.parametrize(
    "values,needle",
    [
        ({}, "give the text to speak or an audio file"),
        ({"speech:text": "hello", "speech:audio": ["speech.mp3"]}, "give the text to speak or an audio file, not both"),
    ],
)
async def test_a_modal_submitted_empty_or_with_both_is_answered_privately(
    bot, discord_standin, fal_standin, values, needle
):
    message = discord_standin.add_user_message("", attachments=[attach(discord_standin, "portrait.png", "image/png")])
    menu = await discord_standin.send_message_command("Make this talk", message)
    await discord_standin.wait_for(lambda: menu.callbacks)
    if "speech:audio" in values:
        values = {**values, "speech:audio": [attach(discord_standin, "speech.mp3", "audio/mpeg")]}
    submitted = await discord_standin.send_modal_submit(menu, values)
    await discord_standin.wait_for(lambda: submitted.callbacks)
    body = submitted.callbacks[0][1]
    assert body["data"]["flags"] & EPHEMERAL and needle in body["data"]["content"]
    assert fal_standin.requests == []


async def test_the_url_options_offer_the_members_recent_inputs(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", QUICK)
    face = attach(discord_standin, "portrait.png", "image/png", "my-face.png")
    await finished(discord_standin, await discord_standin.send_command("talkinghead", {"image": face, "text": "hi"}))
    (tts, video) = fal_standin.jobs.values()
    offered = await discord_standin.send_autocomplete("talkinghead", {"image_url": "face"}, "image_url")
    await discord_standin.wait_for(lambda: offered.callbacks)
    choices = offered.callbacks[0][1]["data"]["choices"]
    assert [c["value"] for c in choices] == [video.payload["image_url"]] and choices[0]["name"].startswith(
        "my-face.png"
    )
    other = await discord_standin.send_autocomplete(
        "talkinghead", {"image_url": ""}, "image_url", user_id=discord_standin.owner_id
    )
    await discord_standin.wait_for(lambda: other.callbacks)
    assert other.callbacks[0][1]["data"]["choices"] == []  # nobody else's inputs
