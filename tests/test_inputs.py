"""Input checks: URLs users type, what Discord declares about attachments, and the bytes themselves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.fal.errors import BadInput
from bot.intake import Given, build_spec, collect
from bot.jobs import cost, inputs
from bot.jobs.inputs import Source
from bot.jobs.spec import Command, JobSpec
from tests.conftest import FIXTURES


@pytest.mark.parametrize("url", [
    "http://example.com/a.png", "ftp://example.com/a.png", "https://localhost/a.png", "https://127.0.0.1/a.png",
    "https://10.0.0.8/a.png", "https://192.168.1.2/a.png", "https://[::1]/a.png", "https://169.254.169.254/latest",
    "https://printer.local/a.png", "https://intranet/a.png", "https://" + "a" * 2100 + ".com/x",
])
def test_urls_that_are_not_public_https_are_refused(url):
    with pytest.raises(BadInput):
        inputs.check_url("image_url", url)


def test_public_https_urls_pass():
    inputs.check_url("image_url", "https://cdn.example.com/face.png")
    inputs.check_url("image_url", "https://8.8.8.8/face.png")


@given(st.lists(st.one_of(st.integers(0, 300).map(str), st.integers(0, 255).map(hex)), min_size=1, max_size=4))
def test_hosts_made_of_numbers_pass_only_as_public_addresses(labels):
    host = ".".join(labels)
    try:
        inputs.check_url("image_url", f"https://{host}/x")
    except BadInput:
        return
    import ipaddress
    assert ipaddress.ip_address(host).is_global


@pytest.mark.parametrize("name,fixture,accepted", [
    ("image", "portrait.png", True), ("image", "portrait.jpg", True), ("audio", "speech.wav", True),
    ("audio", "speech.mp3", True), ("video", "clip.mp4", True), ("image", "not-an-image.png", False),
    ("video", "truncated.mp4", False), ("image", "speech.mp3", False), ("audio", "portrait.png", False),
])
def test_bytes_decide_not_names(name, fixture, accepted):
    source = Source(name, "https://cdn/x", True, fixture)
    data = (FIXTURES / fixture).read_bytes()
    if accepted:
        inputs.check_bytes(source, data)
    else:
        with pytest.raises(BadInput) as caught:
            inputs.check_bytes(source, data)
        assert fixture in str(caught.value) and "needed" in str(caught.value) or "damaged" in str(caught.value)


def test_declared_type_and_size_are_checked_first():
    with pytest.raises(BadInput, match="application/pdf; a image is needed: png, jpg"):
        inputs.check_declared(Source("image", "https://cdn/x", True, "cv.pdf", "application/pdf", 1000))
    with pytest.raises(BadInput, match="MB; accepted"):
        inputs.check_declared(Source("audio", "https://cdn/x", True, "long.wav", "audio/wav", 60 * 1024**2))


class FakeAttachment:
    def __init__(self, filename="face.png", content_type="image/png", size=1000):
        self.url, self.filename, self.content_type, self.size = f"https://cdn/{filename}", filename, content_type, size


@pytest.mark.parametrize("given_,text,message", [
    ([Given("image", None, None), Given("audio", None, "https://x.com/a.mp3")], None, "missing: give one of `image` or `image_url`"),
    ([Given("image", FakeAttachment(), "https://x.com/p.png"), Given("audio", None, "https://x.com/a.mp3")], None,
     "give only one of `image` or `image_url`"),
    ([Given("image", FakeAttachment(), None), Given("audio", None, "https://x.com/a.mp3")], "hi", "give only one of `audio` or `audio_url` or `text`"),
    ([Given("image", FakeAttachment(), None), Given("audio", None, None)], None, "missing: give one of `audio` or `audio_url` or `text`"),
])
def test_exactly_one_source_per_input(given_, text, message):
    with pytest.raises(BadInput, match=message):
        collect(Command.TALKINGHEAD, given_, text)


def test_options_are_checked_against_the_model():
    sources = collect(Command.TALKINGHEAD, [Given("image", FakeAttachment(), None), Given("audio", None, None)], "hi")
    with pytest.raises(BadInput, match="accepts resolution 720p or 1080p"):
        build_spec(Command.TALKINGHEAD, sources, model="fal-ai/bytedance/omnihuman/v1.5", text="hi", resolution="480p")
    with pytest.raises(BadInput, match="unknown voice"):
        build_spec(Command.TALKINGHEAD, sources, model=None, text="hi", voice="Bob")
    spec = build_spec(Command.TALKINGHEAD, sources, model=None, text="hi", voice="Calm_Woman")
    assert spec.model == "veed/fabric-1.0" and spec.image_url == "https://cdn/face.png"


def test_cost_estimates_follow_the_catalog_prices():
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a", resolution="720p", audio_seconds=10)
    assert cost.estimate(spec) == pytest.approx(1.5)
    spoken = JobSpec(Command.LIPSYNC, video_url="v", text="x" * 140)  # ≈10 s of speech, 140 characters of TTS
    assert cost.estimate(spoken) == pytest.approx(10 * 0.05 + 0.14 * 0.06)
    assert cost.estimate(JobSpec(Command.LIPSYNC, video_url="v", audio_url="https://x/a.mp3")) is None
