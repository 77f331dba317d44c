"""One contract for every job store: each test runs on SQLite and on PostgreSQL (the `store` fixture).

The lifecycle is enforced by the store itself: every transition the lifecycle allows is taken from every status
it names, every other one is refused by the guarded statement even when the writer's copy of the job believes
it is allowed (another process moved the job first), and of many writers racing to deliver one job, one wins.
"""

from __future__ import annotations

import asyncio
import copy
import time

import pytest

from bot.fal.queue import Submission
from bot.jobs.events import Changed
from bot.jobs.lifecycle import TRANSITIONS, Event, IllegalTransition, Status
from bot.jobs.model import DM, Address, Job, StepRecord, new_job_id
from bot.jobs.spec import SPEECH, VIDEO, Command, JobSpec, Source
from bot.settings import parse_database
from bot.store import StaleJob, open_store

SUB = Submission("veed/fabric-1.0", "req-1", "https://q/status", "https://q/response", "https://q/cancel")

# A legal way into every status, from a freshly admitted job.
PATHS: dict[Status, list[Event]] = {
    Status.WAITING: [],
    Status.STARTING: [Event.START],
    Status.SENDING: [Event.START, Event.SEND],
    Status.QUEUED: [Event.START, Event.SEND, Event.ACCEPT],
    Status.RUNNING: [Event.START, Event.SEND, Event.ACCEPT, Event.RUN],
    Status.FETCHING: [Event.START, Event.SEND, Event.ACCEPT, Event.RUN, Event.COMPLETE],
    Status.DELIVERING: [Event.START, Event.SEND, Event.ACCEPT, Event.RUN, Event.COMPLETE, Event.SUCCEED],
    Status.DONE: [Event.START, Event.SEND, Event.ACCEPT, Event.RUN, Event.COMPLETE, Event.SUCCEED, Event.DELIVER],
    Status.FAILED: [Event.DROP],
    Status.CANCELLED: [Event.CANCEL, Event.DELIVER],
}


def make_job(user: int = 2, guild: int | None = 3, **changes) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://x/p.png", text="Hello there")
    job = Job(
        new_job_id(),
        spec,
        user_id=user,
        guild_id=guild,
        sources={"image": Source("image", "https://x/p.png", True, "face.png", "image/png", 1234)},
        status=Status.WAITING,
        cost_estimate=0.42,
        seq=1,
        turn=0.5,
    )
    for key, value in changes.items():
        setattr(job, key, value)
    return job


def address_of(job: Job) -> Address:
    return Address(
        job.id, channel_id=11, application_id=12, interaction_token="tok", token_expires_at=time.time() + 900
    )


async def at(store, status: Status, **changes) -> Job:
    job = make_job(**changes)
    await store.insert(job, address_of(job))
    for event in PATHS[status]:
        await store.transition(job, event)
    assert job.status is status
    return job


async def test_a_job_and_its_address_come_back_as_they_were_stored(store):
    job = make_job(guild=None, user=2**62)  # a snowflake-sized id, outside any server
    job.steps = {SPEECH: StepRecord(SUB, {"audio": {"url": "https://a"}, "duration_ms": 1500}, ran=True)}
    address = Address(job.id, 2**61, 1, "secret-token", 123.5, message_id=2**60, reach=DM, private=True)
    await store.insert(job, address)
    assert await store.get(job.id) == job
    assert await store.address(job.id) == address
    address.moved_to_channel, address.result_message_id = True, 77
    await store.save_address(address, "moved_to_channel", "result_message_id")
    assert await store.address(job.id) == address
    assert await store.get("ffffffff") is None and await store.address("ffffffff") is None


@pytest.mark.parametrize("event", list(Event))
@pytest.mark.parametrize("status", list(Status))
async def test_each_event_is_taken_exactly_from_the_statuses_the_lifecycle_names(store, event, status):
    job = await at(store, status)
    allowed = TRANSITIONS[event].allows(status)
    if allowed:
        before = await store.transition(job, event)
        assert before is status and (await store.get(job.id)).status is job.status
    else:
        with pytest.raises(IllegalTransition):
            await store.transition(job, event)
        assert (await store.get(job.id)).status is status  # nothing changed


