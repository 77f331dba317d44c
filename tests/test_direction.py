"""Directing the video: `emotion` on /lipsync (sync react-1) and `prompt` on /talkinghead, as pure functions —
build_spec's checks, the job message and result card, and the audit's digest."""

from __future__ import annotations

import pytest

from bot.discord_app import render
from bot.errors import BadInput
from bot.fal import catalog
from bot.jobs import audit, cost
from bot.jobs.build import MAX_PROMPT_CHARS, build_spec
from bot.jobs.lifecycle import Status
from bot.jobs.model import Job
from bot.jobs.pipeline import _payload, plan
from bot.jobs.spec import Command, JobSpec, Source

VIDEO, AUDIO, IMAGE = "https://x/clip.mp4", "https://x/speech.mp3", "https://x/face.png"
REACT, OMNI, AURORA = "fal-ai/sync-lipsync/react-1", "fal-ai/bytedance/omnihuman/v1.5", "fal-ai/creatify/aurora"


def lipsync(**given) -> JobSpec:
    return build_spec(Command.LIPSYNC, **{"video_url": VIDEO, "audio_url": AUDIO, **given})


def talkinghead(**given) -> JobSpec:
    return build_spec(Command.TALKINGHEAD, **{"image_url": IMAGE, "audio_url": AUDIO, **given})


def refused(build, **given) -> BadInput:
    with pytest.raises(BadInput) as caught:
        build(**given)
    return caught.value


def sent(spec: JobSpec) -> dict:
    """The video step's payload, as the pipeline builds it."""
    return _payload(spec, plan(spec)[-1], audio_url=spec.audio_url or "https://x/tts.mp3")


# ---- emotion


@pytest.mark.parametrize("emotion", catalog.EMOTIONS)
def test_an_emotion_runs_react1_with_it_when_no_model_is_chosen(emotion):
    spec = lipsync(emotion=emotion)
    assert spec.model == REACT and spec.emotion == emotion
    assert sent(spec) == {"video_url": VIDEO, "audio_url": AUDIO, "emotion": emotion}


def test_an_emotion_with_react1_chosen_and_a_sync_mode_goes_as_lipsync_mode():
    spec = lipsync(emotion="sad", model=REACT, sync_mode="loop")
    assert sent(spec) == {"video_url": VIDEO, "audio_url": AUDIO, "emotion": "sad", "lipsync_mode": "loop"}


def test_react1_chosen_without_an_emotion_is_neutral():
    spec = lipsync(model=REACT)
    assert spec.emotion == "neutral" and sent(spec)["emotion"] == "neutral"


def test_other_lipsync_models_carry_no_emotion():
    spec = lipsync(sync_mode="loop")
    assert spec.emotion is None and sent(spec) == {"video_url": VIDEO, "audio_url": AUDIO, "sync_mode": "loop"}


@pytest.mark.parametrize("model", ["fal-ai/sync-lipsync/v2", "fal-ai/sync-lipsync/v2/pro", "fal-ai/pixverse/lipsync"])
def test_an_emotion_with_another_model_chosen_is_refused_naming_react1(model):
    problem = refused(lipsync, emotion="happy", model=model)
    assert problem.field == "emotion"
    assert "Sync React-1" in str(problem) and catalog.get_model(model, catalog.Kind.LIPSYNC).name in str(problem)


@pytest.mark.parametrize("emotion", ["joyful", "Happy", " happy", "0"])
def test_an_emotion_not_offered_is_refused_with_the_six(emotion):
    problem = refused(lipsync, emotion=emotion)
    assert problem.field == "emotion" and "happy, angry, sad, neutral, disgusted, surprised" in str(problem)


def test_react1_takes_15_seconds_of_audio_video_and_text():
    assert refused(lipsync, emotion="happy", audio_seconds=15.5).field == "audio"
    assert refused(lipsync, emotion="happy", video_seconds=20.0).field == "video"
    assert "at most 15 s" in str(refused(lipsync, emotion="happy", video_seconds=20.0))
    long_text = refused(lipsync, emotion="happy", audio_url=None, text="word " * 100)
    assert long_text.field == "text" and "Sync React-1 accepts at most 15 s" in str(long_text)
    lipsync(emotion="happy", audio_seconds=15.0, video_seconds=15.0)  # the limit itself is taken
    lipsync(video_seconds=20.0)  # Sync Lipsync 2.0 states no video limit
    assert cost.estimate(lipsync(emotion="happy", audio_seconds=12.0)) == pytest.approx(2.0)  # $10 a minute


