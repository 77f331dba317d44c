"""Input checks: URLs users type, what Discord declares about attachments, and the bytes themselves."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import links
from bot.discord_app.intake import Given, collect, spec_from
from bot.errors import BadInput
from bot.jobs import cost, inputs
from bot.jobs.spec import Command, JobSpec, Source
from tests import media_corpus
from tests.helpers import FIXTURES

FAL = inputs.Hosting()
PASSTHROUGH = inputs.Hosting("passthrough")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "ftp://example.com/a.png",
        "https://localhost/a.png",
        "https://127.0.0.1/a.png",
        "https://10.0.0.8/a.png",
        "https://192.168.1.2/a.png",
        "https://[::1]/a.png",
        "https://169.254.169.254/latest",
        "https://printer.local/a.png",
        "https://intranet/a.png",
        "https://" + "a" * 2100 + ".com/x",
    ],
)
def test_urls_that_are_not_public_https_are_refused(url):
    with pytest.raises(BadInput):
        links.parse("image_url", url)


def test_public_https_urls_pass():
    links.parse("image_url", "https://cdn.example.com/face.png")
    links.parse("image_url", "https://8.8.8.8/face.png")


@given(st.lists(st.one_of(st.integers(0, 300).map(str), st.integers(0, 255).map(hex)), min_size=1, max_size=4))
def test_hosts_made_of_numbers_pass_only_as_public_addresses(labels):
    host = ".".join(labels)
    try:
        links.parse("image_url", f"https://{host}/x")
    except BadInput:
        return
    import ipaddress

    assert ipaddress.ip_address(host).is_global


@pytest.mark.parametrize(
    "name,fixture,accepted",
    [
        ("image", "portrait.png", True),
        ("image", "portrait.jpg", True),
        ("audio", "speech.wav", True),
        ("audio", "speech.mp3", True),
        ("video", "clip.mp4", True),
        ("image", "not-an-image.png", False),
        ("video", "truncated.mp4", False),
        ("image", "speech.mp3", False),
        ("audio", "portrait.png", False),
    ],
)
async def test_bytes_decide_not_names(name, fixture, accepted):
    source = Source(name, "https://cdn/x", True, fixture)
    if accepted:
        info = await inputs.check_file(source, FIXTURES / fixture)
        assert info.kind == source.kind
    else:
        with pytest.raises(BadInput) as caught:
            await inputs.check_file(source, FIXTURES / fixture)
        assert caught.value.field == name and str(caught.value).startswith(f"'{fixture}' ")
        assert f"{'an' if name != 'video' else 'a'} {'audio file' if name == 'audio' else name} is needed" in str(
            caught.value
        )


def test_declared_type_and_size_are_checked_first():
    with pytest.raises(
        BadInput, match=r"'cv.pdf' is a PDF document \(application/pdf\); an image is needed: PNG, JPEG"
    ):
        inputs.check_declared(Source("image", "https://cdn/x", True, "cv.pdf", "application/pdf", 1000), FAL)
    with pytest.raises(BadInput, match="is 60.0 MB; an audio file is needed: .* \\(up to 50 MB\\)"):
        inputs.check_declared(Source("audio", "https://cdn/x", True, "long.wav", "audio/wav", 60 * 1024**2), FAL)
    inputs.check_declared(Source("audio", "https://cdn/x", True, "voice.m4a", "audio/x-m4a", 1000), FAL)


@pytest.mark.parametrize(
    "filename,refused",
    [("voice", "has no file extension"), ("voice.png", "is a .png file by its name"), ("voice.mp3", None)],
)
def test_in_passthrough_an_attachment_that_declares_no_type_is_judged_by_its_name(filename, refused):
    source = Source("audio", "https://cdn/x", True, filename, None, 1000)
    inputs.check_declared(source, FAL)  # the bot looks inside the file in fal hosting: nothing to refuse yet
    if refused is None:
        inputs.check_declared(source, PASSTHROUGH)
        return
    with pytest.raises(BadInput, match=f"'{filename}' declares no media type and {refused}") as caught:
        inputs.check_declared(source, PASSTHROUGH)
    assert caught.value.field == "audio" and "mp3, wav" in str(caught.value) and "is needed" in str(caught.value)


class FakeAttachment:
    def __init__(self, filename="face.png", content_type="image/png", size=1000):
        self.url, self.filename, self.content_type, self.size = f"https://cdn/{filename}", filename, content_type, size
        self.proxy_url = f"https://media/{filename}"


@pytest.mark.parametrize(
    "given_,text,message",
    [
        (
            [Given("image", None, None), Given("audio", None, "https://x.com/a.mp3")],
            None,
            "missing: give one of `image` or `image_url`",
        ),
        (
            [Given("image", FakeAttachment(), "https://x.com/p.png"), Given("audio", None, "https://x.com/a.mp3")],
            None,
            "give only one of `image` or `image_url`",
        ),
        (
            [Given("image", FakeAttachment(), None), Given("audio", None, "https://x.com/a.mp3")],
            "hi",
            "give only one of `audio` or `audio_url` or `text`",
        ),
        (
            [Given("image", FakeAttachment(), None), Given("audio", None, None)],
            None,
            "missing: give one of `audio` or `audio_url` or `text`",
        ),
    ],
)
def test_exactly_one_source_per_input(given_, text, message):
    with pytest.raises(BadInput, match=message):
        collect(Command.TALKINGHEAD, given_, text, FAL)


def test_options_are_checked_against_the_model():
    sources = collect(
        Command.TALKINGHEAD, [Given("image", FakeAttachment(), None), Given("audio", None, None)], "hi", FAL
    )
    with pytest.raises(BadInput, match="accepts resolution 720p or 1080p"):
        spec_from(Command.TALKINGHEAD, sources, model="fal-ai/bytedance/omnihuman/v1.5", text="hi", resolution="480p")
    with pytest.raises(BadInput, match="unknown voice"):
        spec_from(Command.TALKINGHEAD, sources, model=None, text="hi", voice="Bob")
    spec = spec_from(Command.TALKINGHEAD, sources, model=None, text="hi", voice="Calm_Woman")
    assert spec.model == "veed/fabric-1.0" and spec.image_url == "https://cdn/face.png"


def test_cost_estimates_follow_the_catalog_prices():
    spec = JobSpec(
        Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a", resolution="720p", audio_seconds=10
    )
    assert cost.estimate(spec) == pytest.approx(1.5)
    spoken = JobSpec(Command.LIPSYNC, video_url="v", text="x" * 140)  # ≈10 s of speech, 140 characters of TTS
    assert cost.estimate(spoken) == pytest.approx(10 * 0.05 + 0.14 * 0.06)
    assert cost.estimate(JobSpec(Command.LIPSYNC, video_url="v", audio_url="https://x/a.mp3")) is None


# ---- hosting attachments: streamed to a temporary file, inspected, uploaded from the file


class FileServer:
    """Serves bytes as Discord's CDN would, and counts what it sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.endless: set[str] = set()
        self.sent = 0

    async def handle(self, request):
        from aiohttp import web

        name = request.match_info["name"]
        response = web.StreamResponse()
        await response.prepare(request)
        if name in self.endless:
            while True:  # no Content-Length and no end: only the reader's cap stops it
                await response.write(b"\0" * 65536)
                self.sent += 65536
        data = self.files[name]
        for i in range(0, len(data), 65536):
            await response.write(data[i : i + 65536])
            self.sent += len(data[i : i + 65536])
        await response.write_eof()
        return response


