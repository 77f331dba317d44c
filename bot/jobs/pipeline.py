"""Pipelines: [speech from text] → the video model, run (or resumed) step by step on fal.

The steps' records (typed, bot.jobs.model.StepRecord) are the caller's: the pipeline fills them in and tells
the caller what happened through `Hooks` — a step is about to be sent, fal took it, a runner has it, the last
one finished — so the caller can record each moment durably (the bot, as lifecycle transitions in its store)
or just print it (the CLI). The pipeline itself never writes a status. A job resumed from its records in
another process submits no step twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import BadInput
from bot.fal import payloads
from bot.fal.catalog import Model
from bot.fal.errors import FalError, FalUnavailable, JobCancelled, JobFailed, SubmissionUnknown
from bot.fal.queue import IN_QUEUE, FalQueue
from bot.i18n import Number, _
from bot.jobs import cost
from bot.jobs.lifecycle import Status
from bot.jobs.model import StepRecord
from bot.jobs.spec import SAMPLE, SPEECH, VIDEO, Command, JobSpec

log = logging.getLogger(__name__)

FOLLOW_FOR = 24 * 3600.0  # how long to keep following a submitted request that fal does not answer about
FOLLOW_BACKOFF = (2.0, 300.0)  # first and longest pause between attempts to follow it


@dataclass(frozen=True)
class Progress:
    """Where a step stands on fal, for people: its phase (SENDING, QUEUED, RUNNING, FETCHING), fal's queue position
    and the latest log line."""

    step: str
    endpoint_id: str
    phase: Status
    position: int | None = None
    log: str | None = None
    elapsed: float = 0.0


class Hooks:
    """What the pipeline tells its caller. These do nothing; the bot's runner records each as a transition."""

    async def sending(self, step: str) -> None:
        """A step's submit is about to leave: after a crash from here on, fal may or may not have it."""

    async def accepted(self, step: str) -> None:
        """fal answered the submit; the step's record has its submission."""

    async def following(self, step: str) -> None:
        """A step submitted earlier (by a previous run, or the job a Retry inherits from) is being followed."""

    async def running(self, step: str) -> None:
        """fal reports that a runner has the step (the record's `ran` is set): fal may bill it from now on."""

    async def completed(self, step: str) -> None:
        """fal finished the last step; its result is being fetched."""

    async def progress(self, event: Progress) -> None:
        """Fal's queue position or a log line changed."""


StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class Step:
    name: str
    model: Model


def plan(spec: JobSpec) -> list[Step]:
    steps = []
    if spec.speech_model is not None:
        steps.append(Step(SPEECH, spec.speech_model))
    steps.append(Step(VIDEO, spec.main_model))
    return steps


# A pace no TTS voice reaches at its normal speed (fast English speech is 15-18 characters a second):
# a text that would outlast the video model's limit even at this pace is refused before TTS is paid
# for. Texts under it are spoken, and the real length of the speech is checked again after TTS.
FASTEST_SPOKEN_CHARS_PER_SECOND = 25.0


def check_audio_length(spec: JobSpec, seconds: float | None) -> None:
    """The speech's length against the video model's limit, before anything is spent on it (raises BadInput).

    `seconds` is the real length when it is known: audio measured by bot.media, a length Discord
    declares, or the duration of the TTS output. Before TTS, the text's shortest possible speaking
    time is checked instead.
    """
    model = spec.main_model
    limit = model.audio_limit(payloads.resolve_resolution(model, spec.resolution))
    least = model.min_audio_seconds  # a voice sample: too short to clone from
    if seconds is not None and least is not None and seconds < least:
        raise BadInput(
            _audio_option(spec),
            _(
                "the audio lasts {seconds} s; {model} needs at least {least} s of speech",
                seconds=Number(seconds, 1),
                model=model.name,
                least=Number(least, 0),
            ),
        )
    if limit is None:
        return
    from_text = bool((spec.text or "").strip()) and not spec.audio_url
    if seconds is None and from_text:
        least = cost.spoken_seconds(spec.text or "", FASTEST_SPOKEN_CHARS_PER_SECOND)
        if least > limit:
            raise BadInput(
                "text",
                _(
                    "the text is {length} characters long and takes at least {least} s to speak; {model} accepts "
                    "at most {most} s of speech — shorten it",
                    length=Number(len(spec.text or "")),
                    least=Number(least, 0),
                    model=model.name,
                    most=Number(limit, 0),
                ),
            )
        return
    if seconds is not None and seconds > limit:
        values = {"seconds": Number(seconds, 1), "model": model.name, "most": Number(limit, 0)}
        raise BadInput(
            "text" if from_text else _audio_option(spec),
            _("the spoken text lasts {seconds} s; {model} accepts at most {most} s — shorten the text", **values)
            if from_text
            else _("the audio lasts {seconds} s; {model} accepts at most {most} s — use a shorter clip", **values),
        )


