"""bot.i18n as pure functions: messages shown in the locale of the moment, numbers, money, durations and plurals
formatted by Babel, the shipped locale for any Discord locale, and a broken translation that falls back to English
instead of failing the message. Tiny catalogs in a temporary directory stand in for the shipped ones (whose
contents the translators own); tests/test_catalogs.py checks the shipped ones."""

from __future__ import annotations

import asyncio
import logging

import discord
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot import i18n
from bot.errors import BadInput
from bot.i18n import N_, Duration, Money, Number, Text, _, pgettext_

GERMAN = {
    (None, "Hello {name}, your job `{job}` is ready"): "Hallo {name}, dein Auftrag `{job}` ist fertig",
    (None, "Estimated cost {cost}"): "Geschätzte Kosten {cost}",
    (None, "Queued on fal"): "Bei fal in der Warteschlange",
    (None, "{what} — {why}"): "{what} — {why}",
    (None, "the video lasts {seconds} s"): "das Video dauert {seconds} s",
    (None, "Broken {name}"): "Kaputt {nmae}",  # a translator's typo: a placeholder the English does not have
    (None, "Unbalanced {name}"): "Unausgeglichen {name",  # not a format string at all
    ("button", "Cancel"): "Abbrechen",
    ("job status", "Cancel"): "Storniert",
}
PLURALS = {
    "pl": ("{n} zadanie czeka", "{n} zadania czekają", "{n} zadań czeka"),
    "ru": ("{n} задание ждёт", "{n} задания ждут", "{n} заданий ждут"),
    "de": ("{n} Auftrag wartet", "{n} Aufträge warten"),
    "ja": ("{n} 件のジョブが待機中",),
}
JOBS_WAIT = ("{n} job waits", "{n} jobs wait")


def _write(directory, locale: str, entries: dict) -> None:
    catalog = Catalog(locale=i18n.babel_locale(locale), domain=i18n.DOMAIN, fuzzy=False)
    for (context, msgid), msgstr in entries.items():
        catalog.add(msgid, msgstr, context=context)
    path = directory / locale.replace("-", "_") / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:
        write_po(out, catalog)


@pytest.fixture(autouse=True)
def catalogs(tmp_path, monkeypatch):
    """Every shipped locale reads a tiny catalog of this module's (empty but for German and the plurals)."""
    for locale in i18n.LOCALES:
        entries = dict(GERMAN) if locale == "de" else {}
        if locale in PLURALS:
            entries[(None, JOBS_WAIT)] = PLURALS[locale]
        _write(tmp_path, locale, entries)
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path)
    i18n.translations.cache_clear()
    yield tmp_path
    i18n.translations.cache_clear()  # the next test reads the shipped catalogs again


def test_english_is_the_message_as_written():
    message = _("Hello {name}, your job `{job}` is ready", name="Alice", job="3f9c2a1b")
    assert isinstance(message, Text)
    assert str(message) == "Hello Alice, your job `3f9c2a1b` is ready"
    assert message.render("en-US") == message.render("en-GB") == str(message)
    assert _("No placeholders here: {{braces}} stay").render() == "No placeholders here: {braces} stay"


def test_a_message_is_shown_in_the_locale_of_the_moment():
    message = _("Hello {name}, your job `{job}` is ready", name="Alice", job="3f9c2a1b")
    with i18n.using("de") as shown:
        assert shown == "de" and i18n.current() == "de"
        assert str(message) == "Hallo Alice, dein Auftrag `3f9c2a1b` ist fertig"
        assert i18n.text(message) == str(message) and i18n.text(42) == "42"
    assert i18n.current() == i18n.DEFAULT and str(message).startswith("Hello Alice")
    assert message.render("de").startswith("Hallo") and i18n.current() == i18n.DEFAULT
    # a locale without the message (untranslated) shows the English
    assert message.render("fr") == "Hello Alice, your job `3f9c2a1b` is ready"


