"""One way to build a job: named inputs become a checked JobSpec, for the bot and the CLI alike.

Everything that can be refused without the network is refused here (BadInput naming the input), before
anything is uploaded or paid for.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import BadInput
from bot.fal import catalog, languages, payloads
from bot.fal.catalog import Kind
from bot.i18n import Number, Text, _
from bot.jobs import pipeline
from bot.jobs.spec import Command, JobSpec

REQUIRED: dict[Command, tuple[tuple[str, Text], ...]] = {
    Command.TALKINGHEAD: (("image_url", _("a portrait image is required")),),
    Command.LIPSYNC: (("video_url", _("a video of the face is required")),),
    Command.ANIMATE: (
        ("image_url", _("a portrait image is required")),
        ("video_url", _("a driving video is required")),
    ),
    Command.DUB: (("video_url", _("a video with speech to dub is required")),),
}
MENTION = re.compile(r"<(?:@[!&]?|#)\d+>")  # as Discord writes them: a voice would read out the id
CUSTOM_EMOJI = re.compile(r"<a?:\w+:\d+>")
TIMESTAMP = re.compile(r"<t:-?\d+(?::\w)?>")
MAX_PROMPT_CHARS = 1000  # fal states no limit; its OmniHuman guide's prompts are a few sentences of direction


def build_spec(
    command: Command,
    *,
    image_url: str | None = None,
    video_url: str | None = None,
    audio_url: str | None = None,
    text: str | None = None,
    model: str | None = None,
    voice: str | None = None,
    tts_model: str | None = None,
    resolution: str | None = None,
    sync_mode: str | None = None,
    audio_seconds: float | None = None,
    emotion: str | None = None,
    prompt: str | None = None,
    video_seconds: float | None = None,
    language: str | None = None,
    voice_name: str | None = None,
) -> JobSpec:
    """The job these inputs ask for, or BadInput saying what is wrong and what is accepted. With `voice_name`, `voice`
    is a cloned voice's id (bot/jobs/voices.py): the member's name for it, resolved for them only."""
    emotion = emotion or None
    if emotion is not None:
        model = directed_model(command, model, emotion)
    chosen = _model(model, command.kind, "model")
    emotion = payloads.resolve_emotion(chosen, emotion) if command is Command.LIPSYNC else None
    prompt = checked_prompt(command, chosen, prompt)
    urls = {"image_url": image_url, "video_url": video_url, "audio_url": audio_url}
    for name, missing in REQUIRED[command]:
        if not urls[name]:
            raise BadInput(name.removesuffix("_url"), missing)
    text = text or None  # an empty option is no option; a blank one is text with nothing to say
    language = dub_language(command, chosen, language)
    if not command.speaks:
        if audio_url or text:
            why = (
                _(
                    "/{command} takes no speech: the video's own speech is translated and re-voiced",
                    command=command.value,
                )
                if command is Command.DUB
                else _(
                    "/{command} takes no speech: the driving video's expressions move the portrait",
                    command=command.value,
                )
            )
            raise BadInput("audio", why)
    elif audio_url and text:
        raise BadInput("audio", _("give the speech as an audio file or link, or as text to speak, not both"))
    elif not audio_url and not text:
        raise BadInput("audio", _("give the speech as an audio file, an audio URL, or text to speak"))
    speaker = _model(tts_model, Kind.TTS, "tts_model")
    if text:
        check_speakable(text, speaker)
        text = text.strip()
    if voice and not text:
        raise BadInput("voice", _("a voice only applies to `text`; leave it out with an audio file"))
    if voice and not voice_name and voice not in catalog.MINIMAX_VOICES:
        raise BadInput(
            "voice",
            _(
                "unknown voice '{voice}'; pick one from the list (e.g. {examples})",
                voice=voice,
                examples=", ".join(catalog.MINIMAX_VOICES[:4]),
            ),
        )
    if chosen.kind is Kind.TALKING_HEAD:
        payloads.resolve_resolution(chosen, resolution)
    payloads.check_sync_mode(chosen, sync_mode)
    spec = JobSpec(
        command,
        model=chosen.endpoint_id,
        image_url=image_url,
        video_url=video_url,
        audio_url=audio_url,
        text=text,
        voice=voice,
        tts_model=speaker.endpoint_id if tts_model else None,
        resolution=resolution,
        sync_mode=sync_mode,
        audio_seconds=audio_seconds,
        video_seconds=video_seconds,
        emotion=emotion,
        prompt=prompt,
        language=language,
        voice_name=voice_name if voice else None,
    )
    pipeline.check_audio_length(spec, audio_seconds)
    pipeline.check_video_length(spec, video_seconds)
    return spec


def dub_language(command: Command, model: catalog.Model, language: str | None) -> str | None:
    """The language code a dub is asked for, checked against the model's languages (bot.fal.languages); other
    commands take none."""
    if command is not Command.DUB:
        if language:
            raise BadInput(
                "language", _("/{command} takes no language; dubbing into one is /dub", command=command.value)
            )
        return None
    try:
        return languages.resolve(language or "", model.endpoint_id)
    except languages.Unknown as exc:
        raise BadInput("language", exc.message) from None


def directed_model(command: Command, model: str | None, emotion: str) -> str:
    """The lip-sync model an `emotion` asks for: sync's react-1 when no model is chosen; a chosen model that takes
    no emotion is refused, naming the one that does."""
    directed = [m for m in catalog.models_of(command.kind) if m.emotions]
    if not directed:
        raise BadInput("emotion", _("/{command} takes no emotion; it works with /lipsync", command=command.value))
    if emotion not in directed[0].emotions:
        raise BadInput(
            "emotion",
            _(
                "'{emotion}' is not an emotion offered; choose one of: {emotions}",
                emotion=emotion,
                emotions=", ".join(directed[0].emotions),
            ),
        )
    if not model:
        return directed[0].endpoint_id
    payloads.resolve_emotion(_model(model, command.kind, "model"), emotion)  # refuses a model that takes none
    return model


def checked_prompt(command: Command, model: catalog.Model, prompt: str | None) -> str | None:
    """The text guiding the video, trimmed, for a model that takes one (others refuse it, naming those that do)."""
    if prompt is None or prompt == "":
        return None
    if command is not Command.TALKINGHEAD:
        raise BadInput("prompt", _("/{command} takes no prompt; it works with /talkinghead", command=command.value))
    prompt = prompt.strip()
    if not any(unicodedata.category(c)[0] in "LN" for c in prompt):
        raise BadInput(
            "prompt", _("has no words in it; describe how the portrait should look and move, or leave it out")
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadInput(
            "prompt",
            _(
                "is {length} characters long; at most {most} are taken",
                length=Number(len(prompt)),
                most=Number(MAX_PROMPT_CHARS),
            ),
        )
    payloads.check_prompt(model, prompt)
    return prompt


def check_speakable(text: str, speaker: catalog.Model) -> None:
    """Text a voice can say: words or numbers, no mentions (a TTS voice would read out their ids)."""
    if MENTION.search(text):
        raise BadInput(
            "text",
            _(
                "has a mention in it (@member, @role or #channel), which a voice would read out as "
                "a long number; write the name out instead"
            ),
        )
    words = TIMESTAMP.sub("", CUSTOM_EMOJI.sub("", text))
    if not any(unicodedata.category(c)[0] in "LN" for c in words):
        raise BadInput(
            "text",
            _(
                "has nothing a voice can say (only spaces, symbols, emoji or invisible characters); "
                "write the words to speak"
            ),
        )
    if speaker.max_text_chars and len(text) > speaker.max_text_chars:
        raise BadInput(
            "text",
            _(
                "is {length} characters long; {model} speaks at most {most}",
                length=Number(len(text)),
                model=speaker.name,
                most=Number(speaker.max_text_chars),
            ),
        )


def _model(model: str | None, kind: Kind, option: str) -> catalog.Model:
    try:
        return catalog.get_model(model, kind)
    except catalog.UnknownModel:
        # catalog.UnknownModel's own words, for members (the exception's text stays English, for the CLI and logs)
        offered = ", ".join(m.endpoint_id for m in catalog.models_of(kind))
        raise BadInput(
            option,
            _(
                "unknown {kind} model '{model}'; offered: {offered}",
                kind=kind.value.replace("_", " "),
                model=model or "",
                offered=offered,
            ),
        ) from None
