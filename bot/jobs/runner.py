"""Runs jobs in the background: admits them into slots or the waiting line, hosts inputs, drives the
pipeline, records every step, and delivers each outcome once.

The runner knows nothing of Discord: it talks to a Delivery, which shows progress and the outcome.
Everything needed to continue is written to the store as it happens, so `start_up()` in a new
process carries on where the old one stopped — waiting jobs keep their places in the line, and
nothing is submitted to fal twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp

from bot.errors import BadInput
from bot.fal.errors import FalError, JobCancelled, SubmissionUnknown
from bot.fal.queue import CancelAnswer, FalQueue, Submission
from bot.jobs import cost, inputs, pipeline, results
from bot.jobs.limits import Refusal
from bot.jobs.line import Line, Place
from bot.jobs.pipeline import Progress
from bot.jobs.results import Video
from bot.jobs.spec import REFUSED, SPEECH, VIDEO, Stage
from bot.jobs.store import Job, Store

log = logging.getLogger(__name__)

ETA_SAMPLE = 20  # finished jobs of the same model that an estimate looks at
ETA_TTL = 60.0  # seconds an estimate is reused for other jobs of the model
SEND_GRACE = 15.0  # seconds a clean stop waits for submits on their way to fal
HOSTED = "hosted"  # state key: the spec's inputs are URLs fal can read
WATCH_EVERY = 1.0  # seconds between looks at the line (places to show) and at stuck jobs
DELIVERY_TRIES = 8  # then the outcome waits for the next start (1 + 2 + … + 60 s ≈ 3 minutes of trying)
EXPECTED_SECONDS = {
    Stage.PENDING: 300,
    Stage.UPLOADING: 600,
    Stage.SPEAKING: 900,
    Stage.QUEUED: 3600,
    Stage.GENERATING: 3600,
}  # a job longer than this in one stage is logged by the watchdog


class AcksFirst:
    """Starting jobs yields to acknowledging commands: Discord drops a command not acknowledged within
    3 s, while a job started a second later loses nothing. A start waits until no command has been
    acknowledged for `quiet` seconds (at most `longest`, so a steady stream of commands starves nobody).
    Starts are paced, at `rate` a second when calm and `busy_rate` while commands keep arriving: a burst
    of starts would also become a burst of completions later."""

    def __init__(self, quiet: float = 0.05, longest: float = 3.0, rate: float = 200.0, busy_rate: float = 20.0) -> None:
        self.quiet, self.longest, self.rate, self.busy_rate = quiet, longest, rate, busy_rate
        self.active = 0
        self.last = 0.0
        self._next = 0.0

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self.last = time.monotonic()

    async def turn(self) -> None:
        deadline = time.monotonic() + self.longest
        while (now := time.monotonic()) < deadline:
            calm = now - self.last
            if not self.active and calm >= self.quiet:
                break
            await asyncio.sleep(max(self.quiet - calm, 0.01))
        now = time.monotonic()
        calm = not self.active and now - self.last >= self.quiet
        self._next = max(self._next + 1 / (self.rate if calm else self.busy_rate), now)
        if self._next > now:
            await asyncio.sleep(self._next - now)


class DeliveryRefused(Exception):
    """Discord refused the outcome for good (the channel, message or DM is gone or forbidden)."""


class Delivery(Protocol):
    async def show(self, job: Job, *, eta: float | None = None, place: Place | None = None) -> None:
        """Progress changed (the delivery decides when to actually edit)."""

    async def finish(self, job: Job, video: Video | None = None) -> None:
        """Show the final state (a finished job with its video); safe to repeat. Raises DeliveryRefused when it
        can never be shown."""


class Cancelled(StrEnum):
    """What a cancel did, for the person who asked."""

    WAITING = "waiting"  # left the line; nothing was sent to fal
    BEFORE_FAL = "before fal"  # stopped before anything was sent to fal
    QUEUED = "queued"  # fal removes a queued request; nothing is billed
    REQUESTED = "requested"  # it was running: fal passes the request on, the model may still finish and bill
    TOO_LATE = "too late"  # fal had already finished it; the video is delivered
    FINISHED = "finished"  # the job had already ended here
    UNREACHABLE = "unreachable"  # fal could not be reached; nothing changed


@dataclass
class _Watch:
    stage: Stage
    since: float
    warned: bool = False


class JobRunner:
    def __init__(
        self,
        store: Store,
        queue: FalQueue,
        delivery: Delivery,
        line: Line,
        *,
        session: aiohttp.ClientSession,
        input_hosting: str = "fal",
        follow_backoff: tuple[float, float] = pipeline.FOLLOW_BACKOFF,
    ) -> None:
        self.store = store
        self.queue = queue
        self.delivery = delivery
        self.line = line
        self.session = session
        self.input_hosting = input_hosting
        self.follow_backoff = follow_backoff
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_wanted: set[str] = set()
        self._shown_places: dict[str, Place] = {}
        self._seen_version = -1
        self._watch: dict[str, _Watch] = {}
        self._etas: dict[str, tuple[float, float | None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._delivering: set[asyncio.Task[None]] = set()
        self.acks = AcksFirst()

    # ---- start and stop

    async def start_up(self) -> list[Job]:
        """Rebuild the line from the store and pick up every job whose outcome has not been delivered."""
        recent = {job.id: job for job in await self.store.since(time.time() - 86400)}
        undelivered = await self.store.undelivered()
        live = self.line.load(
            sorted({**recent, **{j.id: j for j in undelivered}}.values(), key=lambda j: j.seq or 0),
            await self.store.last_seq(),
        )
        for job in live:
            if job.id in self.line.running:
                log.info("resuming job %s at stage %s", job.id, job.stage.value)
                self._start_task(job)
        for job in undelivered:
            if job.stage.finished:
                self._spawn_delivery(job)
        await self._start_waiting()
        self._watcher = asyncio.create_task(self._watch_loop(), name="line-watch")
        return undelivered

    async def close(self) -> None:
        """Stop following jobs (they stay as stored and resume on the next start). A submit on its way is let
        finish first (for up to SEND_GRACE): cut off, fal might run the job while the bot could not know it."""
        deadline = time.monotonic() + SEND_GRACE
        while time.monotonic() < deadline and any(_sending(job) for job in self.line.running.values()):
            await asyncio.sleep(0.05)
        if self._watcher is not None:
            self._watcher.cancel()
        tasks = [*self.tasks.values(), *self._delivering, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- admission

    async def admit(self, job: Job) -> Refusal | None:
        """Check the limits and record the job (durably) in a slot or in the line; or refuse it."""
        refusal = self.line.admit(job)
        if refusal is not None:
            return refusal
        try:
            await self.store.insert(job)
        except BaseException:
            job.stage = Stage.FAILED
            self.line.finish(job)
            raise
        return None

    def shown(self, job: Job, place: Place | None) -> None:
        """The job's message already shows this place (the acknowledgement carried it)."""
        if place is not None:
            self._shown_places[job.id] = place

    async def launch(self, job: Job) -> None:
        """The job's message exists: start it; a waiting job's place is kept current by the line watcher."""
        if job.stage is Stage.WAITING:
            self._seen_version = -1
        else:
            self._start_task(job)

    async def limits_changed(self) -> None:
        """A server's limits changed: jobs may leave the line, and places may move."""
        self.line.version += 1
        await self._start_waiting()

    async def drop(self, job: Job, reason: str) -> None:
        """An admitted job that could not be acknowledged: it ends at once, costing nothing, shown nowhere."""
        job.stage, job.error, job.finished_at = Stage.FAILED, reason, time.time()
        job.delivered_at = job.finished_at
        self.line.finish(job)
        await self.store.save(job, "stage", "error", "finished_at", "delivered_at")
        await self._start_waiting()

    # ---- cancel

    async def cancel(self, job_id: str) -> Cancelled:
        job = self.live(job_id)
        if job is None:
            return Cancelled.FINISHED
        if job.stage is Stage.WAITING:
            await self._end(job, Stage.CANCELLED, "Cancelled before it started; nothing was sent to fal or charged.")
            await self._deliver(job)
            return Cancelled.WAITING
        self._cancel_wanted.add(job_id)  # the job's task stops itself before anything (more) is sent to fal
        sub = _following(job)
        if sub is None:
            return Cancelled.BEFORE_FAL
        try:
            answer = await self.queue.cancel(sub)
        except FalError as exc:
            self._cancel_wanted.discard(job_id)
            log.warning("job %s: fal did not take the cancel: %s", job_id, exc)
            return Cancelled.UNREACHABLE
        log.info("job %s: cancel of request %s answered %s", job_id, sub.request_id, answer.value)
        if answer is CancelAnswer.ALREADY_COMPLETED:
            return Cancelled.TOO_LATE
        return Cancelled.REQUESTED if job.ran_on_fal else Cancelled.QUEUED

    # ---- estimates

    async def eta(self, job: Job) -> float | None:
        model = job.spec.main_model.endpoint_id
        cached = self._etas.get(model)
        if cached is None or time.monotonic() - cached[0] > ETA_TTL:
            durations = await self.store.durations(model, ETA_SAMPLE)
            cached = self._etas[model] = (time.monotonic(), statistics.median(durations) if durations else None)
        return None if cached[1] is None else job.created_at + cached[1]

    # ---- running a job

    def live(self, job_id: str) -> Job | None:
        """The job as it stands now, if it is running or waiting here (fresher than the store)."""
        return self.line.running.get(job_id) or self.line.waiting_jobs.get(job_id)

    def _start_task(self, job: Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self.tasks[job.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(job.id, None))

    async def _run(self, job: Job) -> None:
        try:
            await self._work(job)
        except JobCancelled:
            await self._end(job, Stage.CANCELLED, self._cancel_text(job))
        except BadInput as exc:
            if not _sent_to_fal(job):
                job.state[REFUSED] = exc.field
            await self._end(job, Stage.FAILED, f"`{exc.field}`: {exc}")
        except SubmissionUnknown as exc:
            log.warning("job %s: %s", job.id, exc)
            cause = str(exc)[:1].upper() + str(exc)[1:]
            await self._end(
                job,
                Stage.FAILED,
                f"{cause}, so fal may or may not have it. It was not sent again, so it "
                "cannot run twice; Retry sends it again (if fal did get the first one, "
                "that one may be billed too).",
            )
        except FalError as exc:
            log.warning("job %s failed: %s (detail: %r)", job.id, exc, exc.detail)
            await self._end(job, Stage.FAILED, str(exc))
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self._end(
                job,
                Stage.FAILED,
                f"Something went wrong on our side. The details are in the bot's log under job {job.id}.",
            )
        finally:
            self._cancel_wanted.discard(job.id)
        await self._deliver(job)

    def _cancel_text(self, job: Job) -> str:
        if job.ran_on_fal:
            return (
                "Cancelled on fal. It had already started there, so fal may bill the time it ran "
                f"(about {_money(job.cost_estimate)} at most)."
            )
        if job.request_id:
            return "Cancelled while it waited in fal's queue; fal does not bill queued jobs."
        return "Cancelled before anything was sent to fal; nothing was charged."

    async def _work(self, job: Job) -> None:
        if job.request_id is None:
            await self.acks.turn()  # nothing on fal yet: let the commands arriving now be acknowledged first
        if not job.state.get(HOSTED) and job.sources:
            sources = {name: inputs.Source.from_dict(data) for name, data in job.sources.items()}
            if self.input_hosting == "fal" and any(s.attachment for s in sources.values()):
                await self._set_stage(job, Stage.UPLOADING)
            job.spec = await inputs.host(
                job.spec, sources, queue=self.queue, session=self.session, mode=self.input_hosting
            )
            job.state[HOSTED] = True
            self._reprice(job, cost.estimate(job.spec))
            await self.store.save(job, "spec", "cost_estimate", "state")
        if job.id in self._cancel_wanted:
            raise JobCancelled("cancelled before it was sent to fal")
        eta = await self.eta(job)

        async def on_progress(event: Progress) -> None:
            changed = (event.stage, event.position) != (job.stage, job.position) or event.log
            stage_changed = event.stage is not job.stage
            if event.ran and not job.ran_on_fal:
                job.ran_on_fal = True
                self.line.reprice(job)
            if event.stage is not Stage.DONE:
                self._observe(job, event.stage)
                job.stage, job.position = event.stage, event.position
            if event.log:
                job.log = event.log
            if changed and event.stage is not Stage.DONE:
                if stage_changed:  # the queue position and the log are shown, not stored: fal repeats them
                    self.store.save_soon(job, "stage", "ran_on_fal")
                await self.delivery.show(job, eta=eta)

        async def on_state(state: dict) -> None:
            job.state = state
            await self.store.save(job, "state", "ran_on_fal")

        job.result = await pipeline.run(
            self.queue,
            job.spec,
            state=job.state,
            on_progress=on_progress,
            on_state=on_state,
            started_at=job.created_at,
            cancel_wanted=lambda: job.id in self._cancel_wanted,
            follow_backoff=self.follow_backoff,
        )
        speech = job.state.get(SPEECH, {}).get("output") or {}
        if isinstance(speech.get("duration_ms"), (int, float)):
            job.spec = dataclasses.replace(job.spec, audio_seconds=speech["duration_ms"] / 1000)
            self._reprice(job, cost.estimate(job.spec))
        note = " It finished on fal before the cancel reached it." if job.id in self._cancel_wanted else None
        await self._end(job, Stage.DONE, note)

    def _reprice(self, job: Job, estimate: float | None) -> None:
        job.cost_estimate = estimate
        self.line.reprice(job)

    async def _set_stage(self, job: Job, stage: Stage) -> None:
        self._observe(job, stage)
        job.stage = stage
        await self.store.save(job, "stage")
        await self.delivery.show(job)

    async def _end(self, job: Job, stage: Stage, error: str | None) -> None:
        """Record the final state and free the job's slot for the next in line."""
        job.stage, job.error, job.finished_at = stage, error, time.time()
        job.position = None
        self.line.finish(job)  # before any await: a waiting job cannot be started meanwhile
        self._watch.pop(job.id, None)
        await self.store.save(
            job, "stage", "error", "finished_at", "result", "position", "spec", "cost_estimate", "ran_on_fal", "state"
        )
        spent, total = self.line.spent_today(job.guild_id)
        log.info(
            "job %s %s; committed spend today: server %s, bot %s", job.id, stage.value, _money(spent), _money(total)
        )
        await self._start_waiting()

    async def _start_waiting(self) -> None:
        for job in self.line.start_next():
            log.info("job %s leaves the line", job.id)
            self.store.save_soon(job, "stage")
            self._start_task(job)

    # ---- delivery

    def _spawn_delivery(self, job: Job) -> None:
        task = asyncio.create_task(self._deliver(job), name=f"deliver-{job.id}")
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def _deliver(self, job: Job) -> None:
        """Show the outcome, retrying while Discord fails for a while; a refusal for good ends the tries."""
        self._watch[job.id] = _Watch(job.stage, time.monotonic())
        pause = 1.0
        video = None
        try:
            if job.stage is Stage.DONE:
                video = await results.fetch(
                    self.session, job, max(job.attachment_limit or 0, results.DISCORD_DEFAULT_LIMIT)
                )
            for attempt in range(DELIVERY_TRIES):
                try:
                    await self.delivery.finish(job, video)
                    break
                except DeliveryRefused as exc:
                    log.warning("job %s: Discord refused its outcome for good (%s); /jobs still shows it", job.id, exc)
                    job.delivery_error = str(exc)
                    break
                except Exception as exc:  # a 5xx, a timeout, a broken connection: Discord may answer later
                    if attempt + 1 == DELIVERY_TRIES:
                        log.warning(
                            "job %s: delivery failed %d times (%s); trying again at the next start",
                            job.id,
                            DELIVERY_TRIES,
                            exc,
                        )
                        return
                    log.info("job %s: delivery failed (%r); retrying in %.0f s", job.id, exc, pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 60.0)
            job.delivered_at = time.time()
            await self.store.save(job, "delivered_at", "delivery_error")
        finally:
            self._watch.pop(job.id, None)
            if video is not None:
                video.cleanup()

    # ---- the line's places, and the watchdog

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                await self._show_places()
                self._check_stuck()
            except Exception:
                log.exception("the line watcher failed; it keeps going")

    async def _show_places(self) -> None:
        if self.line.version == self._seen_version:
            return
        self._seen_version = self.line.version
        places = self.line.places()
        for job_id, place in places.items():
            if self._shown_places.get(job_id) != place:
                self._shown_places[job_id] = place
                await self.delivery.show(self.line.waiting_jobs[job_id], place=place)
        for gone in set(self._shown_places) - set(places):
            del self._shown_places[gone]

    def _observe(self, job: Job, stage: Stage) -> None:
        watch = self._watch.get(job.id)
        if watch is None or watch.stage is not stage:
            self._watch[job.id] = _Watch(stage, time.monotonic())

    def _check_stuck(self, now: float | None = None) -> list[str]:
        """Log each job that stays in one stage longer than expected (once per stage); returns their ids."""
        now = time.monotonic() if now is None else now
        stuck = []
        for job_id, watch in self._watch.items():
            limit = 120.0 if watch.stage.finished else EXPECTED_SECONDS.get(watch.stage, 3600)
            if not watch.warned and now - watch.since > limit:
                watch.warned = True
                what = "delivering its outcome" if watch.stage.finished else f"at stage {watch.stage.value}"
                log.warning(
                    "watchdog: job %s has been %s for %.0f s (expected under %.0f s)",
                    job_id,
                    what,
                    now - watch.since,
                    limit,
                )
                stuck.append(job_id)
        return stuck


def _following(job: Job) -> Submission | None:
    """The fal request the job is following now (submitted, no output yet)."""
    for step in (SPEECH, VIDEO):
        entry = job.state.get(step) or {}
        if entry.get("submission") and "output" not in entry:
            return Submission.from_dict(entry["submission"])
    return None


def _money(usd: float | None) -> str:
    return "unknown" if usd is None else f"${usd:.2f}"


def inherited_state(old: Job) -> dict:
    """What a Retry of a failed or cancelled job takes over: finished steps' outputs, and fal requests that may still
    finish (followed instead of paid for again; submitted afresh if fal says they failed)."""
    state: dict = {HOSTED: True} if old.state.get(HOSTED) else {}
    for step in (SPEECH, VIDEO):
        entry = old.state.get(step) or {}
        if "output" in entry:
            state[step] = {"submission": entry["submission"], "output": entry["output"]}
        elif entry.get("submission") and not entry.get("failed"):
            state[step] = {"submission": entry["submission"], "inherited": True}
    return state


def _sent_to_fal(job: Job) -> bool:
    return job.request_id is not None or any(
        isinstance(entry, dict) and "submission" in entry for entry in job.state.values()
    )


def _sending(job: Job) -> bool:
    return any(isinstance(entry, dict) and entry.get(pipeline.SENDING) for entry in job.state.values())