async def test_a_second_delivery_of_a_delivered_job_is_refused_by_the_store(store):
    job = await at(store, Status.DELIVERING)
    other_process = copy.deepcopy(job)  # another writer's copy, read before the first delivery
    await store.transition(job, Event.DELIVER)
    assert other_process.status is Status.DELIVERING  # its copy believes the move is allowed…
    with pytest.raises(IllegalTransition, match="deliver is not allowed: it is done"):
        await store.transition(other_process, Event.DELIVER)  # …the guarded statement refuses it
    assert other_process.status is Status.DONE  # and the copy now shows what the store holds
    stored = await store.get(job.id)
    assert stored.status is Status.DONE and stored.delivered_at == job.delivered_at


async def test_a_cancelled_job_cannot_start(store):
    job = await at(store, Status.WAITING)
    stale = copy.deepcopy(job)
    await store.transition(job, Event.CANCEL, error="Cancelled before it started.")
    with pytest.raises(IllegalTransition):
        await store.transition(stale, Event.START)
    stored = await store.get(job.id)
    assert (stored.status, stored.outcome, stored.error) == (Status.DELIVERING, Status.CANCELLED, job.error)


async def test_of_many_writers_racing_to_deliver_one_job_exactly_one_wins(store):
    job = await at(store, Status.DELIVERING)
    copies = [copy.deepcopy(job) for _ in range(20)]
    results = await asyncio.gather(
        *(store.transition(c, Event.DELIVER, delivery_error=f"writer {i}") for i, c in enumerate(copies)),
        return_exceptions=True,
    )
    winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(r, IllegalTransition) for r in results if isinstance(r, BaseException))
    assert (await store.get(job.id)).delivery_error == f"writer {winners[0]}"


async def test_a_transition_stores_its_changes_with_the_status_and_is_announced_once_stored(store):
    seen: list[tuple[Event, Status, Status]] = []

    def listener(notice):
        if isinstance(notice, Changed):
            seen.append((notice.event, notice.before, notice.job.status))

    store.events.subscribe(listener)
    job = await at(store, Status.STARTING)
    await store.transition(job, Event.SEND, step=VIDEO)
    job.steps[VIDEO] = StepRecord(SUB)
    await store.transition(job, Event.ACCEPT, steps=job.steps)
    stored = await store.get(job.id)
    assert (stored.status, stored.step, stored.steps[VIDEO].submission) == (Status.QUEUED, VIDEO, SUB)
    with pytest.raises(IllegalTransition):
        await store.transition(job, Event.DELIVER)
    assert seen == [
        (Event.START, Status.WAITING, Status.STARTING),
        (Event.SEND, Status.STARTING, Status.SENDING),
        (Event.ACCEPT, Status.SENDING, Status.QUEUED),
    ]


async def test_the_outcome_is_decided_on_entering_delivering_and_becomes_the_final_status(store):
    for event, outcome in ((Event.FAIL, Status.FAILED), (Event.CANCEL, Status.CANCELLED)):
        job = await at(store, Status.QUEUED)
        await store.transition(job, event, error="why")
        stored = await store.get(job.id)
        assert (stored.status, stored.outcome, stored.finished_at) == (Status.DELIVERING, outcome, job.finished_at)
        await store.transition(job, Event.DELIVER)
        assert (await store.get(job.id)).status is outcome


async def test_other_writes_are_guarded_by_the_status_the_writer_saw(store):
    job = await at(store, Status.STARTING)
    job.inputs_ready, job.cost_estimate = True, 1.25
    await store.save(job, "inputs_ready", "cost_estimate")
    stored = await store.get(job.id)
    assert stored.inputs_ready and stored.cost_estimate == 1.25
    stale = copy.deepcopy(job)
    await store.transition(job, Event.CANCEL)
    stale.cost_estimate = 9.0
    with pytest.raises(StaleJob):
        await store.save(stale, "cost_estimate")
    with pytest.raises(ValueError):
        await store.save(job, "status")
    assert (await store.get(job.id)).cost_estimate == 1.25


