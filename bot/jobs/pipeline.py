"""Pipelines: [speech from text] → the video model, reporting progress any front end can render.

A pipeline keeps its state (each step's fal submission and output) in a plain dict that the
caller may persist after every change, so a job can be resumed in another process without
submitting any step twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import BadInput
from bot.fal import payloads
from bot.fal.catalog import Model
from bot.fal.errors import FalError, FalUnavailable, JobCancelled, JobFailed, SubmissionUnknown
from bot.fal.queue import IN_QUEUE, FalQueue, Submission
from bot.jobs import cost
from bot.jobs.spec import SPEECH, VIDEO, Command, JobSpec, Stage

log = logging.getLogger(__name__)

SENDING = "sending"  # a step's state while its submit is on the way: fal may or may not have it after a crash
FOLLOW_FOR = 24 * 3600.0  # how long to keep following a submitted request that fal does not answer about
FOLLOW_BACKOFF = (2.0, 300.0)  # first and longest pause between attempts to follow it


@dataclass(frozen=True)
class Progress:
    stage: Stage
    step: str | None = None
    endpoint_id: str | None = None
    position: int | None = None
    log: str | None = None
    elapsed: float = 0.0
    ran: bool = False  # a runner on fal has (had) the step: fal may bill it


ProgressCallback = Callable[[Progress], Awaitable[None] | None]
StateCallback = Callable[[dict[str, Any]], Awaitable[None]]
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
    if limit is None:
        return
    from_text = bool((spec.text or "").strip()) and not spec.audio_url
    if seconds is None and from_text:
        least = cost.spoken_seconds(spec.text or "", FASTEST_SPOKEN_CHARS_PER_SECOND)
        if least > limit:
            raise BadInput(
                "text",
                f"the text is {len(spec.text or '')} characters long and takes at least {least:.0f} s to "
                f"speak; {model.name} accepts at most {limit:.0f} s of speech — shorten it",
            )
        return
    if seconds is not None and seconds > limit:
        source = "the spoken text lasts" if from_text else "the audio lasts"
        raise BadInput(
            "text" if from_text else "audio",
            f"{source} {seconds:.1f} s; {model.name} accepts at most {limit:.0f} s — "
            f"{'shorten the text' if from_text else 'use a shorter clip'}",
        )


def _payload(spec: JobSpec, step: Step, *, audio_url: str | None) -> dict[str, Any]:
    if step.name == SPEECH:
        return payloads.tts_payload(step.model, spec.text or "", spec.voice)
    if spec.command is Command.TALKINGHEAD:
        return payloads.talking_head_payload(step.model, spec.image_url or "", audio_url or "", spec.resolution)
    if spec.command is Command.LIPSYNC:
        return payloads.lipsync_payload(step.model, spec.video_url or "", audio_url or "", spec.sync_mode)
    return payloads.animate_payload(step.model, spec.image_url or "", spec.video_url or "")


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is not None:
        result = callback(*args)
        if result is not None:
            await result


async def run(
    queue: FalQueue,
    spec: JobSpec,
    *,
    state: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    on_state: StateCallback | None = None,
    started_at: float | None = None,
    submit_only: bool = False,
    cancel_wanted: StopCheck | None = None,
    follow_for: float = FOLLOW_FOR,
    follow_backoff: tuple[float, float] = FOLLOW_BACKOFF,
) -> dict[str, Any]:
    """Run (or resume, given `state`) the job; returns the video model's result.

    A submitted step is followed until fal answers, through outages of up to `follow_for` seconds:
    fal keeps the request, and paying for it again is never the fix. A step whose submission was
    inherited from an earlier job (Retry) is submitted afresh if fal says that request failed. When
    `cancel_wanted()` turns true, nothing more is submitted and a request sent meanwhile is cancelled.
    With submit_only the last step is submitted but not followed; the result is then {}.
    """
    state = state if state is not None else {}
    started = started_at or time.time()

    async def report(stage: Stage, step: Step | None = None, **extra: Any) -> None:
        await _call(
            on_progress,
            Progress(
                stage,
                step.name if step else None,
                step.model.endpoint_id if step else None,
                elapsed=time.time() - started,
                **extra,
            ),
        )

    async def save() -> None:
        await _call(on_state, state)

    audio_url = spec.audio_url
    steps = plan(spec)
    if not state.get(steps[0].name, {}).get("submission"):
        check_audio_length(spec, spec.audio_seconds)  # nothing paid for yet: a text that cannot fit stops here
    for index, step in enumerate(steps):
        entry = state.setdefault(step.name, {})
        while "output" not in entry:
            if "submission" not in entry:
                if entry.get(SENDING):
                    raise SubmissionUnknown("the bot stopped while it was sending the job to fal")
                if cancel_wanted is not None and cancel_wanted():
                    raise JobCancelled("cancelled before it was sent to fal")
                await report(Stage.SPEAKING if step.name == SPEECH else Stage.QUEUED, step)
                payload = _payload(spec, step, audio_url=audio_url)
                entry[SENDING] = True  # durable before the submit: a crash now must not become a second job on fal
                await save()
                try:
                    sub = await queue.submit(step.model.endpoint_id, payload)
                except SubmissionUnknown:
                    raise
                except FalError:
                    entry.pop(SENDING, None)  # fal answered: it has no job
                    raise
                entry.clear()
                entry["submission"] = sub.to_dict()
                await save()
                if cancel_wanted is not None and cancel_wanted():  # asked while the submit was on its way
                    with contextlib.suppress(FalError):
                        await queue.cancel(sub)
            sub = Submission.from_dict(entry["submission"])
            if submit_only and index == len(steps) - 1:
                return {}
            try:
                entry["output"] = await _follow(queue, sub, step, entry, report, save, follow_for, follow_backoff)
                entry["ran"] = True
            except (FalUnavailable, SubmissionUnknown):
                raise
            except FalError:
                if entry.pop("inherited", False):
                    log.info("inherited request %s ended without a result; submitting afresh", sub.request_id)
                    entry.clear()
                    continue
                entry["failed"] = True
                await save()
                raise
            await save()
        if step.name == SPEECH:
            output = entry["output"]
            audio_url = payloads.output_url(output, "audio")
            if isinstance(output.get("duration_ms"), (int, float)):
                check_audio_length(spec, output["duration_ms"] / 1000)
    result: dict[str, Any] = state[VIDEO]["output"]
    try:
        payloads.output_url(result, "video")
    except ValueError:
        raise JobFailed("fal finished the job, but its result has no video file; nothing can be shown") from None
    await report(Stage.DONE, steps[-1])
    return result


async def _follow(
    queue: FalQueue,
    sub: Submission,
    step: Step,
    entry: dict[str, Any],
    report: Callable[..., Awaitable[None]],
    save: Callable[[], Awaitable[None]],
    follow_for: float,
    backoff: tuple[float, float],
) -> dict[str, Any]:
    """The output of a submitted step, following it through fal's outages."""
    pause, unanswered_since = backoff[0], None
    stage = Stage.SPEAKING if step.name == SPEECH else Stage.QUEUED
    while True:
        try:
            async for update in queue.updates(sub):
                if update.running and not entry.get("ran"):
                    entry["ran"] = True
                    await save()
                if step.name == VIDEO:
                    stage = Stage.QUEUED if update.state == IN_QUEUE else Stage.GENERATING
                for line in update.logs or (None,):
                    await report(stage, step, position=update.position, log=line, ran=bool(entry.get("ran")))
            return await queue.result(sub)
        except FalUnavailable as exc:
            now = time.monotonic()
            unanswered_since = unanswered_since or now
            if now - unanswered_since > follow_for:
                raise FalUnavailable(
                    f"fal has not answered about request {sub.request_id} for "
                    f"{follow_for / 3600:.0f} h; it may still have the result"
                ) from exc
            log.warning("request %s: %s; following it again in %.0f s", sub.request_id, exc, pause)
            await report(
                stage,
                step,
                log=f"fal is not answering right now; still following request {sub.request_id}",
                ran=bool(entry.get("ran")),
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, backoff[1])
