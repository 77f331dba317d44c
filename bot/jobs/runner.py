"""Runs jobs in the background: hosts inputs, drives the pipeline, records every step, delivers once.

The runner knows nothing of Discord: it talks to a Delivery, which shows progress and the outcome.
Everything needed to continue is written to the store as it happens, so `resume()` in a new
process carries on where the old one stopped without submitting anything to fal twice.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Protocol

import aiohttp

from bot.fal.errors import BadInput, FalError, JobCancelled
from bot.fal.queue import FalQueue, Submission
from bot.jobs import cost, inputs, pipeline
from bot.jobs.pipeline import Progress
from bot.jobs.spec import Stage
from bot.jobs.store import Job, Store

log = logging.getLogger(__name__)

ETA_SAMPLE = 20  # finished jobs of the same model that an estimate looks at
HOSTED = "hosted"  # state key: the spec's inputs are URLs fal can read


class Delivery(Protocol):
    async def show(self, job: Job, eta: float | None) -> None:
        """Progress changed (the delivery decides when to actually edit)."""

    async def finish(self, job: Job) -> None:
        """Show the final state; must be safe to repeat."""


class JobRunner:
    def __init__(self, store: Store, queue: FalQueue, delivery: Delivery, *, session: aiohttp.ClientSession,
                 input_hosting: str = "fal") -> None:
        self.store = store
        self.queue = queue
        self.delivery = delivery
        self.session = session
        self.input_hosting = input_hosting
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: set[str] = set()

    def start(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self.tasks[job.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(job.id, None))
        return task

    async def resume(self) -> list[Job]:
        """Pick up every job whose outcome has not been delivered."""
        jobs = await self.store.undelivered()
        for job in jobs:
            if job.id not in self.tasks:
                log.info("resuming job %s at stage %s", job.id, job.stage.value)
                self.start(job)
        return jobs

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a running job on fal and here; None when it had already finished."""
        job = await self.store.get(job_id)
        if job is None or job.stage.finished:
            return None
        self._cancel_requested.add(job_id)
        for step in ("video", "speech"):
            sub = job.state.get(step, {}).get("submission")
            if sub and "output" not in job.state[step]:
                try:
                    await self.queue.cancel(Submission.from_dict(sub))
                except FalError as exc:
                    log.warning("job %s: fal did not take the cancel: %s", job_id, exc)
        task = self.tasks.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            await self._end(job, Stage.CANCELLED, "Cancelled; nothing more will be charged.")
        return await self.store.get(job_id)

    async def close(self) -> None:
        """Stop following jobs (they stay unfinished in the store and resume on the next start)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def eta(self, job: Job) -> float | None:
        rows = await self.store.query("stage = ? AND finished_at IS NOT NULL AND json_extract(spec, '$.model') = ?",
                                      (Stage.DONE.value, job.spec.main_model.endpoint_id),
                                      order="finished_at DESC", limit=ETA_SAMPLE)
        if not rows:
            return None
        return job.created_at + statistics.median(r.finished_at - r.created_at for r in rows if r.finished_at)

    async def _run(self, job: Job) -> None:
        try:
            if not job.stage.finished:
                await self._work(job)
        except asyncio.CancelledError:
            if job.id not in self._cancel_requested:
                raise  # shutting down: the job stays as stored and resumes on the next start
            await self._end(job, Stage.CANCELLED, "Cancelled; nothing more will be charged.")
        except JobCancelled:
            await self._end(job, Stage.CANCELLED, "Cancelled on fal; nothing more will be charged.")
        except BadInput as exc:
            await self._end(job, Stage.FAILED, f"`{exc.field}`: {exc}")
        except FalError as exc:
            log.warning("job %s failed: %s (detail: %r)", job.id, exc, exc.detail)
            await self._end(job, Stage.FAILED, f"{exc}")
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self._end(job, Stage.FAILED, f"Something went wrong on our side. The details are in the bot's log under job {job.id}.")
        finally:
            self._cancel_requested.discard(job.id)
        await self._deliver(job)

    async def _work(self, job: Job) -> None:
        if not job.state.get(HOSTED) and job.sources:
            await self._set_stage(job, Stage.UPLOADING)
            sources = {name: inputs.Source.from_dict(data) for name, data in job.sources.items()}
            job.spec = await inputs.host(job.spec, sources, queue=self.queue, session=self.session, mode=self.input_hosting)
            job.cost_estimate = cost.estimate(job.spec)
            job.state[HOSTED] = True
            await self.store.save(job, "spec", "cost_estimate", "state")
        eta = await self.eta(job)

        async def on_progress(event: Progress) -> None:
            changed = (event.stage, event.position) != (job.stage, job.position) or event.log
            job.stage, job.position = event.stage, event.position
            if event.log:
                job.log = event.log
            if changed and event.stage is not Stage.DONE:
                await self.store.save(job, "stage", "position", "log")
                await self.delivery.show(job, eta)

        async def on_state(state: dict) -> None:
            job.state = state
            await self.store.save(job, "state")

        job.result = await pipeline.run(self.queue, job.spec, state=job.state, on_progress=on_progress,
                                        on_state=on_state, started_at=job.created_at)
        speech = job.state.get(pipeline.SPEECH, {}).get("output") or {}
        if isinstance(speech.get("duration_ms"), (int, float)):
            job.spec = type(job.spec).from_dict({**job.spec.to_dict(), "audio_seconds": speech["duration_ms"] / 1000})
            job.cost_estimate = cost.estimate(job.spec)
        await self._end(job, Stage.DONE, None)

    async def _set_stage(self, job: Job, stage: Stage) -> None:
        job.stage = stage
        await self.store.save(job, "stage")
        await self.delivery.show(job, None)

    async def _end(self, job: Job, stage: Stage, error: str | None) -> None:
        job.stage, job.error, job.finished_at = stage, error, time.time()
        job.position = None
        await self.store.save(job, "stage", "error", "finished_at", "result", "position", "spec", "cost_estimate")

    async def _deliver(self, job: Job) -> None:
        try:
            await self.delivery.finish(job)
        except Exception:
            log.exception("job %s: delivery failed; it will be retried on the next start", job.id)
            return
        job.delivered_at = time.time()
        await self.store.save(job, "delivered_at")
