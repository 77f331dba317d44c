"""Dubbing as pure functions: the languages each VEED model takes, the autocomplete, how a language is read, the
cost on the video's length, the budget's worst case and what a dub refuses before anything is paid."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from bot.errors import BadInput
from bot.fal import catalog, languages
from bot.fal.catalog import Kind, PriceUnit
from bot.jobs import cost, limits, pipeline
from bot.jobs.build import build_spec
from bot.jobs.model import Job
from bot.jobs.spec import Command
from cogs.dub import language_choices

VIDEO = "https://cdn.example/v.mp4"


def test_the_catalog_prices_dubbing_per_second_of_input_video_with_a_ten_minute_limit():
    standard, pro = catalog.models_of(Kind.DUB)
    assert (standard.endpoint_id, pro.endpoint_id) == ("veed/dubbing", "veed/dubbing/pro")
    assert catalog.get_model(None, Kind.DUB) is standard
    for model in (standard, pro):
        assert model.price is not None and model.price.unit is PriceUnit.INPUT_VIDEO_SECOND
        assert model.max_video_seconds == 600.0 and model.limit_source and model.price.source
    assert standard.price and standard.price.per_unit() == 0.11
    assert pro.price and pro.price.per_unit() >= standard.price.per_unit()  # never cheaper than standard


def test_standard_takes_86_languages_and_pro_adds_regional_accents():
    assert len(languages.STANDARD) == len(set(languages.STANDARD)) == 86
    assert all("-" not in code for code in languages.STANDARD)  # standard has no regional dialects
    regional = {c for c in languages.PRO if "-" in c}
    assert {"es-MX", "pt-BR", "en-GB", "ar-EG"} <= regional
    assert all(code in languages.NAMES for code in (*languages.STANDARD, *languages.PRO))


@pytest.mark.parametrize(
    "given,model,code",
    [
        ("es", "veed/dubbing", "es"),
        ("ES", "veed/dubbing", "es"),
        (" Spanish ", "veed/dubbing", "es"),
        ("portuguese", "veed/dubbing", "pt"),
        ("Spanish (es)", "veed/dubbing", "es"),  # as the autocomplete shows it
        ("es_mx", "veed/dubbing/pro", "es-MX"),
        ("Spanish (Mexico)", "veed/dubbing/pro", "es-MX"),
        ("Portuguese (Brazil) (pt-BR)", "veed/dubbing/pro", "pt-BR"),
    ],
)
def test_a_language_is_a_code_or_an_english_name(given, model, code):
    assert languages.resolve(given, model) == code


@pytest.mark.parametrize(
    "given,model,says",
    [
        (
            "Klingon",
            "veed/dubbing",
            "'Klingon' is not a language VEED Dubbing knows; give a language code such as `es`",
        ),
        ("", "veed/dubbing", "give the language to dub into, as a code such as `es`"),
        ("es-MX", "veed/dubbing", "only `veed/dubbing/pro` (VEED Dubbing Pro) dubs into: choose that model; "),
        ("ak", "veed/dubbing", "only `veed/dubbing/pro`"),
        ("ast", "veed/dubbing/pro", "VEED Dubbing Pro does not dub into Asturian (ast); use the autocomplete"),
    ],
)
def test_a_language_the_model_does_not_take_is_refused_saying_what_is_accepted(given, model, says):
    with pytest.raises(languages.Unknown) as caught:
        languages.resolve(given, model)
    assert says in str(caught.value)
    with pytest.raises(BadInput) as refused:
        build_spec(Command.DUB, video_url=VIDEO, language=given, model=model)
    assert refused.value.field == "language" and says in str(refused.value)


def test_the_autocomplete_matches_names_and_codes_within_25_choices():
    assert languages.choices("veed/dubbing", "ger") == [("German (de)", "de")]
    assert languages.choices("veed/dubbing", "de")[0] == ("German (de)", "de")  # the exact code first
    assert [c for _, c in languages.choices("veed/dubbing/pro", "spanish")] == [
        "es",
        "es-AR",
        "es-CL",
        "es-ES",
        "es-MX",
    ]
    assert len(languages.choices("veed/dubbing", "")) == 25
    assert len(languages.choices("veed/dubbing", "a")) == 25
    assert languages.choices("veed/dubbing", "zzz") == []


async def test_the_autocomplete_offers_the_languages_of_the_model_chosen_so_far():
    def interaction(model: str | None) -> SimpleNamespace:
        return SimpleNamespace(namespace=SimpleNamespace(model=model))

    pro = await language_choices(interaction("veed/dubbing/pro"), "es-")  # type: ignore[arg-type]
    assert [c.value for c in pro] == ["es-AR", "es-CL", "es-ES", "es-MX"]
    assert [c.value for c in await language_choices(interaction(None), "es-")] == []  # type: ignore[arg-type]
    bogus = await language_choices(interaction("nonsense"), "Span")  # type: ignore[arg-type]
    assert [(c.name, c.value) for c in bogus] == [("Spanish (es)", "es")]


def test_a_dub_costs_its_videos_length_and_counts_at_the_longest_video_while_unmeasured():
    spec = build_spec(Command.DUB, video_url=VIDEO, language="es")
    assert spec.speech_model is None and [s.name for s in pipeline.plan(spec)] == ["video"]
    assert cost.estimate(spec) is None  # not measured yet
    assert cost.estimate(dataclasses.replace(spec, video_seconds=6.0)) == 0.66
    job = Job(id="j", user_id=1, spec=spec)
    assert limits.budget_estimate(job) == pytest.approx(600 * 0.11)  # the model's longest video
    pro = build_spec(Command.DUB, video_url=VIDEO, language="es-MX", model="veed/dubbing/pro")
    assert limits.budget_estimate(Job(id="p", user_id=1, spec=pro)) == pytest.approx(600 * 0.22)


def test_a_dub_refuses_a_video_over_the_limit_and_speech_before_anything_is_paid():
    with pytest.raises(BadInput) as long:
        build_spec(Command.DUB, video_url=VIDEO, language="es", video_seconds=601.5)
    assert long.value.field == "video"
    assert str(long.value) == "the video lasts 601.5 s; VEED Dubbing accepts at most 600 s — use a shorter clip"
    with pytest.raises(BadInput, match="/dub takes no speech"):
        build_spec(Command.DUB, video_url=VIDEO, language="es", text="hello")
    with pytest.raises(BadInput, match="a video with speech to dub is required"):
        build_spec(Command.DUB, language="es")
    with pytest.raises(BadInput, match="takes no language"):
        build_spec(Command.LIPSYNC, video_url=VIDEO, text="hi", language="es")
