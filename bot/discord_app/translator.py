"""Command names, descriptions, options, choices and context-menu names in every shipped locale (discord.py's
Translator), from the same gettext catalogs as the messages (bot.i18n). Each string's catalog entry has the place
it is shown as its context (msgctxt): `command_name`, `command_description`, `parameter_name`,
`parameter_description`, `choice_name` (discord.py's TranslationContextLocation names), so a word can be a
command's name in one place and plain text in another."""

from __future__ import annotations

import discord
from discord import app_commands

from bot import i18n


class CatalogTranslator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        return translated(string.message, locale.value, context.location.name)


def translated(message: str, locale: str, place: str) -> str | None:
    """The catalog's words for `message` shown at `place` in `locale` (the English where the catalog has none: every
    shipped locale's catalog is complete, tests/test_catalogs.py); None for a locale not shipped."""
    if locale not in i18n.LOCALES:
        return None
    return i18n.translations(locale).pgettext(place, message)
