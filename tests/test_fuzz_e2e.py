"""Bad input, fuzzed, through the real bot: every bad command invocation gets a private message naming the option
and what is accepted (never the generic error), nothing reaches fal, and the next command is served.

One bot serves every example of a test (hypothesis runs the examples one after another in the same test), so a
crash or a stuck bot shows up as the next command going unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bad_inputs import GOOD, bad_urls, unspeakable_texts
from tests.helpers import FIXTURES, private_followup, refused

AUDIO_URL = "https://cdn.example.com/media/speech.mp3"
VIDEO_URL = "https://cdn.example.com/media/face.mp4"
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GENERIC = "Something went wrong"


@dataclass(frozen=True)
class Bad:
    command: str
    options: dict[str, Any]
    option: str  # the option the refusal must name


# Where a link goes, with the other options a command needs.
LINK_SLOTS = [
    ("talkinghead", "image_url", {"text": "hello there"}),
    ("talkinghead", "audio_url", {"image_url": GOOD}),
    ("lipsync", "video_url", {"text": "hello there"}),
    ("lipsync", "audio_url", {"video_url": VIDEO_URL}),
    ("animate", "image_url", {"video_url": VIDEO_URL}),
    ("animate", "video_url", {"image_url": GOOD}),
]


def bad_links() -> st.SearchStrategy[Bad]:
    return st.builds(
        lambda slot, url: Bad(slot[0], {**slot[2], slot[1]: url}, slot[1]), st.sampled_from(LINK_SLOTS), bad_urls()
    )


def bad_texts() -> st.SearchStrategy[Bad]:
    too_long = st.integers(2001, 2600).map(lambda n: "word " * (n // 5) + "x" * (n % 5 + 1))
    texts = st.one_of(unspeakable_texts(), too_long, st.just(""))
    return st.builds(
        lambda command, text: Bad(
            command,
            {
                ("image_url" if command == "talkinghead" else "video_url"): (
                    GOOD if command == "talkinghead" else VIDEO_URL
                ),
                "text": text,
            },
            "text",
        ),
        st.sampled_from(["talkinghead", "lipsync"]),
        texts,
    )


def _raw(kind: int, value: Any) -> dict:
    return {"type": kind, "value": value}


# Values of the wrong JSON type, and values a choice does not offer: a raw interaction can carry any of them.
WRONG_VALUES = st.one_of(
    st.integers(-2, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON (and so Discord) has neither
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


def wrong_types() -> st.SearchStrategy[Bad]:
    base = {"image_url": GOOD, "audio_url": AUDIO_URL}
    as_string = st.builds(
        lambda name, value: Bad("talkinghead", {**base, name: _raw(3, value)}, name),
        st.sampled_from(["image_url", "audio_url", "model", "voice", "resolution"]),
        WRONG_VALUES,
    )
    text_number = st.builds(
        lambda value: Bad("talkinghead", {"image_url": GOOD, "text": _raw(3, value)}, "text"), WRONG_VALUES
    )
    not_offered = st.builds(
        lambda name, value: Bad("talkinghead", {**base, name: value}, name),
        st.sampled_from(["model", "resolution"]),
        st.sampled_from(["0", "", "nope", "veed/fabric-1.0 ", "4k", "fal-ai/sync-lipsync", "480"]),
    )
    falsy_choice = st.builds(
        lambda name, value: Bad("talkinghead", {**base, name: _raw(3, value)}, name),
        st.sampled_from(["model", "resolution"]),
        st.sampled_from([0, 0.0, False, None, ""]),
    )
    private = st.builds(
        lambda value: Bad("talkinghead", {**base, "private": _raw(5, value)}, "private"),
        st.one_of(st.sampled_from(["yes", "true", 1, 0, None, "False"]), st.integers()),
    )
    unknown = st.builds(
        lambda name: Bad("talkinghead", {**base, name: "x"}, name),
        st.sampled_from(["foo", "prompt", "image_urls", "sync_mode"]),
    )
    attachment_ids = st.builds(
        lambda value: Bad("talkinghead", {"audio_url": AUDIO_URL, "image": _raw(11, value)}, "image"),
        st.one_of(st.sampled_from(["abc", "", "-1", "1e5", "١٢٣"]), st.integers(), st.integers(1, 10**18).map(str)),
    )
    return st.one_of(as_string, text_number, not_offered, falsy_choice, private, unknown, attachment_ids)


# (content type, file name) an attachment declares, for bytes of the kind in question: each is refused before
# the file is downloaded.
DECLARED = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                "text/plain",
                "application/pdf",
                "application/x-msdownload",
                "video/mp4",
                "audio/mpeg",
                "application/zip",
                "text/html; charset=utf-8",
            ]
        ),
        st.just("face.png"),
    ),
    st.tuples(st.none(), st.sampled_from(["notes.txt", "setup.exe", "doc.pdf", "archive.zip", "page.html"])),
)


def bad_attachments() -> st.SearchStrategy[dict]:
    """Instructions for an attachment: declared type and name, and the size it claims."""
    return st.one_of(
        st.builds(lambda declared: {"content_type": declared[0], "filename": declared[1]}, DECLARED),
        st.builds(
            lambda size: {"content_type": "image/png", "filename": "face.png", "size": size},
            st.sampled_from([0, 50 * 1024**2 + 1, 10**12]),
        ),
    )


async def assert_refused_privately(discord, fal, bad: Bad) -> None:
    before = len(fal.requests)
    interaction = await discord.send_command(bad.command, bad.options)
    await discord.wait_for(lambda: interaction.callbacks, timeout=10)
    body = interaction.callbacks[0][1]
    content = body.get("data", {}).get("content", "")
    assert refused(interaction), (bad, body)
    assert f"`{bad.option}`" in content and GENERIC not in content, (bad, content)
    assert len(fal.requests) == before, (bad, [r.route for r in fal.requests[before:]])
    # The next command is served.
    jobs = await discord.send_command("jobs")
    await discord.wait_for(lambda: jobs.callbacks, timeout=10)


@EXAMPLES
@given(bad=st.one_of(bad_links(), bad_texts(), wrong_types()))
async def test_bad_options_are_refused_privately_naming_the_option(bot, discord_standin, fal_standin, bad):
    await assert_refused_privately(discord_standin, fal_standin, bad)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(declared=bad_attachments())
async def test_attachments_declared_wrong_are_refused_before_download(bot, discord_standin, fal_standin, declared):
    data = (FIXTURES / "portrait.png").read_bytes()
    attachment = discord_standin.add_attachment(declared["filename"], data, declared["content_type"])
    if declared["content_type"] is None:
        attachment.pop("content_type", None)
    if "size" in declared:
        attachment["size"] = declared["size"]
    await assert_refused_privately(
        discord_standin, fal_standin, Bad("talkinghead", {"image": attachment, "text": "hello"}, "image")
    )


LIARS = [
    # (fixture bytes, declared content type, file name, command, option, the options besides it)
    ("speech.wav", "image/png", "face.png", "talkinghead", "image", {"text": "hello"}),
    ("not-an-image.png", "image/png", "not-an-image.png", "talkinghead", "image", {"text": "hello"}),
    ("photo.heic", "image/png", "photo.png", "talkinghead", "image", {"text": "hello"}),
    ("portrait.png", "audio/mpeg", "voice.mp3", "talkinghead", "audio", {"image_url": GOOD}),
    ("truncated.mp4", "video/mp4", "face.mp4", "lipsync", "video", {"text": "hello"}),
    ("portrait.jpg", "video/mp4", "face.mp4", "animate", "video", {"image_url": GOOD}),
    (None, "image/png", "empty.png", "talkinghead", "image", {"text": "hello"}),  # declares a size, serves 0 bytes
]


@pytest.mark.parametrize("fixture,content_type,filename,command,option,others", LIARS)
async def test_files_that_lie_about_what_they_are_are_refused_privately(
    bot, discord_standin, fal_standin, fixture, content_type, filename, command, option, others
):
    data = (FIXTURES / fixture).read_bytes() if fixture else b""
    attachment = discord_standin.add_attachment(filename, data, content_type)
    attachment["size"] = attachment["size"] or 1234
    interaction = await discord_standin.send_command(command, {option: attachment, **others})
    answer = await discord_standin.wait_for(lambda: private_followup(discord_standin, interaction), timeout=20)
    assert answer.content.startswith(f"⚠️ `{option}`: '{filename}' ") and "is needed" in answer.content
    assert GENERIC not in answer.content and "Nothing was sent to fal or charged" in answer.content
    await discord_standin.wait_for(lambda: discord_standin.messages[interaction.original_message_id].deleted)
    assert fal_standin.requests == []