def test_emotion_belongs_to_lipsync_only():
    assert refused(talkinghead, emotion="happy").field == "emotion"


# ---- prompt


@pytest.mark.parametrize("model", [OMNI, AURORA])
def test_a_prompt_goes_trimmed_to_the_models_that_take_one(model):
    spec = talkinghead(model=model, prompt="  The camera pushes in; she smiles.\n")
    assert spec.prompt == "The camera pushes in; she smiles." and sent(spec)["prompt"] == spec.prompt


@pytest.mark.parametrize("model", [None, "veed/fabric-1.0", "veed/fabric-1.0/fast"])
def test_a_prompt_for_a_model_without_one_is_refused_naming_those_with_one(model):
    problem = refused(talkinghead, model=model, prompt="smile")
    assert problem.field == "prompt"
    assert "`prompt` works with OmniHuman 1.5 or Creatify Aurora; choose one with `model:`" in str(problem)


@pytest.mark.parametrize("prompt", ["   ", "\u200b\u200b", "🙂🙂", "!!!"])
def test_a_prompt_with_no_words_is_refused(prompt):
    assert refused(talkinghead, model=OMNI, prompt=prompt).field == "prompt"


def test_a_prompt_longer_than_the_option_takes_is_refused():
    talkinghead(model=OMNI, prompt="a" * MAX_PROMPT_CHARS)
    assert refused(talkinghead, model=OMNI, prompt="a" * (MAX_PROMPT_CHARS + 1)).field == "prompt"


def test_a_prompt_belongs_to_talkinghead_only_and_an_empty_one_is_none():
    assert refused(lipsync, prompt="smile").field == "prompt"
    assert talkinghead(prompt="").prompt is None and sent(talkinghead()).get("prompt") is None


def test_emotion_and_prompt_survive_the_store_round_trip_that_retry_rebuilds_from():
    for spec in (lipsync(emotion="angry"), talkinghead(model=OMNI, prompt="nod slowly")):
        assert JobSpec.from_dict(spec.to_dict()) == spec


# ---- how they are shown, audited and moderated


def job(spec: JobSpec, **changes) -> Job:
    name = "video" if spec.command is Command.LIPSYNC else "image"
    made = Job(
        id="3f9c2a1b",
        user_id=42,
        created_at=1_700_000_000.0,
        spec=spec,
        sources={name: Source(name, spec.video_url or spec.image_url or "", True, f"{name}.bin")},
    )
    for key, value in changes.items():
        setattr(made, key, value)
    return made


def test_the_job_message_and_result_card_show_the_emotion():
    directed = job(lipsync(emotion="surprised"), status=Status.QUEUED, step="video")
    lines = render.render(directed).splitlines()
    assert lines[0] == "⏳ **Lip sync** · Sync React-1 · job `3f9c2a1b`"
    assert "Emotion **surprised**" in lines
    done = job(
        directed.spec, status=Status.DELIVERING, outcome=Status.DONE, result={"video": {"url": "https://x/out.mp4"}}
    )
    card = render.result_card(done, attached="lipsync-3f9c2a1b.mp4")
    assert "· emotion **surprised**" in card.body
    assert "Emotion" not in render.render(job(lipsync(), status=Status.QUEUED, step="video"))


def test_the_prompt_is_shown_quoted_and_shortened_never_as_a_mention():
    prompt = "<@123> and @everyone **bold** `tick` " + "she smiles warmly " * 10
    directed = job(talkinghead(model=OMNI, prompt=prompt), status=Status.RUNNING, step="video")
    line = next(x for x in render.render(directed).splitlines() if x.startswith("Prompt "))
    assert line.startswith("Prompt `<@123> and @everyone **bold** ˋtickˋ she smiles") and line.endswith("…`")
    assert len(line) <= len("Prompt ``") + render.PROMPT_SHOWN
    done = job(
        directed.spec, status=Status.DELIVERING, outcome=Status.DONE, result={"video": {"url": "https://x/out.mp4"}}
    )
    assert "· prompt `<@123>" in render.result_card(done, attached=None).body


def test_the_audit_keeps_the_prompts_digest_not_the_prompt():
    spec = talkinghead(model=OMNI, prompt="nod slowly", audio_url=None, text="Hello there")
    digests = {d.name: d for d in audit.asked(job(spec))}
    assert digests["prompt"].sha256 == audit.sha256("nod slowly") and digests["prompt"].size == 10
    assert digests["text"].sha256 == audit.sha256("Hello there")
    assert "nod slowly" not in str([d.to_json() for d in digests.values()])
    assert "prompt" not in {d.name for d in audit.asked(job(talkinghead()))}
