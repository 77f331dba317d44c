"""Admission, slots and the waiting line (bot/jobs/line.py): limits hold under any sequence of events,
the line is fair between members, and quotas and budgets are counted from the moment of admission."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jobs import limits
from bot.jobs.lifecycle import Status
from bot.jobs.limits import Configs, GuildConfig
from bot.jobs.line import Line, Wait
from bot.jobs.model import Job, StepRecord, new_job_id
from bot.jobs.spec import Command, JobSpec

GUILD = 7


class FixedConfigs(Configs):
    """Configs without a store: every server gets the given settings."""

    def __init__(self, **per_guild: GuildConfig) -> None:
        self.configs = {int(k.removeprefix("g")): v for k, v in per_guild.items()}

    def get(self, guild_id):
        return self.configs.get(guild_id, GuildConfig())


def job(user: int = 1, seconds: float = 10.0, guild: int | None = GUILD, **changes) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a", audio_seconds=seconds)
    j = Job(new_job_id(), spec, user_id=user, guild_id=guild, cost_estimate=round(seconds * 0.08, 4))
    for key, value in changes.items():
        setattr(j, key, value)
    return j


def line_with(config: GuildConfig, *, max_running: int = 100, bot_budget: float | None = None) -> Line:
    return Line(FixedConfigs(**{f"g{GUILD}": config}), max_running=max_running, bot_budget=bot_budget)


def end(line: Line, j: Job, outcome: Status = Status.DONE) -> list[Job]:
    """The job ends with `outcome` (as the runner records it), and the line starts what it can."""
    line.finish(j, outcome)
    j.status = outcome
    started = line.start_next()
    for s in started:
        s.status = Status.STARTING
    return started


def test_jobs_beyond_the_slots_wait_instead_of_being_refused():
    line = line_with(GuildConfig(user_concurrent=2, guild_concurrent=10))
    jobs = [job() for _ in range(7)]
    assert all(line.admit(j) is None for j in jobs)
    assert [j.status for j in jobs] == [Status.STARTING] * 2 + [Status.WAITING] * 5
    refused = line.admit(job())
    assert (
        refused.limit == "user_waiting"
        and "5 job(s) waiting in line (the limit here is 5) and 2 running" in refused.message
    )


def test_a_hundred_members_at_once_fill_the_server_slots_and_the_rest_wait_in_order():
    line = line_with(GuildConfig())
    jobs = [job(user=u) for u in range(100)]
    assert all(line.admit(j) is None for j in jobs)
    assert len(line.running) == 10
    places = line.places()
    assert [places[j.id].ahead for j in jobs[10:]] == list(range(90))
    assert all(p.reason is Wait.SLOT for p in places.values())
    for running in list(line.running.values()):
        started = end(line, running)
        assert len(started) == 1
    assert set(line.running) == {j.id for j in jobs[10:20]}  # first come, first served


def test_the_line_is_fair_between_members():
    line = line_with(GuildConfig(user_concurrent=1, guild_concurrent=1, user_waiting=10))
    greedy = [job(user=1) for _ in range(5)]
    for j in greedy:
        line.admit(j)
    other = job(user=2)
    line.admit(other)
    assert list(line.running) == [greedy[0].id]
    assert line.places()[other.id].ahead == 0  # the greedy member's second job does not go first
    assert [j.id for j in end(line, greedy[0])] == [other.id]
    assert [j.id for j in end(line, other)] == [greedy[1].id]


def test_a_member_waiting_for_own_jobs_is_told_so_and_does_not_block_others():
    line = line_with(GuildConfig(user_concurrent=1, guild_concurrent=5))
    first, second = job(user=1), job(user=1)
    line.admit(first)
    line.admit(second)
    assert line.places()[second.id].reason is Wait.OWN
    third = job(user=2)
    line.admit(third)
    assert third.status is Status.STARTING  # a free server slot is not held back by someone else's own limit


def test_the_bot_wide_slots_are_shared_by_every_server():
    configs = FixedConfigs(g1=GuildConfig(guild_concurrent=50), g2=GuildConfig(guild_concurrent=50))
    line = Line(configs, max_running=3)
    a = [job(user=u, guild=1) for u in range(3)]
    b = [job(user=u, guild=2) for u in range(2)]
    for j in a + b:
        line.admit(j)
    assert len(line.running) == 3 and all(j.status is Status.WAITING for j in b)
    assert [line.places()[j.id].ahead for j in b] == [0, 1]
    assert [j.id for j in end(line, a[0])] == [b[0].id]


def test_cancelling_a_waiting_job_frees_its_place_and_its_quota_and_spend():
    line = line_with(GuildConfig(user_concurrent=1, user_daily=3, daily_budget=10.0))
    running, waiting = job(), job()
    line.admit(running)
    line.admit(waiting)
    assert line.spent_today(GUILD) == (1.6, 1.6)
    end(line, waiting, Status.CANCELLED)
    assert line.spent_today(GUILD) == (0.8, 0.8) and not line.is_waiting(waiting.id)
    assert line.admit(job()) is None and line.admit(job()) is None  # the quota of 3 counts 2 so far
    assert line.admit(job()).limit == "user_daily"


def test_a_burst_never_spends_past_the_server_budget_even_while_jobs_wait():
    line = line_with(
        GuildConfig(daily_budget=5.0, user_concurrent=1, guild_concurrent=1, user_waiting=100, user_daily=100)
    )
    results = [line.admit(job(user=u)) for u in range(40)]  # $0.80 each
    assert sum(r is None for r in results) == 6  # 6 × 0.80 = 4.80 ≤ 5.00 < 7 × 0.80
    refusal = next(r for r in results if r)
    assert (
        refusal.limit == "daily_budget" and "$4.80 of $5.00 committed" in refusal.message and "<t:" in refusal.message
    )


def test_the_bot_wide_budget_holds_across_servers():
    configs = FixedConfigs(g1=GuildConfig(), g2=GuildConfig())
    line = Line(configs, max_running=100, bot_budget=2.0)
    assert line.admit(job(guild=1)) is None and line.admit(job(guild=2)) is None
    refusal = line.admit(job(guild=1, user=9))
    assert refusal.limit == "bot_budget" and "daily budget its owner set for all servers" in refusal.message


def test_a_cancelled_job_that_ran_on_fal_still_counts_against_the_budget():
    line = line_with(GuildConfig(daily_budget=10.0))
    ran, queued = job(), job(user=2)
    line.admit(ran)
    line.admit(queued)
    ran.steps = {"video": StepRecord(ran=True)}
    end(line, ran, Status.CANCELLED)
    end(line, queued, Status.CANCELLED)
    assert line.spent_today(GUILD)[0] == 0.8  # fal may bill the one that ran; the queued one cost nothing


def test_a_finished_job_is_counted_at_its_final_estimate():
    line = line_with(GuildConfig())
    j = job(seconds=10)
    line.admit(j)
    j.cost_estimate = 2.0  # the audio turned out longer
    line.reprice(j)
    end(line, j)
    end(line, j)  # a second end changes nothing
    assert line.spent_today(GUILD) == (2.0, 2.0)


def test_cooldown_is_off_by_default_and_says_when_the_member_may_go_again():
    line = line_with(GuildConfig())
    assert line.admit(job()) is None and line.admit(job()) is None
    cool = line_with(GuildConfig(user_cooldown=60))
    assert cool.admit(job()) is None
    refused = cool.admit(job())
    assert refused.limit == "user_cooldown" and "you can start the next one <t:" in refused.message
    assert cool.admit(job(user=2)) is None


def test_the_line_caps_are_the_only_concurrency_refusals():
    line = line_with(GuildConfig(user_concurrent=1, guild_concurrent=1, user_waiting=50, guild_waiting=3))
    results = [line.admit(job(user=u)) for u in range(10)]
    assert sum(r is None for r in results) == 4  # 1 running + 3 waiting
    assert {r.limit for r in results if r} == {"guild_waiting"}
    assert "the line on this server is full (3 jobs waiting, the limit here)" in next(r for r in results if r).message


def test_rebuilding_after_a_restart_keeps_places_and_counts():
    line = line_with(GuildConfig(user_concurrent=1, guild_concurrent=2, daily_budget=100.0))
    jobs = [job(user=u % 3) for u in range(6)]
    for j in jobs:
        line.admit(j)
    before = [j.id for j in line.waiting()]
    stored = [Job(**{**j.__dict__}) for j in jobs]  # as read back from the store
    again = line_with(GuildConfig(user_concurrent=1, guild_concurrent=2, daily_budget=100.0))
    live = again.load(stored, last_seq=max(j.seq for j in jobs))
    assert len(live) == 6 and [j.id for j in again.waiting()] == before
    assert set(again.running) == set(line.running)
    assert again.spent_today(GUILD) == line.spent_today(GUILD)
    fresh = job(user=5)
    again.admit(fresh)
    assert fresh.seq == max(j.seq for j in jobs) + 1


def test_an_unknown_length_counts_at_its_worst_case_against_the_budget():
    unknown = job(seconds=10, cost_estimate=None)
    unknown.spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a")
    assert limits.budget_estimate(unknown) == pytest.approx(300 * 0.08)


# ---- properties: whatever happens, no limit is passed and every admitted job ends up running


EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(0, 2), st.integers(0, 4)),  # (guild, user)
        st.tuples(
            st.just("finish"), st.integers(0, 50), st.sampled_from([Status.DONE, Status.FAILED, Status.CANCELLED])
        ),
        st.tuples(st.just("cancel_waiting"), st.integers(0, 50), st.just(Status.CANCELLED)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(
    events=EVENTS,
    user_concurrent=st.integers(1, 3),
    guild_concurrent=st.integers(1, 5),
    max_running=st.integers(1, 6),
    budget=st.one_of(st.none(), st.floats(0, 20)),
)
def test_no_sequence_of_events_passes_a_limit(events, user_concurrent, guild_concurrent, max_running, budget):
    config = GuildConfig(
        user_concurrent=user_concurrent,
        guild_concurrent=guild_concurrent,
        user_waiting=3,
        guild_waiting=6,
        user_daily=1000,
        daily_budget=budget,
    )
    line = Line(FixedConfigs(g0=config, g1=config, g2=config), max_running=max_running, bot_budget=30.0)
    admitted: list[Job] = []
    now = time.time()
    for event in events:
        if event[0] == "admit":
            j = job(user=event[2], guild=event[1])
            if line.admit(j, now) is None:
                admitted.append(j)
        else:
            live = [j for j in admitted if not j.status.ended and (event[0] == "finish" or j.status is Status.WAITING)]
            if live:
                target = live[event[1] % len(live)]
                end(line, target, event[2])
        running = list(line.running.values())
        assert len(running) <= max_running
        for guild in range(3):
            assert sum(j.guild_id == guild for j in running) <= guild_concurrent
            for user in range(5):
                assert sum(j.guild_id == guild and j.user_id == user for j in running) <= user_concurrent
                assert (
                    sum(j.guild_id == guild and j.user_id == user and j.status is Status.WAITING for j in admitted) <= 3
                )
            spent, total = line.spent_today(guild, now)
            if budget is not None:
                assert spent <= budget + 1e-6
            assert total <= 30.0 + 1e-6
            expected = sum(
                j.cost_estimate
                for j in admitted
                if j.guild_id == guild and limits.counts_for_budget(j.ending, j.ran_on_fal)
            )
            assert spent == pytest.approx(expected, abs=1e-6)
        # eager: nothing waits while a slot it could use is free
        assert line.start_next() == []
        places = line.places()
        assert all(line.place_of(j) == places[j.id] for j in line.waiting())
    for j in admitted:
        assert j.status is Status.WAITING or j.id in line.running or j.status.ended
