"""The waiting line through the real bot process: a crowd is served in turn, and a SIGKILL loses nobody's place."""

from __future__ import annotations

import asyncio
import re

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
AHEAD = re.compile(r"Waiting for a free slot — (you are next|(?:about )?\d+ ahead of you)")


def options(i: int) -> dict:
    return {"image_url": f"https://cdn.example.com/face-{i}.png", "audio_url": AUDIO}


def submitted_faces(fal) -> list[int]:
    """The portraits in the order fal received their jobs."""
    return [int(r.json["image_url"].rsplit("-", 1)[1].split(".")[0]) for r in fal.requests if r.route == "submit"]


def places_shown(interaction, message) -> list[str]:
    """Places in the line the job's message showed: in the acknowledgement itself, then in edits."""
    bodies = [interaction.callbacks[0][1].get("data") or {}] + [body for _, body in message.edits]
    return [m.group(1) for body in bodies if (m := AHEAD.search(body.get("content") or ""))]


async def test_a_hundred_members_at_once_all_get_their_video_and_see_their_place(bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.3, run_time=0.7, logs=["go"]))
    users = [10_000 + i for i in range(100)]
    crowd = await asyncio.gather(
        *(discord_standin.send_command("talkinghead", options(i), user_id=u) for i, u in enumerate(users))
    )
    await discord_standin.wait_for(lambda: all(i.callbacks for i in crowd), timeout=30)
    assert all(acknowledged(i) for i in crowd)  # nobody is turned away
    for interaction in crowd:
        await finished(discord_standin, interaction, timeout=90)
    waiting = [i for i in crowd if i.callbacks[0][1]["type"] == 4]  # acknowledged with their place in the line
    print(f"{len(waiting)} of 100 commands waited in the line")
    assert len(waiting) >= 80  # the default: 10 running on the server, the rest wait (a few find a slot just freed)
    silent = [
        i.callbacks[0][1]["data"]["content"]
        for i in waiting
        if not places_shown(i, discord_standin.messages[i.original_message_id])
    ]
    assert not silent, silent[:3]
    assert fal_standin.count("submit") == 100 and len(fal_standin.jobs) == 100
    assert not discord_standin.rate_limited


async def test_a_sigkill_with_fifty_waiting_and_ten_running_delivers_all_sixty_once_in_line_order(
    bot, discord_standin, fal_standin
):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[1, 0], queue_step=1.5, run_time=2.0, logs=["go"]))
    fal_standin.hold("result")  # no job may finish, and none start from the line, before the kill: 10 run, 50 wait
    sent = []
    for i in range(60):  # one by one, so the line's order is the order sent
        sent.append(await discord_standin.send_command("talkinghead", options(i), user_id=20_000 + i))
        await discord_standin.wait_for(lambda: sent[-1].callbacks, timeout=15)
    assert all(acknowledged(i) for i in sent)
    await fal_standin.wait_for_submissions(10)
    # the bot follows a request (opens its status stream) only once it stored the request id: wait for those
    await discord_standin.wait_for(
        lambda: len({r.request_id for r in fal_standin.requests if r.route == "stream"}) >= 10, timeout=15
    )
    assert len(fal_standin.jobs) == 10
    await bot.kill()
    fal_standin.release("result")

    await bot.start(discord_standin)
    for interaction in sent:
        await finished(discord_standin, interaction, timeout=120)
    await asyncio.sleep(1.5)  # room for a duplicate to show up, if there were one
    finals = [m for m in discord_standin.messages.values() if shown_text(m).startswith("✅")]
    originals = {i.original_message_id for i in sent}
    assert len(finals) == 60, [(m.source, m.deleted, shown_text(m)[:70]) for m in finals if m.id not in originals]
    assert not [m for m in discord_standin.messages.values() if m.source in ("channel", "followup")]
    assert fal_standin.count("submit") == 60 and len(fal_standin.jobs) == 60  # none submitted twice
    faces = submitted_faces(fal_standin)
    assert sorted(faces[:10]) == list(range(10)) and sorted(faces[10:]) == list(range(10, 60))
    # in line order: jobs that leave the line together (a slot each) may reach fal a few ms apart in any order
    assert all(abs(at - (face - 10)) < 10 for at, face in enumerate(faces[10:]))
