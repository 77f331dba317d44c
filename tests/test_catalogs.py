"""The shipped message catalogs (bot/locales/) guard themselves: the template holds every marked message and every
command string of the code as it is, every shipped locale translates all of them with the same placeholders, the
plural forms of its language and the names Discord takes, each compiles, and what the bot renders stays within
Discord's limits in every locale (2,000 characters a message, 100 a choice name, 45 a modal title).

When one fails: `python -m bot.discord_app.catalogs update` (a message was added or changed in the code), then
translate what `python -m bot.discord_app.catalogs check` lists."""

from __future__ import annotations

import ast
import dataclasses
import gettext
import subprocess
from types import SimpleNamespace

import discord
import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot import i18n
from bot.discord_app import catalogs, options, render
from bot.fal import catalog as models
from bot.fal import languages
from bot.jobs import voices
from bot.jobs.audit import Record as AuditRecord
from bot.jobs.lifecycle import Status
from bot.jobs.line import Place, Wait
from bot.jobs.model import Job
from bot.jobs.runner import Cancelled
from bot.jobs.spec import Command, JobSpec, Source
from tests.helpers import REPO

LOCALES = list(i18n.LOCALES)
EVERY_LOCALE = [i18n.DEFAULT, *LOCALES]
MESSAGE_LIMIT = 2000
CHOICE_NAME_LIMIT = 100
MODAL_TITLE_LIMIT = 45
LABEL_LIMIT = 45  # a modal's Label component
DESCRIPTION_LIMIT = 100  # a Label's description, a text input's placeholder, a select option's label
SELECT_PLACEHOLDER_LIMIT = 150


def _keys(catalog) -> set[tuple[str | None, str | tuple[str, ...]]]:
    return {(m.context, m.id if isinstance(m.id, str) else tuple(m.id)) for m in catalog if m.id}


@pytest.fixture(scope="module")
def template():
    return catalogs._read_template()


@pytest.fixture
def shipped_catalogs():
    """The shipped catalogs, read afresh (another module may have pointed bot.i18n at other ones)."""
    i18n.translations.cache_clear()
    yield
    i18n.translations.cache_clear()


# ---- (a) the template is the code's


def _listed(keys: list) -> str:
    return "\n".join(f"  {context or ''} | {msgid!r}" for context, msgid in keys[:30]) + (
        f"\n  … and {len(keys) - 30} more" if len(keys) > 30 else ""
    )


