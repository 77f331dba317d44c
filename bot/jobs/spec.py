"""What a job is asked to do, independent of who asked (Discord or the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from bot.fal import catalog
from bot.fal.catalog import Kind, Model


class Command(StrEnum):
    TALKINGHEAD = "talkinghead"
    LIPSYNC = "lipsync"
    ANIMATE = "animate"
    DUB = "dub"
    VOICE_CLONE = "voice_clone"  # /voice clone: a sample becomes the member's own TTS voice (bot/jobs/voices.py)

    @property
    def kind(self) -> Kind:
        return {
            Command.TALKINGHEAD: Kind.TALKING_HEAD,
            Command.LIPSYNC: Kind.LIPSYNC,
            Command.ANIMATE: Kind.ANIMATE,
            Command.DUB: Kind.DUB,
            Command.VOICE_CLONE: Kind.VOICE_CLONE,
        }[self]

    @property
    def speaks(self) -> bool:
        """Whether the job takes speech (audio, or text spoken by TTS): /animate, /dub and /voice clone take none."""
        return self not in (Command.ANIMATE, Command.DUB, Command.VOICE_CLONE)


SPEECH, VIDEO = "speech", "video"  # the pipeline's steps
INPUT_NAMES = ("image", "video", "audio")  # a job's inputs; each is also the media kind it must be
SAMPLE = "sample"  # /voice clone's input: a voice sample (audio), named as its options are (`sample`, `sample_url`)


@dataclass
class Source:
    """Where one input comes from: a Discord attachment or a URL the user typed."""

    name: str  # "image" | "video" | "audio"
    url: str
    attachment: bool
    filename: str | None = None
    content_type: str | None = None  # as declared by Discord
    size: int | None = None
    duration: float | None = None  # as declared by Discord (voice messages, some media)

    @property
    def kind(self) -> str:
        """The media kind the input must be: its name, except a voice sample (`sample`), which is audio."""
        return "audio" if self.name == SAMPLE else self.name

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class JobSpec:
    """Inputs are URLs (already hosted where fal can read them); text replaces audio via TTS."""

    command: Command
    model: str = ""
    image_url: str | None = None
    video_url: str | None = None
    audio_url: str | None = None
    text: str | None = None
    voice: str | None = None
    tts_model: str | None = None
    resolution: str | None = None
    sync_mode: str | None = None
    audio_seconds: float | None = None  # read from the file headers, when known
    video_seconds: float | None = None  # the video input's true length (bot.media), when known
    emotion: str | None = None  # the expression a lip sync is directed with (sync react-1)
    prompt: str | None = None  # member text guiding a talking-head video (models that take one)
    language: str | None = None  # /dub: the language code to dub into (bot.fal.languages)
    voice_name: str | None = None  # the member's name for their cloned voice (voice then holds its custom id); for
    # a /voice clone job, the name the new voice gets

    @property
    def main_model(self) -> Model:
        return catalog.get_model(self.model, self.command.kind)

    @property
    def speech_model(self) -> Model | None:
        if not self.command.speaks or self.audio_url:
            return None
        return catalog.get_model(self.tts_model, Kind.TTS)

    def at(self, urls: Mapping[str, str]) -> JobSpec:
        """The same job with the inputs named in `urls` ("image_url", ...) at new URLs."""
        return replace(
            self,
            image_url=urls.get("image_url", self.image_url),
            video_url=urls.get("video_url", self.video_url),
            audio_url=urls.get("audio_url", self.audio_url),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["command"] = Command(values["command"])
        return cls(**values)