def test_use_sets_the_locale_for_its_task_only():
    async def member(locale: str) -> str:
        i18n.use(locale)
        await asyncio.sleep(0)
        return str(_("Queued on fal"))

    async def both() -> list[str]:
        return await asyncio.gather(member("de"), member("ja"), member("en-US"))

    assert asyncio.run(both()) == ["Bei fal in der Warteschlange", "Queued on fal", "Queued on fal"]
    assert i18n.current() == i18n.DEFAULT


def test_values_are_formatted_for_the_locale_and_texts_inside_texts_too():
    line = _("Estimated cost {cost}", cost=Money(0.42))
    assert str(line) == "Estimated cost $0.42"
    assert line.render("de") == "Geschätzte Kosten 0,42\xa0$"
    nested = _(
        "{what} — {why}", what=_("Queued on fal"), why=_("the video lasts {seconds} s", seconds=Number(14.25, 1))
    )
    assert str(nested) == "Queued on fal — the video lasts 14.2 s"
    assert nested.render("de") == "Bei fal in der Warteschlange — das Video dauert 14,2 s"
    # plain ints and strs are shown as they are (ids, mentions, code)
    assert _("Estimated cost {cost}", cost=1234567).render("de") == "Geschätzte Kosten 1234567"


def test_the_same_english_in_two_places_can_read_differently():
    assert pgettext_("button", "Cancel").render("de") == "Abbrechen"
    assert pgettext_("job status", "Cancel").render("de") == "Storniert"
    assert str(pgettext_("button", "Cancel")) == "Cancel"


@pytest.mark.parametrize(
    "locale,one,two,five",
    [
        ("pl", "1 zadanie czeka", "2 zadania czekają", "5 zadań czeka"),
        ("ru", "1 задание ждёт", "2 задания ждут", "5 заданий ждут"),
        ("de", "1 Auftrag wartet", "2 Aufträge warten", "5 Aufträge warten"),
        ("ja", "1 件のジョブが待機中", "2 件のジョブが待機中", "5 件のジョブが待機中"),
        ("en-US", "1 job waits", "2 jobs wait", "5 jobs wait"),
        ("fr", "1 job waits", "2 jobs wait", "5 jobs wait"),  # untranslated: the English forms
    ],
)
def test_plural_forms_follow_each_locales_rule(locale, one, two, five):
    shown = [N_(*JOBS_WAIT, n).render(locale) for n in (1, 2, 5)]
    assert shown == [one, two, five]


def test_plural_counts_are_formatted_and_follow_the_rule_past_the_small_numbers():
    assert N_(*JOBS_WAIT, 22).render("pl") == "22 zadania czekają"
    assert N_(*JOBS_WAIT, 25).render("pl") == "25 zadań czeka"
    assert N_(*JOBS_WAIT, 21).render("ru") == "21 задание ждёт"
    assert N_(*JOBS_WAIT, 1000).render("pl") == "1\xa0000 zadań czeka"
    assert N_(*JOBS_WAIT, 1000).render("de") == "1.000 Aufträge warten"
    assert str(N_(*JOBS_WAIT, 1000)) == "1,000 jobs wait"
    assert str(N_(*JOBS_WAIT, 0)) == "0 jobs wait"


@pytest.mark.parametrize(
    "locale,money,number,decimal,duration,short",
    [
        ("en-US", "$0.42", "1,234,567", "14.2", "3 minutes", "3 min"),
        ("de", "0,42\xa0$", "1.234.567", "14,2", "3 Minuten", "3 Min."),
        ("ja", "$0.42", "1,234,567", "14.2", "3 分", "3 分"),
        ("fr", "0,42\xa0$US", "1\u202f234\u202f567", "14,2", "3 minutes", "3\xa0min"),
        ("ru", "0,42\xa0$", "1\xa0234\xa0567", "14,2", "3 минуты", "3 мин"),
        ("pt-BR", "US$\xa00,42", "1.234.567", "14,2", "3 minutos", "3 min"),
    ],
)
def test_numbers_money_and_durations_per_locale(locale, money, number, decimal, duration, short):
    with i18n.using(locale):
        assert str(Money(0.42)) == money
        assert str(Number(1234567)) == number
        assert str(Number(14.25, 1)) == decimal
        assert str(Duration(180)) == duration
        assert str(Duration(180, short=True)) == short
        assert f"{Money(0.42)}" == money  # as a format field, the same


