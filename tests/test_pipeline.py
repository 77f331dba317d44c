"""Pipelines (TTS → video model) against the fal stand-in, including resuming from saved state."""

from __future__ import annotations

import copy

import pytest

from bot.errors import BadInput
from bot.fal.errors import FalError
from bot.jobs import pipeline
from bot.jobs.build import build_spec
from bot.jobs.lifecycle import Status
from bot.jobs.model import StepRecord
from bot.jobs.spec import Command, JobSpec
from tests.standins.fal_queue import JobScript

PORTRAIT, VIDEO, AUDIO = "https://cdn.example/p.png", "https://cdn.example/v.mp4", "https://cdn.example/a.mp3"
QUICK = JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.2, logs=["working"])


class Told(pipeline.Hooks):
    """Records what the pipeline tells its caller, with a copy of the steps' records at each moment."""

    def __init__(self, steps: dict[str, StepRecord]) -> None:
        self.steps = steps
        self.moments: list[tuple[str, str]] = []
        self.snapshots: list[dict[str, StepRecord]] = []
        self.events: list[pipeline.Progress] = []

    async def _note(self, what: str, step: str) -> None:
        self.moments.append((what, step))
        self.snapshots.append(copy.deepcopy(self.steps))

    async def sending(self, step):
        await self._note("sending", step)

    async def accepted(self, step):
        await self._note("accepted", step)

    async def following(self, step):
        await self._note("following", step)

    async def running(self, step):
        await self._note("running", step)

    async def completed(self, step):
        await self._note("completed", step)

    async def progress(self, event):
        self.events.append(event)


async def test_talking_head_from_text_speaks_first_then_feeds_the_audio_to_the_video_model(queue, fal_env):
    fal_env.script("fal-ai/minimax/speech-2.6-turbo", QUICK)
    fal_env.script("veed/fabric-1.0", QUICK)
    steps: dict[str, StepRecord] = {}
    told = Told(steps)
    spec = JobSpec(Command.TALKINGHEAD, image_url=PORTRAIT, text="Hello from the test suite", voice="Calm_Woman")
    result = await pipeline.run(queue, spec, steps=steps, hooks=told)

    tts, video = list(fal_env.jobs.values())
    assert tts.endpoint_id == "fal-ai/minimax/speech-2.6-turbo"
    assert tts.payload["prompt"] == "Hello from the test suite"
    assert video.payload["audio_url"] == tts.output["audio"]["url"]
    assert result == video.output
    assert told.moments == [
        ("sending", "speech"),
        ("accepted", "speech"),
        ("running", "speech"),
        ("sending", "video"),
        ("accepted", "video"),
        ("running", "video"),
        ("completed", "video"),
    ]
    assert told.snapshots[3]["speech"].output == tts.output  # the speech's output is in hand before the video is sent
    phases = [(e.step, e.phase) for e in told.events]
    assert phases[0] == ("speech", Status.SENDING) and ("video", Status.QUEUED) in phases
    assert ("video", Status.RUNNING) in phases
    assert "working" in [e.log for e in told.events]
    assert any(e.position == 1 for e in told.events if e.phase is Status.QUEUED)
    assert steps["video"].ran and steps["video"].output == video.output


async def test_lipsync_with_audio_is_one_step(queue, fal_env):
    fal_env.script("fal-ai/sync-lipsync/v2", QUICK)
    spec = JobSpec(Command.LIPSYNC, video_url=VIDEO, audio_url=AUDIO, sync_mode="loop")
    await pipeline.run(queue, spec)
    (job,) = fal_env.jobs.values()
    assert job.payload == {"video_url": VIDEO, "audio_url": AUDIO, "sync_mode": "loop"}


async def test_resuming_from_saved_records_never_submits_a_step_twice(queue, fal_env):
    fal_env.script("fal-ai/minimax/speech-2.6-turbo", QUICK)
    fal_env.script("veed/fabric-1.0", QUICK)
    spec = JobSpec(Command.TALKINGHEAD, image_url=PORTRAIT, text="Resume me")
    steps: dict[str, StepRecord] = {}
    told = Told(steps)
    await pipeline.run(queue, spec, steps=steps, hooks=told, submit_only=True)
    assert len(fal_env.jobs) == 2 and told.moments[-1] == ("accepted", "video")

    # A new process picks up the last saved records: it follows the stored request, submits nothing.
    again = Told(copy.deepcopy(told.snapshots[-1]))
    result = await pipeline.run(queue, spec, steps=again.steps, hooks=again)
    assert len(fal_env.jobs) == 2 and fal_env.count("submit") == 2
    assert result["video"]["url"] and again.moments[0] == ("following", "video")


