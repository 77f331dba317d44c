"""Runs jobs in the background: admits them into slots or the waiting line, hosts their inputs and drives the
pipeline, recording every step as a lifecycle transition in the store.

The runner knows nothing of Discord and shows nothing itself: each transition is announced by the store, and
progress (fal's queue position and log lines, the estimate, places in the line) is published on the same
events bus; the front end listens. Once a job's outcome is decided (DELIVERING), showing it is the delivery
worker's (bot/jobs/deliveries.py). Everything needed to continue is in the store as it happens, so
`start_up()` in a new process carries on where the old one stopped: waiting jobs keep their places, and
nothing is submitted to fal twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any

import aiohttp

from bot import i18n
from bot.errors import BadInput
from bot.fal import payloads
from bot.fal.errors import FalError, JobCancelled, SubmissionUnknown
from bot.fal.queue import CancelAnswer, FalQueue
from bot.i18n import Money, _
from bot.jobs import audit, cost, inputs, pipeline, voices
from bot.jobs.events import Progressed
from bot.jobs.lifecycle import Event, IllegalTransition, Status
from bot.jobs.limits import Refusal
from bot.jobs.line import Line, Place
from bot.jobs.model import Address, Job
from bot.jobs.pipeline import Progress
from bot.jobs.presence import Presence
from bot.jobs.spec import SPEECH, Command
from bot.store.base import JobStore, StaleJob

log = logging.getLogger(__name__)

ETA_SAMPLE = 20  # finished jobs of the same model that an estimate looks at
ETA_TTL = 60.0  # seconds an estimate is reused for other jobs of the model
SEND_GRACE = 15.0  # seconds a clean stop waits for submits on their way to fal
WATCH_EVERY = 1.0  # seconds between looks at the line (places to show)
CLAIM_LIMIT = 200  # jobs claimed at one look
NUDGE_AFTER = 0.005  # seconds the jobs of one moment wait to wake the workers together


class AcksFirst:
    """Starting jobs yields to acknowledging commands: Discord drops a command not acknowledged within
    3 s, while a job started a second later loses nothing. A start waits until no command has been
    acknowledged for `quiet` seconds (at most `longest`, so a steady stream of commands starves nobody).
    Starts are paced, at `rate` a second when calm and `busy_rate` while commands keep arriving, shared between
    the `share` processes that start jobs: a burst of starts would also become a burst of completions later."""

    def __init__(self, quiet: float = 0.05, longest: float = 3.0, rate: float = 200.0, busy_rate: float = 20.0) -> None:
        self.quiet, self.longest, self.rate, self.busy_rate = quiet, longest, rate, busy_rate
        self.share = 1
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

    def elsewhere(self) -> None:
        """Another process is acknowledging commands (a worker hears of the jobs it admits): yield to it as well,
        when it shares this machine's cores."""
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
        self._next = max(self._next + self.share / (self.rate if calm else self.busy_rate), now)
        if self._next > now:
            await asyncio.sleep(self._next - now)


class Cancelled(StrEnum):
    """What a cancel did, for the person who asked."""

    WAITING = "waiting"  # left the line; nothing was sent to fal
    BEFORE_FAL = "before fal"  # stopped before anything was sent to fal
    QUEUED = "queued"  # fal removes a queued request; nothing is billed
    REQUESTED = "requested"  # it was running: fal passes the request on, the model may still finish and bill
    TOO_LATE = "too late"  # fal had already finished it; the video is delivered
    FINISHED = "finished"  # the job had already ended here
    UNREACHABLE = "unreachable"  # fal could not be reached; nothing changed


