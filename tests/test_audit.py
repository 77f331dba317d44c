"""The audit trail in the store (each test on SQLite and on PostgreSQL), its JSON form, its retention, and /audit's
rendering (a pure function)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest

from bot.discord_app import render
from bot.fal.queue import Submission
from bot.jobs import audit
from bot.jobs.lifecycle import Event, Status
from bot.jobs.limits import Configs
from bot.jobs.line import Line
from bot.jobs.model import Job, StepRecord, new_job_id
from bot.jobs.spec import VIDEO, Command, JobSpec, Source
from bot.settings import SettingsError, audit_retention_days, load_settings
from tests.helpers import FIXTURES

GUILD, CHANNEL, USER = 3, 44, 2**62
LINK = "https://media.example.com/speech.mp3?sig=1"
SUB = Submission("veed/fabric-1.0", "req-audit-1", "https://q/status", "https://q/response", "https://q/cancel")


def make_job(user: int = USER, text: str | None = None) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://cdn/p.png", audio_url=LINK)
    sources = {
        "image": Source("image", "https://cdn/p.png?ex=1&hm=2", True, "face.png", "image/png", 1234),
        "audio": Source("audio", LINK, False, "speech.mp3"),
    }
    if text:
        spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://cdn/p.png", text=text)
        sources.pop("audio")
    return Job(new_job_id(), spec, user_id=user, guild_id=GUILD, sources=sources, cost_estimate=0.42)


def record(job: Job, **where) -> audit.Record:
    args = {"guild_id": GUILD, "channel_id": CHANNEL, "place": audit.SERVER, "install": audit.GUILD_INSTALL} | where
    return audit.record_for(job, **args)


async def admitted(store, job: Job, **where) -> Line:
    line = Line(store, await Configs.load(store), max_running=10, owner="p1")
    assert await line.admit(job, audited=record(job, **where).to_row()) is None
    return line


async def test_a_record_follows_the_job_from_admission_to_its_outcome(store, tmp_path):
    job = make_job()
    line = await admitted(store, job)
    (asked,) = await audit.records(store)
    assert (asked.user_id, asked.guild_id, asked.channel_id, asked.command, asked.model) == (
        USER,
        GUILD,
        CHANNEL,
        "talkinghead",
        "veed/fabric-1.0",
    )
    link = next(i for i in asked.inputs if i.name == "audio")
    assert link.link_sha256 == hashlib.sha256(LINK.encode()).hexdigest() and link.sha256 is None
    assert asked.outcome is None and asked.cost_estimate == 0.42

    portrait = tmp_path / "portrait.png"
    portrait.write_bytes((FIXTURES / "portrait.png").read_bytes())
    digests = [audit.seen(job.sources["image"], portrait, fetches=True)]
    await audit.hosted(store, job, digests)
    job.steps = {VIDEO: StepRecord(SUB)}
    await store.transaction(audit.sent_in(store, job))
    (hosted,) = await audit.records(store)
    image = next(i for i in hosted.inputs if i.name == "image")
    assert image.sha256 == hashlib.sha256((FIXTURES / "portrait.png").read_bytes()).hexdigest()
    assert image.link_sha256 is None and image.size == portrait.stat().st_size  # a Discord link expires: not kept
    assert hosted.requests == ["req-audit-1"]

    await line.end(job, Event.FAIL, error="`audio`: refused", steps=job.steps, cost_estimate=0.5)
    (ended,) = await audit.records(store)
    assert (ended.outcome, ended.detail, ended.cost_estimate) == ("failed", "`audio`: refused", 0.5)
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at


async def test_the_text_to_speak_is_kept_as_a_digest_only(store):
    job = make_job(text="Hello from the audit")
    await admitted(store, job)
    await audit.hosted(store, job, [])
    (found,) = await audit.records(store)
    (text,) = [i for i in found.inputs if i.name == "text"]
    assert text.sha256 == hashlib.sha256(b"Hello from the audit").hexdigest() and text.size == 20
    assert "Hello" not in json.dumps(found.to_json())


async def test_passthrough_records_the_links_digest_and_says_the_bytes_were_not_seen(store):
    job = make_job()
    await admitted(store, job)
    await audit.hosted(store, job, [audit.seen(s, None, fetches=False) for s in job.sources.values()])
    (found,) = await audit.records(store)
    for item in found.inputs:
        assert item.sha256 is None and item.link_sha256 and item.note == audit.PASSTHROUGH_NOTE
    image = next(i for i in found.inputs if i.name == "image")
    assert image.link_sha256 == hashlib.sha256(b"https://cdn/p.png?ex=1&hm=2").hexdigest()


async def test_a_cancelled_waiting_job_and_a_dropped_one_are_recorded_with_their_outcome(store):
    line = Line(store, await Configs.load(store), max_running=0, owner="p1")  # no slot: everything waits
    waiting, dropped = make_job(), make_job()
    for job in (waiting, dropped):
        assert await line.admit(job, audited=record(job).to_row()) is None and job.status is Status.WAITING
    await line.end(waiting, Event.CANCEL, error="Cancelled before it started.")
    await line.end(dropped, Event.DROP, error="not acknowledged")
    outcomes = {r.job_id: r.outcome for r in await audit.records(store)}
    assert outcomes == {waiting.id: "cancelled", dropped.id: "failed"}


async def test_records_are_filtered_by_server_member_and_time_newest_first(store):
    now = time.time()
    jobs = []
    for i, (user, guild) in enumerate([(1, GUILD), (2, GUILD), (1, 99), (1, None)]):
        job = make_job(user=user)
        job.created_at = now - 1000 + i
        jobs.append(job)
        await audit.begin(store, record(job, guild_id=guild, place=audit.SERVER if guild else audit.DM))
    assert [r.job_id for r in await audit.records(store)] == [j.id for j in reversed(jobs)]
    assert [r.job_id for r in await audit.records(store, guild_id=GUILD)] == [jobs[1].id, jobs[0].id]
    assert [r.job_id for r in await audit.records(store, guild_id=GUILD, user_id=1)] == [jobs[0].id]
    assert [r.job_id for r in await audit.records(store, user_id=1, since=now - 998)] == [jobs[3].id, jobs[2].id]
    assert len(await audit.records(store, limit=2)) == 2


async def test_a_job_the_line_refuses_leaves_no_record_and_admitted_ones_in_the_same_batch_do(store):
    """The record is written in the admission's transaction: a refused job (here, over a member's waiting limit)
    was never a job, so nothing of it is kept."""
    config = await Configs.load(store)
    line = Line(store, config, max_running=0, owner="p1")
    jobs = [make_job(user=7) for _ in range(config.get(GUILD).user_waiting + 1)]
    refusals = await asyncio.gather(*(line.admit(j, audited=record(j).to_row()) for j in jobs))
    assert [r is None for r in refusals] == [True] * (len(jobs) - 1) + [False]
    assert {r.job_id for r in await audit.records(store)} == {j.id for j in jobs[:-1]}


async def test_the_sweep_forgets_records_past_the_retention_and_keeps_the_rest(store):
    now = time.time()
    old, young = make_job(), make_job()
    old.created_at, young.created_at = now - 91 * audit.DAY, now - 89 * audit.DAY
    for job in (old, young):
        await audit.begin(store, record(job))
    assert await audit.sweep(store, 90, now) == 1
    assert [r.job_id for r in await audit.records(store)] == [young.id]
    assert await audit.sweep(store, 90, now + 2 * audit.DAY) == 1
    assert await audit.records(store) == []


async def test_the_keeper_sweeps_at_start(store):
    old = make_job()
    old.created_at = time.time() - 2 * audit.DAY
    await audit.begin(store, record(old))
    keeper = audit.Keeper(store, retention_days=1, every=3600)
    keeper.start()
    try:
        for _ in range(100):
            if not await audit.records(store):
                break
            await asyncio.sleep(0.05)
    finally:
        await keeper.close()
    assert await audit.records(store) == []


def test_the_json_form_has_no_token_key_or_link_and_ids_as_strings():
    job = make_job()
    found = record(job).to_json()
    text = json.dumps(found)
    assert LINK not in text and "cdn/p.png" not in text and "face.png" not in text
    assert found["user"] == str(USER) and found["guild"] == str(GUILD) and found["channel"] == str(CHANNEL)
    assert found["at"].endswith("Z") and found["outcome"] is None and found["cost_usd"] == 0.42
    assert set(found) == {
        "job",
        "at",
        "user",
        "guild",
        "channel",
        "place",
        "install",
        "command",
        "model",
        "inputs",
        "fal_requests",
        "cost_usd",
        "outcome",
        "detail",
        "ended_at",
    }


def test_audit_retention_days_is_a_whole_number_of_at_least_one():
    base = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}
    assert load_settings(base).audit_retention_days == 90
    assert load_settings(base | {"AUDIT_RETENTION_DAYS": "7"}).audit_retention_days == 7
    for bad in ("0", "-3", "1.5", "ninety"):
        with pytest.raises(SettingsError, match="AUDIT_RETENTION_DAYS must be a whole number of at least 1"):
            load_settings(base | {"AUDIT_RETENTION_DAYS": bad})
        with pytest.raises(SettingsError):
            audit_retention_days({"AUDIT_RETENTION_DAYS": bad})
    assert audit_retention_days({}) == 90


# ---- /audit's rendering


def rendered(n: int, **changes) -> list[audit.Record]:
    found = []
    for i in range(n):
        job = make_job()
        rec = record(job)
        rec.requests = [f"req-{i}"]
        rec.outcome = "done"
        rec.inputs = [audit.InputDigest("image", audit.ATTACHMENT, "ab" * 32, size=10)]
        for key, value in changes.items():
            setattr(rec, key, value)
        found.append(rec)
    return found


def test_audit_report_shows_who_where_what_digests_requests_cost_and_outcome():
    (rec,) = rendered(1)
    text = render.audit_report([rec], None, 90)
    assert f"`{rec.job_id}`" in text and f"<@{USER}>" in text and f"<#{CHANNEL}>" in text
    assert "talkinghead" in text and "veed/fabric-1.0" in text and "done" in text and "$0.42" in text
    assert "ab" * 8 in text and "`req-0`" in text and "kept 90 days" in text


def test_audit_report_fits_one_message_and_says_how_many_more():
    text = render.audit_report(rendered(50), None, 90)
    assert len(text) <= render.MESSAGE_LIMIT
    assert "older job(s): `python -m bot.cli audit` lists them all" in text


def test_audit_report_quotes_what_could_carry_mentions_or_markdown():
    (rec,) = rendered(1, outcome="failed", detail="@everyone `x` **bold** <@1>", model="@here")
    text = render.audit_report([rec], 5, 90)
    assert "@everyone `x`" not in text and "`@everyone ˋxˋ **bold** <@1>`" in text and "`@here`" in text
    assert "by <@5>" in text


def test_audit_report_without_records():
    assert "No jobs recorded." in render.audit_report([], None, 90)
