"""The job message as pure functions of a job."""

from __future__ import annotations

import pytest

from bot import render
from bot.jobs.spec import Command, JobSpec, Stage
from bot.jobs.store import Job


def job(**changes) -> Job:
    base = Job(id="3f9c2a1b", command=Command.TALKINGHEAD, channel_id=1, user_id=42, created_at=1_700_000_000.0,
               spec=JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://x/p.png", text="Hello there"),
               sources={"image": {"name": "image", "url": "https://x/p.png", "attachment": True, "filename": "face.png"}})
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_queued_progress_shows_position_start_eta_cost_and_log():
    text = render.render(job(stage=Stage.QUEUED, position=1, log="Loading model", cost_estimate=0.42),
                         eta=4_000_000_000.0)
    assert text.splitlines() == [
        "⏳ **Talking head** · VEED Fabric 1.0 · job `3f9c2a1b`",
        "**Queued on fal — position 2 in line**",
        "Started <t:1700000000:R> · done <t:4000000000:R> (estimate)",
        "Estimated cost $0.42",
        "> `Loading model`",
    ]


@pytest.mark.parametrize("stage,line", [
    (Stage.UPLOADING, "**Uploading the inputs to fal**"),
    (Stage.SPEAKING, "**Speaking the text with MiniMax Speech 2.6 Turbo**"),
    (Stage.GENERATING, "**Generating with VEED Fabric 1.0**"),
])
def test_each_stage_has_its_own_words(stage, line):
    assert render.render(job(stage=stage)).splitlines()[1] == line


def test_a_past_eta_is_not_shown():
    assert "estimate" not in render.render(job(stage=Stage.GENERATING), eta=1.0)


def test_result_has_the_link_inputs_and_duration():
    done = job(stage=Stage.DONE, finished_at=1_700_000_108.0, result={"video": {"url": "https://v3.fal.media/o.mp4"}})
    lines = render.render(done).splitlines()
    assert lines[0] == "✅ **Talking head ready** · VEED Fabric 1.0 · job `3f9c2a1b` · took 1m 48s"
    assert lines[1] == "Inputs: image `face.png` · text (11 characters, voice `Wise_Woman`)"
    assert lines[-1] == "https://v3.fal.media/o.mp4"


def test_failure_shows_the_cause():
    text = render.render(job(stage=Stage.FAILED, error="`audio`: too long"))
    assert text.startswith("❌ **Talking head failed**") and "`audio`: too long" in text


def test_user_and_model_text_cannot_format_or_mention():
    text = render.render(job(stage=Stage.GENERATING, log="@everyone `boom` **bold**\n<@&1>"))
    assert "> `@everyone ˋboomˋ **bold** <@&1>`" in text


def test_long_log_lines_and_messages_are_cut_to_discords_limits():
    text = render.render(job(stage=Stage.GENERATING, log="x" * 5000))
    assert len(text) < render.MESSAGE_LIMIT and "…" in text
    assert len(render.fit("y" * 3000)) == render.MESSAGE_LIMIT


@pytest.mark.parametrize("seconds,shown", [(0, "0s"), (59.6, "1m 00s"), (108, "1m 48s"), (3725, "1h 02m")])
def test_format_duration(seconds, shown):
    assert render.format_duration(seconds) == shown


def test_ready_ping_mentions_only_the_requester():
    done = job(stage=Stage.DONE, result={"video": {"url": "https://v/o.mp4"}})
    assert render.render_ready_ping(done) == "<@42> your talking head video is ready (job `3f9c2a1b`): https://v/o.mp4"
