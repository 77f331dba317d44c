"""Job events: a status change (announced once the store has it) and progress (shown, never stored).

The producer does not know its consumers: the runner and the store publish; the Discord side, the delivery
worker and the watchdog listen. Listeners are called synchronously in order and must not block; one that has
slow work to do (showing an outcome on Discord) starts a task for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.jobs.lifecycle import Event, Status

if TYPE_CHECKING:
    from bot.jobs.line import Place
    from bot.jobs.model import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changed:
    """`job` moved from `before` by `event`; job.status is where it is now."""

    job: Job
    event: Event
    before: Status


@dataclass(frozen=True)
class Progressed:
    """Something worth showing changed without a change of status: fal's queue position or log line (on the job
    itself), the estimate of when it finishes, or the job's place in the waiting line."""

    job: Job
    eta: float | None = None
    place: Place | None = None


Notice = Changed | Progressed
Listener = Callable[[Notice], None]


class JobEvents:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, notice: Notice) -> None:
        for listener in list(self._listeners):
            try:
                listener(notice)
            except Exception:  # one listener's bug must not stop the others, nor the job
                log.exception("a listener failed on %s of job %s", type(notice).__name__, notice.job.id)
