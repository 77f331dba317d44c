"""The languages VEED's dubbing models dub into (`target_language`), with their English names.

Sources, read 2026-12-05 (no network here: through the project's search tool's stored copies):
- `veed/dubbing` (standard): fal's model page (fal.ai/models/veed/dubbing/llms.txt: "86 languages", "Regional
  language tags resolve to their base language") and WaveSpeed's copy of VEED's schema
  (wavespeed.ai/models/veed/dubbing/llms.txt), whose options list was read verbatim from "af" to "ne" (55 codes);
  the stored copy breaks off there. The codes after "ne" are the usual continuation of that list (the same ISO
  639-1 codes VEED's pro list and Comfy's node name) up to the page's count of 86: INFERRED, not read.
- `veed/dubbing/pro`: WaveSpeed's copy (wavespeed.ai/models/veed/dubbing-pro/llms.txt), read verbatim from "af" to
  "fr" (regional dialects such as es-MX and ar-EG among them; "e.g. 'es-MX', 'pt-BR'"; "an unsupported dialect is
  rejected"); past "fr" the pro list is taken as the standard one's (INFERRED) plus pt-BR, which the page names.
- Comfy's VeedDubbingNode docs (docs.comfy.org/built-in-nodes/VeedDubbingNode.md): standard covers Latin American
  Spanish and Brazilian Portuguese through its base codes; "pro adds regional accents and stereo audio".

fal refuses a code it does not take before running anything (HTTP 422, nothing billed), so a code here that VEED
does not take costs nothing; a code missing here is refused by the bot, naming the accepted form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bot import i18n
from bot.i18n import Number, Text, _

STANDARD_ID, PRO_ID = "veed/dubbing", "veed/dubbing/pro"

NAMES: dict[str, str] = {
    "af": "Afrikaans",
    "ak": "Akan",
    "am": "Amharic",
    "ar": "Arabic",
    "ar-EG": "Arabic (Egypt)",
    "as": "Assamese",
    "ast": "Asturian",
    "az": "Azerbaijani",
    "be": "Belarusian",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "bo": "Tibetan",
    "bs": "Bosnian",
    "ca": "Catalan",
    "ceb": "Cebuano",
    "cmn": "Mandarin Chinese",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "dgo": "Dogri",
    "el": "Greek",
    "en": "English",
    "en-AU": "English (Australia)",
    "en-CA": "English (Canada)",
    "en-GB": "English (UK)",
    "en-US": "English (US)",
    "es": "Spanish",
    "es-AR": "Spanish (Argentina)",
    "es-CL": "Spanish (Chile)",
    "es-ES": "Spanish (Spain)",
    "es-MX": "Spanish (Mexico)",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fil": "Filipino",
    "fr": "French",
    "ga": "Irish",
    "gl": "Galician",
    "gu": "Gujarati",
    "ha": "Hausa",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "jv": "Javanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "kn": "Kannada",
    "ko": "Korean",
    "ky": "Kyrgyz",
    "lb": "Luxembourgish",
    "ln": "Lingala",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "mi": "Maori",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mn": "Mongolian",
    "mr": "Marathi",
    "ms": "Malay",
    "mt": "Maltese",
    "my": "Burmese",
    "ne": "Nepali",
    "nl": "Dutch",
    "no": "Norwegian",
    "ny": "Chichewa",
    "oc": "Occitan",
    "pa": "Punjabi",
    "pl": "Polish",
    "ps": "Pashto",
    "pt": "Portuguese",
    "pt-BR": "Portuguese (Brazil)",
    "ro": "Romanian",
    "ru": "Russian",
    "sd": "Sindhi",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sn": "Shona",
    "so": "Somali",
    "sr": "Serbian",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tg": "Tajik",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "xh": "Xhosa",
    "yo": "Yoruba",
    "zh": "Chinese",
    "zu": "Zulu",
}

_STANDARD_READ = (
    "af ar as ast az be bg bn bs ca ceb cs cy da de el en es et fa fi fil fr ga gl gu ha he hi hr hu hy id is it ja "
    "jv ka kk kn ko ky lb ln lt lv mi mk ml mn mr ms mt my ne"
).split()
_STANDARD_INFERRED = (
    "nl no ny oc pa pl ps pt ro ru sd sk sl sn so sr sv sw ta te tg th tr uk ur uz vi xh yo zh zu".split()
)
_PRO_READ = (
    "af ak am ar ar-EG as az be bg bo bs ca ceb cmn cs cy da de dgo el en en-AU en-CA en-GB en-US es es-AR es-CL "
    "es-ES es-MX et eu fa fi fil fr"
).split()

STANDARD: tuple[str, ...] = tuple(_STANDARD_READ + _STANDARD_INFERRED)
PRO: tuple[str, ...] = tuple(
    sorted({*_PRO_READ, *(c for c in STANDARD if c > "fr"), "pt-BR"}, key=lambda c: (c.lower(), c))
)
ACCEPTED: dict[str, tuple[str, ...]] = {STANDARD_ID: STANDARD, PRO_ID: PRO}
CHOICES_LIMIT = 25  # Discord shows at most 25 autocomplete choices


def name_of(code: str) -> str:
    """The language's name in the locale of the moment (bot.i18n): the table's English name, or Babel's (CLDR)
    name for it in the member's language ('Spanisch (Mexiko)'); the English name where CLDR has none."""
    locale = i18n.current()
    if locale == i18n.DEFAULT:
        return NAMES.get(code, code)
    return _local_names(locale).get(code) or NAMES.get(code, code)


