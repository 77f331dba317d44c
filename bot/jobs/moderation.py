"""Moderation rules that need no Discord: banned words in text to be spoken, and blocked members.

A banned word matches case-insensitively (Unicode casefold) and as a whole word: "ass" bans "Ass!" but not
"class". A banned entry of several words ("bad thing") matches those words in a row, whatever the spaces between
them. Words are kept as given, trimmed, with inner runs of spaces made one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_WORD = 100  # characters in one banned word or phrase
MAX_WORDS = 500  # banned words per server


def normal_word(word: str) -> str:
    """A banned word as kept: trimmed, inner whitespace one space, casefolded (so 'Bad' and 'bad' are one)."""
    return " ".join(word.split()).casefold()


def _pattern(word: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in word.split(" ")]
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


def banned_word(text: str | None, words: Iterable[str]) -> str | None:
    """The first banned word `text` contains (as a whole word, ignoring case), or None."""
    if not text:
        return None
    folded = text.casefold()
    for word in words:
        word = normal_word(word)
        if word and _pattern(word).search(folded):
            return word
    return None


def parse_words(text: str) -> tuple[str, ...]:
    """BLOCKED_WORDS: comma-separated words or phrases."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        word = normal_word(part)
        if word:
            seen[word[:MAX_WORD]] = None
    return tuple(seen)