async def test_a_cancel_request_is_recorded_only_for_a_live_job(store):
    live, ended = await at(store, Status.RUNNING), await at(store, Status.DONE)
    assert await store.request_cancel(live.id) is True
    assert await store.request_cancel(ended.id) is False
    assert (await store.get(live.id)).cancel_requested and not (await store.get(ended.id)).cancel_requested


async def test_the_queries_the_bot_asks(store):
    now = time.time()
    jobs = {}
    for seq, (status, user, guild) in enumerate(
        [
            (Status.WAITING, 1, 3),
            (Status.RUNNING, 1, 3),
            (Status.DELIVERING, 2, 3),
            (Status.DONE, 1, 3),
            (Status.FAILED, 1, None),
            (Status.CANCELLED, 5, 4),
        ],
        start=1,
    ):
        jobs[status] = await at(store, status, user_id=user, guild_id=guild, seq=seq, created_at=now - 100 + seq)
    assert [j.status for j in await store.unfinished()] == [Status.WAITING, Status.RUNNING, Status.DELIVERING]
    assert [j.id for j in await store.member_jobs(3, 1, 10)] == [
        jobs[s].id for s in (Status.DONE, Status.RUNNING, Status.WAITING)
    ]
    assert [j.id for j in await store.member_jobs(3, 1, 1)] == [jobs[Status.DONE].id]
    assert [j.id for j in await store.member_jobs(None, 1, 10)] == [jobs[Status.FAILED].id]
    assert {j.id for j in await store.unfinished_in_guild(3)} == {jobs[Status.WAITING].id, jobs[Status.RUNNING].id}
    assert len(await store.guild_jobs_since(3, now - 97)) == 2 and len(await store.since(now - 96)) == 3
    assert await store.last_seq() == 6


async def test_durations_are_those_of_finished_jobs_of_the_model_newest_first(store):
    for took, model in ((100.0, "veed/fabric-1.0"), (140.0, "veed/fabric-1.0"), (10.0, "veed/fabric-1.0/fast")):
        job = make_job(created_at=1000.0)
        job.spec = JobSpec(Command.TALKINGHEAD, model=model, image_url="i", audio_url="a")
        await store.insert(job)
        for event in PATHS[Status.FETCHING]:
            await store.transition(job, event)
        await store.transition(job, Event.SUCCEED, finished_at=1000.0 + took)
        await store.transition(job, Event.DELIVER)
    assert await store.durations("veed/fabric-1.0", 5) == [140.0, 100.0]
    assert await store.durations("veed/fabric-1.0", 1) == [140.0]
    assert await store.durations("fal-ai/creatify/aurora", 5) == []


async def test_settings_and_metadata(store):
    assert await store.get_meta("k") is None
    await store.set_meta("k", "1")
    await store.set_meta("k", "2")
    assert await store.get_meta("k") == "2"
    await store.save_guild_config(2**60, '{"a": 1}')
    await store.save_guild_config(2**60, '{"a": 2}')
    assert await store.guild_configs() == {2**60: '{"a": 2}'}


async def test_two_processes_opening_one_new_database_at_once_migrate_it_once(database_url):
    events = []
    stores = await asyncio.gather(*(open_store(parse_database(database_url), None) for _ in range(3)))
    try:
        job = make_job()
        await stores[0].insert(job, address_of(job))
        for other in stores[1:]:
            events.append((await other.get(job.id)).id)
        assert events == [job.id, job.id]
    finally:
        for opened in stores:
            await opened.close()
    reopened = await open_store(parse_database(database_url), None)
    try:
        assert (await reopened.get(job.id)).status is Status.WAITING
    finally:
        await reopened.close()


# ---- several processes: claims, owners, presence


async def test_a_job_another_process_owns_cannot_be_moved_by_this_one(store):
    job = await at(store, Status.QUEUED)
    await store.claim("p-1")
    mine = await store.get(job.id)
    stale = copy.deepcopy(job)  # a process that still believes nobody works it
    await store.transition(mine, Event.RUN)
    with pytest.raises(IllegalTransition):
        await store.transition(stale, Event.RUN)
    assert stale.owner == "p-1"  # and it learns who does


