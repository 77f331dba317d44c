"""Bad input, fuzzed, through the real bot: every option of every slash command, the message context menus and
their modals, and the autocompletes, given hostile values. Every refusal is a private message naming the option
and what is accepted (never the generic error), nothing reaches fal unless the bot took the command, a command it
took ends without the generic error, the next command is served, and the bot logs no traceback.

One bot serves every example of a test (hypothesis runs the examples one after another in the same test), so a
crash or a stuck bot shows up as the next command going unanswered. The bot fetches links that pass its checks
(INPUT_HOSTING=fal), so the examples here give it none: only files on the Discord stand-in's CDN, and links it
refuses. The one passthrough test hands the links it takes to fal unfetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import links
from bot.errors import BadInput
from bot.fal import catalog, languages
from tests.bad_inputs import GOOD, bad_urls, private_hosts, unspeakable_texts
from tests.helpers import FIXTURES, STORES, configure, private_followup, refused, shown_text
from tests.standins.discord_api import ADMIN_ROLE_ID, CHANNEL_ID, USER_ID
from tests.standins.fal_queue import JobScript

AUDIO_URL = "https://cdn.example.com/media/speech.mp3"
VIDEO_URL = "https://cdn.example.com/media/face.mp4"
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GENERIC = "Something went wrong"


def examples(count: int) -> settings:
    return settings(EXAMPLES, max_examples=count)


@dataclass(frozen=True)
class File:
    """An attachment to put on the Discord stand-in's CDN: a fixture's bytes (none: empty), as declared."""

    fixture: str | None
    content_type: str | None
    filename: str
    size: int | None = None  # the size it claims, when not its true one
    fields: tuple[tuple[str, Any], ...] = ()  # more of its description, as Discord would never write it


def made(discord, options: dict[str, Any]) -> dict[str, Any]:
    """The options with each File put on the CDN (an attachment object) and each None left out."""
    return {name: attached(discord, value) for name, value in options.items() if value is not None}


def attached(discord, value: Any) -> Any:
    if isinstance(value, list):
        return [attached(discord, v) for v in value]
    if not isinstance(value, File):
        return value
    data = (FIXTURES / value.fixture).read_bytes() if value.fixture else b""
    attachment = discord.add_attachment(value.filename, data, value.content_type)
    if value.content_type is None:
        attachment.pop("content_type", None)
    if value.size is not None:
        attachment["size"] = value.size
    return attachment | dict(value.fields)


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


def raw(kind: int, value: Any) -> dict:
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
        lambda name, value: Bad("talkinghead", {**base, name: raw(3, value)}, name),
        st.sampled_from(["image_url", "audio_url", "model", "voice", "resolution"]),
        WRONG_VALUES,
    )
    text_number = st.builds(
        lambda value: Bad("talkinghead", {"image_url": GOOD, "text": raw(3, value)}, "text"), WRONG_VALUES
    )
    not_offered = st.builds(
        lambda name, value: Bad("talkinghead", {**base, name: value}, name),
        st.sampled_from(["model", "resolution"]),
        st.sampled_from(["0", "", "nope", "veed/fabric-1.0 ", "4k", "fal-ai/sync-lipsync", "480"]),
    )
    falsy_choice = st.builds(
        lambda name, value: Bad("talkinghead", {**base, name: raw(3, value)}, name),
        st.sampled_from(["model", "resolution"]),
        st.sampled_from([0, 0.0, False, None, ""]),
    )
    private = st.builds(
        lambda value: Bad("talkinghead", {**base, "private": raw(5, value)}, "private"),
        st.one_of(st.sampled_from(["yes", "true", 1, 0, None, "False"]), st.integers()),
    )
    unknown = st.builds(
        lambda name: Bad("talkinghead", {**base, name: "x"}, name),
        st.sampled_from(["foo", "negative_prompt", "image_urls", "sync_mode", "emotion"]),
    )
    attachment_ids = st.builds(
        lambda value: Bad("talkinghead", {"audio_url": AUDIO_URL, "image": raw(11, value)}, "image"),
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
    jobs = await discord.send_command("jobs", subcommand="list")
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


PORTRAIT = File("portrait.png", "image/png", "face.png")
LIARS = [
    # (fixture bytes, declared content type, file name, command, option, the options besides it)
    ("speech.wav", "image/png", "face.png", "talkinghead", "image", {"text": "hello"}),
    ("not-an-image.png", "image/png", "not-an-image.png", "talkinghead", "image", {"text": "hello"}),
    ("photo.heic", "image/png", "photo.png", "talkinghead", "image", {"text": "hello"}),
    ("portrait.png", "audio/mpeg", "voice.mp3", "talkinghead", "audio", {"image": PORTRAIT}),
    ("truncated.mp4", "video/mp4", "face.mp4", "lipsync", "video", {"text": "hello"}),
    ("portrait.jpg", "video/mp4", "face.mp4", "animate", "video", {"image": PORTRAIT}),
    (None, "image/png", "empty.png", "talkinghead", "image", {"text": "hello"}),  # declares a size, serves 0 bytes
]


@pytest.mark.parametrize("fixture,content_type,filename,command,option,others", LIARS)
async def test_files_that_lie_about_what_they_are_are_refused_privately(
    bot, discord_standin, fal_standin, fixture, content_type, filename, command, option, others
):
    data = (FIXTURES / fixture).read_bytes() if fixture else b""
    attachment = discord_standin.add_attachment(filename, data, content_type)
    attachment["size"] = attachment["size"] or 1234
    others = made(discord_standin, others)  # a link here would be fetched: the other input is a file too
    interaction = await discord_standin.send_command(command, {option: attachment, **others})
    answer = await discord_standin.wait_for(lambda: private_followup(discord_standin, interaction), timeout=20)
    assert answer.content.startswith(f"⚠️ `{option}`: '{filename}' ") and "is needed" in answer.content
    assert GENERIC not in answer.content and "Nothing was sent to fal or charged" in answer.content
    await discord_standin.wait_for(lambda: discord_standin.messages[interaction.original_message_id].deleted)
    assert fal_standin.requests == []


# ---- every option of every command, hostile: what the examples are made of

QUICK = JobScript(queue_positions=[0], queue_step=0.05, run_time=0.1, logs=["go"])
GUILD, DM, GROUP_DM = (0, 0), (1, 1), (2, 1)  # (context, installs): a server, the bot's DM, a group DM
WHERES = st.sampled_from([GUILD, GUILD, DM, GROUP_DM])
ENDED = ("✅", "❌", "🚫")
REFUSAL = re.compile(r"⚠️ `[^`\n]+`")  # render_bad_input: the option, then what is wrong and what is accepted

COMMAND_OPTIONS = {
    "talkinghead": (
        "image",
        "image_url",
        "audio",
        "audio_url",
        "text",
        "model",
        "voice",
        "resolution",
        "prompt",
        "private",
    ),
    "lipsync": (
        "video",
        "video_url",
        "audio",
        "audio_url",
        "text",
        "model",
        "voice",
        "sync_mode",
        "emotion",
        "private",
    ),
    "animate": ("image", "image_url", "video", "video_url", "private"),
    "dub": ("video", "video_url", "language", "model", "private"),
}
EVERY_OPTION = {name for names in COMMAND_OPTIONS.values() for name in names}
TAKEN = {  # what each command is given when the example changes nothing: a job it takes
    "talkinghead": {"image": File("portrait.png", "image/png", "face.png"), "text": "hello there"},
    "lipsync": {"video": File("clip.mp4", "video/mp4", "clip.mp4"), "text": "hello there"},
    "animate": {
        "image": File("portrait.png", "image/png", "face.png"),
        "video": File("clip.mp4", "video/mp4", "clip.mp4"),
    },
    "dub": {"video": File("clip.mp4", "video/mp4", "clip.mp4"), "language": "es"},
}
GOOD_FILES = {
    "image": [("portrait.png", "image/png"), ("portrait.jpg", "image/jpeg")],
    "video": [("clip.mp4", "video/mp4"), ("v_webm_vp9_opus.webm", "video/webm")],
    "audio": [
        ("speech.mp3", "audio/mpeg"),
        ("a_ogg_opus_voicemsg.ogg", "audio/ogg"),
        ("a_m4a_aac_isom.m4a", "audio/mp4"),
        ("a_aac_adts.aac", "audio/aac"),
    ],
}
EVERY_FIXTURE = sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".md")
NOT_MEDIA = ["text/plain", "application/pdf", "application/x-msdownload", "application/zip", "text/html; charset=utf-8"]

# Text as a confused member or an attacker types it: any Unicode (no lone surrogates: Discord sends UTF-8), control
# and invisible characters, nothing at all, far too much, and strings that break naive SQL, LIKE or markdown.
HOSTILE_STRINGS = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=60),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co"]), min_size=1, max_size=20),
    st.integers(2001, 8000).map(lambda n: "𝕨" * n),
    st.sampled_from(["", " ", "\x00", "a\x00b", "%", "_%", "'; DROP TABLE jobs; --", "\u202eevil", "@everyone", "[]"]),
)


def passes_checks(url: object) -> bool:
    """Whether the bot would take this link (and, with INPUT_HOSTING=fal, fetch it)."""
    try:
        links.parse("link", url)
    except BadInput:
        return False
    return True


def _spellings(c: str) -> list[str]:
    """Ways to write a host's character that IDNA / UTS 46 maps back to it."""
    forms = [c, c.upper()]
    if c == ".":
        forms += ["．", "。", "｡"]
    elif "!" <= c <= "~":
        forms.append(chr(ord(c) + 0xFEE0))  # fullwidth
    if c.isdigit():
        forms.append(chr(0x1D7CE + int(c)))  # mathematical bold digit
    if "a" <= c <= "z":
        forms.append(chr(0x24D0 + ord(c) - ord("a")))  # circled letter
    return forms


