"""Messages in the member's language.

Every message a member sees is written in English in the code, marked for translation with `_()` (or `N_()` when it
depends on a count), and looked up in gettext catalogs: `bot/locales/<locale>/LC_MESSAGES/messages.po`, one per
shipped Discord locale (LOCALES), made and kept up to date with Babel (`python -m bot.discord_app.catalogs`). The
catalogs are compiled when first needed (the bot compiles them all at start), never committed compiled.

A marked message is a `Text`: it keeps its English msgid and its values and becomes words only when it is shown,
in the locale of the moment (`use`, `using`: the interaction's locale, set where an interaction enters the bot, or
the locale a job was asked in, set where its messages are rendered). Numbers, money, durations and counts are
formatted for that locale by Babel when they are wrapped as `Number`, `Money` or `Duration`; a plain int or str is
shown as it is (ids, mentions, names, code). Nothing here imports discord.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

log = logging.getLogger(__name__)

DEFAULT = "en-US"  # the messages as written in the code
# The Discord locales shipped (discord.Locale values), besides English.
LOCALES: tuple[str, ...] = ("de", "es-ES", "fr", "it", "ja", "ko", "nl", "pl", "pt-BR", "ru", "tr", "uk", "zh-CN")
CATALOGS = Path(__file__).parent / "locales"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("locale", default=DEFAULT)


def shipped(locale: object) -> str:
    """The shipped locale for a Discord locale (a discord.Locale or its value): itself, one of the same language
    (es-419 → es-ES, en-GB → en-US), or English."""
    code = str(getattr(locale, "value", locale) or "")
    if code in LOCALES or code == DEFAULT:
        return code
    language = code.split("-")[0]
    if language != "zh":  # Traditional Chinese readers get English rather than the Simplified catalog
        for candidate in LOCALES:
            if candidate.split("-")[0] == language:
                return candidate
    return DEFAULT


def current() -> str:
    return _current.get()


def use(locale: object) -> None:
    """Show messages in `locale` from here on, in this task (and the tasks it starts)."""
    _current.set(shipped(locale))


@contextlib.contextmanager
def using(locale: object) -> Iterator[str]:
    token = _current.set(shipped(locale))
    try:
        yield token.var.get()
    finally:
        _current.reset(token)


def directory(locale: str) -> Path:
    return CATALOGS / locale.replace("-", "_") / "LC_MESSAGES"


@functools.cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of a shipped locale (English: the messages as they are), from its compiled .mo beside the .po:
    compiled by Babel when there is none or the .po is newer (the first start after an install or an edit), kept for
    the next start (never committed: .gitignore), compiled in memory where the directory cannot be written."""
    if locale == DEFAULT:
        return gettext.NullTranslations()
    source = directory(locale) / f"{DOMAIN}.po"
    compiled = source.with_suffix(".mo")
    with contextlib.suppress(OSError):
        if compiled.stat().st_mtime_ns >= source.stat().st_mtime_ns:
            with compiled.open("rb") as kept:
                return gettext.GNUTranslations(kept)
    data = compile_catalog(source, locale)
    with contextlib.suppress(OSError):
        fresh = compiled.with_name(f".{compiled.name}.{os.getpid()}")
        fresh.write_bytes(data)
        os.replace(fresh, compiled)  # whole or not at all, whichever process compiles it
    return gettext.GNUTranslations(io.BytesIO(data))


def compile_catalog(source: Path, locale: str) -> bytes:
    with source.open("rb") as po:
        catalog = read_po(po, locale=babel_locale(locale), domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def load_all() -> None:
    """Compile every shipped catalog now (at start), so a broken one stops the start instead of a message."""
    for locale in LOCALES:
        translations(locale)


def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))