@pytest.fixture
async def cdn():
    from aiohttp import web

    server = FileServer()
    app = web.Application()
    app.router.add_get("/{name}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield server
    await runner.cleanup()


@pytest.fixture
def temp_dirs(monkeypatch):
    made = []
    real = inputs.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(Path(real(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(inputs.tempfile, "mkdtemp", mkdtemp)
    return made


def attachment(cdn, name, fixture, content_type, filename=None):
    data = (FIXTURES / fixture).read_bytes()
    cdn.files[filename or fixture] = data
    return Source(name, f"{cdn.base}/{filename or fixture}", True, filename or fixture, content_type, len(data))


async def test_attachments_are_checked_then_uploaded_from_files_named_for_what_they_are(cdn, queue, fal_env, temp_dirs):
    sources = {
        "image": attachment(cdn, "image", "portrait.png", "image/png", "face.png"),
        "audio": attachment(cdn, "audio", "a_m4a_aac_isom.m4a", "video/mp4", "voice.mp4"),
    }  # sound only, named .mp4
    spec = JobSpec(Command.TALKINGHEAD, image_url=sources["image"].url, audio_url=sources["audio"].url)
    async with aiohttp.ClientSession() as session:
        hosted = await inputs.host(spec, sources, queue=queue, session=session, hosting=FAL)
    assert fal_env.uploads[hosted.image_url] == (FIXTURES / "portrait.png").read_bytes()
    assert fal_env.uploads[hosted.audio_url] == (FIXTURES / "a_m4a_aac_isom.m4a").read_bytes()
    assert hosted.image_url.endswith("/face.png") and hosted.audio_url.endswith("/voice.m4a")
    assert hosted.audio_seconds == pytest.approx(6.0, abs=0.1)
    assert cost.estimate(hosted) == pytest.approx(6.0 * 0.08, abs=0.01)
    assert temp_dirs and not any(d.exists() for d in temp_dirs)


async def test_a_refused_file_uploads_nothing_and_leaves_no_file(cdn, queue, fal_env, temp_dirs):
    sources = {
        "image": attachment(cdn, "image", "portrait.png", "image/png"),
        "audio": attachment(cdn, "audio", "truncated.mp4", "audio/mp4", "voice.m4a"),
    }
    spec = JobSpec(Command.TALKINGHEAD, image_url="i", audio_url="a")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(
            BadInput, match="'voice.m4a' looks like an MP4 or QuickTime file but it is damaged or incomplete"
        ):
            await inputs.host(spec, sources, queue=queue, session=session, hosting=FAL)
    assert fal_env.uploads == {} and not any(d.exists() for d in temp_dirs)


async def test_real_audio_length_over_the_model_limit_is_refused_before_any_upload(
    cdn, queue, fal_env, temp_dirs, tmp_path
):
    long_wav = media_corpus.make(tmp_path, next(s for s in media_corpus.ACCEPTED_SAMPLES if s.name == "ima-adpcm.wav"))
    cdn.files["long.wav"] = long_wav.read_bytes()  # 90 s of ADPCM, which a header-only reader took for 0.04 s
    sources = {
        "image": attachment(cdn, "image", "portrait.png", "image/png"),
        "audio": Source("audio", f"{cdn.base}/long.wav", True, "long.wav", "audio/x-wav", len(cdn.files["long.wav"])),
    }
    spec = JobSpec(Command.TALKINGHEAD, model="fal-ai/bytedance/omnihuman/v1.5", image_url="i", audio_url="a")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BadInput, match=r"the audio lasts 90.1 s; OmniHuman 1.5 accepts at most 60 s"):
            await inputs.host(spec, sources, queue=queue, session=session, hosting=FAL)
    assert fal_env.uploads == {} and not any(d.exists() for d in temp_dirs)


async def test_the_size_cap_is_enforced_while_downloading(cdn, queue, fal_env, temp_dirs, monkeypatch):
    monkeypatch.setitem(inputs.MAX_BYTES, "video", 2 * 1024**2)
    cdn.endless.add("huge.mp4")
    source = Source("video", f"{cdn.base}/huge.mp4", True, "huge.mp4", "video/mp4", 1000)  # Discord's size can be wrong
    spec = JobSpec(Command.LIPSYNC, video_url=source.url, audio_url="https://cdn.example/a.mp3")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BadInput, match="'huge.mp4' is over 2 MB; a video is needed"):
            await inputs.host(spec, {"video": source}, queue=queue, session=session, hosting=FAL)
    assert fal_env.uploads == {} and not any(d.exists() for d in temp_dirs)
