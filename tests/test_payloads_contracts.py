"""Every payload the code can build validates against fal's published input schema for its endpoint."""

from __future__ import annotations

import itertools

import pytest

from bot.errors import BadInput
from bot.fal import catalog, payloads
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
        else:
            for voice in (None, *catalog.MINIMAX_VOICES):
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
