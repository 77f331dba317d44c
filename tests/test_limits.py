"""Limits and the daily budget, checked against a real SQLite store, including bursts of admissions."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio

from bot.jobs import limits
from bot.jobs.limits import GuildConfig
from bot.jobs.spec import Command, JobSpec, Stage
from bot.jobs.store import Job, Store, new_job_id

GUILD = 7


@pytest_asyncio.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "jobs.db")
    yield s
    await s.close()


def job(user: int = 1, seconds: float = 10.0, **changes) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a", audio_seconds=seconds)
    j = Job(new_job_id(), Command.TALKINGHEAD, spec, channel_id=1, user_id=user, guild_id=GUILD,
            cost_estimate=round(seconds * 0.08, 4))
    for key, value in changes.items():
        setattr(j, key, value)
    return j


async def finish(store: Store, j: Job, stage: Stage = Stage.DONE) -> None:
    j.stage, j.finished_at = stage, time.time()
    await store.save(j, "stage", "finished_at")


async def test_a_burst_from_one_member_admits_exactly_the_concurrency_limit(store):
    config = GuildConfig(user_concurrent=2, user_cooldown=0)
    results = await asyncio.gather(*(limits.admit(store, job(), config) for _ in range(20)))
    assert sum(r is None for r in results) == 2
    assert {r.limit for r in results if r} == {"user_concurrent"}
    assert "you already have 2 job(s) running" in next(r for r in results if r).message


async def test_a_burst_from_many_members_admits_exactly_the_server_limit(store):
    config = GuildConfig(guild_concurrent=5, user_cooldown=0)
    results = await asyncio.gather(*(limits.admit(store, job(user=u), config) for u in range(30)))
    assert sum(r is None for r in results) == 5
    assert len(await store.query("finished_at IS NULL")) == 5


async def test_a_burst_never_spends_past_the_budget(store):
    config = GuildConfig(daily_budget=5.0, user_concurrent=100, guild_concurrent=100, user_cooldown=0, user_daily=1000)
    results = await asyncio.gather(*(limits.admit(store, job(user=u, seconds=10), config) for u in range(40)))  # $0.80 each
    admitted = sum(r is None for r in results)
    assert admitted == 6  # 6 × 0.80 = 4.80 ≤ 5.00 < 7 × 0.80
    assert await limits.committed_spend(store, GUILD, time.time()) <= 5.0
    refusal = next(r for r in results if r)
    assert refusal.limit == "daily_budget" and "$4.80 of $5.00 committed" in refusal.message and "<t:" in refusal.message


async def test_failed_and_cancelled_jobs_cost_nothing_and_free_the_quota(store):
    config = GuildConfig(user_daily=2, user_cooldown=0, user_concurrent=5, daily_budget=2.0)
    first, second = job(), job()
    assert await limits.admit(store, first, config) is None
    assert await limits.admit(store, second, config) is None
    refused = await limits.admit(store, job(), config)
    assert refused.limit == "user_daily" and "resets <t:" in refused.message
    await finish(store, first, Stage.FAILED)
    await finish(store, second, Stage.CANCELLED)
    assert await limits.committed_spend(store, GUILD, time.time()) == 0
    assert await limits.admit(store, job(), config) is None


async def test_cooldown_says_when_the_member_may_go_again(store):
    config = GuildConfig(user_cooldown=60)
    assert await limits.admit(store, job(), config) is None
    refused = await limits.admit(store, job(), config)
    assert refused.limit == "user_cooldown" and "you can start the next one <t:" in refused.message
    assert await limits.admit(store, job(user=2), config) is None  # others are not held up


async def test_an_unknown_length_counts_at_its_worst_case_against_the_budget():
    unknown = job(seconds=10, cost_estimate=None)
    unknown.spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a")
    assert limits.budget_estimate(unknown) == pytest.approx(300 * 0.08)


async def test_config_round_trips_and_defaults_work_without_any(store):
    assert await limits.load_config(store, GUILD) == GuildConfig()
    config = GuildConfig(allowed_channels=[1, 2], disabled_models=["fal-ai/creatify/aurora"], daily_budget=3.5)
    await limits.save_config(store, GUILD, config)
    assert await limits.load_config(store, GUILD) == config
    assert not config.offers("fal-ai/creatify/aurora") and config.offers("veed/fabric-1.0")


async def test_the_store_migrates_an_older_database(tmp_path):
    import aiosqlite
    from bot.jobs.store import MIGRATIONS
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        await db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
    store = await Store.open(path)
    try:
        async with store.db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == len(MIGRATIONS)
        await limits.save_config(store, GUILD, GuildConfig())
    finally:
        await store.close()
