"""Showing each decided outcome once: the delivery worker reacts to a job entering DELIVERING.

The front end (Discord) supplies a Presenter; this worker retries it while it fails for a while (a 5xx, a
timeout), records DELIVER once it succeeds or is refused for good, and at start picks up every job whose outcome
was decided but not yet shown. The store refuses a second DELIVER, so an outcome is recorded as shown once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot import i18n, metrics
from bot.jobs.events import Changed, Notice
from bot.jobs.lifecycle import Event, IllegalTransition, Status
from bot.jobs.model import Job
from bot.store.base import JobStore

log = logging.getLogger(__name__)

TRIES = 8  # then the outcome waits for the next start (1 + 2 + … + 60 s ≈ 3 minutes of trying)
LONGEST_PAUSE = 60.0
GRACE = 10.0  # seconds a clean stop waits for outcomes being shown


class DeliveryRefused(Exception):
    """The front end refused the outcome for good (the channel, message or DM is gone or forbidden)."""


class Presenter(Protocol):
    async def finish(self, job: Job) -> None:
        """Show the job's outcome; safe to repeat. Raises DeliveryRefused when it can never be shown."""


class Deliveries:
    """Shows the outcomes of the jobs this process works (`owner`: its presence id)."""

    def __init__(self, store: JobStore, presenter: Presenter, owner: str, *, tries: int = TRIES) -> None:
        self.store, self.presenter, self.owner, self.tries = store, presenter, owner, tries
        self._tasks: dict[str, asyncio.Task[None]] = {}
        store.events.subscribe(self._on_notice)

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, Changed) and notice.job.status is Status.DELIVERING and notice.job.owner == self.owner:
            self._spawn(notice.job)

    async def start_up(self, claimed: list[Job]) -> None:
        """Show the outcomes this process claimed: decided before a stop (its own, or another process's) but not shown."""
        for job in claimed:
            if job.status is Status.DELIVERING and job.owner == self.owner:
                self._spawn(job)

    async def close(self, grace: float = GRACE) -> None:
        """Stop; an outcome being shown is let finish first (for up to `grace`), so the next process does not show
        it again."""
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.store.events.unsubscribe(self._on_notice)

    def _spawn(self, job: Job) -> None:
        if job.id in self._tasks:
            return
        task = asyncio.create_task(self._deliver(job), name=f"deliver-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _deliver(self, job: Job) -> None:
        pause, refused = 1.0, None
        for attempt in range(self.tries):
            try:
                await self.presenter.finish(job)
                metrics.DELIVERIES.labels("shown").inc()
                break
            except DeliveryRefused as exc:
                log.warning("job %s: Discord refused its outcome for good (%s); /jobs list still shows it", job.id, exc)
                metrics.DELIVERIES.labels("refused").inc()
                with i18n.using(job.locale):  # kept for /jobs show: in the requester's words, like job.error
                    refused = str(exc)
                break
            except Exception as exc:  # a 5xx, a timeout, a broken connection: Discord may answer later
                metrics.DELIVERIES.labels("failed, retried").inc()
                if attempt + 1 == self.tries:
                    log.warning(
                        "job %s: delivery failed %d times (%s); trying again at the next start", job.id, self.tries, exc
                    )
                    return
                log.info("job %s: delivery failed (%r); retrying in %.0f s", job.id, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
        try:
            await self.store.transition(job, Event.DELIVER, delivery_error=refused)
        except IllegalTransition as exc:
            log.error("job %s: its outcome was shown twice: %s", job.id, exc)
