"""A job as the store keeps it: what was asked, where it stands in its lifecycle, and what each step did on fal.

The Discord addressing of a job (its message, the interaction token, where the bot may still reach the
requester) is a separate record, `Address`, in a table of its own: the core never reads it.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bot.fal.queue import Submission
from bot.jobs.lifecycle import OUTCOME, TRANSITIONS, Event, IllegalTransition, Status
from bot.jobs.spec import SPEECH, VIDEO, Command, JobSpec, Source

JOB_ID = re.compile(r"[0-9a-f]{8}")  # what new_job_id makes


def new_job_id() -> str:
    return secrets.token_hex(4)


@dataclass
class StepRecord:
    """One step of the pipeline on fal (speech, then video): its request and what came of it."""

    submission: Submission | None = None
    output: dict[str, Any] | None = None
    ran: bool = False  # a runner on fal had it: fal may bill it, even if it is cancelled
    failed: bool = False  # fal ended it without a result
    inherited: bool = False  # taken over from an earlier job (Retry): sent afresh if fal lost it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.submission is not None:
            data["submission"] = self.submission.to_dict()
        if self.output is not None:
            data["output"] = self.output
        data.update({name: True for name in ("ran", "failed", "inherited") if getattr(self, name)})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        sub = data.get("submission")
        return cls(
            submission=Submission.from_dict(sub) if sub else None,
            output=data.get("output"),
            ran=bool(data.get("ran")),
            failed=bool(data.get("failed")),
            inherited=bool(data.get("inherited")),
        )

    @property
    def following(self) -> bool:
        """Submitted and not finished: fal has a request of it to follow (or cancel)."""
        return self.submission is not None and self.output is None and not self.failed


@dataclass
class Job:
    id: str
    spec: JobSpec
    user_id: int
    guild_id: int | None = None  # the server whose settings and limits apply; None outside configured servers
    sources: dict[str, Source] = field(default_factory=dict)  # input name -> where it comes from
    status: Status = Status.STARTING
    outcome: Status | None = None  # DONE, FAILED or CANCELLED, decided on entering DELIVERING
    step: str | None = None  # the step being sent or followed (SPEECH or VIDEO)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    inputs_ready: bool = False  # the spec's inputs are URLs fal can read (hosted and checked)
    error: str | None = None  # why it failed or was cancelled, or a note on a finished job
    refused_input: str | None = None  # the option whose input was refused before anything reached fal
    result: dict[str, Any] | None = None
    cost_estimate: float | None = None
    seq: int | None = None  # place in the order of admission
    turn: float | None = None  # the waiting line's order: see bot/jobs/line.py
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None  # when the outcome was decided
    delivered_at: float | None = None  # when it reached a terminal status
    delivery_error: str | None = None  # why the outcome could not be shown, when it could not
    cancel_requested: bool = False
    owner: str | None = None  # the process working it; None while it waits in the line or until a process claims it
    counted_day: float | None = None  # the UTC day its quota and spend count against (see bot/jobs/line.py)
    counted_price: float = 0.0  # what it is counted at in that day's spend
    locale: str | None = None  # the requester's Discord locale: its messages are shown in it (bot.i18n)
    # Shown, not stored: fal repeats them on every status update.
    position: int | None = field(default=None, compare=False)
    log: str | None = field(default=None, compare=False)
    uploading: bool = field(default=False, compare=False)  # its attachments are being checked and hosted

    @property
    def command(self) -> Command:
        return self.spec.command

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def ending(self) -> Status | None:
        """The outcome once decided: DONE, FAILED or CANCELLED."""
        return self.status if self.status.terminal else self.outcome

    @property
    def ran_on_fal(self) -> bool:
        return any(step.ran for step in self.steps.values())

    @property
    def video_url(self) -> str | None:
        video = (self.result or {}).get("video")
        return video.get("url") if isinstance(video, dict) else None

    @property
    def request_id(self) -> str | None:
        for name in (VIDEO, SPEECH):
            step = self.steps.get(name)
            if step is not None and step.submission is not None:
                return step.submission.request_id
        return None

    @property
    def sent_to_fal(self) -> bool:
        return any(step.submission is not None for step in self.steps.values())

    def following(self) -> Submission | None:
        """The fal request the job is following now (submitted, no output yet)."""
        for name in (SPEECH, VIDEO):
            step = self.steps.get(name)
            if step is not None and step.following:
                return step.submission
        return None

    def apply(self, event: Event, **changes: Any) -> Status:
        """Move this in-memory job as `event` does (raises IllegalTransition) and set `changes`; returns the status it
        came from. The store calls this and writes the same move as one guarded statement."""
        move = TRANSITIONS[event]
        if not move.allows(self.status):
            raise IllegalTransition(self.id, event, self.status)
        before = self.status
        for name, value in changes.items():
            if name in ("status", "outcome") or not hasattr(self, name):
                raise ValueError(f"a transition cannot set {name!r}")
            setattr(self, name, value)
        if move.outcome is not None:
            self.outcome = move.outcome
            self.finished_at = self.finished_at or time.time()
        if move.target == OUTCOME:
            assert self.outcome is not None, "DELIVERING always has an outcome"
            self.status = self.outcome
        else:
            assert isinstance(move.target, Status)
            self.status = move.target
        if self.status.terminal:
            self.delivered_at = self.delivered_at or time.time()
            self.finished_at = self.finished_at or self.delivered_at
        return before

    def inherited_steps(self) -> dict[str, StepRecord]:
        """What a Retry of this failed or cancelled job takes over: finished steps' outputs, and fal requests that may
        still finish (followed instead of paid for again; sent afresh if fal says they failed)."""
        taken = {}
        for name, step in self.steps.items():
            if step.output is not None:
                taken[name] = StepRecord(step.submission, step.output, ran=step.ran)
            elif step.submission is not None and not step.failed:
                taken[name] = StepRecord(step.submission, inherited=True)
        return taken


CHANNEL, DM = "channel", "dm"


@dataclass
class Address:
    """Where a job is shown on Discord, and how the bot can still reach the requester."""

    job_id: str
    channel_id: int  # where the command was used
    application_id: int | None = None
    interaction_token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None
    message_id: int | None = None  # the job's own message (the command's reply)
    message_channel_id: int | None = None
    attachment_limit: int | None = None  # bytes a file may have on this interaction's messages
    reach: str = CHANNEL  # after the interaction token: CHANNEL (the bot may write there) or DM (only the DMs)
    private: bool = False  # only the requester sees the job's message
    moved_to_channel: bool = False  # the interaction token is no longer used; the bot token is
    result_channel_id: int | None = None  # where the video went, when not on the job's own message
    result_message_id: int | None = None
    guild_locale: str | None = None  # the server's preferred locale: posts everyone sees in its channels use it
