"""The job message, rendered as plain text by pure functions (no Discord objects, no I/O).

Discord shows an mp4 link in message content as an inline player, so results are links in the
content rather than embeds. Times use Discord's relative timestamps (<t:…:R>), which clients keep
current on their own: the message needs no edit just because a second passed.

Every text is marked for translation (bot.i18n) and rendered in the locale of the moment: the caller's context
(the interaction's locale, or the job's) decides the language; the functions return the rendered str, and `fit()`
bounds it as rendered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from bot import i18n, provenance
from bot.fal import catalog, languages
from bot.i18n import N_, Money, Number, Text, _, pgettext_
from bot.jobs import voices
from bot.jobs.audit import Record as AuditRecord
from bot.jobs.lifecycle import Status
from bot.jobs.line import Place, Wait
from bot.jobs.model import Job
from bot.jobs.runner import Cancelled
from bot.jobs.spec import INPUT_NAMES, SAMPLE, SPEECH, Command

MESSAGE_LIMIT = 2000  # characters of message content
LOG_LINE_LIMIT = 200
NAME_LIMIT = 60
PROMPT_SHOWN = 80  # characters of a member's prompt the job message quotes

TITLES = {
    Command.TALKINGHEAD: pgettext_("job title", "Talking head"),
    Command.LIPSYNC: pgettext_("job title", "Lip sync"),
    Command.ANIMATE: pgettext_("job title", "Live portrait"),
    Command.DUB: pgettext_("job title", "Dub"),
    Command.VOICE_CLONE: pgettext_("job title", "Voice clone"),
}
# The same kinds of job inside a sentence ("your talking head video is ready").
KINDS = {
    Command.TALKINGHEAD: pgettext_("job kind in a sentence", "talking head"),
    Command.LIPSYNC: pgettext_("job kind in a sentence", "lip sync"),
    Command.ANIMATE: pgettext_("job kind in a sentence", "live portrait"),
    Command.DUB: pgettext_("job kind in a sentence", "dub"),
    Command.VOICE_CLONE: pgettext_("job kind in a sentence", "voice clone"),
}
# Where a job stands, in a word ("failed", as in "your talking head job `3f9c2a1b` failed").
STATUS_WORDS = {
    Status.WAITING: pgettext_("job status", "waiting"),
    Status.STARTING: pgettext_("job status", "starting"),
    Status.SENDING: pgettext_("job status", "sending"),
    Status.QUEUED: pgettext_("job status", "queued"),
    Status.RUNNING: pgettext_("job status", "running"),
    Status.FETCHING: pgettext_("job status", "fetching"),
    Status.DELIVERING: pgettext_("job status", "delivering"),
    Status.DONE: pgettext_("job status", "done"),
    Status.FAILED: pgettext_("job status", "failed"),
    Status.CANCELLED: pgettext_("job status", "cancelled"),
}
EXACT_PLACES = 20  # beyond this many jobs ahead, a place is shown rounded (fewer edits, same meaning)
ICONS = {
    Status.WAITING: "🕒",
    Status.STARTING: "⏳",
    Status.SENDING: "⏳",
    Status.QUEUED: "⏳",
    Status.RUNNING: "🎬",
    Status.FETCHING: "🎬",
    Status.DONE: "✅",
    Status.FAILED: "❌",
    Status.CANCELLED: "🚫",
}


def status_word(status: Status | str) -> str:
    """A status in words (a value not known here: as it is)."""
    try:
        return str(STATUS_WORDS[Status(status)])
    except ValueError:
        return str(status)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def icon(job: Job) -> str:
    if job.ending is not None:
        return ICONS[job.ending]
    if job.uploading:
        return "📤"
    if job.step == SPEECH and job.status.on_fal:
        return "🗣️"
    return ICONS[job.status]


def quote(text: str, limit: int = LOG_LINE_LIMIT) -> str:
    """User or model text as an inline code span: no markdown, no mentions, bounded length."""
    flat = " ".join(text.replace("`", "ˋ").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    # Translators: shown as a code span in place of a text that is empty
    return f"`{flat}`" if flat else str(_("`(empty)`"))


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    two_minutes, two_seconds = f"{minutes:02d}", f"{secs:02d}"  # zero-padded: 1h 02m, 1m 05s
    if hours:
        # Translators: a compact duration, "1h 02m" (hours and minutes)
        return str(_("{hours}h {minutes}m", hours=hours, minutes=two_minutes))
    if minutes:
        # Translators: a compact duration, "1m 48s" (minutes and seconds)
        return str(_("{minutes}m {seconds}s", minutes=minutes, seconds=two_seconds))
    # Translators: a compact duration, "42s" (seconds)
    return str(_("{seconds}s", seconds=secs))


def relative_time(epoch: float) -> str:
    return f"<t:{int(epoch)}:R>"


def format_cost(usd: float) -> str:
    if usd >= 0.01:
        return str(Money(usd))
    # Translators: a cost below one cent, "< $0.01"
    return str(_("< {amount}", amount=Money(0.01)))


def cost_line(job: Job) -> str:
    """'Estimated cost $0.42 · audio 12.3 s': the length once the audio was measured (a file's true length, or the
    spoken text's)."""
    cost = format_cost(job.cost_estimate or 0)
    if job.command is Command.DUB:  # billed on the video given: 'Estimated cost $0.66 · video 6.0 s'
        if job.spec.video_seconds is not None:
            # Translators: the length of the video the dub is billed on, in seconds
            return str(
                _("Estimated cost {cost} · video {seconds} s", cost=cost, seconds=Number(job.spec.video_seconds, 1))
            )
        return str(_("Estimated cost {cost}", cost=cost))
    if job.spec.audio_seconds is not None:
        # Translators: the length of the audio the job is billed on, in seconds
        return str(_("Estimated cost {cost} · audio {seconds} s", cost=cost, seconds=Number(job.spec.audio_seconds, 1)))
    return str(_("Estimated cost {cost}", cost=cost))


def language_label(code: str) -> str:
    """'Spanish (es)' in English; elsewhere the language's name in the locale's words (Babel), and the code."""
    if i18n.current() == i18n.DEFAULT:
        return languages.label(code)
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(i18n.babel_locale(i18n.current()))
    except (ValueError, UnknownLocaleError):
        name = None
    return f"{name} ({code})" if name else languages.label(code)


def dubbing(job: Job, *, done: bool = False) -> str:
    """'Dubbing into Spanish (es)': what a dub does, in words ('' for other jobs)."""
    if job.command is not Command.DUB or not job.spec.language:
        return ""
    language = language_label(job.spec.language)
    return str(
        _("Dubbed into {language}", language=language) if done else _("Dubbing into {language}", language=language)
    )


def model_name(job: Job) -> str:
    return job.spec.main_model.name


def ahead_text(ahead: int) -> str:
    if ahead == 0:
        return str(_("you are next"))
    if ahead <= EXACT_PLACES:
        # Translators: how many jobs wait ahead of the member's in the line
        return str(N_("{n} ahead of you", "{n} ahead of you", ahead))
    step = 10 if ahead < 200 else 50
    rounded = round(ahead / step) * step
    # Translators: how many jobs wait ahead of the member's in the line, rounded
    return str(N_("about {n} ahead of you", "about {n} ahead of you", rounded))


def waiting_line(place: Place | None) -> str:
    if place is None:
        return str(_("Waiting for a free slot"))
    if place.reason is Wait.OWN:
        return str(
            N_(
                "Waiting for one of your {n} running jobs to finish",
                "Waiting for one of your {n} running jobs to finish",
                place.running_own,
            )
        )
    # Translators: {ahead} is "3 ahead of you", "you are next" or "about 140 ahead of you"
    return str(_("Waiting for a free slot — {ahead}", ahead=ahead_text(place.ahead)))


def stage_line(job: Job, place: Place | None = None) -> str:
    """Where the job stands, in words."""
    if job.status is Status.WAITING:
        return waiting_line(place)
    if job.status is Status.STARTING:
        return str(_("Checking the inputs and uploading them to fal") if job.uploading else _("Starting"))
    if job.step == SPEECH and job.status.on_fal:
        speech = job.spec.speech_model
        # Translators: {model} is a text-to-speech model's name
        return str(_("Speaking the text with {model}", model=speech.name if speech else "TTS"))
    if job.status is Status.SENDING:
        return str(_("Sending the job to fal"))  # not on fal's queue until fal answers the submit
    if job.status is Status.QUEUED:
        if job.position is not None:
            return str(_("Queued on fal — position {position} in line", position=job.position + 1))
        return str(_("Queued on fal"))
    if job.status is Status.RUNNING:
        if job.command is Command.DUB:
            return str(_("Dubbing with {model}", model=model_name(job)))
        return str(_("Generating with {model}", model=model_name(job)))
    if job.status is Status.FETCHING:
        if job.command is Command.VOICE_CLONE:
            return str(_("Fetching the voice from fal"))
        return str(_("Fetching the video from fal"))
    return capitalized(status_word(job.status))


def input_phrase(name: str, file: str) -> str:
    """'image `face.png`': an input and the file (or link) it was given as."""
    phrases = {
        # Translators: an input of a job and the file it was given as (a code span)
        "image": _("image {file}", file=file),
        "video": _("video {file}", file=file),
        "audio": _("audio {file}", file=file),
        # Translators: /voice clone's voice sample and the file it was given as (a code span)
        "sample": _("sample {file}", file=file),
    }
    return str(phrases.get(name, f"{name} {file}"))


def input_summary(job: Job) -> str:
    parts = []
    for name in (*INPUT_NAMES, SAMPLE):
        source = job.sources.get(name)
        if source:
            parts.append(input_phrase(name, quote(source.filename or source.url, NAME_LIMIT)))
    if job.command is Command.VOICE_CLONE and job.spec.voice_name:
        # Translators: the name a member gives their cloned voice (a code span)
        parts.append(str(_("name {name}", name=quote(job.spec.voice_name, NAME_LIMIT))))
    if job.spec.text and "audio" not in job.sources:
        voice = job.spec.voice_name or job.spec.voice or catalog.DEFAULT_VOICE  # a cloned voice: the member's name
        parts.append(
            str(
                N_(
                    "text ({n} characters, voice {voice})",
                    "text ({n} characters, voice {voice})",
                    len(job.spec.text),
                    voice=quote(voice, NAME_LIMIT),
                )
            )
        )
    if job.spec.resolution:
        parts.append(str(_("resolution {resolution}", resolution=job.spec.resolution)))
    if job.spec.sync_mode:
        parts.append(str(_("sync mode {mode}", mode=job.spec.sync_mode)))
    if job.command is Command.DUB and job.spec.language:
        # Translators: the code of the language a video is dubbed into ("language es")
        parts.append(str(_("language {code}", code=job.spec.language)))
    return " · ".join(parts + direction(job))


def direction(job: Job) -> list[str]:
    """How the member directed the video: the emotion (react-1) and the prompt, quoted and shortened (member text:
    a code span, so it never renders a mention or markdown)."""
    # Translators: the emotion a member chose for the video (its English name, as the option's value)
    shown = [str(_("emotion **{emotion}**", emotion=job.spec.emotion))] if job.spec.emotion else []
    if job.spec.prompt:
        # Translators: the member's own prompt, as a code span
        shown.append(str(_("prompt {prompt}", prompt=quote(job.spec.prompt, PROMPT_SHOWN))))
    return shown


def header(job: Job, verb: str = "") -> str:
    """'✅ **Talking head ready** · VEED Fabric 1.0 · job `3f9c2a1b`'; `verb`: "ready", "failed", "cancelled" or ''."""
    title: Text = TITLES[job.command]
    if verb == "ready":
        # Translators: a job's title once its result is ready ("Talking head ready")
        title = _("{title} ready", title=title)
    elif verb == "failed":
        title = _("{title} failed", title=title)
    elif verb == "cancelled":
        title = _("{title} cancelled", title=title)
    # Translators: the first line of a job's message: its icon, its title, the model and the job's id
    return str(
        _("{icon} **{title}** · {model} · job `{id}`", icon=icon(job), title=title, model=model_name(job), id=job.id)
    )


def render_progress(job: Job, *, eta: float | None = None, place: Place | None = None, ends_by_dm: bool = False) -> str:
    lines = [header(job), f"**{stage_line(job, place)}**"]
    if job.command is Command.DUB:
        lines.append(dubbing(job))
    if directed := direction(job):
        lines.append(" · ".join(capitalized(d) for d in directed))
    started = relative_time(job.created_at)
    if eta is not None and eta > time.time():
        # Translators: {started} and {eta} are Discord timestamps shown as "5 minutes ago", "in 3 minutes"
        lines.append(str(_("Started {started} · done {eta} (estimate)", started=started, eta=relative_time(eta))))
    else:
        lines.append(str(_("Started {started}", started=started)))
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    if job.log:
        lines.append(f"> {quote(job.log)}")
    if ends_by_dm:
        lines.append(str(_("-# If it takes longer than 15 minutes, the result comes to your DMs.")))
    return fit("\n".join(lines))


def ai_label(job: Job) -> str:
    """Every result says plainly that the video is AI-generated, and by which model (and which spoke the text)."""
    model, speech = provenance.models_of(job)
    if speech is not None:
        return str(
            _(
                "🤖 **Generated with AI** by {model} (`{endpoint}` on fal.ai), speech by {speech} — not a real recording.",
                model=model.name,
                endpoint=model.endpoint_id,
                speech=speech.name,
            )
        )
    return str(
        _(
            "🤖 **Generated with AI** by {model} (`{endpoint}` on fal.ai) — not a real recording.",
            model=model.name,
            endpoint=model.endpoint_id,
        )
    )


CREDENTIALS_NOTE = _("The attached file carries C2PA content credentials saying so.")
NO_CREDENTIALS_NOTE = _(
    "⚠️ The attached file carries no content credentials (signing them failed); it is AI-generated all the same."
)


def took_line(job: Job, verb: str = "ready") -> str:
    took = format_duration((job.finished_at or time.time()) - job.created_at)
    # Translators: {header} is the job's first line, {took} how long the job took ("1m 48s")
    return str(_("{header} · took {took}", header=header(job, verb), took=took))


def inputs_line(job: Job) -> str:
    # Translators: {inputs} lists a job's inputs ("image `face.png` · text (11 characters, voice `Wise_Woman`)")
    return str(_("Inputs: {inputs}", inputs=input_summary(job)))


def render_result(job: Job) -> str:
    if job.command is Command.VOICE_CLONE:
        return render_voice_ready(job)
    lines = [took_line(job), inputs_line(job), *_dubbed(job), ai_label(job)]
    if job.error:  # a note, e.g. that a cancel came too late
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    lines.append(job.video_url or str(_("(fal returned no video link)")))
    return fit("\n".join(lines))


TEXT_DISPLAY_LIMIT = 4000  # characters of all text displays in one Components V2 message


@dataclass(frozen=True)
class ResultCard:
    """A finished job as Discord shows it: text, the video when attached, and a download line."""

    body: str
    media: str | None  # "attachment://<file>" when the video is attached
    footer: str


def result_card(
    job: Job,
    *,
    attached: str | None,
    note: str | Text | None = None,
    mention: bool = False,
    signed: bool | None = None,
) -> ResultCard:
    """The card for a finished job. `attached` is the attached file's name; `note` says why it is not attached;
    `signed` whether the attached file carries content credentials (None: not known, nothing said)."""
    lines = []
    if mention:
        # Translators: {kind} is the kind of job in a sentence ("talking head", "lip sync")
        lines.append(str(_("<@{user}> your {kind} video is ready", user=job.user_id, kind=KINDS[job.command])))
    lines += [took_line(job), inputs_line(job), *_dubbed(job), ai_label(job)]
    if job.error:  # a note, e.g. that a cancel came too late
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    footer = [i18n.text(note)] if note else []
    if attached and signed is not None:
        footer.append(str(CREDENTIALS_NOTE if signed else NO_CREDENTIALS_NOTE))
    if job.video_url:
        footer.append(
            str(
                _(
                    "[Download the video from fal]({url}) (fal keeps its files for a limited time)",
                    url=job.video_url,
                )
            )
        )
    body = fit("\n".join(lines), TEXT_DISPLAY_LIMIT // 2)
    return ResultCard(
        body,
        f"attachment://{attached}" if attached else None,
        fit("\n".join(footer) or str(_("fal returned no video file.")), TEXT_DISPLAY_LIMIT // 2),
    )


def _dubbed(job: Job) -> list[str]:
    if job.command is not Command.DUB or not job.spec.language:
        return []
    return [
        str(
            _(
                "Dubbed into {language}; the speakers' voices are cloned and their lips re-synced.",
                language=language_label(job.spec.language),
            )
        )
    ]


def pointer(job: Job, link: str) -> str:
    """The job's own message once its video went out in another message (after the 15-minute token)."""
    return fit(str(_("{header} · the video is here: {link}", header=header(job, "ready"), link=link)))


def render_failure(job: Job) -> str:
    lines = [header(job, "failed"), job.error or str(_("The job failed.")), inputs_line(job)]
    return fit("\n".join(lines))


def render_cancelled(job: Job) -> str:
    return fit("\n".join([header(job, "cancelled"), job.error or str(_("Cancelled."))]))


def render(job: Job, *, eta: float | None = None, place: Place | None = None, ends_by_dm: bool = False) -> str:
    """The job message for where the job stands (its outcome, once decided)."""
    if job.ending is Status.DONE:
        return render_result(job)
    if job.ending is Status.FAILED:
        return render_failure(job)
    if job.ending is Status.CANCELLED:
        return render_cancelled(job)
    return render_progress(job, eta=eta, place=place, ends_by_dm=ends_by_dm)


def render_ready_ping(job: Job, *, mention: bool = True) -> str:
    """The message that tells the requester a long job ended without a video (the only text that mentions)."""
    values = {
        "user": job.user_id,
        "kind": KINDS[job.command],
        "id": job.id,
        "status": status_word(job.ending or job.status),
    }
    error = (job.error or "").rstrip(": ")
    if mention:
        # Translators: {kind}: "talking head"…; {status}: "failed" or "cancelled"; {error}: why
        text = _("<@{user}> your {kind} job `{id}` {status}: {error}", error=error, **values) if error else None
        text = text or _("<@{user}> your {kind} job `{id}` {status}", **values)
    else:
        text = _("Your {kind} job `{id}` {status}: {error}", error=error, **values) if error else None
        text = text or _("Your {kind} job `{id}` {status}", **values)
    return fit(str(text))


def cancel_reply(job: Job, outcome: Cancelled) -> str:
    """The private answer to a Cancel press: only what fal's answer supports."""
    replies = {
        Cancelled.WAITING: _(
            "Job `{id}` left the line before it started; nothing was sent to fal or charged.", id=job.id
        ),
        Cancelled.BEFORE_FAL: _(
            "Job `{id}` is stopping: nothing more will be sent to fal. Its message shows how it ends.", id=job.id
        ),
        Cancelled.QUEUED: _(
            "Job `{id}`: fal was asked to cancel it while it waited in fal's queue, where nothing is billed. "
            "Its message shows how it ends.",
            id=job.id,
        ),
        Cancelled.REQUESTED: _(
            "Job `{id}`: fal was asked to cancel it. It had already started, so the model may still "
            "finish and fal may bill it; its message shows how it ends.",
            id=job.id,
        ),
        Cancelled.TOO_LATE: _("Job `{id}` had already finished on fal; its video is on the way.", id=job.id),
        Cancelled.FINISHED: _("Job `{id}` had already ended.", id=job.id),
        Cancelled.UNREACHABLE: _(
            "fal could not be reached to cancel job `{id}`; it is still running. Try again in a minute.", id=job.id
        ),
    }
    return str(replies[outcome])


def job_state(job: Job, place: Place | None = None) -> str:
    if job.status is Status.WAITING:
        if place and place.reason is Wait.SLOT:
            # Translators: a waiting job in /jobs list; {ahead} is "3 ahead of you" or "you are next"
            return str(_("waiting ({ahead})", ahead=ahead_text(place.ahead)))
        return status_word(Status.WAITING)
    if job.status is Status.QUEUED and job.position is not None:
        return str(_("queued on fal (position {position})", position=job.position + 1))
    return status_word(job.status)


def message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str:
    """A link to a message in a server (DMs have none that others can open)."""
    if guild_id and channel_id and message_id:
        return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
    return ""


def job_line(job: Job, place: Place | None = None, link: str = "") -> str:
    """One job in a /jobs listing: its video, else `link` (its message)."""
    return (
        f"`{job.id}` {TITLES[job.command]} · {model_name(job)} · {job_state(job, place)} · "
        f"{relative_time(job.created_at)} {job.video_url or link}"
    ).rstrip()


def job_detail(job: Job, place: Place | None = None) -> str:
    """/jobs show job_id:…: the job message as it stands, who asked, and the fal request."""
    lines = [
        render(job, place=place),
        str(_("Requested by <@{user}> {when}", user=job.user_id, when=relative_time(job.created_at))),
    ]
    if job.request_id:
        lines.append(
            str(
                _(
                    "fal request `{request}` ({endpoint})",
                    request=job.request_id,
                    endpoint=job.spec.main_model.endpoint_id,
                )
            )
        )
    if job.delivery_error:
        lines.append(str(_("Could not be shown on Discord: {error}", error=quote(job.delivery_error))))
    return fit("\n".join(lines))


def render_bad_input(option: str, problem: str | Text) -> str:
    """The option named as a bounded code span (as the member's Discord shows it: its localized name where the
    catalogs give one), whatever name an interaction carried, then the problem."""
    shown = i18n.translations(i18n.current()).pgettext("parameter_name", option) if isinstance(option, str) else option
    return fit(f"⚠️ {quote(shown, NAME_LIMIT)}: {i18n.text(problem)}")


def render_refused(job: Job) -> str:
    """The private answer for a job whose input was refused once downloaded (job.error names the option)."""
    problem = (job.error or str(_("an input was refused"))).rstrip(". ")
    return fit(
        str(
            _(
                "⚠️ {problem}. Nothing was sent to fal or charged; run the command again with another file.",
                problem=problem,
            )
        )
    )


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


AUDIT_ICONS = {"done": "✅", "failed": "❌", "cancelled": "🚫"}
DIGEST_SHOWN = 16  # hex characters of a SHA-256 shown in /audit (the CLI prints all 64)


def audit_line(record: AuditRecord) -> str:
    """One job of /audit: when, who, where, what, the inputs' digests, fal's request ids, cost and outcome."""
    icon = AUDIT_ICONS.get(record.outcome or "", "⏳")
    where = f"<#{record.channel_id}>" if record.channel_id else record.place
    first = _(
        "{icon} `{id}` {when} · <@{user}> in {where}",
        icon=icon,
        id=record.job_id,
        when=relative_time(record.created_at),
        user=record.user_id,
        where=where,
    )
    if record.install == "user":
        # Translators: /audit: a job made through the member's own install of the bot
        first = _("{line} (member's own install)", line=first)
    outcome = status_word(record.outcome) if record.outcome else str(_("not finished"))
    second = f"  {record.command} · {quote(record.model, NAME_LIMIT)} · {outcome}"
    if record.cost_estimate is not None:
        # Translators: /audit: the job's estimated cost
        second += " · " + str(_("est. {cost}", cost=format_cost(record.cost_estimate)))
    parts = [str(first), second]
    digests = []
    for item in record.inputs:
        shown = item.sha256 or item.link_sha256
        if not item.sha256 and item.link_sha256:
            # Translators: /audit: an input of which only the link was hashed ({given}: "attachment", "url"…)
            what = str(_("{name} ({given}, link only)", name=item.name, given=item.given))
        else:
            what = f"{item.name} ({item.given})"
        if shown:
            digests.append(f"{what} `{shown[:DIGEST_SHOWN]}…`")
        else:
            digests.append(str(_("{input} not yet hashed", input=what)))
    if digests:
        parts.append("  SHA-256: " + " · ".join(digests))
    if record.requests:
        parts.append("  fal: " + ", ".join(quote(r, NAME_LIMIT) for r in record.requests))
    if record.detail and record.outcome != "done":
        parts.append(f"  {quote(record.detail, 80)}")
    return "\n".join(parts)


def audit_report(records: list[AuditRecord], member: int | None = None, retention_days: int | None = None) -> str:
    """/audit: the server's recent jobs, newest first, as many as fit one message; ids and mentions only (the
    reply is sent with no mentions allowed, so nobody is pinged)."""
    if member:
        title = str(_("**Audit: recent jobs on this server by <@{member}>**", member=member))
    else:
        title = str(_("**Audit: recent jobs on this server**"))
    kept = ""
    if retention_days:
        kept = str(N_("-# Records are kept {n} day.", "-# Records are kept {n} days.", retention_days))
    if not records:
        return fit("\n".join(filter(None, [title, str(_("No jobs recorded.")), kept])))
    lines = [title]
    size = len(title) + len(kept) + 80  # room for the closing lines
    for shown, record in enumerate(records):
        line = audit_line(record)
        if size + len(line) + 1 > MESSAGE_LIMIT:
            lines.append(
                str(
                    N_(
                        "… and {n} older job(s): `python -m bot.cli audit` lists them all.",
                        "… and {n} older job(s): `python -m bot.cli audit` lists them all.",
                        len(records) - shown,
                    )
                )
            )
            break
        lines.append(line)
        size += len(line) + 1
    if kept:
        lines.append(kept)
    return fit("\n".join(lines))


# ---- moderation


def banned_words(words: list[str]) -> str:
    """/config words list: each banned word as a code span (never markdown, never a mention)."""
    if not words:
        return str(_("No banned words on this server. Add one with /config words add."))
    return fit(
        str(
            N_(
                "**Banned words** ({n}; matched as whole words, ignoring case): {words}",
                "**Banned words** ({n}; matched as whole words, ignoring case): {words}",
                len(words),
                words=", ".join(map(quote, words)),
            )
        )
    )


def report_message(
    job: Job, reporter_id: int, reports: int, link: str = "", where: str = "", reason: str | None = None
) -> str:
    """What moderators (or the owner) receive for a report: the job, who made it and who reported it, and how to
    remove it. User text only as code spans; sent with no mentions allowed."""
    # Translators: {where} is empty or " in <#channel>" (a channel mention)
    made = _(
        "Made by <@{user}> (`{user}`) {when}{where}", user=job.user_id, when=relative_time(job.created_at), where=where
    )
    reported = _("Reported by <@{reporter}> (`{reporter}`)", reporter=reporter_id)
    if reports > 1:
        reported = N_(
            "Reported by <@{reporter}> (`{reporter}`) · {n} report of this job so far",
            "Reported by <@{reporter}> (`{reporter}`) · {n} reports of this job so far",
            reports,
            reporter=reporter_id,
        )
    lines = [
        str(
            _(
                "🚩 **Report** of {kind} job `{id}` · {model}",
                kind=KINDS[job.command],
                id=job.id,
                model=model_name(job),
            )
        ),
        str(made),
        str(reported),
    ]
    if reason:
        lines.append(str(_("Reason: {reason}", reason=quote(reason, 300))))
    if link:
        lines.append(str(_("Message: {link}", link=link)))
    if job.video_url:
        lines.append(str(_("Video: <{url}>", url=job.video_url)))
    lines.append(str(_("Remove it everywhere with `/jobs delete job_id:{id}`.", id=job.id)))
    return fit("\n".join(lines))


def report_received(job: Job, sent: bool) -> str:
    if sent:
        return str(_("Thanks — your report of job `{id}` was recorded and sent to the moderators.", id=job.id))
    return str(
        _("Thanks — your report of job `{id}` was recorded; the moderators could not be told right away.", id=job.id)
    )


def removed_reply(job: Job, deleted: int, kept: int) -> str:
    """/jobs delete: what was removed, and what the bot could not reach."""
    parts = [
        N_(
            "🗑️ Job `{id}` removed: {n} message(s) carrying its result deleted.",
            "🗑️ Job `{id}` removed: {n} message(s) carrying its result deleted.",
            deleted,
            id=job.id,
        )
    ]
    if kept:
        parts.append(
            N_(
                "{n} could not be deleted by the bot (a DM copy it can no longer reach, or already gone).",
                "{n} could not be deleted by the bot (a DM copy it can no longer reach, or already gone).",
                kept,
            )
        )
    parts.append(_("The job stays in the audit record."))
    return " ".join(map(str, parts))


# ---- members' own voices (bot/jobs/voices.py); names are member text: always code spans


def render_voice_ready(job: Job) -> str:
    """A clone's result: the voice is the member's, under their name, and where to use it (never its id)."""
    name = quote(job.spec.voice_name or str(_("your voice")), NAME_LIMIT)
    lines = [
        took_line(job),
        str(_("🎙️ Voice {name} is ready — use it with `voice:` on /talkinghead or /lipsync", name=name)),
        inputs_line(job),
        str(
            N_(
                "MiniMax deletes a cloned voice that is not used within {n} day; once used, it is kept.",
                "MiniMax deletes a cloned voice that is not used within {n} days; once used, it is kept.",
                voices.UNUSED_DAYS,
            )
        ),
    ]
    if job.error:
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(
            str(
                _(
                    "{cost} (fal publishes no price for cloning: the highest price found)",
                    cost=cost_line(job),
                )
            )
        )
    preview = (job.result or {}).get("audio")
    if isinstance(preview, dict) and isinstance(preview.get("url"), str):
        lines.append(str(_("[Hear a preview]({url}) (fal keeps its files for a limited time)", url=preview["url"])))
    return fit("\n".join(lines))


def voice_list(found: list[voices.Voice], *, now: float | None = None, off_here: str | Text | None = None) -> str:
    """/voice list: the member's voices, when made and last used, and what MiniMax does with unused ones."""
    now = time.time() if now is None else now
    if not found:
        lines = [
            str(_("You have no voices of your own yet. Clone one with `/voice clone` (a sample of 10 s to 5 minutes)."))
        ]
    else:
        lines = [str(_("**Your voices** ({count} of {most})", count=len(found), most=voices.MAX_VOICES))]
        for voice in found:
            name, made = quote(voice.name, NAME_LIMIT), relative_time(voice.created_at)
            if voice.gone(now):
                line = _(
                    "🎙️ {name} · made {made} · ❌ deleted by MiniMax (unused for 7 days): clone it again with "
                    "/voice clone",
                    name=name,
                    made=made,
                )
            elif voice.last_used_at is not None:
                line = _(
                    "🎙️ {name} · made {made} · last used {used}",
                    name=name,
                    made=made,
                    used=relative_time(voice.last_used_at),
                )
            else:
                line = _(
                    "🎙️ {name} · made {made} · not used yet: MiniMax deletes it {deletes} unless used",
                    name=name,
                    made=made,
                    deletes=relative_time(voice.deletes_at or now),
                )
            lines.append(str(line))
    lines.append(
        str(
            N_(
                "-# MiniMax deletes a cloned voice not used within {n} day of its making. The bot keeps only your "
                "name for each voice, MiniMax's id for it and when it was made and used; the sample itself is not "
                "kept (the audit keeps its SHA-256). `/voice delete` forgets one.",
                "-# MiniMax deletes a cloned voice not used within {n} days of its making. The bot keeps only your "
                "name for each voice, MiniMax's id for it and when it was made and used; the sample itself is not "
                "kept (the audit keeps its SHA-256). `/voice delete` forgets one.",
                voices.UNUSED_DAYS,
            )
        )
    )
    if off_here:
        lines.append(f"⚠️ {i18n.text(off_here)}")
    return fit("\n".join(lines))


def voice_deleted(name: str, deleted: bool) -> str:
    if not deleted:
        return str(
            _(
                "⚠️ `name`: you have no voice called {name}; `/voice list` shows yours.",
                name=quote(name, NAME_LIMIT),
            )
        )
    return str(
        _(
            "🗑️ Voice {name} deleted: the bot has forgotten it, and nobody can speak with it here any more. (fal "
            "offers no way to delete MiniMax's copy; MiniMax deletes an unused one after 7 days.)",
            name=quote(name, NAME_LIMIT),
        )
    )