def _audio_option(spec: JobSpec) -> str:
    """The option a job's audio came in: `sample` for a voice to clone, else `audio`."""
    return SAMPLE if spec.command is Command.VOICE_CLONE else "audio"


def check_video_length(spec: JobSpec, seconds: float | None) -> None:
    """The video input's true length against the model's limit for it, before anything is spent (raises BadInput).
    An unknown length passes here: it is measured when the bot hosts the inputs, and fal refuses what it cannot
    take without charging."""
    model = spec.main_model
    if seconds is None or model.max_video_seconds is None or seconds <= model.max_video_seconds:
        return
    raise BadInput(
        "video",
        _(
            "the video lasts {seconds} s; {model} accepts at most {most} s — use a shorter clip",
            seconds=Number(seconds, 1),
            model=model.name,
            most=Number(model.max_video_seconds, 0),
        ),
    )


def _payload(spec: JobSpec, step: Step, *, audio_url: str | None) -> dict[str, Any]:
    if step.name == SPEECH:
        return payloads.tts_payload(step.model, spec.text or "", spec.voice)
    if spec.command is Command.TALKINGHEAD:
        return payloads.talking_head_payload(
            step.model, spec.image_url or "", audio_url or "", spec.resolution, prompt=spec.prompt
        )
    if spec.command is Command.LIPSYNC:
        return payloads.lipsync_payload(
            step.model, spec.video_url or "", audio_url or "", spec.sync_mode, emotion=spec.emotion
        )
    if spec.command is Command.DUB:
        return payloads.dub_payload(step.model, spec.video_url or "", spec.language or "")
    if spec.command is Command.VOICE_CLONE:
        return payloads.voice_clone_payload(step.model, audio_url or "")
    return payloads.animate_payload(step.model, spec.image_url or "", spec.video_url or "")


