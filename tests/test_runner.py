"""The job runner against the fal stand-in and a real SQLite store; Discord is replaced by a recorder
of what the runner asks it to show (the Discord side has its own end-to-end tests)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest_asyncio

from bot.jobs.inputs import Source
from bot.jobs.runner import JobRunner
from bot.jobs.spec import Command, JobSpec, Stage
from bot.jobs.store import Job, Store, new_job_id
from tests.standins.fal_queue import JobScript

IMAGE, AUDIO = "https://cdn.example/face.png", "https://cdn.example/voice.mp3"


class Recorder:
    def __init__(self) -> None:
        self.shown: list[tuple[Stage, int | None]] = []
        self.finished: list[Job] = []

    async def show(self, job: Job, eta: float | None) -> None:
        self.shown.append((job.stage, job.position))

    async def finish(self, job: Job) -> None:
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


def make_job(**spec) -> Job:
    spec = JobSpec(Command.TALKINGHEAD, image_url=IMAGE, audio_url=AUDIO, **spec)
    sources = {"image": Source("image", IMAGE, False, "face.png").to_dict(),
               "audio": Source("audio", AUDIO, False, "voice.mp3").to_dict()}
    return Job(new_job_id(), Command.TALKINGHEAD, spec, channel_id=1, user_id=2, guild_id=3, sources=sources)


async def test_a_job_runs_to_the_end_and_is_delivered_once(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.2, logs=["go"]))
    delivery = Recorder()
    runner = JobRunner(store, queue, delivery, session=session)
    job = make_job()
    await store.insert(job)
    await runner.start(job)

    saved = await store.get(job.id)
    assert saved.stage is Stage.DONE and saved.video_url and saved.delivered_at
    assert saved.request_id == next(iter(fal_env.jobs))
    assert [j.id for j in delivery.finished] == [job.id]
    stages = [s for s, _ in delivery.shown]
    assert stages[0] is Stage.UPLOADING and Stage.QUEUED in stages and Stage.GENERATING in stages


async def test_a_restarted_runner_resumes_without_submitting_again(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[2, 1, 0], queue_step=0.3, run_time=0.3))
    first = JobRunner(store, queue, Recorder(), session=session)
    job = make_job()
    await store.insert(job)
    first.start(job)
    await fal_env.wait_for_submissions(1)
    await asyncio.sleep(0.1)
    await first.close()  # the process goes away while the job is queued on fal
    assert (await store.get(job.id)).stage is Stage.QUEUED

    delivery = Recorder()
    second = JobRunner(store, queue, delivery, session=session)
    (resumed,) = await second.resume()
    await second.tasks[resumed.id]
    assert fal_env.count("submit") == 1
    assert (await store.get(job.id)).stage is Stage.DONE and len(delivery.finished) == 1
    assert await second.resume() == []  # delivered jobs are not picked up again


async def test_cancel_stops_the_fal_request_and_says_so(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[4], queue_step=30, run_time=30))
    delivery = Recorder()
    runner = JobRunner(store, queue, delivery, session=session)
    job = make_job()
    await store.insert(job)
    runner.start(job)
    await fal_env.wait_for_submissions(1)
    await fal_env_wait_state(store, job.id)
    cancelled = await runner.cancel(job.id)
    assert cancelled.stage is Stage.CANCELLED and "nothing more will be charged" in cancelled.error
    assert fal_env.count("cancel") == 1 and delivery.finished[-1].stage is Stage.CANCELLED
    assert await runner.cancel(job.id) is None


async def fal_env_wait_state(store: Store, job_id: str) -> None:
    for _ in range(200):
        if (await store.get(job_id)).request_id:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the request id was never stored")


async def test_a_failed_job_records_an_actionable_error(store, queue, fal_env, session):
    fal_env.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.05, run_time=0.05,
                                                error={"status": 422, "detail": [{"loc": ["body", "image_url"], "msg": "No face found in the image", "type": "value_error"}]}))
    runner = JobRunner(store, queue, Recorder(), session=session)
    job = make_job()
    await store.insert(job)
    await runner.start(job)
    saved = await store.get(job.id)
    assert saved.stage is Stage.FAILED and saved.error == "fal rejected the input: image_url: No face found in the image"


async def test_the_eta_is_the_median_duration_of_finished_jobs_of_the_same_model(store, queue, session):
    for model, seconds in (("veed/fabric-1.0", 100), ("veed/fabric-1.0", 140), ("veed/fabric-1.0/fast", 10)):
        done = make_job(model=model)
        done.stage, done.created_at, done.finished_at = Stage.DONE, 1000.0, 1000.0 + seconds
        await store.insert(done)
    runner = JobRunner(store, queue, Recorder(), session=session)
    fresh = make_job()
    fresh.created_at = 5000.0
    assert await runner.eta(fresh) == 5120.0
    assert await runner.eta(make_job(model="fal-ai/creatify/aurora")) is None
