"""The job runner and the delivery worker against the fal stand-in and a real store, on SQLite and on PostgreSQL;
Discord is replaced by a recorder of the outcomes it is asked to show (the Discord side has its own end-to-end
tests)."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
import pytest_asyncio

from bot.jobs import inputs
from bot.jobs.deliveries import Deliveries, DeliveryRefused
from bot.jobs.events import Changed, JobEvents, Progressed
from bot.jobs.lifecycle import Event, Status
from bot.jobs.limits import Configs, budget_estimate
from bot.jobs.line import Line
from bot.jobs.model import Job, StepRecord, new_job_id
from bot.jobs.presence import Presence
from bot.jobs.runner import Cancelled, JobRunner
from bot.jobs.spec import Command, JobSpec, Source
from bot.jobs.watchdog import Watchdog
from bot.settings import parse_database
from bot.store import open_store
from tests.standins.fal_queue import JobScript
from tests.test_store_contract import PATHS

IMAGE, AUDIO = "https://cdn.example/face.png", "https://cdn.example/voice.mp3"
FAST = (0.05, 0.2)  # follow-again backoff for tests


class Recorder:
    """A Presenter that records what it is asked to show, and every status and progress notice on the bus;
    `failures` makes the next finish() calls raise."""

    def __init__(self, events: JobEvents) -> None:
        self.statuses: list[Status] = []
        self.places: dict[str, object] = {}
        self.finished: list[Job] = []
        self.failures: list[Exception] = []
        events.subscribe(self.notice)

    def notice(self, notice) -> None:
        if isinstance(notice, Changed):
            self.statuses.append(notice.job.status)
        elif isinstance(notice, Progressed) and notice.place is not None:
            self.places[notice.job.id] = notice.place

    async def finish(self, job: Job) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.finished.append(job)


class Harness:
    """A process as the bot assembles one: its presence, line, runner and delivery worker, on one store."""

    def __init__(self, store, queue, session, **config) -> None:
        self.store, self.queue, self.session, self.config = store, queue, session, config
        self.presenter = Recorder(store.events)

    async def start(self) -> Harness:
        configs = await Configs.load(self.store)
        if self.config:
            await configs.update(3, lambda c: [setattr(c, k, v) for k, v in self.config.items()] and None)
        self.presence = Presence(self.store, role="test", takeover=3.0)
        await self.presence.start()
        line = Line(self.store, configs, max_running=100, owner=self.presence.id)
        self.runner = JobRunner(
            self.store,
            self.queue,
            line,
            self.presence,
            session=self.session,
            hosting=inputs.Hosting("passthrough"),  # the jobs' example links go to fal as they are
            follow_backoff=FAST,
        )
        self.deliveries = Deliveries(self.store, self.presenter, self.presence.id, tries=3)
        self.runner.on_claim = self.deliveries.start_up
        await self.runner.start_up()
        return self

    async def close(self) -> None:
        await self.runner.close()
        await self.deliveries.close()
        await self.presence.close()
        self.store.events.unsubscribe(self.presenter.notice)


@pytest_asyncio.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest_asyncio.fixture
async def harness(store, queue, session):
    opened: list[Harness] = []

    async def start(**config) -> Harness:
        h = await Harness(store, queue, session, **config).start()
        opened.append(h)
        return h

    yield start
    for h in opened:
        await h.close()


def make_job(user: int = 2, **spec) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, image_url=IMAGE, audio_url=AUDIO, **spec)
    sources = {"image": Source("image", IMAGE, False, "face.png"), "audio": Source("audio", AUDIO, False, "voice.mp3")}
    return Job(new_job_id(), spec, user_id=user, guild_id=3, sources=sources, cost_estimate=0.4)


async def submit(runner: JobRunner, job: Job) -> Job:
    assert await runner.admit(job) is None
    await runner.launch(job)
    return job


async def settled(store, job: Job, timeout: float = 20) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            stored = await store.get(job.id)
            if stored and stored.status.terminal:
                return stored
            await asyncio.sleep(0.02)


async def stored_status(store, job: Job, status: Status, timeout: float = 10) -> Job:
    async with asyncio.timeout(timeout):
        while (stored := await store.get(job.id)).status is not status:
            await asyncio.sleep(0.01)
    return stored


async def test_a_job_runs_to_the_end_and_is_delivered_once(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.2, logs=["go"]))
    h = await harness()
    job = await submit(h.runner, make_job())
    saved = await settled(store, job)
    assert saved.status is Status.DONE and saved.video_url and saved.ran_on_fal and saved.delivered_at
    assert saved.request_id == next(iter(fal_env.jobs))
    assert [j.id for j in h.presenter.finished] == [job.id]
    assert h.presenter.statuses == [
        Status.SENDING,
        Status.QUEUED,
        Status.RUNNING,
        Status.FETCHING,
        Status.DELIVERING,
        Status.DONE,
    ]
    assert fal_env.count("status") == 0 and fal_env.count("result") == 1  # submit, stream, result: nothing more


async def test_a_restarted_runner_resumes_without_submitting_again(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=0.3, run_time=0.3))
    first = await harness()
    job = await submit(first.runner, make_job())
    await stored_status(store, job, Status.QUEUED)
    await first.close()  # the process goes away while the job is queued on fal
    assert (await store.get(job.id)).request_id

    second = await harness()
    saved = await settled(store, job)
    assert fal_env.count("submit") == 1
    assert saved.status is Status.DONE and len(second.presenter.finished) == 1
    await second.close()
    third = await harness()
    assert third.runner.tasks == {} and third.presenter.finished == []  # delivered jobs are not picked up again


async def test_an_outcome_decided_but_not_shown_is_shown_after_a_restart(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.05, run_time=0.05))
    first = await harness()
    first.presenter.failures = [ConnectionError("Discord is down")] * 10
    job = await submit(first.runner, make_job())
    await stored_status(store, job, Status.DELIVERING)
    await first.close()  # the process goes away before the outcome could be shown
    second = await harness()
    saved = await settled(store, job)
    assert saved.status is Status.DONE and [j.id for j in second.presenter.finished] == [job.id]
    assert fal_env.count("submit") == 1 and fal_env.count("result") == 1  # the result was stored, not fetched again


async def test_waiting_jobs_keep_their_places_across_a_restart_and_start_in_order(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.2, run_time=0.3))
    first = await harness(user_concurrent=1, guild_concurrent=1)
    jobs = [make_job(user=u % 3) for u in range(5)]
    for job in jobs:
        assert await first.runner.admit(job) is None
    order = [j.id for j in await store.waiting()]
    await first.close()  # before any of them was launched: they are recorded, so nothing is lost

    second = await harness(user_concurrent=1, guild_concurrent=1)
    for job in jobs:
        await settled(store, job)
    started = [r.json["image_url"] for r in fal_env.requests if r.route == "submit"]
    assert len(started) == 5
    finished = [j.id for j in second.presenter.finished]
    assert finished[1:] == order  # one was running; the rest left the line in its order


async def test_cancelling_a_waiting_job_is_free_and_immediate(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=30, run_time=30))
    h = await harness(user_concurrent=1)
    running, waiting = await submit(h.runner, make_job()), await submit(h.runner, make_job())
    assert waiting.status is Status.WAITING
    assert await h.runner.cancel(waiting.id) is Cancelled.WAITING
    saved = await settled(store, waiting)
    assert saved.status is Status.CANCELLED and saved.delivered_at and "nothing was sent to fal" in saved.error
    assert h.presenter.finished[-1].id == waiting.id and fal_env.count("submit") <= 1
    assert await h.runner.cancel(waiting.id) is Cancelled.FINISHED
    await h.runner.cancel(running.id)
    await settled(store, running)


async def test_cancelling_a_queued_job_says_fal_bills_nothing(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[4], queue_step=30, run_time=30))
    h = await harness()
    job = await submit(h.runner, make_job())
    await stored_status(store, job, Status.QUEUED)
    assert await h.runner.cancel(job.id) is Cancelled.QUEUED
    saved = await settled(store, job)
    assert saved.status is Status.CANCELLED and "fal does not bill queued jobs" in saved.error
    assert fal_env.count("cancel") == 1 and not saved.ran_on_fal and saved.cancel_requested


async def test_cancelling_a_running_job_promises_nothing_fal_does_not_guarantee(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=30, logs=["a"]))
    h = await harness()
    job = await submit(h.runner, make_job())
    await stored_status(store, job, Status.RUNNING)
    assert await h.runner.cancel(job.id) is Cancelled.REQUESTED
    saved = await settled(store, job)
    assert saved.status is Status.CANCELLED and "may bill" in saved.error and "nothing" not in saved.error
    assert (await h.runner.line.spent_today(3))[0] == pytest.approx(budget_estimate(saved))  # it still counts


async def test_a_failed_job_records_an_actionable_error(store, harness, fal_env):
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
    h = await harness()
    job = await submit(h.runner, make_job())
    saved = await settled(store, job)
    assert (
        saved.status is Status.FAILED and saved.error == "fal rejected the input: image_url: No face found in the image"
    )
    assert saved.steps["video"].failed and saved.inherited_steps() == {}  # Retry submits afresh


async def test_a_paid_job_is_followed_through_an_outage_and_delivered(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=0.3))
    for route in ("stream", "status"):
        fal_env.fail_next(route, 503, times=6)
    fal_env.fail_next("result", 502, times=8)
    h = await harness()
    job = await submit(h.runner, make_job())
    saved = await settled(store, job, timeout=40)
    assert saved.status is Status.DONE and saved.video_url
    assert fal_env.count("submit") == 1


async def test_retry_follows_the_earlier_request_instead_of_paying_again(store, harness, queue, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2))
    sub = await queue.submit("veed/fabric-1.0", {"image_url": IMAGE, "audio_url": AUDIO, "resolution": "480p"})
    old = make_job()
    old.status, old.steps = Status.FAILED, {"video": StepRecord(sub)}
    h = await harness()
    retry = make_job()
    retry.steps, retry.inputs_ready = old.inherited_steps(), True
    saved = await settled(store, await submit(h.runner, retry))
    assert saved.status is Status.DONE and saved.request_id == sub.request_id
    assert fal_env.count("submit") == 1  # only the original one
    assert h.presenter.statuses[:2] == [Status.QUEUED, Status.RUNNING]  # FOLLOW, not SEND


async def test_delivery_is_retried_while_discord_fails_and_given_up_when_it_refuses(store, harness, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.05, run_time=0.05))
    h = await harness()
    h.presenter.failures = [ConnectionError("503 from Discord"), TimeoutError()]
    first = await settled(store, await submit(h.runner, make_job()), timeout=20)
    assert first.delivered_at and first.delivery_error is None and len(h.presenter.finished) == 1

    h.presenter.failures = [DeliveryRefused("403 Missing Access")]
    second = await settled(store, await submit(h.runner, make_job()), timeout=20)
    assert second.status is Status.DONE and second.delivery_error == "403 Missing Access"
    assert len(h.presenter.finished) == 1  # not shown, not retried on every start either


async def test_the_watchdog_names_a_job_stuck_in_a_status(store, harness, fal_env, caplog):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[3], queue_step=60, run_time=60))
    watchdog = Watchdog(store.events)
    h = await harness()
    job = await submit(h.runner, make_job())
    await stored_status(store, job, Status.QUEUED)
    with caplog.at_level(logging.WARNING, "bot.jobs.watchdog"):
        assert watchdog.check(time.monotonic() + 4000) == [job.id]
        assert watchdog.check(time.monotonic() + 5000) == []  # once per status
    assert f"watchdog: job {job.id} has been queued for" in caplog.text


async def test_the_eta_is_the_median_duration_of_finished_jobs_of_the_same_model(store, harness):
    for model, seconds in (("veed/fabric-1.0", 100), ("veed/fabric-1.0", 140), ("veed/fabric-1.0/fast", 10)):
        done = make_job(model=model)
        done.status, done.created_at = Status.WAITING, 1000.0
        await store.insert(done)
        for event in PATHS[Status.FETCHING]:
            await store.transition(done, event)
        await store.transition(done, Event.SUCCEED, finished_at=1000.0 + seconds)
    h = await harness()
    fresh = make_job()
    fresh.created_at = 5000.0
    assert await h.runner.eta(fresh) == 5120.0
    assert await h.runner.eta(make_job(model="fal-ai/creatify/aurora")) is None


async def test_a_clean_stop_lets_a_submit_on_its_way_finish_and_stores_its_request(
    store, harness, fal_env, database_url
):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=5, run_time=5))
    fal_env.hold("submit")
    h = await harness()
    job = await submit(h.runner, make_job())
    async with asyncio.timeout(10):
        while fal_env.count("submit") == 0:
            await asyncio.sleep(0.02)
    closing = asyncio.create_task(h.runner.close())
    await asyncio.sleep(0.3)
    assert not closing.done()  # waiting for fal's answer rather than cutting the submit off
    fal_env.release("submit", drop=False)
    await asyncio.wait_for(closing, 10)
    reopened = await open_store(parse_database(database_url))  # what the next start reads
    stored = await reopened.get(job.id)
    await reopened.close()
    assert stored.status is Status.QUEUED, (stored.status, stored.error)
    assert stored.steps["video"].submission.request_id in fal_env.jobs  # the next start follows it


async def test_a_job_found_sending_after_a_crash_is_failed_and_not_sent_again(store, harness, fal_env):
    job = make_job()
    job.status = Status.STARTING
    job.inputs_ready = True
    await store.insert(job)
    await store.transition(job, Event.SEND, step="video")  # the crash came while the submit was on its way
    h = await harness()
    saved = await settled(store, job)
    assert saved.status is Status.FAILED and "stopped while it was sending the job to fal" in saved.error
    assert fal_env.count("submit") == 0 and [j.id for j in h.presenter.finished] == [job.id]


# ---- several processes on one store


async def crash(h: Harness) -> None:
    """The process stops answering: its tasks end, its heartbeat stops, and nothing is handed back."""
    await h.runner.close()
    await h.deliveries.close()
    h.presence._task.cancel()  # noqa: SLF001 - a crash, not a clean stop
    h.store.events.unsubscribe(h.presenter.notice)


async def test_a_silent_processs_jobs_are_taken_over_from_their_stored_requests(store, queue, session, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=0.5, run_time=1.0))
    first = await Harness(store, queue, session).start()
    jobs = [await submit(first.runner, make_job(user=u)) for u in range(3)]
    for job in jobs:
        await stored_status(store, job, Status.QUEUED)
    await crash(first)  # its row stays, its heartbeat stops: the others count it out after the takeover time
    second = await Harness(store, queue, session).start()
    try:
        taken = time.monotonic()
        for job in jobs:
            saved = await settled(store, job, timeout=20)
            assert saved.status is Status.DONE and saved.owner == second.presence.id
        assert time.monotonic() - taken < 3.0 + 1.0  # within TAKEOVER_SECONDS (3 s here)
        assert fal_env.count("submit") == 3  # followed from the stored requests, never sent again
        assert sorted(j.id for j in second.presenter.finished) == sorted(j.id for j in jobs)
        assert first.presence.id not in {p.id for p in await store.processes()}  # counted out and forgotten
    finally:
        await second.close()


async def test_a_cancel_pressed_on_another_process_reaches_the_job_and_fal(store, queue, session, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.1, run_time=30, logs=["a"]))
    worker = await Harness(store, queue, session).start()
    gateway = await Harness(store, queue, session).start()
    try:
        job = await submit(worker.runner, make_job())
        await stored_status(store, job, Status.RUNNING)
        assert await gateway.runner.cancel(job.id) is Cancelled.REQUESTED  # from the process that got the button
        saved = await settled(store, job)
        assert saved.status is Status.CANCELLED and "may bill" in saved.error and fal_env.count("cancel") == 1
        assert [j.id for j in worker.presenter.finished] == [job.id] and gateway.presenter.finished == []
    finally:
        await gateway.close()
        await worker.close()


async def test_a_clean_stop_hands_its_jobs_to_the_next_process_at_once(store, queue, session, fal_env):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[1, 0], queue_step=0.5, run_time=1.0))
    first = await Harness(store, queue, session).start()
    job = await submit(first.runner, make_job())
    await stored_status(store, job, Status.QUEUED)
    await first.close()
    assert (await store.get(job.id)).owner is None  # handed back
    second = await Harness(store, queue, session).start()
    try:
        saved = await settled(store, job)
        assert saved.status is Status.DONE and fal_env.count("submit") == 1
    finally:
        await second.close()
