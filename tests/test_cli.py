"""The CLI and the seed-compatible scripts, run as users run them, against the fal stand-in."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests import media_corpus
from tests.botproc import python_cmd
from tests.helpers import FIXTURES, REPO
from tests.standins.fal_queue import JobScript

IMAGE, VIDEO, AUDIO = "https://cdn.example/face.png", "https://cdn.example/face.mp4", "https://cdn.example/voice.mp3"
QUICK = JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.3, logs=["Rendering"])


async def run(cmd: list[str], env: dict, cwd: Path | None = None, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, cwd=cwd or REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


async def test_talking_head_with_urls_prints_the_result_json(fal_standin, subprocess_env):
    fal_standin.script("veed/fabric-1.0", QUICK)
    code, out, err = await run(cli("talking-head", "--image-url", IMAGE, "--audio-url", AUDIO), subprocess_env)
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert json.loads(out) == job.output
    assert json.loads(out)["video"]["content_type"] == "video/mp4"
    assert job.payload == {"image_url": IMAGE, "audio_url": AUDIO, "resolution": "480p"}
    assert "queue position: 1" in err and "[fal] Rendering" in err and "Completed!" in err


async def test_talking_head_from_text_uses_tts_then_fabric(fal_standin, subprocess_env):
    code, out, err = await run(
        cli(
            "talking-head",
            "--image-url",
            IMAGE,
            "--text",
            "Hi there",
            "--voice",
            "Deep_Voice_Man",
            "--resolution",
            "720p",
        ),
        subprocess_env,
    )
    assert code == 0, err
    tts, video = fal_standin.jobs.values()
    assert tts.payload == {
        "prompt": "Hi there",
        "voice_setting": {"voice_id": "Deep_Voice_Man"},
        "output_format": "url",
    }
    assert video.payload["audio_url"] == tts.output["audio"]["url"] and video.payload["resolution"] == "720p"
    assert json.loads(out)["video"]["url"] == video.output["video"]["url"]


async def test_seed_script_with_the_seed_model_id_and_async(fal_standin, subprocess_env):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[3], queue_step=30, run_time=30))
    code, out, err = await run(
        [
            "bash",
            str(REPO / "scripts/talking-head.sh"),
            "--image-url",
            IMAGE,
            "--audio-url",
            AUDIO,
            "-m",
            "fal-ai/veed/fabric-1.0",
            "--async",
        ],
        subprocess_env,
    )
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert json.loads(out) == {"request_id": job.request_id, "model": "veed/fabric-1.0"}
    assert fal_standin.count("stream") == 0 and fal_standin.count("result") == 0

    code, out, _ = await run(cli("status", job.request_id, "-m", "veed/fabric-1.0"), subprocess_env)
    assert code == 0 and json.loads(out)["queue_position"] == 3
    code, out, _ = await run(cli("cancel", job.request_id, "-m", "veed/fabric-1.0"), subprocess_env)
    assert code == 0 and json.loads(out) == {
        "request_id": job.request_id,
        "cancelled": True,
        "status": "CANCELLATION_REQUESTED",
    }


async def test_result_follows_up_an_async_request(fal_standin, subprocess_env):
    fal_standin.script("fal-ai/sync-lipsync/v2", QUICK)
    code, out, _ = await run(cli("lip-sync", "--video-url", VIDEO, "--audio-url", AUDIO, "-a"), subprocess_env)
    request_id = json.loads(out)["request_id"]
    code, out, err = await run(cli("result", request_id, "--model", "fal-ai/sync-lipsync/v2"), subprocess_env)
    assert code == 0, err
    assert json.loads(out) == fal_standin.jobs[request_id].output


async def test_lip_sync_script_end_to_end(fal_standin, subprocess_env):
    fal_standin.script("fal-ai/sync-lipsync/v2", QUICK)
    code, out, err = await run(
        [
            "bash",
            str(REPO / "scripts/lip-sync.sh"),
            "--video-url",
            VIDEO,
            "--audio-url",
            AUDIO,
            "--sync-mode",
            "bounce",
        ],
        subprocess_env,
    )
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert job.payload == {"video_url": VIDEO, "audio_url": AUDIO, "sync_mode": "bounce"}
    assert json.loads(out)["video"]["url"] == job.output["video"]["url"]


async def test_local_files_are_uploaded_to_fal_storage(fal_standin, subprocess_env):
    fal_standin.script("veed/fabric-1.0", QUICK)
    code, out, err = await run(
        python_cmd(
            "bot.cli",
            "talking-head",
            "--image-url",
            str(FIXTURES / "portrait.png"),
            "--audio-url",
            str(FIXTURES / "speech.wav"),
        ),
        subprocess_env,
    )
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert fal_standin.uploads[job.payload["image_url"]] == (FIXTURES / "portrait.png").read_bytes()
    assert fal_standin.uploads[job.payload["audio_url"]] == (FIXTURES / "speech.wav").read_bytes()
    assert job.payload["image_url"].endswith("/portrait.png") and job.payload["audio_url"].endswith("/speech.wav")


async def test_a_failing_job_exits_non_zero_with_one_clear_line(fal_standin, subprocess_env):
    detail = [{"loc": ["body", "audio_url"], "msg": "Audio is longer than 60 seconds", "type": "value_error"}]
    fal_standin.script(
        "veed/fabric-1.0",
        JobScript(queue_positions=[0], queue_step=0.05, run_time=0.1, error={"status": 422, "detail": detail}),
    )
    code, out, err = await run(cli("talking-head", "--image-url", IMAGE, "--audio-url", AUDIO), subprocess_env)
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last == "Error: fal rejected the input: audio_url: Audio is longer than 60 seconds"
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["talking-head", "--audio-url", AUDIO], "Error: --image-url is required"),
        (["talking-head", "--image-url", IMAGE], "Error: --audio-url or --text is required"),
        (
            ["talking-head", "--image-url", IMAGE, "--text", "hi", "-m", "nope/model"],
            "unknown talking head model 'nope/model'",
        ),
        (
            [
                "lip-sync",
                "--video-url",
                VIDEO,
                "--audio-url",
                AUDIO,
                "-m",
                "fal-ai/pixverse/lipsync",
                "--sync-mode",
                "loop",
            ],
            "sync_mode must be one of: none",
        ),
        (["talking-head", "--image-url", "/no/such/face.png", "--text", "hi"], "neither a URL nor an existing file"),
        (  # the bot's own link parser: the host is judged after the mapping a resolver applies
            ["talking-head", "--image-url", "https://１２７．０．０．１/face.png", "--text", "hi"],
            "Error (--image-url): must point at a public address",
        ),
        (
            ["lip-sync", "--video-url", "https://[not-an-ip]/v.mp4", "--audio-url", AUDIO],
            "Error (--video-url): has an invalid host",
        ),
    ],
)
async def test_bad_input_is_refused_before_anything_is_submitted(fal_standin, subprocess_env, args, message):
    code, out, err = await run(cli(*args), subprocess_env)
    assert code == 1 and out == ""
    assert message in err
    assert fal_standin.count("submit") == 0


async def test_missing_fal_key_says_how_to_set_it(fal_standin, subprocess_env, tmp_path):
    env = {k: v for k, v in subprocess_env.items() if k != "FAL_KEY"}
    code, out, err = await run(cli("talking-head", "--image-url", IMAGE, "--text", "hi"), env, cwd=tmp_path)
    assert code == 1 and out == ""
    assert err.strip() == "Error: FAL_KEY not set. Use --add-fal-key or set FAL_KEY env var."


async def test_add_fal_key_saves_it_to_dotenv_for_later_runs(fal_standin, subprocess_env, tmp_path):
    env = {k: v for k, v in subprocess_env.items() if k != "FAL_KEY"}
    script = str(REPO / "scripts/lip-sync.sh")
    code, _, err = await run(["bash", script, "--add-fal-key", "test-fal-key"], env, cwd=tmp_path)
    assert code == 0 and "API key saved." in err
    assert (tmp_path / ".env").read_text() == "FAL_KEY=test-fal-key\n"
    code, out, err = await run(["bash", script, "--video-url", VIDEO, "--audio-url", AUDIO, "-a"], env, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["model"] == "fal-ai/sync-lipsync/v2"


async def test_timeout_says_how_to_pick_the_job_up_later(fal_standin, subprocess_env):
    fal_standin.script("fal-ai/sync-lipsync/v2", JobScript(queue_positions=[2], queue_step=30, run_time=30))
    code, out, err = await run(
        cli("lip-sync", "--video-url", VIDEO, "--audio-url", AUDIO, "--timeout", "1"), subprocess_env
    )
    (job,) = fal_standin.jobs.values()
    assert code == 1 and out == ""
    assert f"python -m bot.cli result -m fal-ai/sync-lipsync/v2 {job.request_id}" in err


# ---- `check`: the bot's media check, for people and scripts


async def test_check_prints_one_json_document_for_an_accepted_file(subprocess_env, tmp_path):
    env = {k: v for k, v in subprocess_env.items() if k != "FAL_KEY"}  # no fal key needed
    code, out, err = await run(cli("check", "--as", "audio", str(FIXTURES / "a_aac_adts.aac")), env, cwd=tmp_path)
    assert code == 0, err
    found = json.loads(out)
    assert found == {"kind": "audio", "content_type": "audio/aac", "seconds": found["seconds"]}
    assert abs(found["seconds"] - 6.0) < 0.3
    code, out, _ = await run(cli("check", "--as", "image", str(FIXTURES / "portrait.jpg")), env, cwd=tmp_path)
    assert code == 0 and json.loads(out) == {"kind": "image", "content_type": "image/jpeg", "seconds": None}


@pytest.mark.parametrize(
    "kind,fixture,message",
    [
        (
            "image",
            "speech.wav",
            "'speech.wav' is a WAV audio file; an image is needed: PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)",
        ),
        (
            "video",
            "truncated.mp4",
            "'truncated.mp4' looks like an MP4 or QuickTime file but it is damaged or incomplete; "
            "a video is needed: MP4, QuickTime or WebM (up to 200 MB)",
        ),
        (
            "image",
            "photo.heic",
            "'photo.heic' is a HEIC photo; an image is needed: PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)",
        ),
    ],
)
async def test_check_refuses_with_one_line_and_exit_1(subprocess_env, kind, fixture, message):
    code, out, err = await run(cli("check", "--as", kind, str(FIXTURES / fixture)), subprocess_env)
    assert (code, out, err) == (1, "", message + "\n")


@pytest.mark.parametrize(
    "args",
    [
        ["check", str(FIXTURES / "speech.wav")],
        ["check", "--as", "sound", str(FIXTURES / "speech.wav")],
        ["check", "--as", "audio"],
        ["check", "--as", "audio", "/no/such/file.wav"],
        ["check", "--as", "audio", "a", "b"],
    ],
)
async def test_check_usage_errors_exit_2(subprocess_env, args):
    code, out, err = await run(cli(*args), subprocess_env)
    assert code == 2 and out == "" and "usage:" in err


async def test_local_files_get_the_same_check_before_anything_is_uploaded(fal_standin, subprocess_env):
    code, out, err = await run(
        cli("talking-head", "--image-url", str(FIXTURES / "speech.wav"), "--text", "hi"), subprocess_env
    )
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == (
        "Error: --image-url: 'speech.wav' is a WAV audio file; an image is needed: "
        "PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)"
    )
    assert fal_standin.uploads == {} and fal_standin.count("submit") == 0


async def test_a_local_audio_too_long_for_the_model_is_refused_before_upload(fal_standin, subprocess_env, tmp_path):
    long_wav = media_corpus.make(tmp_path, next(s for s in media_corpus.ACCEPTED_SAMPLES if s.name == "ima-adpcm.wav"))
    code, out, err = await run(
        cli(
            "talking-head",
            "--image-url",
            str(FIXTURES / "portrait.png"),
            "--audio-url",
            str(long_wav),
            "-m",
            "fal-ai/bytedance/omnihuman/v1.5",
        ),
        subprocess_env,
    )
    assert code == 1 and out == ""
    assert "Error (audio): the audio lasts 90.1 s; OmniHuman 1.5 accepts at most 60 s" in err
    assert fal_standin.uploads == {} and fal_standin.count("submit") == 0


async def test_output_saves_the_video_after_the_json(fal_standin, subprocess_env, tmp_path):
    from tests.standins.fal_queue import media_bytes

    fal_standin.script("fal-ai/live-portrait", QUICK)
    target = tmp_path / "out" / "portrait.mp4"
    target.parent.mkdir()
    code, out, err = await run(
        cli("animate", "--image-url", IMAGE, "--video-url", VIDEO, "-o", str(target)), subprocess_env
    )
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert json.loads(out) == job.output  # stdout stays exactly one JSON document
    assert target.read_bytes() == media_bytes("mp4") and f"Saved the video to {target}" in err

    again = tmp_path / "again.mp4"
    code, out, err = await run(
        cli("result", job.request_id, "-m", "fal-ai/live-portrait", "--output", str(again)), subprocess_env
    )
    assert code == 0, err and json.loads(out) == job.output
    assert again.read_bytes() == target.read_bytes()


async def test_output_with_async_is_a_usage_error(subprocess_env, tmp_path):
    code, out, err = await run(
        cli("lip-sync", "--video-url", VIDEO, "--audio-url", AUDIO, "--async", "-o", str(tmp_path / "x.mp4")),
        subprocess_env,
    )
    assert code == 2 and out == "" and "--output needs the result" in err


def voice_sample(directory: Path, seconds: float = 12.0) -> Path:
    """A sample long enough to clone a voice from (fal: at least 10 s)."""
    sample = media_corpus.audio(
        f"voice-{seconds:g}s.mp3", "audio/mpeg", "MP3", fmt="mp3", codec="libmp3lame", rate=22050, length=seconds
    )
    return media_corpus.make(directory, sample)


async def test_voice_clone_uploads_a_checked_sample_and_prints_the_custom_voice_id(
    fal_standin, subprocess_env, tmp_path
):
    sample = voice_sample(tmp_path)
    code, out, err = await run(python_cmd("bot.cli", "voice-clone", "--audio-url", str(sample)), subprocess_env)
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert job.endpoint_id == "fal-ai/minimax/voice-clone" and json.loads(out) == job.output
    assert json.loads(out)["custom_voice_id"].startswith("voice-")
    assert fal_standin.uploads[job.payload["audio_url"]] == sample.read_bytes()
    assert job.payload == {
        "audio_url": job.payload["audio_url"],
        "noise_reduction": True,
        "need_volume_normalization": True,
    }
    # …and the id speaks: --voice takes a custom voice id
    voice = json.loads(out)["custom_voice_id"]
    code, out, err = await run(
        cli("talking-head", "--image-url", IMAGE, "--text", "In my own voice", "--voice", voice), subprocess_env
    )
    assert code == 0, err
    tts = next(j for j in fal_standin.jobs.values() if j.endpoint_id == "fal-ai/minimax/speech-2.6-turbo")
    assert tts.payload["voice_setting"] == {"voice_id": voice}


async def test_voice_clone_refuses_a_short_sample_or_none_before_anything_is_uploaded(
    fal_standin, subprocess_env, tmp_path
):
    code, out, err = await run(cli("voice-clone", "--audio-url", str(FIXTURES / "speech.wav")), subprocess_env)
    assert code == 1 and out == ""
    assert "Error (sample): the audio lasts 5.2 s; MiniMax Voice Clone needs at least 10 s of speech" in err
    code, out, err = await run(cli("voice-clone"), subprocess_env)
    assert code == 1 and out == "" and "--audio-url is required" in err
    assert fal_standin.uploads == {} and fal_standin.count("submit") == 0
