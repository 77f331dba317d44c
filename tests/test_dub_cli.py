"""`python -m bot.cli dub`, run as users run it, against the fal stand-in: fal's JSON on stdout, exit 0; a local file
checked and uploaded like the other subcommands'; bad input refused with one line and exit 1 before anything is
sent."""

from __future__ import annotations

import json

from tests.botproc import python_cmd
from tests.helpers import FIXTURES
from tests.test_cli import QUICK, cli, run

VIDEO = "https://cdn.example/talk.mp4"


async def test_dub_prints_fals_json_and_saves_the_video(fal_standin, subprocess_env, tmp_path):
    fal_standin.script("veed/dubbing", QUICK)
    saved = tmp_path / "dubbed.mp4"
    code, out, err = await run(cli("dub", "--video-url", VIDEO, "--language", "es", "-o", str(saved)), subprocess_env)
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert json.loads(out) == job.output and job.payload == {"video_url": VIDEO, "target_language": "es"}
    assert saved.stat().st_size > 0 and "Completed!" in err
    assert fal_standin.violations == []


async def test_dub_uploads_a_local_file_to_pro_with_a_regional_language(fal_standin, subprocess_env):
    fal_standin.script("veed/dubbing/pro", QUICK)
    clip = str(FIXTURES / "clip.mp4")
    code, out, err = await run(
        # python_cmd: the stand-in's storage patched in, as for the other subcommands' local files
        python_cmd("bot.cli", "dub", "--video-url", clip, "--language", "Spanish (Mexico)", "-m", "veed/dubbing/pro"),
        subprocess_env,
    )
    assert code == 0, err
    (job,) = fal_standin.jobs.values()
    assert job.endpoint_id == "veed/dubbing/pro" and job.payload["target_language"] == "es-MX"
    assert fal_standin.uploads[job.payload["video_url"]] == (FIXTURES / "clip.mp4").read_bytes()
    assert json.loads(out)["video"]["url"] == job.output["video"]["url"]


async def test_dub_refuses_bad_input_with_one_line_before_anything_is_sent(fal_standin, subprocess_env):
    cases = [
        (("--video-url", VIDEO), "Error: --language is required"),
        (("--language", "es"), "Error: --video-url is required"),
        (("--video-url", VIDEO, "--language", "xx"), "Error (language): 'xx' is not a language VEED Dubbing knows"),
        (("--video-url", VIDEO, "--language", "pt-BR"), "only `veed/dubbing/pro` (VEED Dubbing Pro) dubs into"),
        (
            ("--video-url", str(FIXTURES / "long_601s.mp4"), "--language", "es"),
            "Error (video): the video lasts 602.0 s; VEED Dubbing accepts at most 600 s",
        ),
    ]
    for args, says in cases:
        code, out, err = await run(cli("dub", *args), subprocess_env)
        assert code == 1 and out == "" and says in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert fal_standin.requests == []
