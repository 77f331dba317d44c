"""Every status a job can be in, and the only ways it moves from one to the next.

A job is admitted into WAITING or STARTING and ends in DONE, FAILED or CANCELLED once its outcome has been
shown. Each move is an Event with the statuses it may start from and the one it leads to; the store applies
it as one guarded statement (`UPDATE … WHERE status IN (sources)`) and refuses it otherwise, so a second
delivery of a delivered job, or a cancelled job starting, fails loudly instead of happening.

    WAITING ─START─▶ STARTING ─SEND─▶ SENDING ─ACCEPT─▶ QUEUED ─RUN─▶ RUNNING ─COMPLETE─▶ FETCHING
                        │  ◀──────────── SEND (the next step, or an inherited request sent afresh) ──┘
                        └─FOLLOW─▶ QUEUED (a Retry follows the earlier job's request)
    any live status ─SUCCEED/FAIL/CANCEL─▶ DELIVERING ─DELIVER─▶ DONE | FAILED | CANCELLED (the outcome)
    WAITING, STARTING ─DROP─▶ FAILED (the command could not be acknowledged: there is nothing to show)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"  # admitted; waits in the line for a free slot; nothing sent to fal
    STARTING = "starting"  # holds a slot; its inputs are checked and hosted; nothing sent to fal yet
    SENDING = "sending"  # a submit is on its way: after a crash, fal may or may not have the step
    QUEUED = "queued"  # fal has the current step's request in its queue, where nothing is billed
    RUNNING = "running"  # a runner on fal has the current step: fal may bill it from now on
    FETCHING = "fetching"  # fal finished the last step; its result is being fetched
    DELIVERING = "delivering"  # the outcome is decided (see Job.outcome) and is being shown
    DONE = "done"  # the video was shown
    FAILED = "failed"  # the failure was shown, or there was nothing to show it on
    CANCELLED = "cancelled"  # the cancel was shown

    @property
    def ended(self) -> bool:
        """The outcome is decided: the job holds no slot and sends nothing more to fal."""
        return self in ENDED

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def on_fal(self) -> bool:
        """fal has (or may have) a request of this job that is not finished."""
        return self in (Status.SENDING, Status.QUEUED, Status.RUNNING)


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})
ENDED = TERMINAL | {Status.DELIVERING}
INITIAL = frozenset({Status.WAITING, Status.STARTING})  # what admission records a new job as
LIVE = frozenset(Status) - ENDED


class Event(StrEnum):
    START = "start"
    SEND = "send"
    ACCEPT = "accept"
    FOLLOW = "follow"
    RUN = "run"
    COMPLETE = "complete"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"
    DELIVER = "deliver"
    DROP = "drop"


OUTCOME = "outcome"  # DELIVER leads to the status the job's outcome names


@dataclass(frozen=True)
class Transition:
    sources: frozenset[Status]
    target: Status | str  # a Status, or OUTCOME
    trigger: str
    outcome: Status | None = None  # what SUCCEED, FAIL and CANCEL decide

    def allows(self, status: Status) -> bool:
        return status in self.sources


_S = Status
TRANSITIONS: dict[Event, Transition] = {
    Event.START: Transition(frozenset({_S.WAITING}), _S.STARTING, "a slot is free and the job is next in line"),
    Event.SEND: Transition(
        frozenset({_S.STARTING, _S.QUEUED, _S.RUNNING}),
        _S.SENDING,
        "a step's submit is about to leave: the first step, the next one after a finished step, or an inherited "
        "request that fal lost, sent afresh",
    ),
    Event.ACCEPT: Transition(frozenset({_S.SENDING}), _S.QUEUED, "fal answered the submit with a request id"),
    Event.FOLLOW: Transition(
        frozenset({_S.STARTING}), _S.QUEUED, "a Retry follows the earlier job's request instead of paying again"
    ),
    Event.RUN: Transition(frozenset({_S.QUEUED}), _S.RUNNING, "fal reports that a runner has the request"),
    Event.COMPLETE: Transition(
        frozenset({_S.STARTING, _S.QUEUED, _S.RUNNING}),
        _S.FETCHING,
        "fal finished the last step (or a Retry inherited its output)",
    ),
    Event.SUCCEED: Transition(
        frozenset({_S.FETCHING}), _S.DELIVERING, "the result with its video is in hand", outcome=_S.DONE
    ),
    Event.FAIL: Transition(
        frozenset({_S.STARTING, _S.SENDING, _S.QUEUED, _S.RUNNING, _S.FETCHING}),
        _S.DELIVERING,
        "an input was refused, fal failed the job, or a submit's fate is unknown",
        outcome=_S.FAILED,
    ),
    Event.CANCEL: Transition(
        frozenset({_S.WAITING, _S.STARTING, _S.QUEUED, _S.RUNNING, _S.FETCHING}),
        _S.DELIVERING,
        "the requester or a manager cancelled it: a waiting or starting job at once; one on fal once fal says so "
        "(fal ends a cancelled request as COMPLETED, and its result is the cancellation)",
        outcome=_S.CANCELLED,
    ),
    Event.DELIVER: Transition(
        frozenset({_S.DELIVERING}), OUTCOME, "the outcome was shown, or Discord refused it for good"
    ),
    Event.DROP: Transition(
        frozenset({_S.WAITING, _S.STARTING}), _S.FAILED, "the command could not be acknowledged: nothing to show"
    ),
}


class IllegalTransition(Exception):
    """A job was asked to move in a way the lifecycle does not allow (or another writer moved it first)."""

    def __init__(self, job_id: str, event: Event, status: Status | None) -> None:
        where = "it is not in the store" if status is None else f"it is {status.value}"
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[event].sources))
        super().__init__(f"job {job_id}: {event.value} is not allowed: {where} (allowed from: {allowed})")
        self.job_id, self.event, self.status = job_id, event, status
