"""Moderation through the real bot: Report on a result, /jobs delete, blocked members and banned words (per
server, and the owner's defaults BLOCKED_USERS / BLOCKED_WORDS / MODERATION_CHANNEL_ID for DMs and user installs)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import STORES, acknowledged, finished, refused, shown_text
from tests.standins.discord_api import EVERYONE_PERMISSIONS as EVERYONE
from tests.standins.fal_queue import JobScript

QUICK = JobScript(queue_positions=[0], queue_step=0.2, run_time=0.5, logs=["go"])
USER, DM = 1, 1  # a user install; the DM with the bot (as Discord numbers them)
MANAGE_MESSAGES = 1 << 13
pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)  # reports and removals are stored

BLOCKED_EVERYWHERE = 4242424242424242
STRANGER = 5151515151515151


@pytest.fixture
def bot_settings():
    return {
        "PRIVATE_LINK_HOSTS": "127.0.0.1",  # the links point at the link host on 127.0.0.1
        "BLOCKED_USERS": str(BLOCKED_EVERYWHERE),
        "BLOCKED_WORDS": "Secret Plan, launch codes",
    }


def job_id_of(message) -> str:
    return shown_text(message).split("job `")[1][:8]


async def answer(discord, interaction) -> str:
    """The private answer: the callback's text, or (after a private deferral) the edited original."""
    await discord.wait_for(lambda: interaction.callbacks)
    body = interaction.callbacks[0][1]
    assert (body.get("data", {}).get("flags") or 0) & 64, body  # private
    if body["type"] == 4:
        return body["data"]["content"]
    return await discord.wait_for(
        lambda: (m := discord.messages.get(interaction.original_message_id or 0)) and m.content, timeout=15
    )


async def config(discord, subcommand: str, options: dict | None = None, *, group: str | None = None) -> str:
    interaction = await discord.send_command(
        "config", options or {}, subcommand=subcommand, group=group, user_id=discord.owner_id
    )
    return await answer(discord, interaction)


def dm_to(discord, user_id: int) -> list:
    """The bot's messages in its DM with a user."""
    channel = discord._dm_by_user.get(user_id)
    return [m for m in discord.messages.values() if m.channel_id == channel and not m.deleted]


