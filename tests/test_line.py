"""Admission, slots and the waiting line (bot/jobs/line.py), kept in the store, on SQLite and on PostgreSQL: limits
hold under any sequence of events and under bursts from several processes at once, the line is fair between
members, and quotas and budgets are counted from the moment of admission."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.jobs import limits
from bot.jobs.lifecycle import Event, Status
from bot.jobs.limits import Configs, GuildConfig
from bot.jobs.line import BOT, Line, Wait
from bot.jobs.model import Job, StepRecord, new_job_id
from bot.jobs.spec import Command, JobSpec
from bot.settings import parse_database
from bot.store import open_store

GUILD = 7
OWNER = "process-1"


def job(user: int = 1, seconds: float = 10.0, guild: int | None = GUILD, **changes) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a", audio_seconds=seconds)
    j = Job(new_job_id(), spec, user_id=user, guild_id=guild, cost_estimate=round(seconds * 0.08, 4))
    for key, value in changes.items():
        setattr(j, key, value)
    return j


async def line_with(store, config: GuildConfig | None = None, *, max_running: int = 100, bot_budget=None, **per_guild):
    configs = await Configs.load(store)
    for guild, c in ({GUILD: config or GuildConfig()} | per_guild).items():
        await configs.update(int(str(guild).removeprefix("g")), lambda saved, c=c: saved.__dict__.update(c.__dict__))
    return Line(store, configs, max_running=max_running, bot_budget=bot_budget, owner=OWNER)


async def finish(line: Line, j: Job, outcome: Status = Status.DONE) -> list[Job]:
    """The job ends with `outcome` (walked through its lifecycle as the runner would), and the line starts what it
    can; the jobs started."""
    j.__dict__.update((await line.store.get(j.id)).__dict__)  # as stored: the line may have started it meanwhile
    if outcome is Status.DONE:
        for event in (Event.SEND, Event.ACCEPT, Event.COMPLETE):
            await line.store.transition(j, event)
        await line.end(j, Event.SUCCEED)
    else:
        await line.end(j, Event.FAIL if outcome is Status.FAILED else Event.CANCEL)
    return await line.start_next()


async def running(line: Line) -> list[Job]:
    return [j for j in await line.store.unfinished() if j.status is not Status.WAITING and not j.ended]


async def waiting_ids(line: Line) -> list[str]:
    return [j.id for j in await line.store.waiting()]


async def test_jobs_beyond_the_slots_wait_instead_of_being_refused(store):
    line = await line_with(store, GuildConfig(user_concurrent=2, guild_concurrent=10))
    jobs = [job() for _ in range(7)]
    assert all([await line.admit(j) is None for j in jobs])
    assert [j.status for j in jobs] == [Status.STARTING] * 2 + [Status.WAITING] * 5
    assert [j.owner for j in jobs] == [OWNER] * 2 + [None] * 5  # waiting jobs belong to no process
    refused = await line.admit(job())
    assert (
        refused.limit == "user_waiting"
        and "5 job(s) waiting in line (the limit here is 5) and 2 running" in refused.message
    )


async def test_a_hundred_members_at_once_fill_the_server_slots_and_the_rest_wait_in_order(store):
    line = await line_with(store)
    jobs = [job(user=u) for u in range(100)]
    results = await asyncio.gather(*(line.admit(j) for j in jobs))  # admitted in batches, in arrival order
    assert results == [None] * 100
    assert [j.status for j in jobs] == [Status.STARTING] * 10 + [Status.WAITING] * 90
    places = await line.places()
    assert [places[j.id].ahead for j in jobs[10:]] == list(range(90))
    assert all(place.reason is Wait.SLOT for place in places.values())
    for started in jobs[:10]:
        assert len(await finish(line, started)) == 1
    assert {j.id for j in await running(line)} == {j.id for j in jobs[10:20]}  # first come, first served


async def test_the_line_is_fair_between_members(store):
    line = await line_with(store, GuildConfig(user_concurrent=1, guild_concurrent=1, user_waiting=10))
    greedy = [job(user=1) for _ in range(5)]
    for j in greedy:
        await line.admit(j)
    other = job(user=2)
    await line.admit(other)
    assert [j.id for j in await running(line)] == [greedy[0].id]
    assert (await line.place_of(other)).ahead == 0  # the greedy member's second job does not go first
    assert [j.id for j in await finish(line, greedy[0])] == [other.id]
    assert [j.id for j in await finish(line, other)] == [greedy[1].id]


async def test_a_member_waiting_for_own_jobs_is_told_so_and_does_not_block_others(store):
    line = await line_with(store, GuildConfig(user_concurrent=1, guild_concurrent=5))
    first, second = job(user=1), job(user=1)
    await line.admit(first)
    await line.admit(second)
    assert (await line.place_of(second)).reason is Wait.OWN
    third = job(user=2)
    await line.admit(third)
    assert third.status is Status.STARTING  # a free server slot is not held back by someone else's own limit


async def test_the_bot_wide_slots_are_shared_by_every_server(store):
    line = await line_with(
        store, max_running=3, g1=GuildConfig(guild_concurrent=50), g2=GuildConfig(guild_concurrent=50)
    )
    a = [job(user=u, guild=1) for u in range(3)]
    b = [job(user=u, guild=2) for u in range(2)]
    for j in a + b:
        await line.admit(j)
    assert len(await running(line)) == 3 and all(j.status is Status.WAITING for j in b)
    places = await line.places()
    assert [places[j.id].ahead for j in b] == [0, 1]
    assert [j.id for j in await finish(line, a[0])] == [b[0].id]


async def test_cancelling_a_waiting_job_frees_its_place_and_its_quota_and_spend(store):
    line = await line_with(store, GuildConfig(user_concurrent=1, user_daily=3, daily_budget=10.0))
    first, waiting = job(), job()
    await line.admit(first)
    await line.admit(waiting)
    assert await line.spent_today(GUILD) == (1.6, 1.6)
    await finish(line, waiting, Status.CANCELLED)
    assert await line.spent_today(GUILD) == (0.8, 0.8) and await waiting_ids(line) == []
    assert await line.admit(job()) is None and await line.admit(job()) is None  # the quota of 3 counts 2 so far
    assert (await line.admit(job())).limit == "user_daily"


async def test_a_burst_never_spends_past_the_server_budget_even_while_jobs_wait(store):
    line = await line_with(
        store, GuildConfig(daily_budget=5.0, user_concurrent=1, guild_concurrent=1, user_waiting=100, user_daily=100)
    )
    results = await asyncio.gather(*(line.admit(job(user=u)) for u in range(40)))  # $0.80 each, all at once
    assert sum(r is None for r in results) == 6  # 6 × 0.80 = 4.80 ≤ 5.00 < 7 × 0.80
    refusal = next(r for r in results if r)
    assert (
        refusal.limit == "daily_budget" and "$4.80 of $5.00 committed" in refusal.message and "<t:" in refusal.message
    )


async def test_the_bot_wide_budget_holds_across_servers(store):
    line = await line_with(store, bot_budget=2.0, g1=GuildConfig(), g2=GuildConfig())
    assert await line.admit(job(guild=1)) is None and await line.admit(job(guild=2)) is None
    refusal = await line.admit(job(guild=1, user=9))
    assert refusal.limit == "bot_budget" and "daily budget its owner set for all servers" in refusal.message


async def test_a_cancelled_job_that_ran_on_fal_still_counts_against_the_budget(store):
    line = await line_with(store, GuildConfig(daily_budget=10.0))
    ran, queued = job(), job(user=2)
    await line.admit(ran)
    await line.admit(queued)
    await line.end(ran, Event.CANCEL, steps={"video": StepRecord(ran=True)})
    await line.end(queued, Event.CANCEL)
    assert (await line.spent_today(GUILD))[0] == 0.8  # fal may bill the one that ran; the queued one cost nothing


async def test_a_finished_job_is_counted_at_its_final_estimate(store):
    line = await line_with(store)
    j = job(seconds=10)
    await line.admit(j)
    await line.reprice(j, 2.0)  # the audio turned out longer
    await finish(line, j)
    with pytest.raises(Exception):  # noqa: B017 - a second end is refused (IllegalTransition), counting nothing twice
        await line.end(j, Event.FAIL)
    assert await line.spent_today(GUILD) == (2.0, 2.0)


async def test_cooldown_is_off_by_default_and_says_when_the_member_may_go_again(store):
    line = await line_with(store, g8=GuildConfig(user_cooldown=60))
    assert await line.admit(job()) is None and await line.admit(job()) is None
    assert await line.admit(job(guild=8)) is None
    refused = await line.admit(job(guild=8))
    assert refused.limit == "user_cooldown" and "you can start the next one <t:" in refused.message
    assert await line.admit(job(guild=8, user=2)) is None


async def test_the_line_caps_are_the_only_concurrency_refusals(store):
    line = await line_with(store, GuildConfig(user_concurrent=1, guild_concurrent=1, user_waiting=50, guild_waiting=3))
    results = [await line.admit(job(user=u)) for u in range(10)]
    assert sum(r is None for r in results) == 4  # 1 running + 3 waiting
    assert {r.limit for r in results if r} == {"guild_waiting"}
    assert "the line on this server is full (3 jobs waiting, the limit here)" in next(r for r in results if r).message


async def test_counting_again_after_a_restart_keeps_places_and_counts(store):
    line = await line_with(store, GuildConfig(user_concurrent=1, guild_concurrent=2, daily_budget=100.0))
    jobs = [job(user=u % 3) for u in range(6)]
    for j in jobs:
        await line.admit(j)
    before = (await waiting_ids(line), await line.spent_today(GUILD), await line.places())
    await line.store.transaction(lambda tx: tx.execute("UPDATE line_slots SET running = 99"), line=True)  # drift
    again = await line_with(store, GuildConfig(user_concurrent=1, guild_concurrent=2, daily_budget=100.0))
    await again.recount()
    assert (await waiting_ids(again), await again.spent_today(GUILD), await again.places()) == before
    fresh = job(user=5)
    await again.admit(fresh)
    assert fresh.seq == max(j.seq for j in jobs) + 1


def test_an_unknown_length_counts_at_its_worst_case_against_the_budget():
    unknown = job(seconds=10, cost_estimate=None)
    unknown.spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a")
    assert limits.budget_estimate(unknown) == pytest.approx(300 * 0.08)


async def test_two_processes_bursting_at_once_never_pass_the_bot_limits(database_url):
    """Two processes (each its own store, own connections) admit a burst together against MAX_RUNNING_JOBS and
    DAILY_BUDGET_USD: neither limit is passed by even one job."""
    stores = [await open_store(parse_database(database_url)) for _ in range(2)]
    try:
        lines = []
        for n, s in enumerate(stores):
            line = await line_with(
                s, GuildConfig(guild_concurrent=1000, guild_waiting=1000), max_running=7, bot_budget=20.0
            )
            line.owner = f"process-{n}"
            lines.append(line)
        burst = [(lines[i % 2], job(user=i)) for i in range(60)]  # $0.80 each: the budget takes 25
        results = await asyncio.gather(*(line.admit(j) for line, j in burst))
        admitted = [j for (_, j), r in zip(burst, results, strict=True) if r is None]
        assert len(admitted) == 25 and {r.limit for r in results if r} == {"bot_budget"}
        assert sum(j.status is Status.STARTING for j in admitted) == 7
        assert await lines[0].spent_today(GUILD) == (20.0, 20.0)
        ended = [j for j in admitted if j.status is Status.STARTING]
        starts = await asyncio.gather(*(finish(lines[i % 2], j, Status.FAILED) for i, j in enumerate(ended)))
        assert sum(len(s) for s in starts) == 7 and len(await running(lines[0])) == 7
    finally:
        for s in stores:
            await s.close()


# ---- properties: whatever happens, no limit is passed and every admitted job ends up running

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(0, 2), st.integers(0, 4)),  # (guild, user)
        st.tuples(
            st.just("finish"), st.integers(0, 50), st.sampled_from([Status.DONE, Status.FAILED, Status.CANCELLED])
        ),
        st.tuples(st.just("cancel_waiting"), st.integers(0, 50), st.just(Status.CANCELLED)),
    ),
    max_size=40,
)


async def wipe(store) -> None:
    async def work(tx):
        for table in ("job_addresses", "jobs", "line_slots", "line_days", "guild_config"):
            await tx.execute(f"DELETE FROM {table}")

    await store.transaction(work, line=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=EVENTS,
    user_concurrent=st.integers(1, 3),
    guild_concurrent=st.integers(1, 5),
    max_running=st.integers(1, 6),
    budget=st.one_of(st.none(), st.floats(0, 20)),
)
async def test_no_sequence_of_events_passes_a_limit(
    store, events, user_concurrent, guild_concurrent, max_running, budget
):
    await wipe(store)
    config = GuildConfig(
        user_concurrent=user_concurrent,
        guild_concurrent=guild_concurrent,
        user_waiting=3,
        guild_waiting=6,
        user_daily=1000,
        daily_budget=budget,
    )
    line = await line_with(store, max_running=max_running, bot_budget=30.0, g0=config, g1=config, g2=config)
    admitted: list[Job] = []
    now = time.time()
    for event in events:
        if event[0] == "admit":
            j = job(user=event[2], guild=event[1])
            if await line.admit(j, now=now) is None:
                admitted.append(j)
        else:
            live = [j for j in admitted if not j.ended and (event[0] == "finish" or j.status is Status.WAITING)]
            if live:
                target = live[event[1] % len(live)]
                outcome = Status.CANCELLED if target.status is Status.WAITING else event[2]  # all a waiting job can do
                for started in await finish(line, target, outcome):
                    next(j for j in admitted if j.id == started.id).__dict__.update(started.__dict__)
        on = await running(line)
        assert len(on) <= max_running
        for guild in range(3):
            assert sum(j.guild_id == guild for j in on) <= guild_concurrent
            for user in range(5):
                assert sum(j.guild_id == guild and j.user_id == user for j in on) <= user_concurrent
                assert (
                    sum(j.guild_id == guild and j.user_id == user and j.status is Status.WAITING for j in admitted) <= 3
                )
            spent, total = await line.spent_today(guild, now)
            if budget is not None:
                assert spent <= budget + 1e-6
            assert total <= 30.0 + 1e-6
            expected = sum(
                limits.budget_estimate(j)
                for j in admitted
                if j.guild_id == guild and limits.counts_for_budget(j.ending, j.ran_on_fal)
            )
            assert spent == pytest.approx(expected, abs=1e-6)
        assert await line.start_next() == []  # eager: nothing waits while a slot it could use is free
        places = await line.places()
        for waiting in await store.waiting():  # one job's place, counted alone, is its place in the whole line
            assert await line.place_of(waiting) == places[waiting.id]
    stored = {j.id: j for j in await store.unfinished() if not j.ended}
    assert {j.id for j in admitted if not j.ended} == set(stored)
    (bot,) = await store.line_rows("line_slots", [BOT]) or [{"running": 0, "waiting": 0}]
    assert bot["running"] == sum(j.status is not Status.WAITING for j in stored.values())  # the counts match the jobs
