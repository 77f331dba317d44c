"""The job runner against the fal stand-in and a real SQLite store; Discord is replaced by a recorder
of what the runner asks it to show (the Discord side has its own end-to-end tests)."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
import pytest_asyncio

from bot.jobs import pipeline
from bot.jobs.inputs import Source
from bot.jobs.limits import Configs, GuildConfig, budget_estimate
from bot.jobs.line import Line
from bot.jobs.runner import Cancelled, DeliveryRefused, JobRunner, inherited_state
from bot.jobs.spec import Command, JobSpec, Stage
from bot.jobs.store import Job, Store, new_job_id
from tests.standins.fal_queue import JobScript

IMAGE, AUDIO = "https://cdn.example/face.png", "https://cdn.example/voice.mp3"
FAST = (0.05, 0.2)  # follow-again backoff for tests


class Recorder:
    """A Delivery that records; `failures` makes the next finish() calls raise."""

    def __init__(self) -> None:
        self.shown: list[tuple[Stage, int | None]] = []
        self.places: dict[str, object] = {}
        self.finished: list[Job] = []
        self.failures: list[Exception] = []

    async def show(self, job: Job, *, eta: float | None = None, place=None) -> None:
        self.shown.append((job.stage, job.position))
        if place is not None:
            self.places[job.id] = place

    async def finish(self, job: Job, video=None) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.finished.append(job)


@pytest_asyncio.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "jobs.db")
    yield s
    await s.close()


@pytest_asyncio.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def make_job(user: int = 2, **spec) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, image_url=IMAGE, audio_url=AUDIO, **spec)
    sources = {
        "image": Source("image", IMAGE, False, "face.png").to_dict(),
        "audio": Source("audio", AUDIO, False, "voice.mp3").to_dict(),
    }
    return Job(
        new_job_id(),
        Command.TALKINGHEAD,
        spec,
        channel_id=1,
        user_id=user,
        guild_id=3,
        sources=sources,
        cost_estimate=0.4,
    )


async def make_runner(store, queue, session, delivery=None, **config) -> JobRunner:
    configs = await Configs.load(store)
    if config:
        await configs.update(3, lambda c: [setattr(c, k, v) for k, v in config.items()] and None)
    runner = JobRunner(
        store, queue, delivery or Recorder(), Line(configs, max_running=100), session=session, follow_backoff=FAST
    )
    await runner.start_up()
    return runner


async def submit(runner: JobRunner, job: Job) -> Job:
    assert await runner.admit(job) is None
    await runner.launch(job)
    return job


async def settled(runner: JobRunner, job: Job, timeout: float = 20) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            stored = await runner.store.get(job.id)
            if stored and stored.delivered_at:
                return stored
            await asyncio.sleep(0.02)


async def test_a_job_runs_to_the_end_and_is_delivered_once(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.2, logs=["go"]))
    delivery = Recorder()
    runner = await make_runner(store, queue, session, delivery)
    job = await submit(runner, make_job())
    saved = await settled(runner, job)
    await runner.close()
    assert saved.stage is Stage.DONE and saved.video_url and saved.ran_on_fal
    assert saved.request_id == next(iter(fal_env.jobs))
    assert [j.id for j in delivery.finished] == [job.id]
    stages = [s for s, _ in delivery.shown]
    assert Stage.QUEUED in stages and Stage.GENERATING in stages
    assert fal_env.count("status") == 0 and fal_env.count("result") == 1  # submit, stream, result: nothing more


async def test_a_restarted_runner_resumes_without_submitting_again(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=0.3, run_time=0.3))
    first = await make_runner(store, queue, session)
    job = await submit(first, make_job())
    await fal_env.wait_for_submissions(1)
    await asyncio.sleep(0.1)
    await first.close()  # the process goes away while the job is queued on fal
    assert (await store.get(job.id)).request_id

    delivery = Recorder()
    second = await make_runner(store, queue, session, delivery)
    saved = await settled(second, job)
    assert fal_env.count("submit") == 1
    assert saved.stage is Stage.DONE and len(delivery.finished) == 1
    await second.close()
    third = await make_runner(store, queue, session, delivery)
    assert third.tasks == {} and len(delivery.finished) == 1  # delivered jobs are not picked up again
    await third.close()


async def test_waiting_jobs_keep_their_places_across_a_restart_and_start_in_order(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.3))
    first = await make_runner(store, queue, session, user_concurrent=1, guild_concurrent=1)
    jobs = [make_job(user=u % 3) for u in range(5)]
    for job in jobs:
        assert await first.admit(job) is None
    order = [j.id for j in first.line.waiting()]
    await first.close()  # before any of them was launched: they are recorded, so nothing is lost

    delivery = Recorder()
    second = await make_runner(store, queue, session, delivery, user_concurrent=1, guild_concurrent=1)
    for job in jobs:
        await settled(second, job)
    await second.close()
    started = [r.json["image_url"] for r in fal_env.requests if r.route == "submit"]
    assert len(started) == 5
    finished = [j.id for j in delivery.finished]
    assert finished[1:] == order  # one was running; the rest left the line in its order


async def test_cancelling_a_waiting_job_is_free_and_immediate(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=30, run_time=30))
    delivery = Recorder()
    runner = await make_runner(store, queue, session, delivery, user_concurrent=1)
    running, waiting = await submit(runner, make_job()), await submit(runner, make_job())
    assert waiting.stage is Stage.WAITING
    assert await runner.cancel(waiting.id) is Cancelled.WAITING
    saved = await store.get(waiting.id)
    assert saved.stage is Stage.CANCELLED and saved.delivered_at and "nothing was sent to fal" in saved.error
    assert delivery.finished[-1].id == waiting.id and fal_env.count("submit") <= 1
    assert await runner.cancel(waiting.id) is Cancelled.FINISHED
    await runner.cancel(running.id)
    await settled(runner, running)
    await runner.close()


async def test_cancelling_a_queued_job_says_fal_bills_nothing(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[4], queue_step=30, run_time=30))
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    await wait_request(store, job.id)
    assert await runner.cancel(job.id) is Cancelled.QUEUED
    saved = await settled(runner, job)
    await runner.close()
    assert saved.stage is Stage.CANCELLED and "fal does not bill queued jobs" in saved.error
    assert fal_env.count("cancel") == 1 and not saved.ran_on_fal


async def test_cancelling_a_running_job_promises_nothing_fal_does_not_guarantee(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=30, logs=["a"]))
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    async with asyncio.timeout(10):
        while not job.ran_on_fal:
            await asyncio.sleep(0.02)
    assert await runner.cancel(job.id) is Cancelled.REQUESTED
    saved = await settled(runner, job)
    await runner.close()
    assert saved.stage is Stage.CANCELLED and "may bill" in saved.error and "nothing" not in saved.error
    assert runner.line.spent_today(3)[0] == pytest.approx(budget_estimate(saved))  # it still counts against the budget


async def wait_request(store: Store, job_id: str) -> None:
    async with asyncio.timeout(10):
        while not (await store.get(job_id)).request_id:
            await asyncio.sleep(0.01)


async def test_a_failed_job_records_an_actionable_error(store, queue, fal_env, session):
    fal_env.script(
        "veed/fabric-1.0",
        JobScript(
            queue_positions=[0],
            queue_step=0.05,
            run_time=0.05,
            error={
                "status": 422,
                "detail": [{"loc": ["body", "image_url"], "msg": "No face found in the image", "type": "value_error"}],
            },
        ),
    )
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    saved = await settled(runner, job)
    await runner.close()
    assert (
        saved.stage is Stage.FAILED and saved.error == "fal rejected the input: image_url: No face found in the image"
    )
    assert saved.state["video"]["failed"] and inherited_state(saved).get("video") is None  # Retry submits afresh


async def test_a_paid_job_is_followed_through_an_outage_and_delivered(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=0.3))
    for route in ("stream", "status"):
        fal_env.fail_next(route, 503, times=6)
    fal_env.fail_next("result", 502, times=8)
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    saved = await settled(runner, job, timeout=40)
    await runner.close()
    assert saved.stage is Stage.DONE and saved.video_url
    assert fal_env.count("submit") == 1


async def test_retry_follows_the_earlier_request_instead_of_paying_again(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2))
    sub = await queue.submit("veed/fabric-1.0", {"image_url": IMAGE, "audio_url": AUDIO, "resolution": "480p"})
    old = make_job()
    old.stage, old.error, old.state = (
        Stage.FAILED,
        "lost contact",
        {"hosted": True, "video": {"submission": sub.to_dict()}},
    )
    runner = await make_runner(store, queue, session)
    retry = make_job()
    retry.state = inherited_state(old)
    saved = await settled(runner, await submit(runner, retry))
    await runner.close()
    assert saved.stage is Stage.DONE and saved.request_id == sub.request_id
    assert fal_env.count("submit") == 1  # only the original one


async def test_retry_of_a_request_fal_lost_submits_afresh(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2))
    gone = {
        "endpoint_id": "veed/fabric-1.0",
        "request_id": "00000000-0000-0000-0000-000000000000",
        "status_url": f"{fal_env.base_url}/veed/fabric-1.0/requests/00000000-0000-0000-0000-000000000000/status",
        "response_url": f"{fal_env.base_url}/veed/fabric-1.0/requests/00000000-0000-0000-0000-000000000000",
        "cancel_url": f"{fal_env.base_url}/veed/fabric-1.0/requests/00000000-0000-0000-0000-000000000000/cancel",
    }
    retry = make_job()
    retry.state = {"hosted": True, "video": {"submission": gone, "inherited": True}}
    runner = await make_runner(store, queue, session)
    saved = await settled(runner, await submit(runner, retry))
    await runner.close()
    assert saved.stage is Stage.DONE and saved.request_id != gone["request_id"] and fal_env.count("submit") == 1


async def test_delivery_is_retried_while_discord_fails_and_given_up_when_it_refuses(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.05, run_time=0.05))
    delivery = Recorder()
    delivery.failures = [ConnectionError("503 from Discord"), TimeoutError()]
    runner = await make_runner(store, queue, session, delivery)
    first = await settled(runner, await submit(runner, make_job()), timeout=20)
    assert first.delivered_at and first.delivery_error is None and len(delivery.finished) == 1

    delivery.failures = [DeliveryRefused("403 Missing Access")]
    second = await settled(runner, await submit(runner, make_job()), timeout=20)
    await runner.close()
    assert second.delivered_at and second.delivery_error == "403 Missing Access"
    assert len(delivery.finished) == 1  # not shown, not retried on every start either


async def test_the_watchdog_names_a_job_stuck_in_a_stage(store, queue, fal_env, session, caplog):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[3], queue_step=60, run_time=60))
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    await wait_request(store, job.id)
    await asyncio.sleep(0.1)
    with caplog.at_level(logging.WARNING, "bot.jobs.runner"):
        assert runner._check_stuck(time.monotonic() + 4000) == [job.id]
        assert runner._check_stuck(time.monotonic() + 5000) == []  # once per stage
    assert f"watchdog: job {job.id} has been at stage queued" in caplog.text
    await runner.close()


async def test_the_eta_is_the_median_duration_of_finished_jobs_of_the_same_model(store, queue, session):
    for model, seconds in (("veed/fabric-1.0", 100), ("veed/fabric-1.0", 140), ("veed/fabric-1.0/fast", 10)):
        done = make_job(model=model)
        done.stage, done.created_at, done.finished_at, done.delivered_at = Stage.DONE, 1000.0, 1000.0 + seconds, 1.0
        await store.insert(done)
    runner = await make_runner(store, queue, session)
    fresh = make_job()
    fresh.created_at = 5000.0
    assert await runner.eta(fresh) == 5120.0
    assert await runner.eta(make_job(model="fal-ai/creatify/aurora")) is None
    await runner.close()


async def test_the_store_groups_a_burst_of_writes_into_a_few_commits(store):
    before = store.commits
    jobs = [make_job(user=u) for u in range(200)]
    await asyncio.gather(*(store.insert(j) for j in jobs))
    assert store.commits - before <= 3
    for j in jobs:
        j.log = "progress"
        store.save_soon(j, "log")
    await store.save(jobs[0], "stage")
    assert all(j.log == "progress" for j in await store.since(0))


async def test_the_store_migrates_an_older_database(tmp_path):
    import aiosqlite

    from bot.jobs.store import MIGRATIONS

    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        await db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
        await db.execute(
            "INSERT INTO jobs (id, command, spec, channel_id, user_id, stage, created_at) VALUES "
            "('0000abcd', 'talkinghead', '{\"command\": \"talkinghead\"}', 1, 2, 'queued', 5.0)"
        )
        await db.commit()
    store = await Store.open(path)
    try:
        async with store.db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == len(MIGRATIONS)
        (old,) = await store.undelivered()
        assert old.id == "0000abcd" and old.seq == 1 and not old.ran_on_fal
        configs = await Configs.load(store)
        await configs.update(9, lambda c: setattr(c, "daily_budget", 3.5))
        assert (await Configs.load(store)).get(9) == GuildConfig(daily_budget=3.5)
    finally:
        await store.close()


async def test_a_clean_stop_lets_a_submit_on_its_way_finish_and_stores_its_request(
    store, queue, fal_env, session, tmp_path
):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=5, run_time=5))
    fal_env.hold("submit")
    runner = await make_runner(store, queue, session)
    job = await submit(runner, make_job())
    async with asyncio.timeout(10):
        while fal_env.count("submit") == 0:
            await asyncio.sleep(0.02)
    closing = asyncio.create_task(runner.close())
    await asyncio.sleep(0.3)
    assert not closing.done()  # waiting for fal's answer rather than cutting the submit off
    fal_env.release("submit", drop=False)
    await asyncio.wait_for(closing, 10)
    await store.close()  # as the app does after the runner: what is pending is written
    reopened = await Store.open(tmp_path / "jobs.db")  # what the next start reads
    stored = await reopened.get(job.id)
    await reopened.close()
    assert stored.state["video"].get("submission", {}).get("request_id") in fal_env.jobs, (
        stored.stage,
        stored.error,
        stored.state,
    )
    assert pipeline.SENDING not in stored.state["video"]  # the next start follows it instead of doubting it
