"""The watchdog: a listener that logs a job staying in one status much longer than that status should last."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bot.jobs.events import JobEvents, Notice
from bot.jobs.lifecycle import Status

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0
EXPECTED_SECONDS = {
    Status.STARTING: 600,
    Status.SENDING: 300,
    Status.QUEUED: 3600,
    Status.RUNNING: 3600,
    Status.FETCHING: 600,
    Status.DELIVERING: 120,
}  # WAITING is not watched: a long line is not a fault


@dataclass
class _Watch:
    status: Status
    since: float
    warned: bool = False


class Watchdog:
    def __init__(self, events: JobEvents) -> None:
        self._watch: dict[str, _Watch] = {}
        self._task: asyncio.Task[None] | None = None
        events.subscribe(self.observe)

    def observe(self, notice: Notice) -> None:
        job = notice.job
        if job.status not in EXPECTED_SECONDS:
            self._watch.pop(job.id, None)
            return
        watch = self._watch.get(job.id)
        if watch is None or watch.status is not job.status:
            self._watch[job.id] = _Watch(job.status, time.monotonic())

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="watchdog")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            self.check()

    def check(self, now: float | None = None) -> list[str]:
        """Log each job that stays in one status longer than expected (once per status); returns their ids."""
        now = time.monotonic() if now is None else now
        stuck = []
        for job_id, watch in self._watch.items():
            limit = EXPECTED_SECONDS[watch.status]
            if not watch.warned and now - watch.since > limit:
                watch.warned = True
                log.warning(
                    "watchdog: job %s has been %s for %.0f s (expected under %.0f s)",
                    job_id,
                    watch.status.value,
                    now - watch.since,
                    limit,
                )
                stuck.append(job_id)
        return stuck