def unicode_spelled(host: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from(_spellings(c)) for c in host)).map("".join)


def unicode_urls(hosts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    path = st.sampled_from(["/face.png", "/a/speech.mp3", "/clip.mp4", ""])
    return st.builds(lambda host, p: f"https://{host}{p}", hosts.flatmap(unicode_spelled), path)


UNICODE_LINKS = [
    "https://１２７．０．０．１/face.png",
    "https://１２７。０。０。１/speech.mp3",
    "https://[not-an-ip]/x",
    "https://[１２７．０．０．１]/x",
    "https://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/face.png",
    "https://localhost。/x.png",
    "https://[::ｆｆｆｆ:127.0.0.1]/x",
]


def refused_link_texts() -> st.SearchStrategy[str]:
    """Links the bot refuses, in every spelling (never one it would fetch)."""
    return st.one_of(bad_urls(), unicode_urls(private_hosts()), st.sampled_from(UNICODE_LINKS), HOSTILE_STRINGS).filter(
        lambda url: not passes_checks(url)
    )


def refused_links() -> st.SearchStrategy[Any]:
    """Link option values the bot refuses: links, and values of other JSON types."""
    return st.one_of(refused_link_texts(), WRONG_VALUES.map(lambda value: raw(3, value)))


def said(value: Any) -> bool:
    """Whether an option says anything: the bot reads a blank one as not given."""
    return not isinstance(value, str) or bool(value.strip())


def hostile_filenames(extension: str) -> st.SearchStrategy[str]:
    stem = st.one_of(st.text(st.characters(codec="utf-8"), max_size=40), st.just("a" * 300), st.just(""))
    return st.one_of(st.just(f"file.{extension}"), stem.map(lambda s: f"{s}.{extension}"), stem)


def files_taken_or_not(kind: str) -> st.SearchStrategy[File]:
    """Files the bot may take (good ones under odd names) or refuse only once downloaded (lying ones)."""
    good = st.sampled_from(GOOD_FILES[kind]).flatmap(
        lambda f: st.builds(File, st.just(f[0]), st.sampled_from([f[1], None]), hostile_filenames(f[0].split(".")[-1]))
    )
    lying = st.builds(
        File,
        st.one_of(st.sampled_from(EVERY_FIXTURE), st.none()),
        st.sampled_from([t for _, t in GOOD_FILES[kind]] + ["application/octet-stream"]),
        hostile_filenames(GOOD_FILES[kind][0][0].split(".")[-1]),
        st.one_of(st.none(), st.integers(1, 10**6)),
    )
    return st.one_of(good, lying)


UNREADABLE = [  # a file's description as Discord would never write it
    ("filename", 5),
    ("filename", None),
    ("url", ["x"]),
    ("proxy_url", 5),
    ("size", "12"),
    ("size", -1),
    ("size", 1.5),
    ("size", True),
    ("content_type", 5),
    ("content_type", ["image/png"]),
    ("duration_secs", "5"),
]


def refused_files(kind: str) -> st.SearchStrategy[File]:
    """Files refused for what they declare (or for a description that cannot be read), before anything is
    downloaded."""
    fixture, content_type = GOOD_FILES[kind][0]
    return st.one_of(
        st.builds(File, st.just(fixture), st.sampled_from(NOT_MEDIA), st.sampled_from([fixture, "x.exe", "noname"])),
        st.builds(File, st.just(fixture), st.none(), st.sampled_from(["notes.txt", "setup.exe", "doc.pdf"])),
        st.builds(File, st.just(fixture), st.none(), st.just(fixture), st.sampled_from([0, 10**12])),
        st.sampled_from(UNREADABLE).map(lambda field: File(fixture, content_type, fixture, fields=(field,))),
    )


def refused_attachments(kind: str) -> st.SearchStrategy[Any]:
    """Attachment option values refused before anything is downloaded: files, ids that resolve to nothing, and
    values that are no id at all."""
    ids = st.one_of(st.sampled_from(["abc", "", "-1", "1e5", "١٢٣", "0"]), st.integers(1, 10**19).map(str))
    return st.one_of(
        refused_files(kind),
        ids.map(lambda attachment_id: raw(11, attachment_id)),
        WRONG_VALUES.map(lambda v: raw(11, v)),
    )


Options = st.SearchStrategy[dict[str, Any]]  # options an example changes (None: leaves the option out)


@dataclass(frozen=True)
class Group:
    """Changes to some options of a command: those for which the bot must refuse the command, and those for which
    it may take it (a command lacking the option refuses it all the same)."""

    refused: Options
    maybe: Options


def media_group(kind: str) -> Group:
    """The `kind` input: a hostile file, link, both or neither."""
    url = f"{kind}_url"
    return Group(
        refused=st.one_of(
            refused_attachments(kind).map(lambda v: {kind: v}),
            refused_links().map(lambda v: {kind: None, url: v}),
            refused_links().filter(said).map(lambda v: {url: v}),  # beside the file: give only one
        ),
        maybe=st.one_of(files_taken_or_not(kind).map(lambda v: {kind: v}), st.just({kind: None})),
    )


def speech_group() -> Group:
    """The speech: hostile text, an audio file or link instead, a voice."""
    too_long = st.integers(2001, 6000).map(lambda n: "word " * (n // 5) + "x" * (n % 5 + 1))
    voices = st.sampled_from(catalog.MINIMAX_VOICES)
    unknown_voices = HOSTILE_STRINGS.filter(lambda v: v and v not in catalog.MINIMAX_VOICES)
    return Group(
        refused=st.one_of(
            st.one_of(unspeakable_texts(), too_long, st.just("")).map(lambda t: {"text": t}),
            WRONG_VALUES.map(lambda v: {"text": raw(3, v)}),
            refused_attachments("audio").map(lambda v: {"text": None, "audio": v}),
            refused_links().map(lambda v: {"text": None, "audio_url": v}),
            refused_links().filter(said).map(lambda v: {"audio_url": v}),  # beside the text
            unknown_voices.map(lambda v: {"voice": v}),
            WRONG_VALUES.map(lambda v: {"voice": raw(3, v)}),
            st.tuples(voices, files_taken_or_not("audio")).map(lambda v: {"voice": v[0], "text": None, "audio": v[1]}),
        ),
        maybe=st.one_of(
            HOSTILE_STRINGS.map(lambda t: {"text": t}),
            files_taken_or_not("audio").map(lambda v: {"text": None, "audio": v}),
            voices.map(lambda v: {"voice": v}),
        ),
    )


def choice_group(option: str, offered: list[str]) -> Group:
    return Group(
        refused=st.one_of(
            HOSTILE_STRINGS.filter(lambda v: v not in offered).map(lambda v: {option: v}),
            WRONG_VALUES.map(lambda v: {option: raw(3, v)}),
        ),
        maybe=st.sampled_from(offered).map(lambda v: {option: v}),
    )


def prompt_group() -> Group:
    """The prompt: hostile text (taken by OmniHuman 1.5 and Creatify Aurora, refused by the others), text with no
    words, too long, or not text at all."""
    wordless = st.text(st.characters(categories=["Zs", "Cc", "Cf", "So", "Po"]), min_size=1, max_size=20)
    return Group(
        refused=st.one_of(
            wordless.filter(lambda t: not any(c.isalnum() for c in t)).map(lambda t: {"prompt": t}),
            st.integers(1001, 3000).map(lambda n: {"prompt": "she nods " * (n // 9 + 1)}),
            WRONG_VALUES.map(lambda v: {"prompt": raw(3, v)}),
        ),
        maybe=HOSTILE_STRINGS.map(lambda t: {"prompt": t}),
    )


def unknown_language(value: str) -> bool:
    """Whether neither dubbing model takes this as a language (a code, an English name or a label)."""
    for endpoint_id in languages.ACCEPTED:
        try:
            languages.resolve(value, endpoint_id)
            return False
        except languages.Unknown:
            pass
    return True


def language_group() -> Group:
    """/dub's language: hostile text that names no language, left out, or not text at all; or a language's code,
    name or label in any case (a regional code only pro takes, refused by standard)."""
    named = st.sampled_from(sorted(languages.NAMES)).flatmap(
        lambda code: st.sampled_from([code, code.upper(), languages.name_of(code), languages.label(code)])
    )
    return Group(
        refused=st.one_of(
            HOSTILE_STRINGS.filter(unknown_language).map(lambda v: {"language": v}),
            WRONG_VALUES.map(lambda v: {"language": raw(3, v)}),
        ),
        maybe=st.one_of(named.map(lambda v: {"language": v}), st.just({"language": None})),  # None: left out
    )


NOT_BOOLEANS = st.one_of(st.sampled_from(["yes", "true", "False", "", 1, 0, None]), st.integers(), st.floats(-1e9, 1e9))
ENDPOINTS = [m.endpoint_id for m in catalog.MODELS]
RESOLUTIONS = ["480p", "720p", "1080p"]
SYNC_MODES = ["cut_off", "loop", "bounce", "silence", "remap"]
UNKNOWN_NAMES = st.one_of(
    HOSTILE_STRINGS.filter(lambda n: n not in EVERY_OPTION), st.sampled_from(["negative_prompt", "image_urls", "seed"])
)
UNKNOWN_VALUES = st.one_of(
    HOSTILE_STRINGS,
    WRONG_VALUES.map(lambda v: raw(3, v)),
    st.just({"type": 1, "options": [{"name": "x", "type": 3, "value": "y"}]}),  # shaped like a subcommand
)
UNKNOWN_OPTION = st.tuples(UNKNOWN_NAMES, UNKNOWN_VALUES).map(lambda v: {v[0]: v[1]})
PERHAPS_UNKNOWN_OPTION = st.one_of(st.just({}), UNKNOWN_OPTION)


def groups() -> list[Group]:
    """Every option of the job commands, in groups that touch options of their own (so that no change undoes
    another's reason to refuse), and options no command has."""
    return [
        media_group("image"),
        media_group("video"),
        speech_group(),
        choice_group("model", ENDPOINTS),
        choice_group("resolution", RESOLUTIONS),
        choice_group("sync_mode", SYNC_MODES),
        choice_group("emotion", list(catalog.EMOTIONS)),
        prompt_group(),
        language_group(),
        Group(NOT_BOOLEANS.map(lambda v: {"private": raw(5, v)}), st.booleans().map(lambda v: {"private": v})),
        Group(UNKNOWN_OPTION, st.just({})),
    ]


@dataclass(frozen=True)
class Case:
    """One slash command as a member (or the server's owner) sends it, and whether the bot must refuse it."""

    command: str
    options: dict[str, Any]
    must_refuse: bool = True
    subcommand: str | None = None
    by_owner: bool = False
    where: tuple[int, int] = GUILD
    group: str | None = None  # a subcommand group (/config words add)


def command_cases() -> st.SearchStrategy[Case]:
    """A job command with one to three groups of its options changed: in half the examples for a reason to refuse
    it, in the other half for values it may take."""
    every = groups()

    def changed(order: list[int], count: int, refuse: bool) -> Options:
        picked = [every[i] for i in order[:count]]
        first = picked[0].refused if refuse else picked[0].maybe
        rest = [st.one_of(g.refused, g.maybe) if refuse else g.maybe for g in picked[1:]]
        return st.tuples(first, *rest).map(lambda parts: {k: v for part in parts for k, v in part.items()})

    def case(command: str, options: dict[str, Any], refuse: bool, where: tuple[int, int]) -> Case:
        return Case(command, {**TAKEN[command], **options}, refuse, where=where)

    return st.tuples(st.permutations(range(len(every))), st.integers(1, 3), st.booleans()).flatmap(
        lambda p: st.builds(
            case,
            st.sampled_from(list(COMMAND_OPTIONS)),
            changed(*p),
            st.just(p[2]),
            WHERES,
        )
    )


# ---- every option of every command, hostile: what the bot must do with them


@pytest.fixture
async def roomy(bot, discord_standin, fal_standin):
    """Jobs the bot takes run at once on fal and end quickly; the server's limits leave room for all of them."""
    for endpoint_id in ENDPOINTS:
        fal_standin.script(endpoint_id, QUICK)
    await configure(discord_standin, user_concurrent=100, user_waiting=1000, user_daily=10000)
    return bot


async def send(discord, case: Case):
    context, installs = case.where
    return await discord.send_command(
        case.command,
        made(discord, case.options),
        subcommand=case.subcommand,
        group=case.group,
        user_id=discord.owner_id if case.by_owner else None,
        context=context,
        installs=installs,
    )


async def last_word(discord, interaction) -> str:
    """What the member is told in the end: the private answer, or how the job the bot took ended."""
    await discord.wait_for(lambda: interaction.callbacks, timeout=10)
    if refused(interaction):
        return interaction.callbacks[0][1]["data"].get("content", "")

    def ended() -> str | None:
        followup = private_followup(discord, interaction)
        if followup is not None:
            return shown_text(followup)  # refused once its files were looked at
        message = discord.messages.get(interaction.original_message_id or 0)
        text = shown_text(message) if message else ""
        return text if text.startswith(ENDED) else None

    return await discord.wait_for(ended, timeout=60)


@dataclass(frozen=True)
class Before:
    """Where fal's requests and the bot's log stood before an example."""

    requests: int
    logged: int


def before(bot, fal) -> Before:
    return Before(len(fal.requests), len(bot.log))


async def assert_answered_well(bot, discord, fal, case: Case) -> None:
    start = before(bot, fal)
    interaction = await send(discord, case)
    await assert_outcome(bot, discord, fal, interaction, start, case)


async def assert_outcome(bot, discord, fal, interaction, start: Before, case: Any) -> None:
    """The member is told privately what was wrong (and fal was not asked), or the job the bot took ended without the
    generic error; the bot serves the next command and logged no traceback."""
    word = await last_word(discord, interaction)
    assert GENERIC not in word, (case, word)
    assert not (getattr(case, "must_refuse", False) and not refused(interaction)), ("taken", case, word)
    if word.startswith("⚠️"):
        assert REFUSAL.match(word), (case, word)
        assert len(fal.requests) == start.requests, (case, word, [r.route for r in fal.requests[start.requests :]])
    await assert_still_served(bot, discord, start.logged)


async def assert_still_served(bot, discord, logged: int) -> None:
    """The next command is answered, nothing the bot wrote is the generic error, and it logged no traceback after
    the first `logged` characters of its log."""
    jobs = await discord.send_command("jobs", subcommand="list")
    await discord.wait_for(lambda: jobs.callbacks, timeout=10)
    generic = [shown_text(m) for m in discord.messages.values() if GENERIC in shown_text(m)]
    assert not generic, generic
    log = bot.log[logged:]
    assert "Traceback" not in log, log[log.index("Traceback") - 1500 :][:4000]


@pytest.mark.parametrize("bot_database", STORES, indirect=True)  # member text reaches the store
@examples(90)
@given(case=command_cases())
@example(case=Case("talkinghead", {**TAKEN["talkinghead"], "𝕨" * 3000: "x"}))  # its name cut the refusal's code span
async def test_every_option_of_every_command_given_hostile_values(roomy, discord_standin, fal_standin, case):
    await assert_answered_well(roomy, discord_standin, fal_standin, case)


# ---- /jobs, /usage and /config: hostile options, from members and from the server's owner

LIMITS = {  # /config limits: each option's accepted range
    "user_concurrent": (1, 100),
    "user_cooldown": (0, 86400),
    "user_daily": (1, 10000),
    "guild_concurrent": (1, 10000),
    "user_waiting": (0, 1000),
    "guild_waiting": (0, 100000),
}
ACTIONS = ["add", "remove", "clear"]


def numbers(low: int, high: int) -> st.SearchStrategy[Any]:
    """Whole numbers in and out of range, and values of other JSON types in a number option."""
    return st.one_of(
        st.integers(low, high),
        st.integers(),
        st.sampled_from([low - 1, high + 1, 2**63, -(2**63)]),
        WRONG_VALUES.map(lambda v: raw(4, v)),
        HOSTILE_STRINGS.map(lambda v: raw(4, v)),
    )


def choices(offered: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(offered), HOSTILE_STRINGS, WRONG_VALUES.map(lambda v: raw(3, v)))


def snowflakes(kind: int, known: int) -> st.SearchStrategy[Any]:
    """A user (6), channel (7) or role (8) option: one that exists, ids nothing has, and values that are no id at all."""
    return st.one_of(
        st.just(raw(kind, str(known))),
        st.integers(0, 2**64).map(lambda i: raw(kind, str(i))),
        st.one_of(HOSTILE_STRINGS, WRONG_VALUES).map(lambda v: raw(3, v)),  # under another type: no resolving
    )


def config_options(subcommand: str) -> st.SearchStrategy[dict[str, Any]]:
    optional = {
        "show": {},
        "channels": {"action": choices(ACTIONS), "channel": snowflakes(7, CHANNEL_ID)},
        "roles": {"action": choices(ACTIONS), "role": snowflakes(8, ADMIN_ROLE_ID)},
        "model": {
            "model": choices(ENDPOINTS),
            "offered": st.one_of(st.booleans(), NOT_BOOLEANS.map(lambda v: raw(5, v))),
        },
        "limits": {name: numbers(low, high) for name, (low, high) in LIMITS.items()},
        "budget": {
            "usd": st.one_of(
                st.floats(-1e12, 1e12),
                st.sampled_from([0, 0.0, 100000, 100000.01, -0.01, 1e308]),
                WRONG_VALUES.map(lambda v: raw(10, v)),
                HOSTILE_STRINGS.map(lambda v: raw(10, v)),
            )
        },
        "moderation": {"channel": snowflakes(7, CHANNEL_ID)},
        "block": {"member": snowflakes(6, USER_ID)},
        "unblock": {"member": snowflakes(6, USER_ID)},
        "features": {"voice_clone": st.one_of(st.booleans(), NOT_BOOLEANS.map(lambda v: raw(5, v)))},
        "add": {"word": WORDS},
        "remove": {"word": WORDS},
        "list": {},
    }[subcommand]
    chosen = st.fixed_dictionaries({}, optional=optional)
    return st.builds(lambda known, unknown: {**known, **unknown}, chosen, PERHAPS_UNKNOWN_OPTION)


SUBCOMMANDS = ["show", "channels", "roles", "model", "limits", "budget", "moderation", "block", "unblock", "features"]
WORD_SUBCOMMANDS = ["add", "remove", "list"]  # /config words …
WORDS = st.one_of(st.just("darn"), HOSTILE_STRINGS, WRONG_VALUES.map(lambda v: raw(3, v)))


def admin_cases() -> st.SearchStrategy[Case]:
    """/config (each subcommand, none, or one it does not have), /usage and /jobs, with hostile options."""
    config = st.sampled_from(SUBCOMMANDS).flatmap(
        lambda sub: st.builds(
            lambda options, owner: Case("config", options, False, sub, owner), config_options(sub), st.booleans()
        )
    )
    words = st.sampled_from(WORD_SUBCOMMANDS).flatmap(
        lambda sub: st.builds(
            lambda options, owner: Case("config", options, False, sub, owner, group="words"),
            config_options(sub),
            st.booleans(),
        )
    )
    no_such = st.builds(
        lambda sub, owner: Case("config", {}, False, sub, owner),
        st.one_of(st.none(), st.sampled_from(["nope", "show ", "Show", ""]), HOSTILE_STRINGS),
        st.booleans(),
    )
    usage = st.builds(
        lambda options, owner: Case("usage", options, False, by_owner=owner), PERHAPS_UNKNOWN_OPTION, st.booleans()
    )
    job_id = st.one_of(
        HOSTILE_STRINGS,
        st.text("0123456789abcdefABCDEF ", min_size=8, max_size=10),
        WRONG_VALUES.map(lambda v: raw(3, v)),
    )
    jobs = st.builds(
        lambda sub, job, options, owner, where: Case(
            "jobs", ({} if sub == "list" else {"job_id": job}) | options, False, sub, by_owner=owner, where=where
        ),
        st.sampled_from(["list", "show", "delete"]),
        job_id,
        PERHAPS_UNKNOWN_OPTION,
        st.booleans(),
        WHERES,
    )
    no_such_jobs = st.builds(
        lambda sub, owner: Case("jobs", {}, False, sub, owner),
        st.one_of(st.none(), st.sampled_from(["nope", "List", ""]), HOSTILE_STRINGS),
        st.booleans(),
    )
    return st.one_of(config, words, no_such, usage, jobs, no_such_jobs)


@pytest.mark.parametrize("bot_database", STORES, indirect=True)  # member text reaches the store's queries
@examples(70)
@given(case=admin_cases())
@example(case=Case("jobs", {"job_id": "ab\x00cd"}, False, subcommand="show"))  # PostgreSQL takes no NUL in text
@example(case=Case("config", {}, False, subcommand=None, by_owner=True))  # a group, as an older app sends it
@example(case=Case("config", {}, False, subcommand="nope", by_owner=True))
@example(case=Case("config", {"action": "add"}, False, subcommand="channels", by_owner=True))
@example(case=Case("config", {"word": "  "}, False, subcommand="add", by_owner=True, group="words"))
@example(case=Case("config", {}, False, subcommand="nope", by_owner=True, group="words"))
@example(case=Case("jobs", {"job_id": "ffffffff"}, False, subcommand="delete"))
@example(case=Case("jobs", {}, False, subcommand=None))  # the group alone, as an older app sends it
async def test_jobs_usage_and_config_given_hostile_options(bot, discord_standin, fal_standin, case):
    await assert_answered_well(bot, discord_standin, fal_standin, case)


# ---- the message context menus on hostile messages, and their modals given hostile answers

MENUS = ["Make this talk", "Lip-sync this video", "Animate with this video", "Dub this video", "Report"]
KINDS = ["image", "video", "audio"]


def any_files() -> st.SearchStrategy[File]:
    return st.sampled_from(KINDS).flatmap(lambda kind: st.one_of(files_taken_or_not(kind), refused_files(kind)))


def embeds() -> st.SearchStrategy[dict]:
    """What Discord shows of links in a message: players, pictures, cards, some of them without a link or with
    one of another JSON type. Their links are all ones the bot refuses."""
    url = st.one_of(refused_link_texts(), st.sampled_from([123, None, ["x"], {}]))
    shapes = [
        lambda u: {"type": "video", "url": u, "video": {"url": u}},
        lambda u: {"type": "gifv", "url": u, "video": {"url": u}, "thumbnail": {"url": u}},
        lambda u: {"type": "image", "url": u, "thumbnail": {"url": u}},
        lambda u: {"type": "rich", "title": "a card", "image": {"url": u}},
        lambda u: {"type": "video", "video": {}},
        lambda u: {"type": "image"},
        lambda u: {"type": "video", "video": u},
        lambda u: {"type": "image", "image": u, "thumbnail": u},
    ]
    return st.builds(lambda shape, u: shape(u), st.sampled_from(shapes), url)


@dataclass(frozen=True)
class Menu:
    """A context menu on a member's message, and what its modal (if it opens one) is then given."""

    name: str
    content: str
    files: tuple[File, ...]
    embeds: tuple[dict, ...]
    answers: dict[str, Any]  # by the modal input's custom_id; None: left empty
    where: tuple[int, int] = GUILD


def menu_answers() -> st.SearchStrategy[dict[str, Any]]:
    voices = st.one_of(st.sampled_from(catalog.MINIMAX_VOICES), HOSTILE_STRINGS)
    return st.fixed_dictionaries(
        {
            "speech:text": st.one_of(st.none(), st.just("hello there"), HOSTILE_STRINGS),
            "speech:voice": st.one_of(st.none(), st.lists(voices, min_size=1, max_size=2)),
            "speech:audio": st.one_of(st.none(), st.lists(any_files(), min_size=1, max_size=2)),
            "portrait:image": st.lists(any_files(), min_size=1, max_size=2),
            "dub:language": st.one_of(st.sampled_from(["es", "Spanish"]), HOSTILE_STRINGS.filter(bool)),  # required
        }
    )


MENU_KIND = {
    "Make this talk": "image",
    "Lip-sync this video": "video",
    "Animate with this video": "video",
    "Dub this video": "video",
    "Report": "video",  # any message: only the bot's results can be reported
}


def menus() -> st.SearchStrategy[Menu]:
    """A menu on a message with one file of the kind it needs (named and declared in any way), or with any files."""

    def files(name: str) -> st.SearchStrategy[tuple[File, ...]]:
        return st.one_of(
            files_taken_or_not(MENU_KIND[name]).map(lambda f: (f,)), st.lists(any_files(), max_size=3).map(tuple)
        )

    return st.sampled_from(MENUS).flatmap(
        lambda name: st.builds(
            Menu,
            st.just(name),
            HOSTILE_STRINGS,
            files(name),
            st.lists(embeds(), max_size=2).map(tuple),
            menu_answers(),
            WHERES,
        )
    )


async def assert_menu_answered_well(bot, discord, fal, menu: Menu) -> None:
    files = [attached(discord, f) for f in menu.files]
    message = discord.add_user_message(menu.content, attachments=files, embeds=list(menu.embeds))
    start = before(bot, fal)
    context, installs = menu.where
    interaction = await discord.send_message_command(menu.name, message, context=context, installs=installs)
    await discord.wait_for(lambda: interaction.callbacks, timeout=10)
    if interaction.callbacks[0][1]["type"] == 9:  # a modal: answer it
        inputs = {"Animate with this video": "portrait:", "Dub this video": "dub:"}.get(menu.name, "speech:")
        answers = {k: v for k, v in menu.answers.items() if k.startswith(inputs)}
        interaction = await discord.send_modal_submit(interaction, made(discord, answers))
    await assert_outcome(bot, discord, fal, interaction, start, menu)


@examples(80)
@given(menu=menus())
@example(
    menu=Menu("Make this talk", "", (File("portrait.png", "image/png", "a.png", fields=(("filename", 5),)),), (), {})
)
@example(
    menu=Menu(
        "Make this talk",
        "",
        (File("portrait.png", "image/png", "a.png"),),
        (),
        {"speech:audio": [File("speech.mp3", "audio/mpeg", "a.mp3", fields=(("size", "12"),))]},
    )
)
@example(menu=Menu("Lip-sync this video", "", (), ({"type": "video", "video": {"url": 123}},), {"speech:text": "hi"}))
@example(menu=Menu("Make this talk", "", (), ({"type": "image", "thumbnail": None},), {}))
async def test_context_menus_and_their_modals_given_hostile_messages_and_answers(
    roomy, discord_standin, fal_standin, menu
):
    await assert_menu_answered_well(roomy, discord_standin, fal_standin, menu)


# ---- autocompletes given hostile half-typed values

AUTOCOMPLETED = {
    "talkinghead": ("voice", "image_url", "audio_url"),
    "lipsync": ("voice", "video_url", "audio_url"),
    "dub": ("language", "video_url"),
}


@dataclass(frozen=True)
class Typing:
    """An autocomplete request: the command, the option in focus, and every option typed so far."""

    command: str
    focused: str
    options: dict[str, Any]
    where: tuple[int, int] = GUILD


def typings() -> st.SearchStrategy[Typing]:
    typed = st.one_of(
        HOSTILE_STRINGS,
        st.sampled_from(["face", ".png", "Wise", "https://", "job"]),
        WRONG_VALUES.map(lambda v: raw(3, v)),
    )
    every = groups()
    others = st.one_of(st.just({}), st.sampled_from(every).flatmap(lambda g: st.one_of(g.refused, g.maybe)))

    def typing(command: str, focused: str, value: Any, rest: dict[str, Any], where: tuple[int, int]) -> Typing:
        return Typing(command, focused, {**{k: v for k, v in rest.items() if v is not None}, focused: value}, where)

    return st.sampled_from(list(AUTOCOMPLETED)).flatmap(
        lambda command: st.builds(
            typing, st.just(command), st.sampled_from(AUTOCOMPLETED[command]), typed, others, WHERES
        )
    )


@pytest.fixture
async def with_a_past_job(roomy, discord_standin):
    """A member's finished job, whose inputs the link options offer again."""
    options = made(discord_standin, TAKEN["talkinghead"])
    await last_word(discord_standin, await discord_standin.send_command("talkinghead", options))
    return roomy


@examples(50)
@given(typing=typings())
@example(typing=Typing("talkinghead", "voice", {"voice": raw(3, 0)}))
@example(typing=Typing("lipsync", "voice", {"voice": "x", "": {"type": 1, "options": []}}))  # no such subcommand
async def test_autocompletes_given_hostile_half_typed_values(with_a_past_job, discord_standin, typing):
    logged = len(with_a_past_job.log)
    context, installs = typing.where
    interaction = await discord_standin.send_autocomplete(
        typing.command, made(discord_standin, typing.options), typing.focused, context=context, installs=installs
    )
    await discord_standin.wait_for(lambda: interaction.callbacks, timeout=5)  # Discord waits 3 s
    body = interaction.callbacks[0][1]
    assert body["type"] == 8, (typing, body)
    offered = body["data"]["choices"]
    assert len(offered) <= 25 and all(0 < len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in offered)
    await assert_still_served(with_a_past_job, discord_standin, logged)


# ---- links in any spelling, handed to fal as they are (INPUT_HOSTING=passthrough: nothing is fetched)

PASSED_ON = {  # what each command is given when the example changes nothing, as links
    "talkinghead": {"image_url": GOOD, "text": "hello there"},
    "lipsync": {"video_url": VIDEO_URL, "text": "hello there"},
    "animate": {"image_url": GOOD, "video_url": VIDEO_URL},
    "dub": {"video_url": VIDEO_URL, "language": "es"},
}


def any_links() -> st.SearchStrategy[str]:
    """Links the bot may take or refuse: public hosts in Unicode spellings, odd paths, and every refused kind."""
    public = st.sampled_from(["cdn.example.com", "media.example.org", "8.8.8.8", "xn--bcher-kva.example"])
    paths = st.sampled_from(["/a%00b.png", "/ф.mp3", "/x.mp4?a=1#f", "/" + "a" * 2100, "/%2e%2e/etc/passwd", "/.png"])
    return st.one_of(
        unicode_urls(public),
        st.builds(lambda host, path: f"https://{host}{path}", public, paths),
        bad_urls(),
        unicode_urls(private_hosts()),
        st.sampled_from(UNICODE_LINKS),
        HOSTILE_STRINGS,
    )


def link_cases() -> st.SearchStrategy[Case]:
    def case(command: str, option: str, url: str, where: tuple[int, int]) -> Case:
        options = {**PASSED_ON[command], option: url}
        if option == "audio_url":
            options.pop("text")
        return Case(command, options, False, where=where)

    return st.sampled_from(list(PASSED_ON)).flatmap(
        lambda command: st.builds(
            case,
            st.just(command),
            st.sampled_from([o for o in COMMAND_OPTIONS[command] if o.endswith("_url")]),
            any_links(),
            WHERES,
        )
    )


@pytest.mark.parametrize("bot_settings", [{"INPUT_HOSTING": "passthrough"}])
@examples(50)
@given(case=link_cases())
async def test_links_in_any_spelling_are_taken_as_checked_or_refused_privately(
    roomy, discord_standin, fal_standin, case
):
    jobs_before = len(fal_standin.jobs)
    await assert_answered_well(roomy, discord_standin, fal_standin, case)
    jobs = list(fal_standin.jobs.values())[jobs_before:]
    hosts = [urlsplit(v).hostname or "" for job in jobs for k, v in job.payload.items() if k.endswith("_url")]
    assert all(host.isascii() for host in hosts), (case, hosts)  # the host as judged: mapped to ASCII


# ---- /voice clone|list|delete: hostile names, consent, samples and links (cloning on where the owner turned it on)

VOICE_SAMPLE = File("voice_12s.mp3", "audio/mpeg", "me.mp3")  # long enough to clone from


def voice_cases() -> st.SearchStrategy[Case]:
    names = st.one_of(
        st.just("My Voice"), st.just("Wise_Woman"), HOSTILE_STRINGS, WRONG_VALUES.map(lambda v: raw(3, v))
    )
    consent = st.one_of(st.booleans(), NOT_BOOLEANS.map(lambda v: raw(5, v)), st.none())
    sample = st.one_of(
        st.just({"sample": VOICE_SAMPLE}),
        files_taken_or_not("audio").map(lambda v: {"sample": v}),
        refused_attachments("audio").map(lambda v: {"sample": v}),
        refused_links().map(lambda v: {"sample_url": v}),
        st.just({}),
        st.just({"sample": VOICE_SAMPLE, "sample_url": "https://cdn.example.com/me.mp3"}),
    )
    clone = st.builds(
        lambda name, agreed, given, extra, where, owner: Case(
            "voice",
            {"name": name, "consent": agreed, **given, **extra},
            False,
            "clone",
            by_owner=owner,
            where=where,
        ),
        names,
        consent,
        sample,
        PERHAPS_UNKNOWN_OPTION,
        WHERES,
        st.booleans(),
    )
    others = st.builds(
        lambda sub, name, extra, where: Case(
            "voice", ({"name": name} if sub == "delete" else {}) | extra, False, sub, where=where
        ),
        st.one_of(st.sampled_from(["list", "delete"]), st.none(), HOSTILE_STRINGS),
        names,
        PERHAPS_UNKNOWN_OPTION,
        WHERES,
    )
    return st.one_of(clone, others)


@pytest.fixture
async def cloning(roomy, discord_standin):
    """Voice cloning turned on in the server (DMs follow VOICE_CLONING, off)."""
    turned = await discord_standin.send_command(
        "config", {"voice_clone": True}, subcommand="features", user_id=discord_standin.owner_id
    )
    await discord_standin.wait_for(lambda: turned.callbacks)
    return roomy


@pytest.mark.parametrize("bot_database", STORES, indirect=True)  # names reach the store's queries
@examples(40)
@given(case=voice_cases())
@example(case=Case("voice", {"name": "My Voice", "consent": True, "sample": VOICE_SAMPLE}, False, "clone"))
@example(case=Case("voice", {"name": "my voice\x00"}, False, "delete"))  # PostgreSQL takes no NUL in text
async def test_voice_commands_given_hostile_options(cloning, discord_standin, fal_standin, case):
    await assert_answered_well(cloning, discord_standin, fal_standin, case)