class JobRunner:
    """Works jobs in this process: the ones it admits or starts from the line (when it works jobs at all), and the
    ones it claims: unclaimed jobs, and those of processes that stopped answering (bot/jobs/presence.py)."""

    def __init__(
        self,
        store: JobStore,
        queue: FalQueue,
        line: Line,
        presence: Presence,
        *,
        session: aiohttp.ClientSession,
        hosting: inputs.Hosting | None = None,
        works_jobs: bool = True,
        follow_backoff: tuple[float, float] = pipeline.FOLLOW_BACKOFF,
    ) -> None:
        self.store = store
        self.events = store.events
        self.queue = queue
        self.line = line
        self.presence = presence
        self.session = session
        self.hosting = hosting or inputs.Hosting()
        self.works_jobs = works_jobs
        self.follow_backoff = follow_backoff
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.jobs: dict[str, Job] = {}  # the jobs this process works, as they stand
        self._shown_places: dict[str, Place] = {}
        self._etas: dict[str, tuple[float, float | None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._nudging: asyncio.Task[None] | None = None
        self.acks = AcksFirst()
        self.on_claim: Callable[[list[Job]], Awaitable[None]] | None = None  # jobs claimed whose outcome is decided

    @property
    def owner(self) -> str:
        return self.presence.id

    # ---- start and stop

    async def start_up(self) -> list[Job]:
        """Count the line again, claim what this process works (its own jobs from before a restart, unclaimed ones,
        those of processes that stopped answering) and carry on with them; returns the claimed jobs."""
        await self.line.recount()
        claimed = await self._claim(everyone_else=self.store.dialect == "sqlite")
        await self._start_waiting()
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="claims"),
            asyncio.create_task(self._watch_loop(), name="line-watch"),
        ]
        if self.works_jobs:
            await self.store.listen("jobs", self._woken)
        return claimed

    def _woken(self) -> None:
        """Another process admitted or started jobs for whoever claims them: claim now, and pace the starts as
        the process that took the commands would (they are being acknowledged right now)."""
        self.acks.elsewhere()
        self._wake.set()

    async def close(self) -> None:
        """Stop following jobs (they stay as stored; Presence.close hands them back, and whoever claims them next,
        this process after a restart or another one now, carries on). A submit on its way is let finish first (for up
        to SEND_GRACE): cut off, fal might run the job while the bot could not know it."""
        deadline = time.monotonic() + SEND_GRACE
        while time.monotonic() < deadline and any(j.status is Status.SENDING for j in self.jobs.values()):
            await asyncio.sleep(0.05)
        tasks = [*self.tasks.values(), *self._loops]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- admission

    async def admit(
        self, job: Job, address: Address | None = None, record: audit.Record | None = None
    ) -> Refusal | None:
        """Check the limits and record the job (durably) in a slot or in the line, with where it is shown and its
        audit record; or refuse (and record nothing)."""
        job.owner = None
        return await self.line.admit(job, address, audited=record.to_row() if record else None)

    def shown(self, job: Job, place: Place | None) -> None:
        """The job's message already shows this place (the acknowledgement carried it)."""
        if place is not None:
            self._shown_places[job.id] = place

    async def launch(self, job: Job) -> None:
        """The job's message exists: start it here, or wake the processes that claim it; a waiting job's place is
        kept current by the line watcher."""
        if job.status is Status.WAITING:
            return
        if job.owner == self.owner:
            self._start_task(job)
        else:
            self._nudge()

    def _nudge(self) -> None:
        """Wake the processes that claim jobs: once for the jobs of the next moment, not once per job."""
        if self._nudging is None or self._nudging.done():
            self._nudging = asyncio.create_task(self._notify_soon(), name="nudge")

    async def _notify_soon(self) -> None:
        await asyncio.sleep(NUDGE_AFTER)
        try:
            await self.store.notify("jobs")
        except Exception as exc:  # they look on their own every few seconds anyway
            log.warning("could not wake the workers: %r", exc)

    async def limits_changed(self) -> None:
        """A server's limits changed: jobs may leave the line, and places may move."""
        await self._start_waiting()

    async def drop(self, job: Job, reason: str) -> None:
        """An admitted job that could not be acknowledged: it ends at once, costing nothing, shown nowhere."""
        with contextlib.suppress(IllegalTransition):
            await self.line.end(job, Event.DROP, error=reason)
        await self._start_waiting()

    # ---- cancel

    async def cancel(self, job_id: str) -> Cancelled:
        """Cancel a job, whichever process works it: a waiting one leaves the line here and now; one this process
        works stops before anything more is sent to fal; one another process works is marked (that process sends
        nothing more) and its fal request, if any, cancelled from here."""
        job = self.jobs.get(job_id) or await self.store.get(job_id)
        if job is None or job.ended:
            return Cancelled.FINISHED
        if job.status is Status.WAITING:
            with i18n.using(job.locale):  # stored as the job's requester reads it, whoever cancels
                error = str(_("Cancelled before it started; nothing was sent to fal or charged."))
            try:
                await self.line.end(
                    job,
                    Event.CANCEL,
                    error=error,
                    owner=self.owner,  # this process shows the outcome
                )
            except IllegalTransition:
                return await self.cancel(job_id)  # it left the line meanwhile
            await self._start_waiting()
            return Cancelled.WAITING
        job.cancel_requested = True  # a task of this process stops itself before anything (more) is sent to fal
        if not await self.store.request_cancel(job_id):
            return Cancelled.FINISHED
        sub = job.following()
        if sub is None:
            return Cancelled.BEFORE_FAL
        try:
            answer = await self.queue.cancel(sub)
        except FalError as exc:
            log.warning("job %s: fal did not take the cancel: %s", job_id, exc)
            return Cancelled.UNREACHABLE
        log.info("job %s: cancel of request %s answered %s", job_id, sub.request_id, answer.value)
        if answer is CancelAnswer.ALREADY_COMPLETED:
            return Cancelled.TOO_LATE
        return Cancelled.REQUESTED if job.ran_on_fal or job.status is Status.RUNNING else Cancelled.QUEUED

    # ---- estimates

    async def eta(self, job: Job) -> float | None:
        model = job.spec.main_model.endpoint_id
        cached = self._etas.get(model)
        if cached is None or time.monotonic() - cached[0] > ETA_TTL:
            durations = await self.store.durations(model, ETA_SAMPLE)
            cached = self._etas[model] = (time.monotonic(), statistics.median(durations) if durations else None)
        return None if cached[1] is None else job.created_at + cached[1]

    # ---- claims

    async def _claim(self, *, everyone_else: bool = False) -> list[Job]:
        """Claim what no live process works and carry on with it; returns the claimed jobs."""
        if not self.works_jobs:
            return []
        dead, working = await self.presence.look(everyone_else=everyone_else)
        self.acks.share = max(1, working)
        claimed = await self.store.claim(self.owner, dead=dead, limit=CLAIM_LIMIT)
        if dead and len(claimed) < CLAIM_LIMIT:
            await self.store.forget(dead)  # all their jobs are claimed now
        for job in claimed:
            if job.id in self.jobs:
                continue
            log.info(
                "carrying on with job %s (%s)%s", job.id, job.status.value, " of a stopped process" if dead else ""
            )
            if job.status is Status.DELIVERING:
                continue
            self.jobs[job.id] = job
            self._start_task(job)
        delivering = [j for j in claimed if j.status is Status.DELIVERING]
        if delivering and self.on_claim is not None:
            await self.on_claim(delivering)
        return claimed

    async def _claim_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.presence.look_every):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._claim()
                await self._start_waiting()  # a process that freed a slot may have stopped before starting the next
            except Exception:
                log.exception("claiming jobs failed; trying again shortly")

    # ---- running a job

    def live(self, job_id: str) -> Job | None:
        """The job as it stands now, if this process works it (fresher than the store)."""
        return self.jobs.get(job_id)

    def _start_task(self, job: Job) -> None:
        self.jobs[job.id] = job
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self.tasks[job.id] = task

        def done(_: asyncio.Task[None]) -> None:
            self.tasks.pop(job.id, None)
            self.jobs.pop(job.id, None)

        task.add_done_callback(done)

    async def _run(self, job: Job) -> None:
        i18n.use(job.locale)  # what this job's task records for people (refusals, errors) is in the requester's words
        try:
            await self._work(job)
        except JobCancelled:
            await self._end(job, Event.CANCEL, self._cancel_text(job))
        except BadInput as exc:
            refused = None if job.sent_to_fal else exc.field
            await self._end(job, Event.FAIL, f"`{exc.field}`: {exc}", refused_input=refused)
        except SubmissionUnknown as exc:
            log.warning("job %s: %s", job.id, exc.english)
            said = str(exc)
            cause = said[:1].upper() + said[1:]
            # Translators: {cause} is a sentence's start, e.g. "The connection to fal broke while the job was being sent"
            unknown = _(
                "{cause}, so fal may or may not have it. It was not sent again, so it "
                "cannot run twice; Retry sends it again (if fal did get the first one, "
                "that one may be billed too).",
                cause=cause,
            )
            await self._end(job, Event.FAIL, str(unknown))
        except FalError as exc:
            log.warning("job %s failed: %s (detail: %r)", job.id, exc.english, exc.detail)
            if voices.tts_failed_for_voice(job.spec, job.steps, exc):  # MiniMax deleted the member's clone
                job.steps[SPEECH].ran = False  # a TTS refused for its voice speaks nothing and bills nothing
                await self._voice_gone(job)
                gone = _(
                    "{gone}. Nothing was charged: the video was never sent.",
                    gone=voices.gone_text(job.spec.voice_name or ""),
                )
                await self._end(job, Event.FAIL, str(gone))
            else:
                await self._end(job, Event.FAIL, str(exc))
        except (IllegalTransition, StaleJob) as exc:
            log.warning("job %s: another process moved it (%s); this one lets it go", job.id, exc)
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            unexpected = _(
                "Something went wrong on our side. The details are in the bot's log under job {id}.", id=job.id
            )
            await self._end(job, Event.FAIL, str(unexpected))

    def _cancel_text(self, job: Job) -> str:
        """What a cancel did, in the locale of the moment (the job's task: the requester's)."""
        if job.ran_on_fal:
            cost = _("unknown") if job.cost_estimate is None else Money(job.cost_estimate)
            return str(
                _(
                    "Cancelled on fal. It had already started there, so fal may bill the time it ran "
                    "(about {cost} at most).",
                    cost=cost,
                )
            )
        if job.request_id:
            return str(_("Cancelled while it waited in fal's queue; fal does not bill queued jobs."))
        return str(_("Cancelled before anything was sent to fal; nothing was charged."))

    async def _work(self, job: Job) -> None:
        if job.status is Status.SENDING:
            raise SubmissionUnknown(_("the bot stopped while it was sending the job to fal"))
        if not job.sent_to_fal:
            await self.acks.turn()  # nothing on fal yet: let the commands arriving now be acknowledged first
        if not job.inputs_ready:
            await self._host(job)
        if job.cancel_requested and not job.sent_to_fal:
            raise JobCancelled("cancelled before it was sent to fal")
        eta = await self.eta(job)
        self.events.publish(Progressed(job, eta=eta))
        job.result = await pipeline.run(
            self.queue,
            job.spec,
            steps=job.steps,
            hooks=_Recorder(self, job, eta),
            started_at=job.created_at,
            cancel_wanted=lambda: job.cancel_requested,
            follow_backoff=self.follow_backoff,
        )
        speech = job.steps[SPEECH].output if SPEECH in job.steps else None
        if speech and isinstance(speech.get("duration_ms"), (int, float)):
            job.spec = dataclasses.replace(job.spec, audio_seconds=speech["duration_ms"] / 1000)
            await self.line.reprice(job, cost.estimate(job.spec))
        if job.status is not Status.FETCHING:  # every step's output was inherited: nothing was followed
            await self.store.transition(job, Event.COMPLETE, steps=job.steps)
        if job.command is Command.VOICE_CLONE:  # the member's new voice, kept before the outcome is shown
            await self._keep_voice(job)
        note = " " + str(_("It finished on fal before the cancel reached it.")) if job.cancel_requested else None
        await self._end(job, Event.SUCCEED, note)

    async def _host(self, job: Job) -> None:
        """Check the inputs and host them where fal can read them (nothing is paid for before this passes)."""
        if job.sources:
            job.uploading = self.hosting.fetches
            if job.uploading:
                self.events.publish(Progressed(job))
            digests: list[audit.InputDigest] = []
            try:
                job.spec = await inputs.host(
                    job.spec, job.sources, queue=self.queue, session=self.session, hosting=self.hosting, digests=digests
                )
            finally:
                job.uploading = False
                await audit.hosted(self.store, job, digests)  # a refused input's digest too
        job.inputs_ready = True
        await self.store.save(job, "spec", "inputs_ready")
        await self.line.reprice(job, cost.estimate(job.spec))

    async def _end(self, job: Job, event: Event, error: str | None, **changes: Any) -> None:
        """Decide the outcome and record it, freeing the job's slot in the same transaction (the delivery worker
        shows it once it is stored), then start the next jobs in line."""
        job.position = None
        await self._voice_used(job)
        try:
            await self.line.end(
                job,
                event,
                error=error,
                result=job.result,
                steps=job.steps,
                spec=job.spec,
                cost_estimate=job.cost_estimate,
                **changes,
            )
        except IllegalTransition as exc:
            log.warning("job %s: its outcome was decided elsewhere (%s)", job.id, exc)
        else:
            spent, total = await self.line.spent_today(job.guild_id)
            log.info(
                "job %s %s; committed spend today: server %s, bot %s",
                job.id,
                (job.ending or job.status).value,
                _money(spent),
                _money(total),
            )
        await self._start_waiting()

    # ---- members' own voices (bot/jobs/voices.py)

    async def _keep_voice(self, job: Job) -> None:
        """A clone succeeded: the voice is the member's, under the name they gave it (again after a restart: the same
        row)."""
        voice_id = payloads.custom_voice_id(job.result or {})
        name = job.spec.voice_name or voice_id
        await self.store.save_voice(voices.Voice(job.user_id, name, voice_id, job.id, time.time()))
        log.info("job %s: voice cloned for user %s", job.id, job.user_id)

    async def _voice_used(self, job: Job) -> None:
        """A TTS spoke with the member's own voice (whatever became of the video): MiniMax keeps it now."""
        speech = job.steps.get(SPEECH)
        if not voices.speaks_with_own_voice(job.spec) or speech is None or speech.output is None:
            return
        try:
            await self.store.voice_used(job.user_id, job.spec.voice or "", time.time())
        except Exception as exc:  # a note for /voice list; the job goes on without it
            log.warning("job %s: could not note that the voice was used: %r", job.id, exc)

    async def _voice_gone(self, job: Job) -> None:
        try:
            await self.store.voice_gone(job.user_id, job.spec.voice or "", time.time())
        except Exception as exc:
            log.warning("job %s: could not mark the voice as gone: %r", job.id, exc)

    async def _start_waiting(self) -> None:
        for job in await self.line.start_next():
            log.info("job %s leaves the line", job.id)
            if job.owner == self.owner:
                self._start_task(job)
            else:
                self._nudge()

    # ---- the line's places (one process shows them: the one that leads "places")

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                if await self.store.lead("places"):
                    await self._show_places()
            except Exception:
                log.exception("the line watcher failed; it keeps going")

    async def _show_places(self) -> None:
        places = await self.line.places()
        moved = {job_id: place for job_id, place in places.items() if self._shown_places.get(job_id) != place}
        for job in await self.store.jobs(list(moved)):
            if job.status is Status.WAITING:
                self._shown_places[job.id] = moved[job.id]
                self.events.publish(Progressed(job, place=moved[job.id]))
        for gone in set(self._shown_places) - set(places):
            del self._shown_places[gone]