async def run(
    queue: FalQueue,
    spec: JobSpec,
    *,
    steps: dict[str, StepRecord] | None = None,
    hooks: Hooks | None = None,
    started_at: float | None = None,
    submit_only: bool = False,
    cancel_wanted: StopCheck | None = None,
    follow_for: float = FOLLOW_FOR,
    follow_backoff: tuple[float, float] = FOLLOW_BACKOFF,
) -> dict[str, Any]:
    """Run (or resume, given the steps' records) the job; returns the video model's result.

    A submitted step is followed until fal answers, through outages of up to `follow_for` seconds: fal keeps the
    request, and paying for it again is never the fix. A step inherited from an earlier job (Retry) is submitted
    afresh if fal says that request failed. When `cancel_wanted()` turns true, nothing more is submitted and a
    request sent meanwhile is cancelled. With submit_only the last step is submitted but not followed; the result
    is then {}.
    """
    steps = steps if steps is not None else {}
    hooks = hooks or Hooks()
    started = started_at or time.time()
    audio_url = spec.audio_url
    planned = plan(spec)
    first = steps.get(planned[0].name)
    if first is None or first.submission is None:
        check_audio_length(spec, spec.audio_seconds)  # nothing paid for yet: a text that cannot fit stops here
    for index, step in enumerate(planned):
        last = index == len(planned) - 1
        record = steps.setdefault(step.name, StepRecord())
        while record.output is None:
            if record.submission is None:
                if cancel_wanted is not None and cancel_wanted():
                    raise JobCancelled("cancelled before it was sent to fal")
                payload = _payload(spec, step, audio_url=audio_url)
                await hooks.progress(
                    Progress(step.name, step.model.endpoint_id, Status.SENDING, elapsed=_since(started))
                )
                await hooks.sending(step.name)  # durable before the submit: a crash now must not become a second job
                record.submission = await queue.submit(step.model.endpoint_id, payload)
                await hooks.accepted(step.name)
                if cancel_wanted is not None and cancel_wanted():  # asked while the submit was on its way
                    with contextlib.suppress(FalError):
                        await queue.cancel(record.submission)
            else:
                await hooks.following(step.name)
            if submit_only and last:
                return {}
            try:
                record.output = await _follow(queue, record, step, hooks, started, last, follow_for, follow_backoff)
                record.ran = True
            except (FalUnavailable, SubmissionUnknown):
                raise
            except FalError:
                if record.inherited:
                    log.info("inherited request %s ended without a result; submitting afresh", record.submission)
                    record = steps[step.name] = StepRecord()
                    continue
                record.failed = True
                raise
        if step.name == SPEECH:
            audio_url = payloads.output_url(record.output, "audio")
            if isinstance(record.output.get("duration_ms"), (int, float)):
                check_audio_length(spec, record.output["duration_ms"] / 1000)
    result: dict[str, Any] = steps[VIDEO].output or {}
    try:
        if spec.command is Command.VOICE_CLONE:  # a voice, not a video: its id is the result
            payloads.custom_voice_id(result)
        else:
            payloads.output_url(result, "video")
    except ValueError:
        raise JobFailed(
            _("fal finished the job, but its result has no voice id; nothing can be shown")
            if spec.command is Command.VOICE_CLONE
            else _("fal finished the job, but its result has no video file; nothing can be shown")
        ) from None
    return result


def _since(started: float) -> float:
    return time.time() - started


async def _follow(
    queue: FalQueue,
    record: StepRecord,
    step: Step,
    hooks: Hooks,
    started: float,
    last: bool,
    follow_for: float,
    backoff: tuple[float, float],
) -> dict[str, Any]:
    """The output of a submitted step, following it through fal's outages."""
    assert record.submission is not None
    sub = record.submission
    pause, unanswered_since = backoff[0], None
    phase = Status.RUNNING if record.ran else Status.QUEUED
    while True:
        try:
            async for update in queue.updates(sub):
                if update.running and not record.ran:
                    record.ran = True
                    await hooks.running(step.name)
                if update.done:
                    phase = Status.FETCHING
                    if last:
                        await hooks.completed(step.name)
                else:
                    phase = Status.QUEUED if update.state == IN_QUEUE else Status.RUNNING
                for line in update.logs or (None,):
                    await hooks.progress(
                        Progress(step.name, sub.endpoint_id, phase, update.position, line, _since(started))
                    )
            return await queue.result(sub)
        except FalUnavailable as exc:
            now = time.monotonic()
            unanswered_since = unanswered_since or now
            if now - unanswered_since > follow_for:
                raise FalUnavailable(
                    _(
                        "fal has not answered about request {request} for {hours} h; it may still have the result",
                        request=sub.request_id,
                        hours=Number(follow_for / 3600, 0),
                    )
                ) from exc
            log.warning("request %s: %s; following it again in %.0f s", sub.request_id, exc.english, pause)
            # shown as the job's latest news, in the job's locale (its task's)
            note = str(_("fal is not answering right now; still following request {request}", request=sub.request_id))
            await hooks.progress(Progress(step.name, sub.endpoint_id, phase, None, note, _since(started)))
            await asyncio.sleep(pause)
            pause = min(pause * 2, backoff[1])