def test_every_marked_message_is_a_literal_babel_can_extract():
    """`_(f"...")` or `_(variable)` is never in the catalogs: Babel extracts string literals only (an f-string or a
    variable as a value, `_("{n} s", n=f"{x:02d}")`, is fine)."""
    positions = {"_": (0,), "N_": (0, 1), "pgettext_": (0, 1)}
    found = []
    for source in catalogs.SOURCES:
        for path in sorted((REPO / source).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in positions:
                    args = [node.args[i] if i < len(node.args) else None for i in positions[node.func.id]]
                    if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                        found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert not found, "marked messages that are not string literals (Babel cannot extract them):\n" + "\n".join(found)


def test_the_template_holds_exactly_the_messages_of_the_code(template):
    fresh, committed = _keys(catalogs.template()), _keys(template)
    added, gone = sorted(fresh - committed, key=repr), sorted(committed - fresh, key=repr)
    advice = "run `python -m bot.discord_app.catalogs update` and translate the new entries"
    assert not added, (
        f"{len(added)} marked in the code but not in bot/locales/messages.pot ({advice}):\n{_listed(added)}"
    )
    assert not gone, f"{len(gone)} in bot/locales/messages.pot but no longer in the code ({advice}):\n{_listed(gone)}"


def test_the_catalogs_are_the_shipped_locales_and_nothing_compiled_is_committed():
    on_disk = {path.parent.parent.name for path in i18n.CATALOGS.glob(f"*/LC_MESSAGES/{i18n.DOMAIN}.po")}
    assert on_disk == {locale.replace("-", "_") for locale in LOCALES}, (
        "a catalog's locale is missing from bot/i18n.py LOCALES, or a shipped locale has no catalog"
    )
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    committed = subprocess.run(
        ["git", "ls-files", str(i18n.CATALOGS.relative_to(REPO))], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [f for f in committed if f.endswith(".mo")], "compiled catalogs are built at start, not committed"


# ---- (b) every shipped locale is complete and safe to show


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_with_the_same_placeholders(locale, template):
    found = catalogs.problems(locale, template)
    shown = "\n".join(found[:40]) + (f"\n… and {len(found) - 40} more" if len(found) > 40 else "")
    assert not found, f"{len(found)} problem(s) in the {locale} catalog (python -m bot.discord_app.catalogs check "
    f"{locale}):\n{shown}"


@pytest.mark.parametrize("locale", LOCALES)
def test_group_names_follow_discords_rules_too(locale):
    """A command group's name (/config, /jobs, /voice, /config words) is a slash command's name for Discord:
    lowercase, no spaces, at most 32 characters; its description at most 100."""
    found = []
    for message in catalogs.load(locale):
        for words in [w for w in catalogs._strings(message.string) if w]:
            if message.context == "group_name" and not (catalogs.NAME.match(words) and words == words.lower()):
                found.append(f"{message.id!r}: {words!r} is not a name Discord takes")
            if message.context == "group_description" and len(words) > 100:
                found.append(f"{message.id!r}: {len(words)} characters, Discord takes 100")
    assert not found, f"{locale}: {found}"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalog_declares_its_languages_plural_rule(locale):
    from babel.messages.catalog import Catalog

    catalog, expected = catalogs.load(locale), Catalog(locale=i18n.babel_locale(locale))
    assert str(catalog.locale) == str(expected.locale)
    assert catalog.plural_forms == expected.plural_forms, f"{locale}: the header's Plural-Forms is not the language's"


def test_the_checks_name_what_is_wrong(tmp_path, monkeypatch):
    """A catalog with an untranslated entry, a placeholder renamed, too few plural forms, a fuzzy entry and a slash
    command's name with a space is reported for each (what `check` and the test above print)."""
    template = Catalog(domain=i18n.DOMAIN)
    template.add(("{n} job waits", "{n} jobs wait"))
    template.add("Hello {name}")
    template.add("Queued on fal")
    template.add("Starting")
    template.add("talkinghead", context="command_name")
    template.add("A description", context="command_description")
    catalog = Catalog(locale=i18n.babel_locale("pl"), domain=i18n.DOMAIN, fuzzy=False)
    catalog.add(("{n} job waits", "{n} jobs wait"), ("{n} zadanie czeka", "{n} zadania czekają"))
    catalog.add("Hello {name}", "Cześć {imie}")
    catalog.add("Starting", "Start", flags=["fuzzy"])
    catalog.add("talkinghead", "mówiąca głowa", context="command_name")
    catalog.add("A description", "x" * 101, context="command_description")
    path = tmp_path / "pl" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:
        write_po(out, catalog)
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path)
    found = catalogs.problems("pl", template)
    assert any(p.startswith("pl: '{n} job waits': ") for p in found)  # a form missing
    assert "pl: 'Hello {name}': placeholders ['imie'], the English has ['name']" in found
    assert "pl: 'Queued on fal': not translated" in found and "pl: 'Starting': not translated" in found
    assert any("'mówiąca głowa' is not a name Discord takes" in p for p in found)
    assert "pl: command_description | 'A description': 101 characters, Discord takes 100 here" in found
    assert len(found) == 6, found


# ---- (c) every catalog compiles


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_compiles(locale, shipped_catalogs):
    words = i18n.translations(locale)
    assert isinstance(words, gettext.GNUTranslations)
    assert Locale.parse(words.info()["language"]) == i18n.babel_locale(locale)


def test_the_bot_compiles_them_all_at_start(shipped_catalogs):
    i18n.load_all()


# ---- (d) what the bot renders stays within Discord's limits in every locale

NOW = 1_700_000_000.0
LONG = "Ein sehr langer Dateiname mit vielen Wörtern " * 6  # member text: quoted and cut by the renderer
URL = "https://v3.fal.media/files/penguin/" + "a" * 120 + "/output.mp4"


def _job(command: Command = Command.TALKINGHEAD, **changes) -> Job:
    specs = {
        Command.TALKINGHEAD: JobSpec(
            Command.TALKINGHEAD,
            model="veed/fabric-1.0",
            image_url="https://x/p.png",
            text="Hello there " * 160,
            voice="Wise_Woman",
            resolution="720p",
            audio_seconds=999.95,
        ),
        Command.LIPSYNC: JobSpec(
            Command.LIPSYNC,
            model="fal-ai/sync-lipsync/v2",
            video_url="https://x/v.mp4",
            audio_url="https://x/a.mp3",
            sync_mode="bounce",
            audio_seconds=123.45,
        ),
        Command.DUB: JobSpec(
            Command.DUB,
            model="veed/dubbing/pro",
            video_url="https://x/v.mp4",
            language="es-MX",
            video_seconds=599.5,
        ),
    }
    base = Job(
        id="3f9c2a1b",
        user_id=123456789012345678,
        created_at=NOW,
        spec=specs[command],
        sources={
            "image": Source("image", "https://x/p.png", True, LONG),
            "video": Source("video", "https://x/v.mp4", True, LONG),
            "audio": Source("audio", "https://x/a.mp3", True, LONG),
        },
        cost_estimate=1234.56,
        log="Rendering frames " * 40,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def _progress() -> list[tuple[Job, Place | None]]:
    shown: list[tuple[Job, Place | None]] = []
    for command in (Command.TALKINGHEAD, Command.LIPSYNC, Command.DUB):
        for place in (Place(0, Wait.SLOT), Place(19, Wait.SLOT), Place(12_345, Wait.SLOT), Place(0, Wait.OWN, 10)):
            shown.append((_job(command, status=Status.WAITING), place))
        shown.append((_job(command, status=Status.WAITING), None))
        for status in (Status.STARTING, Status.SENDING, Status.QUEUED, Status.RUNNING, Status.FETCHING):
            shown.append((_job(command, status=status, step="video", position=1234), None))
        shown.append((_job(command, status=Status.STARTING, uploading=True), None))
        shown.append((_job(command, status=Status.RUNNING, step="speech"), None))
    return shown


def _ended() -> list[Job]:
    error = "`audio`: the audio lasts 999.9 s; VEED Fabric 1.0 takes at most 300 s — " * 3
    done = {"video": {"url": URL}}
    jobs = []
    for command in (Command.TALKINGHEAD, Command.LIPSYNC, Command.DUB):
        jobs += [
            _job(command, status=Status.DELIVERING, outcome=Status.DONE, finished_at=NOW + 7_325, result=done),
            _job(command, status=Status.DELIVERING, outcome=Status.DONE, finished_at=NOW + 9, result=done, error=error),
            _job(command, status=Status.DELIVERING, outcome=Status.FAILED, error=error),
            _job(command, status=Status.DELIVERING, outcome=Status.FAILED),
            _job(command, status=Status.DELIVERING, outcome=Status.CANCELLED, error=error),
            _job(command, status=Status.DELIVERING, outcome=Status.CANCELLED),
        ]
    clone = _job(status=Status.DELIVERING, outcome=Status.DONE, finished_at=NOW + 60, result={"audio": {"url": URL}})
    clone.spec = JobSpec(
        Command.VOICE_CLONE, audio_url="https://x/s.mp3", voice_name="M" * voices.MAX_NAME, audio_seconds=300.0
    )
    clone.sources = {"sample": Source("sample", "https://x/s.mp3", True, LONG)}
    return [*jobs, clone]


def _voices() -> list[voices.Voice]:
    name = "Meine Stimme mit langem Namen!!"[: voices.MAX_NAME]
    return [
        voices.Voice(
            1, f"{name[:-1]}{i}", f"voice-{i}", "3f9c2a1b", NOW - i * 86_400, last_used_at=(NOW if i % 3 else None)
        )
        for i in range(voices.MAX_VOICES)
    ]


def _messages() -> list[tuple[str, str]]:
    """(what, rendered text) of the longest realistic messages, in the locale of the moment."""
    shown = [
        (f"progress {j.command.value} {j.status.value} {p}", render.render(j, place=p, eta=4e9)) for j, p in _progress()
    ]
    shown += [(f"progress by DM {j.status.value}", render.render(j, ends_by_dm=True)) for j, _ in _progress()[:6]]
    for job in _ended():
        what = f"{job.command.value} {job.ending.value if job.ending else job.status.value}"
        shown.append((f"ended {what}", render.render(job)))
        shown.append((f"ping {what}", render.render_ready_ping(job)))
        shown.append((f"pointer {what}", render.pointer(job, "https://discord.com/channels/1/2/3")))
        shown.append((f"/jobs show {what}", render.job_detail(job)))
        shown.append((f"/jobs list {what}", render.job_line(job, link="https://discord.com/channels/1/2/3")))
        shown.append((f"refused {what}", render.render_refused(job)))
        shown.append((f"report {what}", render.report_message(job, 42, 12, "https://d/1", " · in <#1>", LONG * 3)))
        shown += [(f"report received {what} {sent}", render.report_received(job, sent)) for sent in (True, False)]
        shown.append((f"removed {what}", render.removed_reply(job, 12, 3)))
        shown += [(f"cancel {outcome.name}", render.cancel_reply(job, outcome)) for outcome in Cancelled]
    problem = "the file is not what its name says: " + "x" * 600 + " — give an mp3, wav, ogg, m4a, aac or flac file"
    shown.append(("refusal", render.render_bad_input("audio_url", problem)))
    shown.append(("voice list", render.voice_list(_voices(), now=NOW, off_here="voice cloning is off on this server")))
    shown.append(("voice list, none", render.voice_list([], now=NOW)))
    shown += [(f"voice deleted {d}", render.voice_deleted("M" * voices.MAX_NAME, d)) for d in (True, False)]
    shown.append(("banned words", render.banned_words(["wort" * 8] * 200)))
    shown.append(("no banned words", render.banned_words([])))
    records = [
        AuditRecord(
            job_id=f"{i:08x}",
            created_at=NOW,
            user_id=123456789012345678,
            place="dm",
            channel_id=987654321098765432,
            guild_id=None,
            install="user",
            command="talkinghead",
            model="veed/fabric-1.0",
            outcome="failed",
            cost_estimate=12.34,
            detail="x" * 300,
            inputs=[],
            requests=["0193d7e8-1a2b-7c3d-8e4f-5a6b7c8d9e0f"],
        )
        for i in range(60)
    ]
    shown.append(("audit", render.audit_report(records, 42, 30)))
    shown.append(("audit, none", render.audit_report([], None, 1)))
    return shown


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_every_message_fits_discords_limit_in_every_locale(locale, shipped_catalogs):
    with i18n.using(locale):
        shown = _messages()
    too_long = [(what, len(text)) for what, text in shown if len(text) > MESSAGE_LIMIT]
    assert not too_long, f"{locale}: over {MESSAGE_LIMIT} characters: {too_long}"


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_the_result_card_fits_with_every_note_in_every_locale(locale, shipped_catalogs):
    note = "The video is 123.4 MB, more than the 10 MB Discord takes here, so it is linked instead of attached. " * 3
    with i18n.using(locale):
        for job in _ended():
            for attached, signed in (("a.mp4", True), ("a.mp4", False), (None, None)):
                for mention in (True, False):
                    card = render.result_card(job, attached=attached, note=note, mention=mention, signed=signed)
                    assert len(card.body) + len(card.footer) <= render.TEXT_DISPLAY_LIMIT, (locale, job.command)
                    assert card.body and card.footer


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_realistic_job_messages_need_no_cutting_in_any_locale(locale, shipped_catalogs):
    """A job message of usual size (short names, a short log) is never cut by the limit in any language: a
    translation may be longer than the English, not so long that the end of a message goes missing."""
    usual = []
    for job, place in _progress():
        job.sources = {k: dataclasses.replace(s, filename="face.png") for k, s in job.sources.items()}
        job.log = "Rendering frames"
        if job.spec.text:
            job.spec = dataclasses.replace(job.spec, text="Hello there")
        usual.append((job, place))
    with i18n.using(locale):
        for job, place in usual:
            text = render.render(job, place=place, eta=4e9)
            assert len(text) < MESSAGE_LIMIT // 2 and not text.endswith("…"), (locale, text)


class _Responses:
    def __init__(self) -> None:
        self.modals: list[discord.ui.Modal] = []

    async def send_modal(self, modal: discord.ui.Modal) -> None:
        self.modals.append(modal)

    async def send_message(self, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"the menu refused: {args} {kwargs}")


async def _modals() -> list[discord.ui.Modal]:
    from cogs import menus

    responses = _Responses()
    interaction = SimpleNamespace(response=responses, command=None, locale=discord.Locale.american_english)
    cog = object.__new__(menus.Menus)
    cog.services = None  # the modals only keep it
    image = SimpleNamespace(attachments=[], embeds=[discord.Embed.from_dict({"type": "image", "image": {"url": URL}})])
    video = SimpleNamespace(attachments=[], embeds=[discord.Embed.from_dict({"type": "video", "video": {"url": URL}})])
    await cog.make_this_talk(interaction, image)
    await cog.lipsync_this_video(interaction, video)
    await cog.animate_with_this_video(interaction, video)
    await cog.dub_this_video(interaction, video)
    assert len(responses.modals) == 4
    return responses.modals


def _walk(components: list[dict]):
    for component in components:
        yield component
        if "component" in component:
            yield from _walk([component["component"]])
        yield from _walk(component.get("components", []))


@pytest.mark.parametrize("locale", EVERY_LOCALE)
async def test_modal_titles_and_labels_fit_in_every_locale(locale, shipped_catalogs):
    with i18n.using(locale):
        modals = await _modals()
    for modal in modals:
        shown = modal.to_dict()
        assert 1 <= len(shown["title"]) <= MODAL_TITLE_LIMIT, (locale, shown["title"])
        for component in _walk(shown["components"]):
            if component.get("type") == 18:  # a Label
                assert len(component["label"]) <= LABEL_LIMIT, (locale, component["label"])
                assert len(component.get("description") or "") <= DESCRIPTION_LIMIT, (locale, component)
            limit = SELECT_PLACEHOLDER_LIMIT if component.get("type") == 3 else DESCRIPTION_LIMIT
            assert len(component.get("placeholder") or "") <= limit, (locale, component)
            for option in component.get("options", []):
                assert len(option["label"]) <= DESCRIPTION_LIMIT, (locale, option)


@pytest.mark.parametrize("locale", EVERY_LOCALE)
async def test_the_modal_titles_are_translated_where_the_catalog_has_them(locale, shipped_catalogs):
    """The titles the catalog translates are the ones the menus show (rendered in the member's locale, then cut)."""
    with i18n.using(i18n.DEFAULT):
        english = [m.title for m in await _modals()]
    with i18n.using(locale):
        shown = [m.title for m in await _modals()]
    words = i18n.translations(locale)
    assert shown == [words.gettext(title)[:MODAL_TITLE_LIMIT] for title in english]
    cut = [words.gettext(title) for title in english if len(words.gettext(title)) > MODAL_TITLE_LIMIT]
    assert not cut, f"{locale}: modal titles over {MODAL_TITLE_LIMIT} characters, which the menus would cut: {cut}"


def _choice_interaction(model: str | None = None, own: list[voices.Voice] | None = None) -> SimpleNamespace:
    from bot.discord_app.services import Services

    store = SimpleNamespace(voices=_async(own or []))
    configs = SimpleNamespace(get=lambda scope: SimpleNamespace(voice_clone=True))
    services = Services(SimpleNamespace(store=store, configs=configs), None, None)
    return SimpleNamespace(
        client=SimpleNamespace(services=services),
        namespace=SimpleNamespace(model=model),
        guild_id=None,
        context=SimpleNamespace(dm_channel=True),
        user=SimpleNamespace(id=42),
        is_guild_integration=lambda: False,
        locale=discord.Locale.american_english,
    )


def _async(value):
    async def call(*args, **kwargs):
        return value

    return call


@pytest.mark.parametrize("locale", EVERY_LOCALE)
async def test_choice_names_built_at_run_time_fit_in_every_locale(locale, shipped_catalogs):
    from cogs.dub import language_choices

    gone = voices.Voice(42, "V" * voices.MAX_NAME, "id-gone", "3f9c2a1b", NOW - 30 * 86_400)
    own = [*_voices(), gone]
    with i18n.using(locale):
        offered = []
        for model in (languages.STANDARD_ID, languages.PRO_ID, None):
            for typed in ("", "a", "es", "port", "chinese", "zz"):
                offered += await language_choices(_choice_interaction(model), typed)
        for typed in ("", "girl", "stimme", "v"):
            offered += await options.voice_choices(_choice_interaction(own=own), typed)
        offered += await options.own_voice_choices(_choice_interaction(own=own), "", everywhere=True)
    assert offered and any("V" * voices.MAX_NAME in c.name for c in offered)
    too_long = [c.name for c in offered if not 1 <= len(c.name) <= CHOICE_NAME_LIMIT]
    assert not too_long, f"{locale}: choice names over {CHOICE_NAME_LIMIT} characters: {too_long}"
    assert all(len(c.value) <= CHOICE_NAME_LIMIT for c in offered)


def test_the_models_offered_as_choices_keep_their_names():
    assert all(len(m.name) <= CHOICE_NAME_LIMIT for m in models.MODELS)
