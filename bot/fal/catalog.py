"""Every fal model the product offers: real endpoint ids, inputs, limits, defaults and prices.

Prices and limits come from ../shared/reference/fal-api.md (read on PRICES_READ_ON); where fal
publishes no number the entry says where the number came from, or leaves it unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

PRICES_READ_ON = date(2026, 11, 24)

SYNC_MODES = ("cut_off", "loop", "bounce", "silence", "remap")
EMOTIONS = ("happy", "angry", "sad", "neutral", "disgusted", "surprised")  # sync react-1's `emotion` (fal's enum)
DEFAULT_EMOTION = "neutral"  # react-1 requires one; fal's example uses it

MINIMAX_VOICES = (
    "Wise_Woman",
    "Friendly_Person",
    "Inspirational_girl",
    "Deep_Voice_Man",
    "Calm_Woman",
    "Casual_Guy",
    "Lively_Girl",
    "Patient_Man",
    "Young_Knight",
    "Determined_Man",
    "Lovely_Girl",
    "Decent_Boy",
    "Imposing_Manner",
    "Elegant_Man",
    "Abbess",
    "Sweet_Girl_2",
    "Exuberant_Girl",
)
DEFAULT_VOICE = "Wise_Woman"


class Kind(StrEnum):
    TALKING_HEAD = "talking_head"
    LIPSYNC = "lipsync"
    ANIMATE = "animate"
    TTS = "tts"
    VOICE_CLONE = "voice_clone"
    DUB = "dub"


class PriceUnit(StrEnum):
    SECOND = "second"  # per second of output video (≈ the audio's length)
    KCHARS = "1000 characters"  # per 1000 characters of text
    REQUEST = "request"  # per request (a cloned voice)
    INPUT_VIDEO_SECOND = "second of input video"  # per second of the video given (dubbing)


@dataclass(frozen=True)
class Price:
    unit: PriceUnit
    usd: dict[str | None, float]  # keyed by resolution; None = any resolution
    source: str

    def per_unit(self, resolution: str | None = None) -> float:
        return self.usd.get(resolution, self.usd.get(None, max(self.usd.values())))


@dataclass(frozen=True)
class Model:
    endpoint_id: str
    name: str
    kind: Kind
    aliases: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    max_audio_seconds: dict[str | None, float] = field(default_factory=dict)
    max_video_seconds: float | None = None  # the longest video input the model takes; None: no stated limit
    min_audio_seconds: float | None = None  # the shortest audio input the model takes (a voice sample); None: none
    text_field: str | None = None  # TTS: "prompt" (minimax 2.6) or "text" (02 / 2.5)
    max_text_chars: int | None = None
    sync_modes: tuple[str, ...] = ()
    sync_mode_field: str = "sync_mode"  # the payload field sync_modes go in (react-1: "lipsync_mode")
    emotions: tuple[str, ...] = ()  # the expressions the model can be directed with (`emotion`); () = none
    takes_prompt: bool = False  # has a text `prompt` guiding the video (OmniHuman 1.5, Creatify Aurora)
    price: Price | None = None
    limit_source: str = ""

    def audio_limit(self, resolution: str | None = None) -> float | None:
        return self.max_audio_seconds.get(resolution, self.max_audio_seconds.get(None))


def _per_second(usd: dict[str | None, float], source: str) -> Price:
    return Price(PriceUnit.SECOND, usd, source)


def _per_kchars(usd: float, source: str) -> Price:
    return Price(PriceUnit.KCHARS, {None: usd}, source)


def _tts(endpoint_id: str, name: str, text_field: str, max_text_chars: int, price: Price) -> Model:
    return Model(endpoint_id, name, Kind.TTS, text_field=text_field, max_text_chars=max_text_chars, price=price)


MODELS: tuple[Model, ...] = (
    # Talking head: portrait + speech.
    Model(
        "veed/fabric-1.0",
        "VEED Fabric 1.0",
        Kind.TALKING_HEAD,
        aliases=("fal-ai/veed/fabric-1.0",),
        resolutions=("480p", "720p"),
        default_resolution="480p",
        max_audio_seconds={None: 300.0},
        limit_source="fal states none; 300 s per the Comfy node (others say 60 s or 30 s)",
        price=_per_second({"480p": 0.08, "720p": 0.15}, "fal model page (llms.txt)"),
    ),
    Model(
        "veed/fabric-1.0/fast",
        "VEED Fabric 1.0 Fast",
        Kind.TALKING_HEAD,
        aliases=("fal-ai/veed/fabric-1.0/fast",),
        resolutions=("480p", "720p"),
        default_resolution="480p",
        max_audio_seconds={None: 300.0},
        limit_source="as Fabric 1.0",
        price=_per_second({"480p": 0.10, "720p": 0.20}, "third-party (clawhub veed-skill)"),
    ),
    Model(
        "fal-ai/bytedance/omnihuman/v1.5",
        "OmniHuman 1.5",
        Kind.TALKING_HEAD,
        resolutions=("720p", "1080p"),
        default_resolution="720p",
        max_audio_seconds={"720p": 60.0, "1080p": 30.0},
        limit_source="fal input schema: under 60 s at 720p, under 30 s at 1080p",
        takes_prompt=True,
        price=_per_second({None: 0.16}, "fal model page (llms.txt)"),
    ),
    Model(
        "fal-ai/creatify/aurora",
        "Creatify Aurora",
        Kind.TALKING_HEAD,
        resolutions=("480p", "720p"),
        default_resolution="720p",
        takes_prompt=True,  # fal input schema: `prompt`, "a text prompt to guide the video generation process"
        # Two copies of fal's page disagree on 480p (0.07 / 0.10): the higher one protects budgets.
        price=_per_second({"480p": 0.10, "720p": 0.14}, "fal model page (llms.txt), higher of two copies"),
    ),
    # Lip sync: video + speech.
    Model(
        "fal-ai/sync-lipsync/v2",
        "Sync Lipsync 2.0",
        Kind.LIPSYNC,
        sync_modes=SYNC_MODES,
        max_audio_seconds={None: 600.0},
        limit_source="sync.so API (fal states none)",
        price=_per_second({None: 3.0 / 60}, "fal model page: $3 per minute"),
    ),
    Model(
        "fal-ai/sync-lipsync/v2/pro",
        "Sync Lipsync 2.0 Pro",
        Kind.LIPSYNC,
        sync_modes=SYNC_MODES,
        max_audio_seconds={None: 600.0},
        limit_source="sync.so API (fal states none)",
        price=_per_second({None: 3.0 / 60 * 1.67}, "fal v2 schema: pro ≈ 1.67× lipsync-2"),
    ),
    Model(
        "fal-ai/sync-lipsync/react-1",
        "Sync React-1",
        Kind.LIPSYNC,
        sync_modes=SYNC_MODES,
        sync_mode_field="lipsync_mode",
        emotions=EMOTIONS,
        max_audio_seconds={None: 15.0},
        max_video_seconds=15.0,
        limit_source="fal input schema: video_url and audio_url each '15 seconds or shorter'",
        price=_per_second(
            {None: 10.0 / 60}, "fal model page: $10 per minute (fal.ai/models/fal-ai/sync-lipsync/react-1/llms.txt)"
        ),
    ),
    Model(
        "fal-ai/pixverse/lipsync",
        "PixVerse Lipsync",
        Kind.LIPSYNC,
        max_audio_seconds={None: 30.0},
        limit_source="PixVerse native API: audio ≤ 30 s",
        price=_per_second({None: 0.04}, "fal model page (llms.txt)"),
    ),
    # Portrait animation: portrait + driving video.
    Model("fal-ai/live-portrait", "Live Portrait", Kind.ANIMATE),
    # Dubbing: a video's speech translated into another language, re-voiced and lip-synced (one step, no TTS).
    Model(
        "veed/dubbing",
        "VEED Dubbing",
        Kind.DUB,
        max_video_seconds=600.0,
        limit_source="fal model page: 'up to 10 minutes' (Comfy's VeedDubbingNode: 599 s)",
        price=Price(
            PriceUnit.INPUT_VIDEO_SECOND,
            {None: 0.11},
            "fal model page: $0.11 per second of input video (fal.ai/models/veed/dubbing/llms.txt)",
        ),
    ),
    Model(
        "veed/dubbing/pro",
        "VEED Dubbing Pro",
        Kind.DUB,
        max_video_seconds=600.0,
        limit_source="WaveSpeed's copy of VEED's pro schema: 'up to 10 minutes' (Comfy's node: 599 s)",
        # fal's pro page (fal.ai/models/veed/dubbing/pro/llms.txt) was not found in the stored copies: twice the
        # standard price, a conservative guess (Comfy: standard "is cheaper"), so budgets are not overrun.
        price=Price(PriceUnit.INPUT_VIDEO_SECOND, {None: 0.22}, "not found on fal: 2x standard, conservative"),
    ),
    # Text to speech.
    _tts(
        "fal-ai/minimax/speech-2.6-turbo",
        "MiniMax Speech 2.6 Turbo",
        "prompt",
        10000,
        _per_kchars(0.06, "third-party (WaveSpeed, Replicate); fal's own not found"),
    ),
    _tts(
        "fal-ai/minimax/speech-2.6-hd",
        "MiniMax Speech 2.6 HD",
        "prompt",
        10000,
        _per_kchars(0.10, "fal speech-2.8-hd page (2.6-hd not found)"),
    ),
    _tts(
        "fal-ai/minimax/speech-02-hd",
        "MiniMax Speech 02 HD",
        "text",
        5000,
        _per_kchars(0.10, "fal speech-2.8-hd page (02-hd not found)"),
    ),
    _tts(
        "fal-ai/minimax/speech-02-turbo",
        "MiniMax Speech 02 Turbo",
        "text",
        5000,
        _per_kchars(0.06, "fal model page (llms.txt)"),
    ),
)

# Voice cloning: a sample of a voice becomes a custom voice id for MiniMax's TTS (bot/jobs/voices.py).
VOICE_CLONE_MODEL = Model(
    "fal-ai/minimax/voice-clone",
    "MiniMax Voice Clone",
    Kind.VOICE_CLONE,
    min_audio_seconds=10.0,
    max_audio_seconds={None: 300.0},
    limit_source="fal input schema: at least 10 s; MiniMax's voice-clone API: at most 5 minutes (and 20 MB)",
    # fal publishes no price for it (model page, llms.txt and API page read 2026-12); resellers charge $0.85
    # (MuAPI's figure for fal and Replicate) to $2.10 (Kyma): counted at the highest, so budgets hold.
    price=Price(PriceUnit.REQUEST, {None: 2.10}, "estimated: fal states none; highest reseller price ($2.10, Kyma)"),
)
MODELS = (*MODELS, VOICE_CLONE_MODEL)

DEFAULTS: dict[Kind, str] = {
    Kind.TALKING_HEAD: "veed/fabric-1.0",
    Kind.LIPSYNC: "fal-ai/sync-lipsync/v2",
    Kind.ANIMATE: "fal-ai/live-portrait",
    Kind.TTS: "fal-ai/minimax/speech-2.6-turbo",
    Kind.DUB: "veed/dubbing",
    Kind.VOICE_CLONE: "fal-ai/minimax/voice-clone",
}

_BY_ID: dict[str, Model] = {}
for _model in MODELS:
    for _name in (_model.endpoint_id, *_model.aliases):
        _BY_ID[_name] = _model


class UnknownModel(ValueError):
    def __init__(self, model_id: str, kind: Kind) -> None:
        offered = ", ".join(m.endpoint_id for m in models_of(kind))
        super().__init__(f"unknown {kind.value.replace('_', ' ')} model '{model_id}'; offered: {offered}")


def models_of(kind: Kind) -> list[Model]:
    return [m for m in MODELS if m.kind is kind]


def get_model(model_id: str | None, kind: Kind) -> Model:
    """The model for an endpoint id or alias; the kind's default when model_id is empty."""
    model = _BY_ID.get(model_id or DEFAULTS[kind])
    if model is None or model.kind is not kind:
        raise UnknownModel(model_id or "", kind)
    return model