@functools.cache
def _local_names(locale: str) -> dict[str, str]:
    """Every code's name in a shipped locale, from CLDR: the language, and the region in brackets as NAMES has it."""
    ui = i18n.babel_locale(locale)
    names = {}
    for code in NAMES:
        base, _dash, region = code.partition("-")
        language = ui.languages.get(base)
        if language is None:
            continue
        country = ui.territories.get(region) if region else None
        if region and country is None:
            continue
        names[code] = f"{language} ({country})" if country else language
    return names


def label(code: str) -> str:
    """'Spanish (es)': the name people know (in the locale of the moment) and the code fal takes."""
    return f"{name_of(code)} ({code})"


def accepted_by(endpoint_id: str) -> tuple[str, ...]:
    return ACCEPTED.get(endpoint_id, STANDARD)


def _canonical(code: str) -> str:
    """A code as the table spells it: 'ES_mx' is 'es-MX'."""
    base, _dash, region = code.strip().replace("_", "-").partition("-")
    return f"{base.lower()}-{region.upper()}" if region else base.lower()


_BY_NAME = {name.lower(): code for code, name in NAMES.items()}


def _by_local_name(text: str) -> str:
    """The code a name in the member's language stands for ('Spanisch', 'スペイン語'), or ''."""
    locale = i18n.current()
    if locale == i18n.DEFAULT:
        return ""
    wanted = text.casefold()
    return next((code for code, name in _local_names(locale).items() if name.casefold() == wanted), "")


@dataclass(frozen=True)
class Unknown(ValueError):
    """Why a language cannot be used with a model: what to tell the member (a bot.i18n Text, or plain text)."""

    message: str | Text

    def __str__(self) -> str:
        return i18n.text(self.message)


def resolve(given: str, endpoint_id: str) -> str:
    """The language code `given` names for this model: a code ('es', 'es-MX', any case), an English name
    ('Spanish', 'Spanish (Mexico)'), or an autocomplete label ('Spanish (es)'). Raises Unknown, saying what is
    accepted (and, for a regional code only pro takes, which model takes it)."""
    text = " ".join((given or "").split())
    accepted = accepted_by(endpoint_id)
    model = "VEED Dubbing Pro" if endpoint_id == PRO_ID else "VEED Dubbing"
    if not text:
        raise Unknown(_("give the language to dub into, as a code such as `es` or a name such as `Spanish`"))
    code = _canonical(text)
    if code not in NAMES:
        code = _BY_NAME.get(text.lower(), "") or _by_local_name(text)
    if not code and text.endswith(")") and "(" in text:  # 'Spanish (es)', as the autocomplete shows it
        inner = _canonical(text[text.rindex("(") + 1 : -1])
        code = inner if inner in NAMES else ""
    if code in accepted:
        return code
    if code and endpoint_id != PRO_ID and code in PRO:
        base = code.split("-")[0]
        if base in accepted:
            raise Unknown(
                _(
                    "{language} is a regional accent that only `veed/dubbing/pro` (VEED Dubbing Pro) dubs into: "
                    "choose that model; {model} takes {base} without the accent",
                    language=label(code),
                    model=model,
                    base=label(base),
                )
            )
        raise Unknown(
            _(
                "{language} is a regional accent that only `veed/dubbing/pro` (VEED Dubbing Pro) dubs into: "
                "choose that model",
                language=label(code),
            )
        )
    if code:
        raise Unknown(
            _(
                "{model} does not dub into {language}; use the autocomplete to pick one it takes",
                model=model,
                language=label(code),
            )
        )
    shown = " ".join(text.split())[:40]
    raise Unknown(
        _(
            "'{given}' is not a language {model} knows; give a language code such as `es` or `pt`, or an English "
            "name such as `Spanish` (use the autocomplete to pick one of its {count} languages)",
            given=shown,
            model=model,
            count=Number(len(accepted)),
        )
    )


def choices(endpoint_id: str, typed: str, limit: int = CHOICES_LIMIT) -> list[tuple[str, str]]:
    """(label, code) for the model's languages whose name or code contains what was typed: codes that start with
    it first, then names that do, then the rest; at most `limit`."""
    needle = " ".join((typed or "").lower().split())
    accepted = accepted_by(endpoint_id)
    if not needle:
        return [(label(c), c) for c in accepted[:limit]]

    def rank(code: str) -> int | None:
        low = code.lower()
        names = {NAMES.get(code, code).lower(), name_of(code).lower()}  # English, and the member's language
        if low == needle or needle in names:
            return 0
        if low.startswith(needle):
            return 1
        if any(name.startswith(needle) for name in names):
            return 2
        if any(needle in name for name in names) or needle in low or needle in label(code).lower():
            return 3
        return None

    ranked = sorted((r, i, c) for i, c in enumerate(accepted) if (r := rank(c)) is not None)
    return [(label(c), c) for _rank, _index, c in ranked[:limit]]
