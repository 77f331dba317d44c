"""The pure parts of members' own voices (bot/jobs/voices.py): names, the 7-day rule, fal's 'voice gone' error, the
clone job's spec, cost and payload, its audit record, and how it is shown."""

from __future__ import annotations

import pytest

from bot.discord_app import render, voicing
from bot.errors import BadInput
from bot.fal import catalog, payloads
from bot.fal.errors import InputRejected, JobFailed
from bot.fal.queue import error_from_response
from bot.jobs import audit, cost, pipeline, voices
from bot.jobs.limits import GuildConfig, personal_config
from bot.jobs.model import Job, StepRecord
from bot.jobs.spec import SAMPLE, SPEECH, Command, JobSpec, Source
from tests.standins.fal_queue import expired_voice_error

DAY = 86400.0


@pytest.mark.parametrize(
    "given,kept", [("My Voice", "My Voice"), ("  my   voice ", "my voice"), ("Narrator_2!", "Narrator_2!")]
)
def test_a_name_is_tidied(given, kept):
    assert voices.check_name(given) == kept


@pytest.mark.parametrize(
    "given,why",
    [
        ("", "give the voice a name"),
        ("x" * 33, "at most 32"),
        ("<@123>", "not ` < > @"),
        ("a`b", "not ` < > @"),
        ("tab\there", "my"),  # a tab is folded to a space: taken
        ("!!!", "at least one letter"),
        ("wise_woman", "stock voice"),
    ],
)
def test_names_that_are_refused_say_why(given, why):
    if why == "my":
        assert voices.check_name(given) == "tab here"
        return
    with pytest.raises(BadInput, match=why) as caught:
        voices.check_name(given)
    assert caught.value.field == "name"


def test_names_compare_ignoring_case_and_spaces_and_control_characters_are_never_looked_up():
    assert voices.key(" My  VOICE ") == voices.key("my voice")
    assert not voices.possible("my voice\x00") and voices.possible("my voice")


def test_minimax_deletes_a_voice_unused_for_7_days_and_keeps_a_used_one():
    made = voices.Voice(1, "Me", "voice-1", "job", created_at=1000.0)
    assert made.deletes_at == 1000.0 + 7 * DAY
    assert not made.gone(1000.0 + 7 * DAY - 1) and made.gone(1000.0 + 7 * DAY)
    used = voices.Voice(1, "Me", "voice-1", "job", created_at=1000.0, last_used_at=2000.0)
    assert used.deletes_at is None and not used.gone(1000.0 + 365 * DAY)
    told = voices.Voice(1, "Me", "voice-1", "job", created_at=1000.0, last_used_at=2000.0, expired_at=3000.0)
    assert told.gone(3000.0)


def test_fals_voice_not_found_error_is_recognised_and_others_are_not():
    body = expired_voice_error("voice-1")
    error = error_from_response(body["status"], {"detail": body["detail"]}, {}, "the TTS job")
    assert isinstance(error, InputRejected) and voices.says_gone(error)
    assert not voices.says_gone(JobFailed("the fal account is out of credit or locked; top it up at fal.ai"))
    assert not voices.says_gone(InputRejected("fal rejected the input: text: too long"))
    own = JobSpec(Command.TALKINGHEAD, image_url="i", text="hi", voice="voice-1", voice_name="Me")
    stock = JobSpec(Command.TALKINGHEAD, image_url="i", text="hi", voice="Wise_Woman")
    failed_tts = {SPEECH: StepRecord(failed=True)}
    assert voices.tts_failed_for_voice(own, failed_tts, error)
    assert not voices.tts_failed_for_voice(stock, failed_tts, error)
    assert not voices.tts_failed_for_voice(own, {SPEECH: StepRecord(output={"audio": {}})}, error)  # TTS ran fine


def test_a_clone_is_one_step_priced_per_clone_and_its_sample_must_last_10_s_to_5_minutes():
    spec = voices.clone_spec("https://fal.media/me.mp3", "Me")
    assert [step.name for step in pipeline.plan(spec)] == ["video"] and spec.speech_model is None
    assert cost.estimate(spec) == 2.10 and catalog.get_model(None, catalog.Kind.VOICE_CLONE).price.source.startswith(
        "estimated"
    )
    with pytest.raises(BadInput, match="needs at least 10 s") as short:
        pipeline.check_audio_length(spec, 9.9)
    with pytest.raises(BadInput, match="at most 300 s") as long:
        pipeline.check_audio_length(spec, 301.0)
    assert short.value.field == long.value.field == "sample"
    pipeline.check_audio_length(spec, 10.0)
    model = spec.main_model
    assert payloads.voice_clone_payload(model, "https://fal.media/me.mp3") == {
        "audio_url": "https://fal.media/me.mp3",
        "noise_reduction": True,
        "need_volume_normalization": True,
    }
    assert payloads.custom_voice_id({"custom_voice_id": "v-1"}) == "v-1"
    with pytest.raises(ValueError):
        payloads.custom_voice_id({"audio": {"url": "x"}})


