"""The member's language end to end, through the real bot and both stand-ins: the commands Discord receives carry
every shipped locale's names and descriptions, a German and a Japanese member see their language in every message
of a job and of a refusal, and a post in a server's channel is in the server's preferred language.

What a message should say is read from the catalogs (bot/locales/), never written here: each expected message's
translation must appear (its longest literal piece between placeholders) and its English must not."""

from __future__ import annotations

import functools
import string

import pytest

from bot import i18n
from bot.discord_app import catalogs
from tests.helpers import finished, shown_text
from tests.standins.fal_queue import JobScript

STEPS = JobScript(queue_positions=[1, 0], queue_step=0.4, run_time=0.8, logs=["Loading model", "Rendering frames"])
TITLE = ("job title", "Talking head")
PROGRESS = [  # at least one of these says where a job stands, in every progress message
    (None, "Starting"),
    (None, "Checking the inputs and uploading them to fal"),
    (None, "Sending the job to fal"),
    (None, "Queued on fal"),
    (None, "Queued on fal — position {position} in line"),
    (None, "Generating with {model}"),
    (None, "Fetching the video from fal"),
    (None, "Waiting for a free slot"),
]
RESULT = [  # all of these are on the result card of a talking head made from a portrait and an audio file
    (None, "{title} ready"),
    (None, "Inputs: {inputs}"),
    (None, "🤖 **Generated with AI** by {model} (`{endpoint}` on fal.ai) — not a real recording."),
    (None, "[Download the video from fal]({url}) (fal keeps its files for a limited time)"),
]
NOT_HTTPS = (None, "must be an https:// link to the file")
READY_MENTION = (None, "<@{user}> your {kind} video is ready")
POINTER = (None, "{header} · the video is here: {link}")


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # the links point at the link host on 127.0.0.1


@functools.cache
def _catalog(locale: str):
    return catalogs.load(locale)


def translation(locale: str, key: tuple[str | None, str]) -> str:
    """The catalog's words for a message (its first form for a plural)."""
    context, msgid = key
    entry = _catalog(locale).get(msgid, context=context)
    words = entry.string if entry is not None and not entry.fuzzy else None
    words = words[0] if isinstance(words, (list, tuple)) else words
    if not words:
        pytest.fail(f"the {locale} catalog has no translation of {msgid!r} (context {context!r})")
    return words


def piece(text: str) -> str:
    """The longest literal part of a message between its placeholders: what shows it was said."""
    literals = [literal.strip() for literal, *_ in string.Formatter().parse(text) if literal.strip()]
    return max(literals, key=len) if literals else text


def says(text: str, locale: str, key: tuple[str | None, str]) -> bool:
    return piece(translation(locale, key)) in text


def says_in_english(text: str, locale: str, key: tuple[str | None, str]) -> bool:
    """The English of the message is in `text` (where the translation does not itself contain those words)."""
    english = piece(key[1])
    return english not in translation(locale, key) and english in text


def assert_in(text: str, locale: str, keys: list[tuple[str | None, str]], what: str) -> None:
    missing = [k[1] for k in keys if not says(text, locale, k)]
    assert not missing, f"{what} in {locale} lacks the translation of {missing}:\n{text}"
    english = [k[1] for k in keys if says_in_english(text, locale, k)]
    assert not english, f"{what} in {locale} says {english} in English:\n{text}"


def assert_not_english(text: str, locale: str, keys: list[tuple[str | None, str]], what: str) -> None:
    english = [k[1] for k in keys if says_in_english(text, locale, k)]
    assert not english, f"{what} in {locale} says {english} in English:\n{text}"


# ---- (a) the commands carry every shipped locale


def _check_localized(item: dict, name_place: str, description_place: str | None, problems: list[str]) -> None:
    where = item.get("name")
    names = item.get("name_localizations") or {}
    if set(names) != set(i18n.LOCALES):
        problems.append(f"{where}: name_localizations for {sorted(names)}, not {sorted(i18n.LOCALES)}")
    for locale, words in names.items():
        entry = _catalog(locale).get(item["name"], context=name_place) if locale in i18n.LOCALES else None
        if entry is None:
            problems.append(f"{where}: {locale} has no catalog entry ({name_place})")
        elif entry.string and words != entry.string:
            problems.append(f"{where}: {locale} name {words!r}, the catalog says {entry.string!r}")
    if description_place is None:
        return
    descriptions = item.get("description_localizations") or {}
    if set(descriptions) != set(i18n.LOCALES):
        problems.append(f"{where}: description_localizations for {sorted(descriptions)}, not {sorted(i18n.LOCALES)}")
    for locale, words in descriptions.items():
        entry = _catalog(locale).get(item["description"], context=description_place) if locale in i18n.LOCALES else None
        if entry is None:
            problems.append(f"{where}: {locale} description has no catalog entry ({description_place})")
        elif entry.string and words != entry.string:
            problems.append(f"{where}: {locale} description {words!r}, the catalog says {entry.string!r}")


