"""The audit trail through the real bot, on SQLite and on PostgreSQL: every job of a run (done, failed on fal,
refused once its input was fetched, cancelled) is recorded with who asked, where, the command and model, SHA-256
digests of the bytes and links, fal's request ids, the estimated cost and the outcome; /audit shows it to the
server's managers only, `python -m bot.cli audit` prints it as JSON lines, no token or key enters it, and it is
forgotten after AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time

import pytest

from bot.jobs import audit
from bot.jobs.model import Job, new_job_id
from bot.jobs.spec import Command, JobSpec
from bot.settings import parse_database
from bot.store import open_store
from tests.helpers import FAL_KEY, FIXTURES, STORES, attach, custom_ids, finished, private_followup
from tests.standins.fal_queue import JobScript

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)

QUICK = JobScript(queue_positions=[0], queue_step=0.3, run_time=0.5)
PORTRAIT = hashlib.sha256((FIXTURES / "portrait.png").read_bytes()).hexdigest()
SPEECH = hashlib.sha256((FIXTURES / "speech.mp3").read_bytes()).hexdigest()


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1", "AUDIT_RETENTION_DAYS": "1"}


async def cli_audit(database: str, env: dict, tmp_path, *args: str) -> tuple[int, list[dict], str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "audit",
        *args,
        env={**env, "DATABASE_URL": database, "AUDIT_RETENTION_DAYS": "1"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()], err.decode()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def reply(discord, interaction) -> dict:
    await discord.wait_for(lambda: interaction.callbacks)
    return interaction.callbacks[0][1]


async def test_every_job_of_a_run_is_in_the_audit_through_slash_command_and_cli(
    bot, bot_database, discord_standin, fal_standin, link_host, subprocess_env, tmp_path
):
    owner, alice = discord_standin.owner_id, discord_standin.user_id
    speech_link = link_host.url("files/speech.mp3")

    # done: an attachment and a fetched link, by the server's owner
    fal_standin.script("veed/fabric-1.0", QUICK)
    portrait = attach(discord_standin, "portrait.png", "image/png")
    done = await discord_standin.send_command(
        "talkinghead", {"image": portrait, "audio_url": speech_link}, user_id=owner
    )
    await finished(discord_standin, done)

    # refused once fetched: the link answers a PNG where audio is needed (nothing reaches fal)
    fake_audio = link_host.url("files/portrait.png?type=audio/mpeg")
    refused = await discord_standin.send_command(
        "talkinghead", {"image": attach(discord_standin, "portrait.png", "image/png"), "audio_url": fake_audio}
    )
    await discord_standin.wait_for(lambda: private_followup(discord_standin, refused), timeout=30)

    # failed on fal
    detail = [{"loc": ["body", "image_url"], "msg": "No face detected", "type": "value_error"}]
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], error={"status": 422, "detail": detail}))
    failed = await discord_standin.send_command(
        "talkinghead", {"image": attach(discord_standin, "portrait.png", "image/png"), "audio_url": speech_link}
    )
    await finished(discord_standin, failed, marker="❌")

    # cancelled while queued on fal
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[5], queue_step=60, run_time=60))
    cancelled = await discord_standin.send_command(
        "talkinghead", {"image": attach(discord_standin, "portrait.png", "image/png"), "text": "Hello audit"}
    )
    await fal_standin.wait_for_submissions(4)  # the speech step of the last job is on fal
    message = await discord_standin.wait_for(
        lambda: (m := discord_standin.messages.get(cancelled.original_message_id)) and m.components and m
    )
    await discord_standin.wait_for(lambda: "Queued on fal" in (discord_standin.messages[message.id].content or ""))
    await discord_standin.send_component(message.id, custom_ids(message)[0])
    await finished(discord_standin, cancelled, marker="🚫", timeout=30)

    # ---- the CLI, for the bot's owner: everything, newest first
    code, records, err = await cli_audit(bot_database, subprocess_env, tmp_path)
    assert code == 0, err
    assert len(records) == 4
    by_outcome = {}
    for r in records:
        by_outcome.setdefault(r["outcome"], []).append(r)
    assert sorted(by_outcome) == ["cancelled", "done", "failed"]
    (ok,) = by_outcome["done"]
    (cut,) = by_outcome["cancelled"]
    fal_failed, was_refused = sorted(by_outcome["failed"], key=lambda r: bool(r["fal_requests"]), reverse=True)
    assert [r["job"] for r in records] == [cut["job"], fal_failed["job"], was_refused["job"], ok["job"]]

    for r in records:
        assert (r["guild"], r["channel"], r["place"], r["install"]) == (
            str(discord_standin.guild_id),
            str(discord_standin.channel_id),
            "server",
            "server",
        )
        assert (r["command"], r["model"]) == ("talkinghead", "veed/fabric-1.0")
        assert r["at"].endswith("Z") and r["ended_at"]
    assert ok["user"] == str(owner) and {r["user"] for r in records[:3]} == {str(alice)}

    inputs = {i["name"]: i for i in ok["inputs"]}
    assert inputs["image"] == {
        "name": "image",
        "given": "attachment",
        "sha256": PORTRAIT,
        "size": inputs["image"]["size"],
    }
    assert inputs["audio"]["sha256"] == SPEECH and inputs["audio"]["link_sha256"] == sha(speech_link)
    requested = {j.request_id: j for j in fal_standin.jobs.values()}
    assert len(ok["fal_requests"]) == 1 and ok["fal_requests"][0] in requested
    assert ok["cost_usd"] == pytest.approx(0.42, abs=0.005)  # 5.3 s at $0.08 a second, measured once fetched

    refused_inputs = {i["name"]: i for i in was_refused["inputs"]}
    assert refused_inputs["audio"]["sha256"] == PORTRAIT and refused_inputs["audio"]["link_sha256"] == sha(fake_audio)
    assert was_refused["fal_requests"] == [] and "audio_url" in was_refused["detail"]
    assert was_refused["cost_usd"] is None  # the audio's length was never known

    assert fal_failed["fal_requests"] and fal_failed["fal_requests"][0] in requested
    assert "No face detected" in fal_failed["detail"]

    (text,) = [i for i in cut["inputs"] if i["name"] == "text"]
    assert text["sha256"] == sha("Hello audit") and text["size"] == len("Hello audit")
    assert len(cut["fal_requests"]) == 2 and set(cut["fal_requests"]) <= set(requested)  # speech, then video
    assert cut["cost_usd"] is not None and fal_failed["cost_usd"] == pytest.approx(0.42, abs=0.005)
    assert "Cancelled" in cut["detail"]

    code, mine, _ = await cli_audit(bot_database, subprocess_env, tmp_path, "--user", str(owner))
    assert code == 0 and [r["job"] for r in mine] == [ok["job"]]
    code, here, _ = await cli_audit(bot_database, subprocess_env, tmp_path, "--guild", str(discord_standin.guild_id))
    assert code == 0 and len(here) == 4
    code, other, _ = await cli_audit(bot_database, subprocess_env, tmp_path, "--guild", "1", "--since", "2020-01-01")
    assert code == 0 and other == []
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    code, later, _ = await cli_audit(bot_database, subprocess_env, tmp_path, "--since", tomorrow)
    assert code == 0 and later == []

    # ---- no token, key or link entered it (the whole table, as stored)
    store = await open_store(parse_database(bot_database))
    try:
        stored = json.dumps([dict(row) for row in await store.audit_rows()], default=str)
    finally:
        await store.close()
    tokens = [i.token for i in discord_standin.interactions.values()]
    for secret in (discord_standin.token, FAL_KEY, *tokens, speech_link, portrait["url"]):
        assert secret not in stored

    # ---- /audit, for the server's managers
    answer = await reply(discord_standin, await discord_standin.send_command("audit", user_id=owner))
    content = answer["data"]["content"]
    assert answer["data"]["flags"] & 64 and answer["data"]["allowed_mentions"] == {"parse": []}
    for r in records:
        assert f"`{r['job']}`" in content
    assert PORTRAIT[:16] in content and SPEECH[:16] in content and ok["fal_requests"][0] in content
    assert "cancelled" in content and "failed" in content and "done" in content

    member = {"member": {"type": 6, "value": str(alice)}}
    answer = await reply(discord_standin, await discord_standin.send_command("audit", member, user_id=owner))
    content = answer["data"]["content"]
    assert f"`{ok['job']}`" not in content and all(f"`{r['job']}`" in content for r in records[:3])

    answer = await reply(discord_standin, await discord_standin.send_command("audit"))  # alice: no Manage Server
    assert answer["data"]["flags"] & 64 and "needs the Manage Server permission" in answer["data"]["content"]
    assert f"`{ok['job']}`" not in answer["data"]["content"]


async def test_the_audit_forgets_records_past_the_retention(
    bot, bot_database, discord_standin, fal_standin, link_host, subprocess_env, tmp_path
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    done = await discord_standin.send_command(
        "talkinghead", {"image": attach(discord_standin, "portrait.png", "image/png"), "text": "Hi"}
    )
    await finished(discord_standin, done)
    code, records, _ = await cli_audit(bot_database, subprocess_env, tmp_path)
    assert code == 0 and [r["outcome"] for r in records] == ["done"]
    await bot.stop()

    # Two days pass for that job (AUDIT_RETENTION_DAYS=1); a record of today stays.
    store = await open_store(parse_database(bot_database))
    try:

        async def age(tx) -> None:
            await tx.execute("UPDATE audit SET created_at = created_at - ?", (2 * audit.DAY,))

        await store.transaction(age)
        young = Job(new_job_id(), JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0"), user_id=7, guild_id=None)
        await audit.begin(store, audit.record_for(young, guild_id=None, channel_id=5, place="dm", install="user"))
        assert len(await store.audit_rows()) == 2
        code, shown, _ = await cli_audit(bot_database, subprocess_env, tmp_path)
        assert [r["job"] for r in shown] == [young.id]  # past the retention: not shown, even before the sweep
    finally:
        await store.close()

    await bot.start(discord_standin)  # the sweep runs at start
    store = await open_store(parse_database(bot_database))
    try:
        for _ in range(100):
            rows = await store.audit_rows()
            if len(rows) == 1:
                break
            await asyncio.sleep(0.1)
        assert [row["job_id"] for row in rows] == [young.id]
    finally:
        await store.close()
    answer = await reply(discord_standin, await discord_standin.send_command("audit", user_id=discord_standin.owner_id))
    assert "No jobs recorded." in answer["data"]["content"] and "kept 1 day." in answer["data"]["content"]


@pytest.mark.parametrize(
    "args",
    [["--since", "2026-13-01"], ["--since", "yesterday"], ["--guild", "abc"], ["--user", "-5"], ["--nope"]],
)
async def test_the_cli_audit_refuses_bad_flags_with_a_usage_error(args, bot_database, subprocess_env, tmp_path):
    code, records, err = await cli_audit(bot_database, subprocess_env, tmp_path, *args)
    assert code == 2 and records == [] and "usage:" in err


async def test_the_audit_says_where_a_job_was_asked_for_outside_a_server_that_added_the_bot(
    bot, bot_database, discord_standin, fal_standin, link_host, subprocess_env, tmp_path
):
    fal_standin.script("veed/fabric-1.0", QUICK)
    guild, channel = await discord_standin.add_foreign_guild()
    places = [
        ({"guild_id": guild, "channel_id": channel, "installs": 1}, (str(guild), str(channel), "server", "user")),
        ({"context": 1, "installs": 1}, (None, None, "dm", "user")),
        ({"context": 2, "installs": 1}, (None, None, "group_dm", "user")),
    ]
    for origin, _ in places:
        options = {"image": attach(discord_standin, "portrait.png", "image/png"), "text": "Where am I"}
        await finished(discord_standin, await discord_standin.send_command("talkinghead", options, **origin))
    code, records, err = await cli_audit(bot_database, subprocess_env, tmp_path)
    assert code == 0, err
    seen = [(r["guild"], r["channel"] if r["guild"] else None, r["place"], r["install"]) for r in reversed(records)]
    assert seen == [expected for _, expected in places]
    assert all(r["outcome"] == "done" and r["user"] == str(discord_standin.user_id) for r in records)
    assert all(r["channel"] for r in records)  # the DM's and the group DM's channel too
    code, foreign, _ = await cli_audit(bot_database, subprocess_env, tmp_path, "--guild", str(guild))
    assert code == 0 and [r["place"] for r in foreign] == ["server"]