class _Recorder(pipeline.Hooks):
    """The pipeline's moments, recorded as the job's transitions (each one durable before the pipeline goes on)."""

    def __init__(self, runner: JobRunner, job: Job, eta: float | None) -> None:
        self.runner, self.store, self.job, self.eta = runner, runner.store, job, eta

    async def sending(self, step: str) -> None:
        try:
            await self.store.transition(self.job, Event.SEND, step=step, steps=self.job.steps)
        except IllegalTransition:
            if self.job.cancel_requested:  # asked from another process: the guard kept it from being sent
                raise JobCancelled("cancelled before it was sent to fal") from None
            raise

    async def accepted(self, step: str) -> None:
        sent = audit.sent_in(self.store, self.job)
        await self.store.transition(self.job, Event.ACCEPT, then=sent, line=False, steps=self.job.steps)

    async def following(self, step: str) -> None:
        if self.job.status is Status.STARTING:  # a Retry following the earlier job's request
            sent = audit.sent_in(self.store, self.job)
            await self.store.transition(self.job, Event.FOLLOW, then=sent, line=False, step=step, steps=self.job.steps)

    async def running(self, step: str) -> None:
        if self.job.status is Status.QUEUED:  # from here on fal may bill it, even if it is cancelled
            await self.store.transition(self.job, Event.RUN, steps=self.job.steps)

    async def completed(self, step: str) -> None:
        if self.job.status is not Status.FETCHING:
            await self.store.transition(self.job, Event.COMPLETE, steps=self.job.steps)

    async def progress(self, event: Progress) -> None:
        job = self.job
        position = event.position if event.phase is Status.QUEUED else None
        if (position, event.log) == (job.position, None) or event.phase is Status.FETCHING:
            return
        job.position = position
        job.log = event.log or job.log
        self.runner.events.publish(Progressed(job, eta=self.eta))


def _money(usd: float | None) -> str:
    return "unknown" if usd is None else f"${usd:.2f}"