async def test_each_job_is_claimed_by_one_process_unless_its_process_is_counted_out(store, database_url):
    for status in (Status.WAITING, Status.STARTING, Status.QUEUED, Status.DELIVERING, Status.DONE):
        await at(store, status)
    others = [await open_store(parse_database(database_url)) for _ in range(3)]
    try:
        claims = await asyncio.gather(*(s.claim(f"p-{i}") for i, s in enumerate(others)))
        claimed = sorted(j.status.value for c in claims for j in c)
        assert claimed == ["delivering", "queued", "starting"]  # not the waiting one, not the finished one; once each
        owner = next(f"p-{i}" for i, c in enumerate(claims) if c)
        assert await store.claim("p-9") == []  # all are owned
        taken = await store.claim("p-9", dead=[owner])
        assert {j.owner for j in taken} == {"p-9"} and len(taken) == sum(
            len(c) for c in claims if c and c[0].owner == owner
        )
        assert await store.release("p-9") == len(taken) and {j.owner for j in await store.claim("p-8")} <= {"p-8"}
    finally:
        for s in others:
            await s.close()


async def test_nothing_more_is_sent_once_a_cancel_was_asked_for(store):
    job = await at(store, Status.STARTING)
    elsewhere = copy.deepcopy(job)
    assert await store.request_cancel(job.id)
    with pytest.raises(IllegalTransition):
        await store.transition(elsewhere, Event.SEND, step=VIDEO)
    assert elsewhere.cancel_requested and (await store.get(job.id)).status is Status.STARTING


async def test_processes_say_they_are_alive_and_are_forgotten(store):
    await store.register("p-1", "gateway", "0 of 2", "host-a", 123)
    await store.register("p-2", "worker", None, "host-b", 456)
    seen = {p.id: p for p in await store.processes()}
    assert set(seen) == {"p-1", "p-2"} and seen["p-1"].shards == "0 of 2" and 0 <= seen["p-2"].quiet < 5
    assert await store.heartbeat("p-1") is True
    await store.forget(["p-2"])
    assert await store.heartbeat("p-2") is False and [p.id for p in await store.processes()] == ["p-1"]
    assert await store.lead("places") is True and await store.reachable() is True


async def test_a_members_voices_are_theirs_by_name_ignoring_case_and_replaced_by_a_new_clone(store):
    from bot.jobs.voices import Voice

    await store.save_voice(Voice(1, "My Voice", "voice-a", "job-a", 100.0))
    await store.save_voice(Voice(1, "Narrator", "voice-b", "job-b", 200.0))
    await store.save_voice(Voice(2, "my voice", "voice-c", "job-c", 300.0))  # another member's, same name
    assert [v.name for v in await store.voices(1)] == ["My Voice", "Narrator"]
    found = await store.voice(1, "  MY   voice ")
    assert found == Voice(1, "My Voice", "voice-a", "job-a", 100.0)
    assert (await store.voice(2, "My Voice")).custom_voice_id == "voice-c" and await store.voice(3, "my voice") is None
    await store.voice_used(1, "voice-a", 150.0)
    await store.voice_used(1, "voice-a", 140.0)  # an older use does not move it back
    await store.voice_gone(1, "voice-b", 250.0)
    assert (await store.voice(1, "my voice")).last_used_at == 150.0
    assert (await store.voice(1, "narrator")).expired_at == 250.0
    assert (await store.voice(2, "my voice")).last_used_at is None  # another member's is untouched
    await store.save_voice(Voice(1, "narrator", "voice-d", "job-d", 400.0))  # cloned again under the name
    again = await store.voice(1, "Narrator")
    assert (again.custom_voice_id, again.name, again.expired_at, again.last_used_at) == (
        "voice-d",
        "narrator",
        None,
        None,
    )
    await store.save_voice(Voice(1, "narrator", "voice-d", "job-d", 500.0))  # the same job again: nothing changes
    assert (await store.voice(1, "narrator")).created_at == 400.0
    assert await store.delete_voice(1, "NARRATOR") is True and await store.delete_voice(1, "narrator") is False
    assert [v.name for v in await store.voices(1)] == ["My Voice"] and len(await store.voices(2)) == 1
