"""Build request payloads for fal endpoints from the catalog (shapes checked against fal's schemas in tests)."""

from __future__ import annotations

from typing import Any

from bot.errors import BadInput
from bot.fal.catalog import DEFAULT_EMOTION, DEFAULT_VOICE, MODELS, Kind, Model
from bot.i18n import Number, _


def _expect(model: Model, kind: Kind) -> None:
    if model.kind is not kind:
        raise ValueError(f"{model.endpoint_id} is a {model.kind} model, not {kind}")


def resolve_resolution(model: Model, resolution: str | None) -> str | None:
    if not model.resolutions:
        if resolution:
            raise BadInput("resolution", _("{model} has no resolution setting; leave it empty", model=model.name))
        return None
    chosen = resolution or model.default_resolution
    if chosen not in model.resolutions:
        raise BadInput(
            "resolution",
            _(
                "{model} accepts resolution {accepted}, not '{resolution}'",
                model=model.name,
                accepted=" or ".join(model.resolutions),
                resolution=resolution,
            ),
        )
    return chosen


def tts_payload(model: Model, text: str, voice: str | None = None) -> dict[str, Any]:
    _expect(model, Kind.TTS)
    text = text.strip()
    if not text:
        raise BadInput("text", _("the text to speak is empty"))
    if model.max_text_chars and len(text) > model.max_text_chars:
        raise BadInput(
            "text",
            _(
                "the text is {length} characters; {model} takes at most {most}",
                length=Number(len(text)),
                model=model.name,
                most=Number(model.max_text_chars),
            ),
        )
    assert model.text_field
    # output_format defaults to "hex" (audio bytes inline); the video models need a URL.
    return {model.text_field: text, "voice_setting": {"voice_id": voice or DEFAULT_VOICE}, "output_format": "url"}


def talking_head_payload(
    model: Model, image_url: str, audio_url: str, resolution: str | None = None, *, prompt: str | None = None
) -> dict[str, Any]:
    _expect(model, Kind.TALKING_HEAD)
    payload: dict[str, Any] = {"image_url": image_url, "audio_url": audio_url}
    chosen = resolve_resolution(model, resolution)
    if chosen:
        payload["resolution"] = chosen
    check_prompt(model, prompt)
    if prompt:
        payload["prompt"] = prompt
    return payload


def prompt_models() -> list[Model]:
    return [m for m in MODELS if m.takes_prompt]


def check_prompt(model: Model, prompt: str | None) -> None:
    """A `prompt` only goes to a model that takes one; the others refuse it, naming those that do."""
    if prompt and not model.takes_prompt:
        names = " or ".join(m.name for m in prompt_models())
        raise BadInput(
            "prompt",
            _(
                "`prompt` works with {models}; choose one with `model:` — {model} takes none",
                models=names,
                model=model.name,
            ),
        )


def resolve_emotion(model: Model, emotion: str | None) -> str | None:
    """The emotion a model is sent: the one asked for, the default where the model requires one (react-1), or None
    for a model that takes none (asking one of it is refused, naming the model that does)."""
    if not model.emotions:
        if emotion:
            names = " or ".join(m.name for m in MODELS if m.emotions)
            raise BadInput(
                "emotion",
                _(
                    "`emotion` works with {models}; leave `model:` empty or choose it — {model} takes none",
                    models=names,
                    model=model.name,
                ),
            )
        return None
    if emotion is None:
        return DEFAULT_EMOTION
    if emotion not in model.emotions:
        raise BadInput(
            "emotion",
            _("{model} emotion must be one of: {emotions}", model=model.name, emotions=", ".join(model.emotions)),
        )
    return emotion


def lipsync_payload(
    model: Model, video_url: str, audio_url: str, sync_mode: str | None = None, *, emotion: str | None = None
) -> dict[str, Any]:
    _expect(model, Kind.LIPSYNC)
    payload: dict[str, Any] = {"video_url": video_url, "audio_url": audio_url}
    check_sync_mode(model, sync_mode)
    if sync_mode:
        payload[model.sync_mode_field] = sync_mode  # react-1 calls it lipsync_mode
    chosen = resolve_emotion(model, emotion)
    if chosen:
        payload["emotion"] = chosen
    return payload


def check_sync_mode(model: Model, sync_mode: str | None) -> None:
    if sync_mode and sync_mode not in model.sync_modes:
        accepted = ", ".join(model.sync_modes) or _("none (this model has no sync mode)")
        raise BadInput(
            "sync_mode", _("{model} sync_mode must be one of: {accepted}", model=model.name, accepted=accepted)
        )


def animate_payload(model: Model, image_url: str, video_url: str) -> dict[str, Any]:
    _expect(model, Kind.ANIMATE)
    return {"image_url": image_url, "video_url": video_url}


def dub_payload(model: Model, video_url: str, language: str) -> dict[str, Any]:
    """VEED dubbing: the video and the language code to dub into (the source language is detected by VEED)."""
    _expect(model, Kind.DUB)
    if not language:
        raise BadInput("language", _("the language to dub into is required (a code such as `es`)"))
    return {"video_url": video_url, "target_language": language}


def voice_clone_payload(model: Model, audio_url: str) -> dict[str, Any]:
    """MiniMax voice cloning: the sample (checked to last 10 s to 5 minutes), cleaned up (noise reduction, volume
    normalized: samples recorded on a phone or in a voice channel are rarely clean). No preview text: fal's default
    preview is left as it is."""
    _expect(model, Kind.VOICE_CLONE)
    if not audio_url:
        raise BadInput("sample", _("a voice sample (an audio file of at least 10 s) is required"))
    return {"audio_url": audio_url, "noise_reduction": True, "need_volume_normalization": True}


def custom_voice_id(result: dict[str, Any]) -> str:
    """The voice id a voice clone returned (raises ValueError when there is none)."""
    voice = result.get("custom_voice_id")
    if isinstance(voice, str) and voice.strip():
        return voice
    raise ValueError(f"fal's result has no custom_voice_id: {sorted(result)}")


def output_url(result: dict[str, Any], key: str) -> str:
    """The URL of the file a model returned under `key` ("video" or "audio")."""
    item = result.get(key)
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        return item["url"]
    raise ValueError(f"fal's result has no {key} URL: {sorted(result)}")