async def test_a_report_reaches_the_moderation_channel_and_without_one_the_owners_dm(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    result = await finished(discord_standin, await discord_standin.send_command("talkinghead", link_urls))
    job_id = job_id_of(result)
    mods = await discord_standin.add_channel("mods")
    assert f"Reports go to: <#{mods}>" in await config(
        discord_standin, "moderation", {"channel": {"type": 7, "value": str(mods)}}
    )

    report = await discord_standin.send_message_command("Report", result, user_id=STRANGER)
    assert "your report of job" in await answer(discord_standin, report)
    posted = await discord_standin.wait_for(
        lambda: next((m for m in discord_standin.messages.values() if m.channel_id == mods), None)
    )
    assert f"job `{job_id}`" in posted.content and f"<@{STRANGER}>" in posted.content
    assert f"/jobs delete job_id:{job_id}" in posted.content

    assert "the server owner's DMs" in await config(discord_standin, "moderation")
    again = await discord_standin.send_message_command("Report", result, user_id=STRANGER)
    assert "sent to the moderators" in await answer(discord_standin, again)
    dm = await discord_standin.wait_for(lambda: next(iter(dm_to(discord_standin, discord_standin.owner_id)), None))
    assert f"job `{job_id}`" in dm.content and "2 reports of this job" in dm.content

    other = discord_standin.add_user_message("just a message")
    nothing = await discord_standin.send_message_command("Report", other)
    assert "carries no result" in await answer(discord_standin, nothing)
    assert discord_standin.violations == []


async def test_a_report_from_the_dm_with_the_bot_goes_to_the_bots_owner(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", QUICK)
    result = await finished(
        discord_standin, await discord_standin.send_command("talkinghead", link_urls, context=DM, installs=USER)
    )
    report = await discord_standin.send_message_command("Report", result, context=DM, installs=USER)
    assert "sent to the moderators" in await answer(discord_standin, report)
    dm = await discord_standin.wait_for(lambda: next(iter(dm_to(discord_standin, discord_standin.owner_id)), None))
    assert f"job `{job_id_of(result)}`" in dm.content and "reported outside servers" in dm.content


async def test_a_requester_and_a_moderator_delete_results_everywhere_and_others_are_refused(
    link_urls, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    # The requester, while the token lives: the job's own message carries the card.
    quick = await finished(discord_standin, await discord_standin.send_command("talkinghead", link_urls))
    stranger = await discord_standin.send_command(
        "jobs", {"job_id": job_id_of(quick)}, subcommand="delete", user_id=STRANGER, permissions=EVERYONE
    )
    assert "not yours" in await answer(discord_standin, stranger) and not quick.deleted
    mine = await discord_standin.send_command("jobs", {"job_id": job_id_of(quick)}, subcommand="delete")
    assert "1 message(s)" in await answer(discord_standin, mine)
    assert quick.deleted

    # A moderator, for a job that outlived its token: the channel post and the job's own message.
    late = await discord_standin.send_command("talkinghead", link_urls, age=840)
    message = await discord_standin.wait_for(
        lambda: (
            (m := discord_standin.messages.get(late.original_message_id or 0)) and "video is here" in m.content and m
        ),
        timeout=30,
    )
    post = next(m for m in discord_standin.messages.values() if m.source == "channel" and m.attachments)
    moderator = await discord_standin.send_command(
        "jobs",
        {"job_id": job_id_of(message)},
        subcommand="delete",
        user_id=STRANGER,
        permissions=EVERYONE | MANAGE_MESSAGES,
    )
    assert "2 message(s)" in await answer(discord_standin, moderator)
    assert message.deleted and post.deleted
    detail = await discord_standin.send_command("jobs", {"job_id": job_id_of(message)}, subcommand="show")
    assert "Result removed" in await answer(discord_standin, detail)
    twice = await discord_standin.send_command("jobs", {"job_id": job_id_of(message)}, subcommand="delete")
    assert "removed already" in await answer(discord_standin, twice)

    # A private job that outlived its token ends by DM: the DM copy goes.
    private = await discord_standin.send_command("talkinghead", {**link_urls, "private": True}, age=840)
    copy = await discord_standin.wait_for(lambda: next(iter(dm_to(discord_standin, discord_standin.user_id)), None))
    job_id = copy_job = shown_text(copy).split("job `")[1][:8]
    assert private.original_message_id and job_id == copy_job
    # The DM copy is posted while the job is delivering; its outcome is recorded right after.
    for _ in range(50):
        gone = await discord_standin.send_command("jobs", {"job_id": job_id}, subcommand="delete")
        said = await answer(discord_standin, gone)
        if "has not finished" not in said and "being delivered" not in said:
            break
        await asyncio.sleep(0.2)
    assert "deleted" in said
    assert copy.deleted
    assert discord_standin.violations == []


async def test_blocked_members_and_banned_words_are_refused_privately_before_fal(
    link_urls, bot, discord_standin, fal_standin
):
    alice = discord_standin.user_id
    assert f"<@{alice}>" in await config(discord_standin, "block", {"member": {"type": 6, "value": str(alice)}})
    blocked = await discord_standin.send_command("talkinghead", link_urls)
    assert "blocked" in await answer(discord_standin, blocked) and refused(blocked)
    everywhere = await discord_standin.send_command("talkinghead", link_urls, user_id=BLOCKED_EVERYWHERE)
    assert "blocked from using this bot by its owner" in await answer(discord_standin, everywhere)
    in_dm = await discord_standin.send_command(
        "talkinghead", link_urls, user_id=BLOCKED_EVERYWHERE, context=DM, installs=USER
    )
    assert "blocked" in await answer(discord_standin, in_dm)
    assert "Blocked members: none" in await config(
        discord_standin, "unblock", {"member": {"type": 6, "value": str(alice)}}
    )

    assert "`darn`" in await config(discord_standin, "add", {"word": "  Darn "}, group="words")
    assert "`darn`" in await config(discord_standin, "list", group="words")
    text = {"image_url": link_urls["image_url"], "text": "Well, DARN it!"}
    banned = await discord_standin.send_command("talkinghead", text)
    said = await answer(discord_standin, banned)
    assert said.startswith("⚠️ `text`:") and "not allowed on this server (`darn`)" in said
    dm_text = {"image_url": link_urls["image_url"], "text": "the secret   plan is ready"}
    in_dm = await discord_standin.send_command("talkinghead", dm_text, context=DM, installs=USER)
    assert "not allowed here (`secret plan`)" in await answer(discord_standin, in_dm)
    assert "not banned" in await config(discord_standin, "remove", {"word": "nope"}, group="words")
    assert "No banned words" in await config(discord_standin, "remove", {"word": "DARN"}, group="words")

    assert fal_standin.jobs == {} and not fal_standin.uploads  # nothing was sent to fal, TTS included
    fal_standin.script("veed/fabric-1.0", QUICK)
    allowed = await discord_standin.send_command(
        "talkinghead", {"image_url": link_urls["image_url"], "text": "darnation"}
    )
    await discord_standin.wait_for(lambda: allowed.callbacks)
    assert acknowledged(allowed)  # a whole word only, and the word is allowed again anyway
    assert discord_standin.violations == []