def _is_group(item: dict) -> bool:
    return any(o.get("type") in (1, 2) for o in item.get("options") or [])


def _check_options(options: list[dict], problems: list[str]) -> None:
    for option in options:
        if option.get("type") == 2:  # a subcommand group
            _check_localized(option, "group_name", "group_description", problems)
        elif option.get("type") == 1:  # a subcommand: a command of its own
            _check_localized(option, "command_name", "command_description", problems)
        else:
            _check_localized(option, "parameter_name", "parameter_description", problems)
        for choice in option.get("choices") or []:
            _check_localized(choice, "choice_name", None, problems)
        _check_options(option.get("options") or [], problems)


async def test_the_synced_commands_carry_every_shipped_locale(bot, discord_standin):
    synced = [c for scope in discord_standin.commands.values() for c in scope]
    assert synced, "no commands were synced"
    problems: list[str] = []
    for command in synced:
        if command["type"] == 1:
            place = "group" if _is_group(command) else "command"  # discord.py's context for a group's strings
            _check_localized(command, f"{place}_name", f"{place}_description", problems)
            _check_options(command.get("options") or [], problems)
        else:  # a context menu: a name only
            _check_localized(command, "command_name", None, problems)
    assert {c["name"] for c in synced} >= {"talkinghead", "dub", "Make this talk", "Dub this video"}
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])
    german = next(c for c in synced if c["name"] == "talkinghead")
    assert german["name_localizations"]["de"] == translation("de", ("command_name", "talkinghead"))


# ---- (b), (c) a member's job and refusal in their language


@pytest.mark.parametrize("locale", ["de", "ja"])
async def test_a_members_job_and_refusal_are_in_their_language(locale, link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", STEPS)
    refusal = await discord_standin.send_command(
        "talkinghead", {"image_url": "http://cdn.example.com/p.png", "text": "hi"}, locale=locale
    )
    interaction = await discord_standin.send_command("talkinghead", link_urls, locale=locale)
    message = await finished(discord_standin, interaction)

    ((_, answer),) = refusal.callbacks
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert_in(answer["data"]["content"], locale, [NOT_HTTPS], "the refusal")
    assert len(fal_standin.jobs) == 1  # the refused command reached nothing

    acknowledgement = interaction.callbacks[0][1]
    assert_not_english(str(acknowledgement.get("data") or ""), locale, [TITLE, *PROGRESS], "the acknowledgement")
    progress = [body["content"] for _, body in message.edits if body.get("content")]
    assert progress, "no progress was shown"
    for text in progress:
        assert_in(text, locale, [TITLE], "a progress message")
        assert any(says(text, locale, k) for k in PROGRESS), f"a progress message in {locale} says no stage:\n{text}"
        assert_not_english(text, locale, PROGRESS, "a progress message")
    card = shown_text(message)
    assert_in(card, locale, [TITLE, *RESULT], "the result card")
    assert message.attachments  # the video itself, whatever the language


# ---- (d) a post in the server's channel is in the server's language


async def test_a_channel_post_is_in_the_servers_language(link_urls, bot, discord_standin, fal_standin):
    fal_standin.script("veed/fabric-1.0", JobScript(queue_positions=[0], queue_step=0.3, run_time=0.6, logs=["go"]))
    discord_standin.set_locale("de", guild_id=discord_standin.guild_id)  # the server's preferred locale
    interaction = await discord_standin.send_command("talkinghead", link_urls, locale="ja", age=840)
    post = await discord_standin.wait_for(
        lambda: next((m for m in discord_standin.messages.values() if m.source == "channel"), None), timeout=30
    )
    text = shown_text(post)
    assert f"<@{discord_standin.user_id}>" in text
    assert_in(text, "de", [READY_MENTION, TITLE, *RESULT], "the channel post")
    assert not says(text, "ja", TITLE), f"the channel post is in the member's language, not the server's:\n{text}"
    # the job's own message, which only the member's interaction shows, stays in the member's language
    own = await discord_standin.wait_for(
        lambda: (m := discord_standin.messages[interaction.original_message_id]).content.endswith(str(post.id)) and m
    )
    assert_in(own.content, "ja", [TITLE, POINTER], "the job's message")