def test_money_keeps_the_digits_the_code_asks_for():
    with i18n.using("en-US"):
        assert [str(Money(0.5, 3)), str(Money(12, 0)), str(Money(1234.5))] == ["$0.500", "$12", "$1,234.50"]
    with i18n.using("de"):
        assert [str(Money(0.5, 3)), str(Money(12, 0)), str(Money(1234.5))] == ["0,500\xa0$", "12\xa0$", "1.234,50\xa0$"]
    with i18n.using("en-US"):
        assert [str(Number(0.5, 0)), str(Number(2, 2)), str(Number(3.14159))] == ["0", "2.00", "3.142"]


@pytest.mark.parametrize(
    "given,shipped",
    [
        ("de", "de"),
        ("ja", "ja"),
        ("es-ES", "es-ES"),
        ("es-419", "es-ES"),  # Latin American Spanish reads the Spanish catalog
        ("pt-BR", "pt-BR"),
        ("en-US", "en-US"),
        ("en-GB", "en-US"),
        ("zh-CN", "zh-CN"),
        ("zh-TW", "en-US"),  # Traditional Chinese readers get English rather than Simplified
        ("sv-SE", "en-US"),  # not shipped: English
        ("xx", "en-US"),
        ("", "en-US"),
        (None, "en-US"),
        (discord.Locale.latin_american_spanish, "es-ES"),
        (discord.Locale.german, "de"),
        (discord.Locale.taiwan_chinese, "en-US"),
        (discord.Locale.british_english, "en-US"),
    ],
)
def test_the_shipped_locale_for_any_discord_locale(given, shipped):
    assert i18n.shipped(given) == shipped
    with i18n.using(given) as current:
        assert current == shipped == i18n.current()


def test_every_shipped_locale_is_a_discord_locale_and_babel_knows_it():
    discord_locales = {locale.value for locale in discord.Locale}
    assert set(i18n.LOCALES) <= discord_locales and i18n.DEFAULT in discord_locales
    assert len(i18n.LOCALES) == 13
    for locale in i18n.LOCALES:
        assert i18n.babel_locale(locale).plural_form  # Babel has its plural rule and number formats


@pytest.mark.parametrize("msgid", ["Broken {name}", "Unbalanced {name}"])
def test_a_translation_whose_placeholders_differ_falls_back_to_english_with_a_warning(msgid, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        shown = _(msgid, name="Alice").render("de")
    assert shown == msgid.format(name="Alice")
    assert any("de" in r.getMessage() and msgid in r.getMessage() for r in caplog.records)


def test_a_plural_whose_placeholders_differ_falls_back_to_the_english_form(catalogs, caplog):
    i18n.translations.cache_clear()
    (catalogs / "de").rename(catalogs / "de_old")
    _write(catalogs, "de", {(None, JOBS_WAIT): ("{count} Auftrag wartet", "{count} Aufträge warten")})
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        assert N_(*JOBS_WAIT, 1).render("de") == "1 job waits"
        assert N_(*JOBS_WAIT, 3).render("de") == "3 jobs wait"
    assert caplog.records


def test_a_refusal_is_told_in_the_locale_of_the_moment():
    refusal = BadInput("audio", _("the video lasts {seconds} s", seconds=Number(14.25, 1)))
    assert str(refusal).endswith("the video lasts 14.2 s")
    with i18n.using("de"):
        assert str(refusal).endswith("das Video dauert 14,2 s")
