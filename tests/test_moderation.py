"""Banned words (whole words, ignoring case), BLOCKED_* settings, and the moderation messages."""

from __future__ import annotations

import pytest

from bot.jobs.moderation import banned_word, normal_word, parse_words
from bot.settings import SettingsError, load_settings

BASE = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


@pytest.mark.parametrize(
    ("text", "words", "found"),
    [
        ("Well, DARN it!", ["darn"], "darn"),
        ("darnation", ["darn"], None),
        ("a class act", ["ass"], None),
        ("the Secret\n  plan", ["secret plan"], "secret plan"),
        ("secretplan", ["secret plan"], None),
        ("Straße", ["STRASSE"], "strasse"),
        ("a.b (c) [d]", ["(c)"], "(c)"),
        ("abc", ["a.c"], None),  # punctuation in a banned word is matched literally, never as a pattern
        ("", ["x"], None),
        (None, ["x"], None),
        ("anything", [], None),
    ],
)
def test_banned_words_match_whole_words_ignoring_case(text, words, found):
    assert banned_word(text, words) == found


def test_words_are_kept_trimmed_and_folded():
    assert normal_word("  Bad   Thing ") == "bad thing"
    assert parse_words("Secret Plan, launch codes,, secret plan ,") == ("secret plan", "launch codes")


def test_the_owners_moderation_settings():
    settings = load_settings(
        {**BASE, "BLOCKED_USERS": "1, 22", "BLOCKED_WORDS": "Foo, bar baz", "MODERATION_CHANNEL_ID": "33"}
    )
    assert settings.blocked_users == {1, 22} and settings.blocked_words == ("foo", "bar baz")
    assert settings.moderation_channel_id == 33
    assert load_settings(BASE).blocked_users == frozenset() and load_settings(BASE).moderation_channel_id is None
    with pytest.raises(SettingsError, match="BLOCKED_USERS must be Discord ids"):
        load_settings({**BASE, "BLOCKED_USERS": "alice"})
    with pytest.raises(SettingsError, match="MODERATION_CHANNEL_ID must be one channel id"):
        load_settings({**BASE, "MODERATION_CHANNEL_ID": "1,2"})


# ---- the moderation messages (bot/discord_app/render.py)


def test_banned_words_are_listed_as_code_spans():
    from bot.discord_app import render

    assert "No banned words" in render.banned_words([])
    listed = render.banned_words(["darn", "a`b @everyone"])
    assert "`darn`" in listed and "`aˋb @everyone`" in listed and "(2;" in listed


def test_a_report_names_the_job_its_maker_and_reporter_and_how_to_remove_it():
    from bot.discord_app import render
    from tests.test_render import job

    text = render.report_message(job(), 7, 3, "https://discord.com/channels/1/2/3", " · reported in <#2>", "`x` **y**")
    assert "job `3f9c2a1b`" in text and "<@42> (`42`)" in text and "Reported by <@7>" in text
    assert "3 reports of this job" in text and "https://discord.com/channels/1/2/3" in text
    assert "Reason: `ˋxˋ **y**`" in text and "/jobs delete job_id:3f9c2a1b" in text
    assert "reports of this job" not in render.report_message(job(), 7, 1)
    assert "recorded and sent" in render.report_received(job(), True)
    assert "could not be told" in render.report_received(job(), False)


def test_the_removal_reply_says_what_could_not_be_reached():
    from bot.discord_app import render
    from tests.test_render import job

    assert render.removed_reply(job(), 2, 0).startswith("🗑️ Job `3f9c2a1b` removed: 2 message(s)")
    assert "1 could not be deleted" in render.removed_reply(job(), 1, 1)