def test_a_sample_is_audio_named_as_its_options_and_a_big_one_is_refused():
    attached = Source(SAMPLE, "https://cdn.discordapp.com/me.mp3", True, "me.mp3", "audio/mpeg", 21 * 1024**2)
    assert attached.kind == "audio"
    with pytest.raises(BadInput, match="at most 20 MB") as caught:
        voicing.clone_spec(attached, "Me")
    assert caught.value.field == "sample"
    message = Source(SAMPLE, "https://cdn.discordapp.com/v.ogg", True, "v.ogg", "audio/ogg", 50_000, duration=4.0)
    with pytest.raises(BadInput, match="needs at least 10 s"):
        voicing.clone_spec(message, "Me")


def test_cloning_is_off_until_turned_on_and_the_refusal_names_who_can():
    off_server = voicing.off_problem(123, GuildConfig(), "voice_clone")
    assert off_server and "/config features voice_clone:True" in str(off_server)
    off_dm = voicing.off_problem(None, personal_config(), "voice")
    assert off_dm and "VOICE_CLONING" in str(off_dm) and off_dm.field == "voice"
    assert voicing.off_problem(None, personal_config(voice_clone=True), "voice") is None
    assert voicing.off_problem(123, GuildConfig(voice_clone=True), "voice") is None
    speaking = Job("abcd1234", JobSpec(Command.TALKINGHEAD, text="hi", voice="v-1", voice_name="Me"), 1, guild_id=123)
    assert voicing.voice_problem(speaking, GuildConfig()) is not None
    stock = Job("abcd1234", JobSpec(Command.TALKINGHEAD, text="hi", voice="Wise_Woman"), 1, guild_id=123)
    assert voicing.voice_problem(stock, GuildConfig()) is None


def test_the_audit_records_the_samples_digest_and_that_consent_was_given_never_the_name():
    spec = voices.clone_spec("https://cdn.example/me.mp3", "Secret Name")
    job = Job("abcd1234", spec, 1, sources={SAMPLE: Source(SAMPLE, "https://cdn.example/me.mp3", False)})
    record = audit.record_for(job, guild_id=None, channel_id=None, place=audit.DM, install=audit.USER_INSTALL)
    names = {d.name: d for d in record.inputs}
    assert set(names) == {"sample", "consent"} and names["consent"].sha256 == audit.sha256(voices.CONSENT)
    assert "Secret Name" not in str(record.to_json())


def test_a_clone_shows_the_members_name_for_the_voice_never_its_id():
    spec = voices.clone_spec("https://fal.media/me.mp3", "My Voice")
    job = Job("abcd1234", spec, 1, sources={SAMPLE: Source(SAMPLE, "https://x/me.mp3", True, "me.mp3")})
    job.result, job.cost_estimate, job.finished_at = {"custom_voice_id": "voice-secret"}, 2.10, job.created_at + 5
    text = render.render_voice_ready(job)
    assert "Voice `My Voice` is ready — use it with `voice:` on /talkinghead or /lipsync" in text
    assert "voice-secret" not in text and "sample `me.mp3`" in text and "Estimated cost $2.10" in text
    speaking = Job("abcd1234", JobSpec(Command.TALKINGHEAD, text="hi", voice="voice-secret", voice_name="Me"), 1)
    assert "voice `Me`" in render.input_summary(speaking) and "voice-secret" not in render.input_summary(speaking)
    listing = render.voice_list(
        [
            voices.Voice(1, "Me", "v", "j", created_at=0.0, last_used_at=10.0),
            voices.Voice(1, "Old", "v", "j", created_at=0.0),
        ],
        now=8 * DAY,
    )
    assert "`Me`" in listing and "last used" in listing and "deleted by MiniMax" in listing
    assert "7 days" in listing
    assert "no voices of your own" in render.voice_list([])
    assert "deleted" in render.voice_deleted("Me", True) and "no voice called" in render.voice_deleted("Me", False)
