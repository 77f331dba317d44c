"""Members' own voices: a sample cloned by MiniMax (fal-ai/minimax/voice-clone) becomes a custom voice id that the
TTS step speaks with (`voice:` on /talkinghead and /lipsync).

A voice belongs to the member who cloned it: the store keeps it under their user id and their name for it (unique per
member, ignoring case), and only that member's commands resolve the name. Cloning is a job like the others (command
VOICE_CLONE: one fal step, the same line, budgets, restarts and cluster guarantees); when it succeeds the runner
records the voice (`record`), keyed by the member and the name, so doing it again after a restart changes nothing.

MiniMax deletes a cloned voice that is not used with TTS within 7 days of its making (fal's schema: "to retain the
voice permanently, use it with a TTS endpoint at least once within 7 days"). The bot notes each successful TTS with
a voice (`last_used_at`), refuses a voice it knows is gone before anything is paid, and when fal's TTS fails saying
the voice does not exist, says so and marks it gone: the video step is then never sent, so nothing is charged.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bot.errors import BadInput
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.i18n import N_, Number, Text, _
from bot.jobs.spec import SPEECH, Command, JobSpec

MAX_NAME = 32  # characters in a voice's name (Discord shows 100 in a choice; a name is also shown in messages)
MAX_VOICES = 10  # voices one member keeps; deleting one makes room
UNUSED_DAYS = 7  # MiniMax deletes a clone not used with TTS within this many days of its making
DAY = 86400.0
CONSENT = "this is my voice, or its owner agreed"
CONSENT_NOTE = f"the member confirmed consent: {CONSENT}"


@dataclass(frozen=True)
class Voice:
    """One member's cloned voice as the store keeps it."""

    user_id: int
    name: str  # as the member wrote it
    custom_voice_id: str
    job_id: str  # the clone job that made it
    created_at: float
    last_used_at: float | None = None  # the last TTS that spoke with it
    expired_at: float | None = None  # when the bot learned MiniMax had deleted it

    @property
    def deletes_at(self) -> float | None:
        """When MiniMax deletes it unless it is used first; None once used (kept for good) or gone."""
        if self.last_used_at is not None or self.expired_at is not None:
            return None
        return self.created_at + UNUSED_DAYS * DAY

    def gone(self, now: float | None = None) -> bool:
        """MiniMax has deleted it (the bot was told so, or it was never used within 7 days of its making)."""
        deadline = self.deletes_at
        return self.expired_at is not None or (deadline is not None and (now or time.time()) >= deadline)


def key(name: str) -> str:
    """A name as it is compared: spaces folded, case ignored ('My  Voice' and 'my voice' are one)."""
    return " ".join(name.split()).casefold()


def possible(name: str) -> bool:
    """Whether a voice could have this name (no control characters: check_name refuses them, and PostgreSQL takes no
    NUL in text), so that looking it up is worth a query."""
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)


def check_name(name: str | None) -> str:
    """The name a member gives a voice, tidied (inner spaces one), or BadInput saying what is accepted."""
    tidy = " ".join((name or "").split())
    if not tidy:
        raise BadInput(
            "name", _("give the voice a name (up to {most} characters), e.g. `my voice`", most=Number(MAX_NAME))
        )
    if len(tidy) > MAX_NAME:
        raise BadInput(
            "name",
            _(
                "is {length} characters long; a voice's name has at most {most}",
                length=Number(len(tidy)),
                most=Number(MAX_NAME),
            ),
        )
    if any(unicodedata.category(c)[0] == "C" or c in "`<>@\\" for c in tidy):
        raise BadInput(
            "name", _("may hold letters, digits, spaces and punctuation, but not ` < > @ \\ or invisible characters")
        )
    if not any(unicodedata.category(c)[0] in "LN" for c in tidy):
        raise BadInput("name", _("needs at least one letter or digit"))
    if tidy in catalog.MINIMAX_VOICES or key(tidy) in {key(v) for v in catalog.MINIMAX_VOICES}:
        raise BadInput("name", _("'{name}' is the name of a stock voice; choose another", name=tidy))
    return tidy


def clone_spec(audio_url: str, name: str | None = None, audio_seconds: float | None = None) -> JobSpec:
    """The job that clones the voice in the sample at `audio_url` (named `name` for the member; the CLI gives none)."""
    model = catalog.get_model(None, Kind.VOICE_CLONE)
    return JobSpec(
        Command.VOICE_CLONE, model=model.endpoint_id, audio_url=audio_url, voice_name=name, audio_seconds=audio_seconds
    )


def gone_text(name: str) -> Text:
    """Why a member's voice can no longer speak (a bot.i18n Text: shown in the locale of the moment)."""
    return N_(
        "Your voice '{name}' was deleted by MiniMax after {n} day unused; clone it again with /voice clone "
        "(the same name replaces it)",
        "Your voice '{name}' was deleted by MiniMax after {n} days unused; clone it again with /voice clone "
        "(the same name replaces it)",
        UNUSED_DAYS,
        name=name,
    )


GONE_SIGNS = ("not exist", "not found", "does not exist", "invalid voice", "voice_not_found")


def says_gone(error: BaseException) -> bool:
    """fal's error for a TTS request whose voice id MiniMax no longer has ('voice id not exist', MiniMax's status
    2054, as fal passes it on)."""
    words = f"{error} {getattr(error, 'detail', '') or ''}".casefold()
    return "voice" in words and any(sign in words for sign in GONE_SIGNS)


def speaks_with_own_voice(spec: JobSpec) -> bool:
    return spec.command is not Command.VOICE_CLONE and bool(spec.voice_name) and bool(spec.voice)


def tts_failed_for_voice(spec: JobSpec, steps: Mapping[str, object], error: BaseException) -> bool:
    """The job's TTS step, speaking with the member's own voice, failed because MiniMax no longer has the voice."""
    speech = steps.get(SPEECH)
    return (
        speaks_with_own_voice(spec)
        and speech is not None
        and getattr(speech, "output", None) is None
        and says_gone(error)
    )
