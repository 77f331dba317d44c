"""Every payload the code can build validates against fal's published input schema for its endpoint."""

from __future__ import annotations

import itertools

import pytest

from bot.errors import BadInput
from bot.fal import catalog, languages, payloads
from bot.fal.catalog import Kind
from tests.standins.fal_queue import CONTRACTS_DIR, load_contracts

CONTRACTS = load_contracts(CONTRACTS_DIR)
IMAGE, VIDEO, AUDIO = "https://cdn.example/p.png", "https://cdn.example/v.mp4", "https://cdn.example/a.mp3"


def buildable() -> list[tuple[str, dict]]:
    """(endpoint id, payload) for every combination of options the catalog offers."""
    out = []
    for model in catalog.MODELS:
        if model.kind is Kind.TALKING_HEAD:
            for res in (None, *model.resolutions):
                out.append((model.endpoint_id, payloads.talking_head_payload(model, IMAGE, AUDIO, res)))
        elif model.kind is Kind.LIPSYNC:
            for mode in (None, *model.sync_modes):
                out.append((model.endpoint_id, payloads.lipsync_payload(model, VIDEO, AUDIO, mode)))
        elif model.kind is Kind.ANIMATE:
            out.append((model.endpoint_id, payloads.animate_payload(model, IMAGE, VIDEO)))
        elif model.kind is Kind.DUB:
            for code in languages.accepted_by(model.endpoint_id):
                out.append((model.endpoint_id, payloads.dub_payload(model, VIDEO, code)))
        elif model.kind is Kind.VOICE_CLONE:
            out.append((model.endpoint_id, payloads.voice_clone_payload(model, AUDIO)))
        else:
            for voice in (None, *catalog.MINIMAX_VOICES, "voice-3f9c2a1b"):  # a stock voice, or a cloned one's id
                out.append((model.endpoint_id, payloads.tts_payload(model, "Hello there, friends.", voice)))
    return out


@pytest.mark.parametrize("endpoint_id,payload", buildable(), ids=lambda v: v if isinstance(v, str) else "")
def test_payload_matches_fal_input_schema(endpoint_id, payload):
    contract = CONTRACTS[endpoint_id]
    errors = [e.message for e in contract.input_validator.iter_errors(payload)]
    assert errors == []


def test_every_catalog_model_has_a_contract_and_sane_defaults():
    for model in catalog.MODELS:
        assert model.endpoint_id in CONTRACTS, model.endpoint_id
        if model.resolutions:
            assert model.default_resolution in model.resolutions
    for kind, default in catalog.DEFAULTS.items():
        assert catalog.get_model(None, kind).endpoint_id == default


def test_seed_spelling_of_fabric_is_an_alias_for_the_real_id():
    assert catalog.get_model("fal-ai/veed/fabric-1.0", Kind.TALKING_HEAD).endpoint_id == "veed/fabric-1.0"
    with pytest.raises(catalog.UnknownModel, match="offered: veed/fabric-1.0"):
        catalog.get_model("fal-ai/sync-lipsync/v2", Kind.TALKING_HEAD)


def test_fabric_always_gets_the_resolution_it_requires():
    fabric = catalog.get_model("veed/fabric-1.0", Kind.TALKING_HEAD)
    schema_required = CONTRACTS["veed/fabric-1.0"].schemas["Fabric10Input"]["required"]
    assert "resolution" in schema_required
    assert payloads.talking_head_payload(fabric, IMAGE, AUDIO)["resolution"] == "480p"


def test_minimax_26_takes_prompt_and_url_output_while_02_takes_text():
    new = payloads.tts_payload(catalog.get_model("fal-ai/minimax/speech-2.6-turbo", Kind.TTS), "Hi")
    old = payloads.tts_payload(catalog.get_model("fal-ai/minimax/speech-02-hd", Kind.TTS), "Hi")
    assert new["prompt"] == "Hi" and "text" not in new and new["output_format"] == "url"
    assert old["text"] == "Hi" and "prompt" not in old


@pytest.mark.parametrize(
    "build,field",
    [
        (
            lambda: payloads.talking_head_payload(catalog.get_model(None, Kind.TALKING_HEAD), IMAGE, AUDIO, "1080p"),
            "resolution",
        ),
        (
            lambda: payloads.lipsync_payload(
                catalog.get_model("fal-ai/pixverse/lipsync", Kind.LIPSYNC), VIDEO, AUDIO, "loop"
            ),
            "sync_mode",
        ),
        (lambda: payloads.lipsync_payload(catalog.get_model(None, Kind.LIPSYNC), VIDEO, AUDIO, "stretch"), "sync_mode"),
        (lambda: payloads.tts_payload(catalog.get_model(None, Kind.TTS), "   "), "text"),
        (lambda: payloads.tts_payload(catalog.get_model(None, Kind.TTS), "x" * 10001), "text"),
    ],
)
def test_options_a_model_does_not_take_are_refused_with_what_it_accepts(build, field):
    with pytest.raises(BadInput) as caught:
        build()
    assert caught.value.field == field
    assert "accepts" in str(caught.value) or "must be one of" in str(caught.value) or "text" in str(caught.value)


