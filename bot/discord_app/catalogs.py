"""The message catalogs (bot/locales/), made and checked with Babel:

    python -m bot.discord_app.catalogs update          # the template from the code and the commands; every catalog updated
    python -m bot.discord_app.catalogs update fr       # the same, and a catalog for a new locale (a Discord locale code)
    python -m bot.discord_app.catalogs check [LOCALE]  # what is missing or does not fit, per locale; exit 1 if anything

The template (bot/locales/messages.pot) holds every message marked with `_()`, `N_()` or `pgettext_()` in bot/
and cogs/ (Babel's Python extractor), and every command's name, description, options and choices as the synced
commands carry them, each with its place as context (bot.discord_app.translator). `update` merges it into each
locale's messages.po (Babel's update: new messages empty, changed ones marked fuzzy); translators then fill in
the empty and fuzzy entries. The bot compiles the catalogs when it starts (bot.i18n); nothing compiled is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import string
import sys
from collections.abc import Iterator
from pathlib import Path

import discord
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.ext import commands

from bot import i18n

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = i18n.CATALOGS / f"{i18n.DOMAIN}.pot"
KEYWORDS = {"_": None, "N_": (1, 2), "pgettext_": ((1, "c"), 2)}
SOURCES = ("bot", "cogs")

# Discord's limits on what the commands carry (and on a modal's title), per place.
LIMITS = {"command_name": 32, "group_name": 32, "parameter_name": 32, "choice_name": 100}
LIMITS |= {"command_description": 100, "group_description": 100, "parameter_description": 100}
NAME = re.compile(r"^[-_\w]{1,32}$")  # a slash command's or an option's name: lowercase, no spaces


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders of a message (format fields; `{{` is a brace)."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field is not None}


# ---- the template


def _code_messages() -> Iterator[tuple[str | tuple[str, ...], str, str | None]]:
    for source in SOURCES:
        for filename, _lineno, message, _comments, context in extract_from_dir(
            ROOT / source, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("Translators:",)
        ):
            yield message, f"{source}/{filename}", context


async def _command_strings() -> list[tuple[str, str]]:
    """(place, English) for every string of every command, as they are synced."""
    from bot.discord_app.client import EXTENSIONS
    from bot.discord_app.services import Services

    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    bot.services = Services(None, None, None)  # type: ignore[arg-type,attr-defined]  # the cogs only keep it
    found: list[tuple[str, str]] = []

    class Collect(app_commands.Translator):
        async def translate(
            self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
        ) -> str | None:
            if locale is discord.Locale.german:  # once per string
                found.append((context.location.name, string.message))
            return None

    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    await bot.tree.set_translator(Collect())
    for command in bot.tree.get_commands():
        await command.get_translated_payload(bot.tree, Collect())
    return found


def template() -> Catalog:
    catalog = Catalog(project="lipsync-bot", domain=i18n.DOMAIN, charset="utf-8", fuzzy=False)
    for message, where, context in _code_messages():
        catalog.add(message, locations=[(where, 0)], context=context)
    for place, english in asyncio.run(_command_strings()):
        catalog.add(english, locations=[("commands", 0)], context=place)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=120, omit_header=False, sort_output=True, include_lineno=False)


def update(new: list[str]) -> None:
    fresh = template()
    _write(fresh, TEMPLATE)
    for locale in sorted(set(i18n.LOCALES) | set(new)):
        path = i18n.directory(locale) / f"{i18n.DOMAIN}.po"
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=i18n.babel_locale(locale), domain=i18n.DOMAIN)
        else:
            catalog = Catalog(locale=i18n.babel_locale(locale), domain=i18n.DOMAIN, project="lipsync-bot")
        catalog.update(fresh, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalog, path)
        print(f"{path.relative_to(ROOT)}: {len(list(_missing(catalog)))} to translate")


# ---- checks


def _missing(catalog: Catalog) -> Iterator[Message]:
    for message in catalog:
        if message.id and (message.fuzzy or not _strings(message.string) or not all(_strings(message.string))):
            yield message


def _strings(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)] if value else []


def load(locale: str) -> Catalog:
    with (i18n.directory(locale) / f"{i18n.DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=i18n.babel_locale(locale), domain=i18n.DOMAIN)


def problems(locale: str, template_catalog: Catalog | None = None) -> list[str]:
    """What keeps a locale's catalog from being complete and safe to show: a message of the template missing or
    untranslated, placeholders that differ, plural forms missing, a command name Discord would refuse, a text
    over Discord's limit for its place."""
    expected = template_catalog or _read_template()
    catalog = load(locale)
    found = []
    for message in expected:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        key = f"{locale}: {message.context + ' | ' if message.context else ''}{_first(message.id)!r}"
        if translated is None or translated.fuzzy or not all(_strings(translated.string)) or not translated.string:
            found.append(f"{key}: not translated")
            continue
        english = set().union(*(placeholders(s) for s in _strings(message.id)))
        for words in _strings(translated.string):
            if placeholders(words) - english or (message.pluralizable is False and placeholders(words) != english):
                found.append(f"{key}: placeholders {sorted(placeholders(words))}, the English has {sorted(english)}")
        if message.pluralizable and len(_strings(translated.string)) != catalog.num_plurals:
            found.append(f"{key}: {len(_strings(translated.string))} plural forms, {locale} has {catalog.num_plurals}")
        limit = LIMITS.get(message.context or "")
        for words in _strings(translated.string):
            if limit and len(words) > limit:
                found.append(f"{key}: {len(words)} characters, Discord takes {limit} here")
            first = _first(message.id)
            slash = message.context in ("parameter_name", "group_name") or (
                message.context == "command_name" and bool(NAME.match(first)) and first == first.lower()
            )
            if slash and not (NAME.match(words) and words == words.lower()):
                found.append(f"{key}: {words!r} is not a name Discord takes (lowercase, no spaces, at most 32)")
    return found


def _first(message_id: object) -> str:
    return _strings(message_id)[0]


def _read_template() -> Catalog:
    with TEMPLATE.open("rb") as source:
        return read_po(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.discord_app.catalogs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("update", help="the template from the code and commands; every catalog updated")
    up.add_argument("new", nargs="*", help="a Discord locale code to start a catalog for (e.g. sv-SE)")
    check = sub.add_parser("check", help="what is missing or does not fit, per locale")
    check.add_argument("locales", nargs="*", help="Discord locale codes (default: every shipped one)")
    args = parser.parse_args(argv)
    if args.action == "update":
        update(args.new)
        return 0
    expected = _read_template()
    found = [p for locale in args.locales or i18n.LOCALES for p in problems(locale, expected)]
    for line in found:
        print(line)
    print(f"{len(found)} problem(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
