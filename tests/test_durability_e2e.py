"""Jobs survive the bot being killed (SIGKILL) at each point of their life, buttons work across a
restart, and limits hold under a burst of commands — all through the real bot process."""

from __future__ import annotations

import asyncio

import pytest

from tests.botproc import BotProcess
from tests.helpers import FIXTURES, STORES, acknowledged, configure, custom_ids, finished, shown_text
from tests.standins.fal_queue import IN_PROGRESS, JobScript

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)  # on SQLite and PostgreSQL


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # the links point at the link host on 127.0.0.1


def final_messages(discord, marker: str = "✅") -> list:
    return [m for m in discord.messages.values() if shown_text(m).startswith(marker)]


async def restart(bot: BotProcess, discord) -> None:
    await bot.kill()
    await bot.start(discord)


async def wait_stored_request(fal, discord, jobs: int = 1) -> None:
    """Until the bot has stored the request ids of `jobs` jobs: it follows a request (status stream or poll) only
    after its id is stored (the message turns from "Sending the job to fal" to "Queued on fal" then too)."""
    await fal.wait_for_submissions(jobs)
    await discord.wait_for(
        lambda: len({r.request_id for r in fal.requests if r.route in ("stream", "status")}) >= jobs, timeout=15
    )


@pytest.mark.parametrize(
    "point", ["before fal submission", "while queued", "while generating", "after completion, before delivery"]
)
async def test_a_job_killed_at_any_point_is_delivered_exactly_once(link_urls, bot, discord_standin, fal_standin, point):
    fal_standin.script(
        "veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=1.0, run_time=2.5, logs=["a", "b"])
    )
    portrait = discord_standin.add_attachment("face.png", (FIXTURES / "portrait.png").read_bytes(), "image/png")
    options = {"image": portrait, "audio_url": link_urls["audio_url"]}
    if point == "before fal submission":
        fal_standin.hold("upload")
    if point == "after completion, before delivery":
        fal_standin.hold("result")
    interaction = await discord_standin.send_command("talkinghead", options)

    if point == "before fal submission":
        await fal_standin_wait(lambda: fal_standin.held)
    elif point == "while queued":
        await wait_stored_request(fal_standin, discord_standin)
    elif point == "while generating":
        await wait_stored_request(fal_standin, discord_standin)
        (job,) = fal_standin.jobs.values()
        await fal_standin_wait(lambda: job.state == IN_PROGRESS)
        await asyncio.sleep(0.3)
    else:
        await fal_standin_wait(lambda: fal_standin.held)
    await bot.kill()
    for route in ("upload", "result"):
        fal_standin.release(route)

    await bot.start(discord_standin)
    await finished(discord_standin, interaction)
    await asyncio.sleep(2.5)  # room for a duplicate to show up, if there were one
    assert len(final_messages(discord_standin)) == 1
    assert len(fal_standin.jobs) == 1 and fal_standin.count("submit") == 1
    assert not [m for m in discord_standin.messages.values() if m.source in ("channel", "followup")]


async def fal_standin_wait(predicate, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_buttons_keep_working_after_a_restart(link_urls, bot, discord_standin, fal_standin):
    await configure(discord_standin, user_cooldown=0)
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.3))
    first = await discord_standin.send_command("talkinghead", link_urls)
    done = await finished(discord_standin, first)
    assert custom_ids(done)[0].startswith("job:again:")

    await restart(bot, discord_standin)
    again = await discord_standin.send_component(done.id, custom_ids(done)[0])
    await discord_standin.wait_for(lambda: again.original_message_id)
    await finished(discord_standin, again)
    assert len(fal_standin.jobs) == 2
    payloads = [j.payload for j in fal_standin.jobs.values()]
    assert payloads[0] == payloads[1]

    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[5], queue_step=60, run_time=60))
    long = await discord_standin.send_command("talkinghead", link_urls, user_id=discord_standin.owner_id)
    await fal_standin.wait_for_submissions(3)
    message = await discord_standin.wait_for(
        lambda: (m := discord_standin.messages.get(long.original_message_id)) and m.components and m
    )
    cancel_id = custom_ids(message)[0]
    assert cancel_id.startswith("job:cancel:")
    await wait_stored_request(fal_standin, discord_standin, jobs=3)
    await restart(bot, discord_standin)
    stranger = await discord_standin.send_component(message.id, cancel_id)  # alice did not start this job
    await discord_standin.wait_for(lambda: stranger.callbacks)
    assert "only the member who started this job" in stranger.callbacks[0][1]["data"]["content"]
    await discord_standin.send_component(message.id, cancel_id, user_id=discord_standin.owner_id)
    await finished(discord_standin, long, marker="🚫")
    assert fal_standin.count("cancel") == 1


async def test_a_member_firing_eight_commands_gets_two_running_five_waiting_and_one_refused(
    link_urls, link_host, bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=1.5, run_time=1.5))
    burst = []
    for i in range(8):  # one after another, so the line order is known
        options = {**link_urls, "image_url": link_host.url(f"as/portrait.png/face-{i}.png")}
        burst.append(await discord_standin.send_command("talkinghead", options))
        await discord_standin.wait_for(lambda: burst[-1].callbacks, timeout=15)
    taken = [i for i in burst if acknowledged(i)]
    refused = [i for i in burst if not acknowledged(i)]
    assert len(taken) == 7 and refused == [burst[-1]]  # the defaults: 2 running and 5 waiting per member
    assert (
        "you already have 5 job(s) waiting in line (the limit here is 5) and 2 running"
        in refused[0].callbacks[0][1]["data"]["content"]
    )
    await fal_standin.wait_for_submissions(2)
    await asyncio.sleep(0.5)
    assert len(fal_standin.jobs) == 2  # the other five wait their turn without reaching fal
    waiting = [discord_standin.messages[i.original_message_id] for i in taken[2:]]
    assert all("Waiting for one of your 2 running jobs to finish" in m.content for m in waiting)
    assert all(custom_ids(m)[0].startswith("job:cancel:") for m in waiting)
    for interaction in taken:
        await finished(discord_standin, interaction, timeout=30)
    assert len(fal_standin.jobs) == 7 and fal_standin.count("submit") == 7
    faces = [
        int(r.json["image_url"].rsplit("-", 1)[1].split(".")[0]) for r in fal_standin.requests if r.route == "submit"
    ]
    assert sorted(faces[:2]) == [0, 1] and sorted(faces[2:]) == [2, 3, 4, 5, 6]
    # the waiting ones left the line in the order they came; two that left it together (both running jobs
    # ended at once) may reach fal in either order
    assert all(abs(rank - (face - 2)) <= 1 for rank, face in enumerate(faces[2:])), faces