def check(spec: JobSpec) -> JobSpec:
    """The spec as the one builder checks it."""
    return build_spec(spec.command, **{k: v for k, v in spec.to_dict().items() if k != "command"})


async def test_spoken_text_longer_than_the_model_allows_is_refused_before_the_video_step(queue, fal_env):
    fal_env.script(
        "fal-ai/minimax/speech-2.6-turbo",
        JobScript(
            queue_positions=[0],
            queue_step=0.05,
            run_time=0.05,
            output={"audio": {"url": "https://cdn.example/long.mp3"}, "duration_ms": 45_000},
        ),
    )
    # 500 characters: at least 20 s even spoken at the fastest pace, so TTS runs; it then lasts 45 s.
    spec = JobSpec(Command.LIPSYNC, model="fal-ai/pixverse/lipsync", video_url=VIDEO, text="long " * 100)
    check(spec)
    with pytest.raises(BadInput, match="the spoken text lasts 45.0 s; PixVerse Lipsync accepts at most 30 s"):
        await pipeline.run(queue, spec)
    assert fal_env.count("submit") == 1


@pytest.mark.parametrize(
    "text,refused",
    [
        ("x" * 749, False),  # 749 / 25 ≈ 30 s at the fastest pace: it may fit, so it is spoken and checked after
        ("x" * 800, True),  # at least 32 s however fast it is spoken
        ("Hello. <#20#> Goodbye. <#15#>", True),  # pause markers count as their own length
    ],
)
def test_text_that_clearly_outlasts_the_model_is_refused_before_tts(text, refused):
    spec = JobSpec(Command.LIPSYNC, model="fal-ai/pixverse/lipsync", video_url=VIDEO, text=text)
    if not refused:
        check(spec)
        return
    with pytest.raises(BadInput) as caught:
        check(spec)
    assert caught.value.field == "text"
    assert "takes at least" in str(caught.value) and "PixVerse Lipsync accepts at most 30 s of speech" in str(
        caught.value
    )


async def test_a_refused_text_costs_no_tts_request(queue, fal_env):
    spec = JobSpec(
        Command.TALKINGHEAD,
        model="fal-ai/bytedance/omnihuman/v1.5",
        resolution="1080p",
        image_url=PORTRAIT,
        text="word " * 200,
    )  # 1000 characters: 40 s at least; 1080p takes under 30 s
    with pytest.raises(BadInput, match="at most 30 s of speech"):
        await pipeline.run(queue, spec)
    assert fal_env.count("submit") == 0


@pytest.mark.parametrize(
    "spec,field",
    [
        (JobSpec(Command.TALKINGHEAD, audio_url=AUDIO), "image"),
        (JobSpec(Command.TALKINGHEAD, image_url=PORTRAIT), "audio"),
        (JobSpec(Command.ANIMATE, image_url=PORTRAIT), "video"),
        (
            JobSpec(
                Command.TALKINGHEAD,
                model="fal-ai/bytedance/omnihuman/v1.5",
                image_url=PORTRAIT,
                audio_url=AUDIO,
                resolution="1080p",
                audio_seconds=42,
            ),
            "audio",
        ),
    ],
)
def test_validation_names_what_is_missing_or_too_long(spec, field):
    with pytest.raises(BadInput) as caught:
        check(spec)
    assert caught.value.field == field


async def test_a_submit_fal_refused_leaves_no_request_behind(queue, fal_env):
    fal_env.fail_next(
        "submit", 422, body={"detail": [{"loc": ["body", "image_url"], "msg": "bad", "type": "value_error"}]}
    )
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url=PORTRAIT, audio_url=AUDIO)
    steps: dict[str, StepRecord] = {}
    told = Told(steps)
    with pytest.raises(FalError):
        await pipeline.run(queue, spec, steps=steps, hooks=told)
    assert told.moments == [("sending", "video")] and steps["video"].submission is None  # a Retry may send it


async def test_an_inherited_request_that_fal_lost_is_sent_afresh(queue, fal_env):
    fal_env.script("veed/fabric-1.0", QUICK)
    lost = await queue.submission_for("veed/fabric-1.0", "00000000-0000-0000-0000-000000000000")
    steps = {"video": StepRecord(lost, inherited=True)}
    told = Told(steps)
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url=PORTRAIT, audio_url=AUDIO)
    await pipeline.run(queue, spec, steps=steps, hooks=told)
    assert told.moments[:3] == [("following", "video"), ("sending", "video"), ("accepted", "video")]
    assert steps["video"].submission.request_id != lost.request_id and fal_env.count("submit") == 1
