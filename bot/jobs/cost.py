"""Cost estimates from the catalog's prices (read on catalog.PRICES_READ_ON)."""

from __future__ import annotations

import re

from bot.fal import payloads
from bot.fal.catalog import PriceUnit
from bot.jobs.spec import JobSpec

SPOKEN_CHARS_PER_SECOND = 14.0  # typical TTS pace; a guess refined once the speech exists
_PAUSE = re.compile(r"<#(\d+(?:\.\d+)?)#>")  # MiniMax pause markers: <#1.5#> is 1.5 s of silence


def spoken_seconds(text: str, chars_per_second: float = SPOKEN_CHARS_PER_SECOND) -> float:
    """How long the text takes to speak at the given pace, pause markers counted as their own length."""
    pauses = sum(float(value) for value in _PAUSE.findall(text))
    return len(_PAUSE.sub("", text).strip()) / chars_per_second + pauses


def speech_seconds(spec: JobSpec) -> float | None:
    if spec.audio_seconds is not None:
        return spec.audio_seconds
    if spec.text and not spec.audio_url:
        return spoken_seconds(spec.text)
    return None


def estimate(spec: JobSpec) -> float | None:
    """US dollars, or None when the length of the speech or the model's price is unknown."""
    model = spec.main_model
    total = 0.0
    if model.price is None:
        return None
    if model.price.unit is PriceUnit.REQUEST:  # a cloned voice: one price, whatever the sample
        total += model.price.per_unit()
    if model.price.unit is PriceUnit.SECOND:
        seconds = speech_seconds(spec)
        if seconds is None:
            return None
        total += seconds * model.price.per_unit(payloads.resolve_resolution(model, spec.resolution))
    elif model.price.unit is PriceUnit.INPUT_VIDEO_SECOND:  # dubbing: billed on the video given
        if spec.video_seconds is None:
            return None
        total += spec.video_seconds * model.price.per_unit()
    speech = spec.speech_model
    if speech is not None and speech.price is not None and spec.text:
        total += len(spec.text) / 1000 * speech.price.per_unit()
    return round(total, 4)