class Text:
    """A message not yet in any language: its English msgid (and plural), a count, a context and its values."""

    __slots__ = ("msgid", "plural", "n", "context", "params")

    def __init__(
        self,
        msgid: str,
        params: dict[str, Any],
        *,
        plural: str | None = None,
        n: int | None = None,
        context: str | None = None,
    ) -> None:
        self.msgid, self.plural, self.n, self.context, self.params = msgid, plural, n, context, params

    def render(self, locale: str | None = None) -> str:
        locale = shipped(locale) if locale is not None else current()
        token = _current.set(locale)
        try:
            return self._render(locale)
        finally:
            _current.reset(token)

    def _render(self, locale: str) -> str:
        words = translations(locale)
        if self.plural is not None:
            n = self.n or 0
            template = (
                words.npgettext(self.context, self.msgid, self.plural, n)
                if self.context
                else words.ngettext(self.msgid, self.plural, n)
            )
            values = {"n": Number(n), **self.params}
        else:
            template = words.pgettext(self.context, self.msgid) if self.context else words.gettext(self.msgid)
            values = self.params
        values = {k: (v.render(locale) if isinstance(v, Text) else v) for k, v in values.items()}
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as exc:  # a catalog whose placeholders differ: English, and a warning
            log.warning(
                "the %s catalog's text for %r cannot be filled in (%r); shown in English", locale, self.msgid, exc
            )
            english = self.msgid if self.plural is None or (self.n or 0) == 1 else self.plural
            return english.format(**values)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text({self.msgid!r})"


def _(msgid: str, /, **params: Any) -> Text:
    """Mark a message for translation; its `{name}` placeholders are filled from `params` when it is shown."""
    return Text(msgid, params)


def N_(singular: str, plural: str, n: int, /, **params: Any) -> Text:  # noqa: N802 (gettext's name)
    """A message that depends on a count `n` (available as `{n}`, formatted for the locale)."""
    return Text(singular, params, plural=plural, n=n)


def pgettext_(context: str, msgid: str, /, **params: Any) -> Text:
    """A message whose English words mean different things in different places (`context` tells translators which)."""
    return Text(msgid, params, context=context)


def text(value: object) -> str:
    """A message or plain text as words in the current locale."""
    return value.render() if isinstance(value, Text) else str(value)


class Number:
    """A number shown the locale's way (1,234.5 / 1.234,5); `digits` fixes the digits after the point."""

    __slots__ = ("value", "digits")

    def __init__(self, value: float, digits: int | None = None) -> None:
        self.value, self.digits = value, digits

    def __format__(self, spec: str) -> str:
        locale = babel_locale(current())
        if self.digits is None:
            return format_decimal(self.value, locale=locale)
        pattern = "#,##0" + ("." + "0" * self.digits if self.digits else "")
        return format_decimal(self.value, format=pattern, locale=locale, decimal_quantization=True)

    def __str__(self) -> str:
        return format(self, "")


class Money:
    """US dollars shown the locale's way ($0.42, 0,42 $, 0,42 US$); `digits` after the point (2 unless given)."""

    __slots__ = ("usd", "digits")

    def __init__(self, usd: float, digits: int = 2) -> None:
        self.usd, self.digits = usd, digits

    def __format__(self, spec: str) -> str:
        locale = babel_locale(current())
        pattern = locale.currency_formats["standard"].pattern
        if self.digits != 2:
            pattern = pattern.replace("0.00", "0." + "0" * self.digits if self.digits else "0")
        return format_currency(self.usd, "USD", format=pattern, locale=locale, currency_digits=False)

    def __str__(self) -> str:
        return format(self, "")


class Duration:
    """A length of time in the locale's words at a sensible unit ("3 minutes", "3 Minuten"); `short` for "3 min"."""

    __slots__ = ("seconds", "short")

    def __init__(self, seconds: float, short: bool = False) -> None:
        self.seconds, self.short = seconds, short

    def __format__(self, spec: str) -> str:
        return format_timedelta(
            timedelta(seconds=self.seconds),
            threshold=1.5,
            format="short" if self.short else "long",
            locale=babel_locale(current()),
        )

    def __str__(self) -> str:
        return format(self, "")