def test_prices_cover_every_paid_model_at_every_resolution():
    for model, res in itertools.chain.from_iterable(
        ((m, r) for r in (m.resolutions or (None,))) for m in catalog.MODELS if m.price
    ):
        assert model.price.per_unit(res) > 0


# ---- emotion (sync react-1) and prompt (talking-head models that take one)

REACT = "fal-ai/sync-lipsync/react-1"


def directed() -> list[tuple[str, dict]]:
    """(endpoint id, payload) for every emotion and sync mode a directed lip sync takes, and a prompt for every
    talking-head model that takes one, at each of its resolutions."""
    out = []
    for model in catalog.MODELS:
        for emotion, mode in itertools.product(model.emotions, (None, *model.sync_modes)):
            out.append((model.endpoint_id, payloads.lipsync_payload(model, VIDEO, AUDIO, mode, emotion=emotion)))
        if model.takes_prompt:
            for res in (None, *model.resolutions):
                prompt = "The camera slowly pushes in. She speaks thoughtfully, with a slight smile."
                out.append((model.endpoint_id, payloads.talking_head_payload(model, IMAGE, AUDIO, res, prompt=prompt)))
    return out


@pytest.mark.parametrize("endpoint_id,payload", directed(), ids=lambda v: v if isinstance(v, str) else "")
def test_emotion_and_prompt_payloads_match_fal_input_schema(endpoint_id, payload):
    errors = [e.message for e in CONTRACTS[endpoint_id].input_validator.iter_errors(payload)]
    assert errors == []
    assert payload.get("emotion") or payload.get("prompt")


def test_react1_takes_the_emotions_fal_offers_and_its_sync_mode_is_lipsync_mode():
    react = catalog.get_model(REACT, Kind.LIPSYNC)
    schema = CONTRACTS[REACT].schemas["SyncLipsyncReact1Input"]
    assert set(react.emotions) == set(schema["properties"]["emotion"]["enum"]) == set(catalog.EMOTIONS)
    assert set(react.sync_modes) == set(schema["properties"]["lipsync_mode"]["enum"])
    assert "emotion" in schema["required"]
    payload = payloads.lipsync_payload(react, VIDEO, AUDIO, "loop", emotion="sad")
    assert payload == {"video_url": VIDEO, "audio_url": AUDIO, "lipsync_mode": "loop", "emotion": "sad"}
    assert payloads.lipsync_payload(react, VIDEO, AUDIO)["emotion"] == "neutral"  # required: the default
    assert react.audio_limit() == 15.0 and react.max_video_seconds == 15.0
    assert react.price is not None and react.price.per_unit() * 60 == pytest.approx(10.0)


def test_the_models_that_take_a_prompt_are_those_whose_contract_has_one():
    for model in catalog.models_of(Kind.TALKING_HEAD):
        contract = CONTRACTS[model.endpoint_id]
        schema = contract.schemas[contract.input_name]
        assert model.takes_prompt == ("prompt" in schema["properties"]), model.endpoint_id
    assert [m.name for m in payloads.prompt_models()] == ["OmniHuman 1.5", "Creatify Aurora"]


@pytest.mark.parametrize(
    "build,field,named",
    [
        (
            lambda: payloads.lipsync_payload(catalog.get_model(None, Kind.LIPSYNC), VIDEO, AUDIO, emotion="happy"),
            "emotion",
            "Sync React-1",
        ),
        (
            lambda: payloads.lipsync_payload(catalog.get_model(REACT, Kind.LIPSYNC), VIDEO, AUDIO, emotion="joyful"),
            "emotion",
            "happy, angry, sad, neutral, disgusted, surprised",
        ),
        (
            lambda: payloads.talking_head_payload(catalog.get_model(None, Kind.TALKING_HEAD), IMAGE, AUDIO, prompt="x"),
            "prompt",
            "`prompt` works with OmniHuman 1.5 or Creatify Aurora; choose one with `model:`",
        ),
    ],
)
def test_emotion_and_prompt_refused_where_the_model_takes_none_naming_those_that_do(build, field, named):
    with pytest.raises(BadInput) as caught:
        build()
    assert caught.value.field == field and named in str(caught.value)
