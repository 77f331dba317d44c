"""Bad input, fuzzed, against the pure checks: every link that is not a public https link and every text with
nothing to speak is refused naming its option; good ones pass. (test_fuzz_e2e.py sends the same through the bot.)"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadInput
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.jobs.build import build_spec, check_speakable
from bot.jobs.spec import Command
from bot.links import parse as check_url
from tests.bad_inputs import GOOD, bad_urls, private_urls, unspeakable_texts

FAST = settings(max_examples=400, deadline=None)


@FAST
@given(url=bad_urls())
def test_links_that_are_not_public_https_links_are_refused(url):
    with pytest.raises(BadInput) as caught:
        check_url("image_url", url)
    assert caught.value.field == "image_url"
    assert "https://" in str(caught.value) or "public" in str(caught.value)


@FAST
@given(url=private_urls())
def test_private_addresses_are_refused_in_every_spelling(url):
    with pytest.raises(BadInput, match="public"):
        check_url("audio_url", url)


public_v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address).filter(lambda a: a.is_global and not a.is_multicast)
names = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,2}\.(com|org|net|io|app|dev)", fullmatch=True)


@FAST
@given(host=st.one_of(names, public_v4.map(str)), path=st.from_regex(r"(/[A-Za-z0-9._~-]{1,12}){0,3}", fullmatch=True))
def test_public_https_links_pass(host, path):
    check_url("image_url", f"https://{host}{path}")
    check_url("image_url", f"  https://{host}:443{path}\n")  # surrounding whitespace is trimmed, as Discord's apps do


@pytest.mark.parametrize("value", [0, 1, 3.5, True, None, ["https://x.com/a.png"], {"url": GOOD}])
def test_a_link_that_is_not_text_is_refused(value):
    with pytest.raises(BadInput, match="https:// link"):
        check_url("video_url", value)


SPEAKER = catalog.get_model(None, Kind.TTS)


@FAST
@given(text=unspeakable_texts())
def test_text_with_nothing_to_say_is_refused(text):
    with pytest.raises(BadInput) as caught:
        check_speakable(text, SPEAKER)
    assert caught.value.field == "text"
    with pytest.raises(BadInput) as caught:
        build_spec(Command.TALKINGHEAD, image_url=GOOD, text=text)
    assert caught.value.field == "text"


@FAST
@given(text=st.from_regex(r"[\w ,.!?'’-]{0,40}[A-Za-z0-9À-ÖØ-öø-ÿ一-龥][\w ,.!?'’*_-]{0,40}", fullmatch=True))
def test_words_in_any_script_are_spoken(text):
    spec = build_spec(Command.TALKINGHEAD, image_url=GOOD, text=text)
    assert spec.text == text.strip()


def test_text_longer_than_the_voice_speaks_is_refused():
    long = "word " * 2001
    with pytest.raises(BadInput, match="characters long"):
        check_speakable(long, SPEAKER)
