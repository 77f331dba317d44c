"""The job message, rendered as plain text by pure functions (no Discord objects, no I/O).

Discord shows an mp4 link in message content as an inline player, so results are links in the
content rather than embeds. Times use Discord's relative timestamps (<t:…:R>), which clients keep
current on their own: the message needs no edit just because a second passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot import provenance
from bot.fal import catalog, languages
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
    Command.TALKINGHEAD: "Talking head",
    Command.LIPSYNC: "Lip sync",
    Command.ANIMATE: "Live portrait",
    Command.DUB: "Dub",
    Command.VOICE_CLONE: "Voice clone",
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
    return f"`{flat}`" if flat else "`(empty)`"


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def relative_time(epoch: float) -> str:
    return f"<t:{int(epoch)}:R>"


def format_cost(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 0.01 else "< $0.01"


def cost_line(job: Job) -> str:
    """'Estimated cost $0.42 · audio 12.3 s': the length once the audio was measured (a file's true length, or the
    spoken text's)."""
    line = f"Estimated cost {format_cost(job.cost_estimate or 0)}"
    if job.command is Command.DUB:  # billed on the video given: 'Estimated cost $0.66 · video 6.0 s'
        seconds = job.spec.video_seconds
        return line + (f" · video {seconds:.1f} s" if seconds is not None else "")
    seconds = job.spec.audio_seconds
    return line + (f" · audio {seconds:.1f} s" if seconds is not None else "")


def dubbing(job: Job, *, done: bool = False) -> str:
    """'Dubbing into Spanish (es)': what a dub does, in words ('' for other jobs)."""
    if job.command is not Command.DUB or not job.spec.language:
        return ""
    return f"{'Dubbed' if done else 'Dubbing'} into {languages.label(job.spec.language)}"


def model_name(job: Job) -> str:
    return job.spec.main_model.name


def ahead_text(ahead: int) -> str:
    if ahead == 0:
        return "you are next"
    if ahead <= EXACT_PLACES:
        return f"{ahead} ahead of you"
    step = 10 if ahead < 200 else 50
    return f"about {round(ahead / step) * step} ahead of you"


def waiting_line(place: Place | None) -> str:
    if place is None:
        return "Waiting for a free slot"
    if place.reason is Wait.OWN:
        return f"Waiting for one of your {place.running_own} running jobs to finish"
    return f"Waiting for a free slot — {ahead_text(place.ahead)}"


def stage_line(job: Job, place: Place | None = None) -> str:
    """Where the job stands, in words."""
    if job.status is Status.WAITING:
        return waiting_line(place)
    if job.status is Status.STARTING:
        return "Checking the inputs and uploading them to fal" if job.uploading else "Starting"
    if job.step == SPEECH and job.status.on_fal:
        speech = job.spec.speech_model
        return f"Speaking the text with {speech.name if speech else 'TTS'}"
    if job.status is Status.SENDING:
        return "Sending the job to fal"  # not on fal's queue until fal answers the submit
    if job.status is Status.QUEUED:
        return "Queued on fal" + (f" — position {job.position + 1} in line" if job.position is not None else "")
    if job.status is Status.RUNNING:
        return f"{'Dubbing' if job.command is Command.DUB else 'Generating'} with {model_name(job)}"
    if job.status is Status.FETCHING:
        return f"Fetching the {'voice' if job.command is Command.VOICE_CLONE else 'video'} from fal"
    return job.status.value.capitalize()


def input_summary(job: Job) -> str:
    parts = []
    for name in (*INPUT_NAMES, SAMPLE):
        source = job.sources.get(name)
        if source:
            parts.append(f"{name} {quote(source.filename or source.url, NAME_LIMIT)}")
    if job.command is Command.VOICE_CLONE and job.spec.voice_name:
        parts.append(f"name {quote(job.spec.voice_name, NAME_LIMIT)}")
    if job.spec.text and "audio" not in job.sources:
        voice = job.spec.voice_name or job.spec.voice or catalog.DEFAULT_VOICE  # a cloned voice: the member's name
        parts.append(f"text ({len(job.spec.text)} characters, voice {quote(voice, NAME_LIMIT)})")
    extras = [f"{k} {v}" for k, v in (("resolution", job.spec.resolution), ("sync mode", job.spec.sync_mode)) if v]
    if job.command is Command.DUB and job.spec.language:
        extras.append(f"language {job.spec.language}")
    return " · ".join(parts + extras + direction(job))


def direction(job: Job) -> list[str]:
    """How the member directed the video: the emotion (react-1) and the prompt, quoted and shortened (member text:
    a code span, so it never renders a mention or markdown)."""
    shown = [f"emotion **{job.spec.emotion}**"] if job.spec.emotion else []
    if job.spec.prompt:
        shown.append(f"prompt {quote(job.spec.prompt, PROMPT_SHOWN)}")
    return shown


def header(job: Job, verb: str = "") -> str:
    title = TITLES[job.command] + (f" {verb}" if verb else "")
    return f"{icon(job)} **{title}** · {model_name(job)} · job `{job.id}`"


def render_progress(job: Job, *, eta: float | None = None, place: Place | None = None, ends_by_dm: bool = False) -> str:
    lines = [header(job), f"**{stage_line(job, place)}**"]
    if job.command is Command.DUB:
        lines.append(dubbing(job))
    if directed := direction(job):
        lines.append(" · ".join(d[0].upper() + d[1:] for d in directed))
    timing = f"Started {relative_time(job.created_at)}"
    if eta is not None and eta > time.time():
        timing += f" · done {relative_time(eta)} (estimate)"
    lines.append(timing)
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    if job.log:
        lines.append(f"> {quote(job.log)}")
    if ends_by_dm:
        lines.append("-# If it takes longer than 15 minutes, the result comes to your DMs.")
    return fit("\n".join(lines))


def ai_label(job: Job) -> str:
    """Every result says plainly that the video is AI-generated, and by which model (and which spoke the text)."""
    model, speech = provenance.models_of(job)
    label = f"🤖 **Generated with AI** by {model.name} (`{model.endpoint_id}` on fal.ai)"
    if speech is not None:
        label += f", speech by {speech.name}"
    return label + " — not a real recording."


CREDENTIALS_NOTE = "The attached file carries C2PA content credentials saying so."
NO_CREDENTIALS_NOTE = (
    "⚠️ The attached file carries no content credentials (signing them failed); it is AI-generated all the same."
)


def render_result(job: Job) -> str:
    if job.command is Command.VOICE_CLONE:
        return render_voice_ready(job)
    took = format_duration((job.finished_at or time.time()) - job.created_at)
    lines = [header(job, "ready") + f" · took {took}", f"Inputs: {input_summary(job)}", *_dubbed(job), ai_label(job)]
    if job.error:  # a note, e.g. that a cancel came too late
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    lines.append(job.video_url or "(fal returned no video link)")
    return fit("\n".join(lines))


TEXT_DISPLAY_LIMIT = 4000  # characters of all text displays in one Components V2 message


@dataclass(frozen=True)
class ResultCard:
    """A finished job as Discord shows it: text, the video when attached, and a download line."""

    body: str
    media: str | None  # "attachment://<file>" when the video is attached
    footer: str


def result_card(
    job: Job, *, attached: str | None, note: str | None = None, mention: bool = False, signed: bool | None = None
) -> ResultCard:
    """The card for a finished job. `attached` is the attached file's name; `note` says why it is not attached;
    `signed` whether the attached file carries content credentials (None: not known, nothing said)."""
    took = format_duration((job.finished_at or time.time()) - job.created_at)
    lines = [f"<@{job.user_id}> your {TITLES[job.command].lower()} video is ready"] if mention else []
    lines += [header(job, "ready") + f" · took {took}", f"Inputs: {input_summary(job)}", *_dubbed(job), ai_label(job)]
    if job.error:  # a note, e.g. that a cancel came too late
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(cost_line(job))
    footer = [note] if note else []
    if attached and signed is not None:
        footer.append(CREDENTIALS_NOTE if signed else NO_CREDENTIALS_NOTE)
    if job.video_url:
        footer.append(f"[Download the video from fal]({job.video_url}) (fal keeps its files for a limited time)")
    body = fit("\n".join(lines), TEXT_DISPLAY_LIMIT // 2)
    return ResultCard(
        body,
        f"attachment://{attached}" if attached else None,
        fit("\n".join(footer) or "fal returned no video file.", TEXT_DISPLAY_LIMIT // 2),
    )


def _dubbed(job: Job) -> list[str]:
    said = dubbing(job, done=True)
    return [f"{said}; the speakers' voices are cloned and their lips re-synced."] if said else []


def pointer(job: Job, link: str) -> str:
    """The job's own message once its video went out in another message (after the 15-minute token)."""
    return fit(f"{header(job, 'ready')} · the video is here: {link}")


def render_failure(job: Job) -> str:
    lines = [header(job, "failed"), job.error or "The job failed.", f"Inputs: {input_summary(job)}"]
    return fit("\n".join(lines))


def render_cancelled(job: Job) -> str:
    return fit("\n".join([header(job, "cancelled"), job.error or "Cancelled."]))


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
    who = f"<@{job.user_id}> your" if mention else "Your"
    ending = (job.ending or job.status).value
    return fit(f"{who} {TITLES[job.command].lower()} job `{job.id}` {ending}: {job.error or ''}".rstrip(": "))


CANCEL_REPLIES = {
    Cancelled.WAITING: "Job `{id}` left the line before it started; nothing was sent to fal or charged.",
    Cancelled.BEFORE_FAL: "Job `{id}` is stopping: nothing more will be sent to fal. Its message shows how it ends.",
    Cancelled.QUEUED: "Job `{id}`: fal was asked to cancel it while it waited in fal's queue, where nothing is billed. "
    "Its message shows how it ends.",
    Cancelled.REQUESTED: "Job `{id}`: fal was asked to cancel it. It had already started, so the model may still "
    "finish and fal may bill it; its message shows how it ends.",
    Cancelled.TOO_LATE: "Job `{id}` had already finished on fal; its video is on the way.",
    Cancelled.FINISHED: "Job `{id}` had already ended.",
    Cancelled.UNREACHABLE: "fal could not be reached to cancel job `{id}`; it is still running. Try again in a minute.",
}


def cancel_reply(job: Job, outcome: Cancelled) -> str:
    """The private answer to a Cancel press: only what fal's answer supports."""
    return CANCEL_REPLIES[outcome].format(id=job.id)


def job_state(job: Job, place: Place | None = None) -> str:
    if job.status is Status.WAITING:
        return "waiting" + (f" ({ahead_text(place.ahead)})" if place and place.reason is Wait.SLOT else "")
    if job.status is Status.QUEUED and job.position is not None:
        return f"queued on fal (position {job.position + 1})"
    return job.status.value


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
    lines = [render(job, place=place), f"Requested by <@{job.user_id}> {relative_time(job.created_at)}"]
    if job.request_id:
        lines.append(f"fal request `{job.request_id}` ({job.spec.main_model.endpoint_id})")
    if job.delivery_error:
        lines.append(f"Could not be shown on Discord: {quote(job.delivery_error)}")
    return fit("\n".join(lines))


def render_bad_input(option: str, problem: str) -> str:
    """The option named as a bounded code span, whatever name an interaction carried, then the problem."""
    return fit(f"⚠️ {quote(option, NAME_LIMIT)}: {problem}")


def render_refused(job: Job) -> str:
    """The private answer for a job whose input was refused once downloaded (job.error names the option)."""
    problem = (job.error or "an input was refused").rstrip(". ")
    return fit(f"⚠️ {problem}. Nothing was sent to fal or charged; run the command again with another file.")


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


AUDIT_ICONS = {"done": "✅", "failed": "❌", "cancelled": "🚫"}
DIGEST_SHOWN = 16  # hex characters of a SHA-256 shown in /audit (the CLI prints all 64)


def audit_line(record: AuditRecord) -> str:
    """One job of /audit: when, who, where, what, the inputs' digests, fal's request ids, cost and outcome."""
    icon = AUDIT_ICONS.get(record.outcome or "", "⏳")
    where = f"<#{record.channel_id}>" if record.channel_id else record.place
    install = " (member's own install)" if record.install == "user" else ""
    parts = [
        f"{icon} `{record.job_id}` {relative_time(record.created_at)} · <@{record.user_id}> in {where}{install}",
        f"  {record.command} · {quote(record.model, NAME_LIMIT)} · {record.outcome or 'not finished'}"
        + (f" · est. {format_cost(record.cost_estimate)}" if record.cost_estimate is not None else ""),
    ]
    digests = []
    for item in record.inputs:
        shown = item.sha256 or item.link_sha256
        what = f"{item.name} ({item.given}{', link only' if not item.sha256 and item.link_sha256 else ''})"
        digests.append(f"{what} `{shown[:DIGEST_SHOWN]}…`" if shown else f"{what} not yet hashed")
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
    title = "**Audit: recent jobs on this server" + (f" by <@{member}>" if member else "") + "**"
    days = f"{retention_days} day{'s' if retention_days != 1 else ''}"
    kept = f"-# Records are kept {days}." if retention_days else ""
    if not records:
        return fit("\n".join(filter(None, [title, "No jobs recorded.", kept])))
    lines = [title]
    size = len(title) + len(kept) + 80  # room for the closing lines
    for shown, record in enumerate(records):
        line = audit_line(record)
        if size + len(line) + 1 > MESSAGE_LIMIT:
            lines.append(f"… and {len(records) - shown} older job(s): `python -m bot.cli audit` lists them all.")
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
        return "No banned words on this server. Add one with /config words add."
    return fit(
        f"**Banned words** ({len(words)}; matched as whole words, ignoring case): " + ", ".join(map(quote, words))
    )


def report_message(
    job: Job, reporter_id: int, reports: int, link: str = "", where: str = "", reason: str | None = None
) -> str:
    """What moderators (or the owner) receive for a report: the job, who made it and who reported it, and how to
    remove it. User text only as code spans; sent with no mentions allowed."""
    lines = [
        f"🚩 **Report** of {TITLES[job.command].lower()} job `{job.id}` · {model_name(job)}",
        f"Made by <@{job.user_id}> (`{job.user_id}`) {relative_time(job.created_at)}{where}",
        f"Reported by <@{reporter_id}> (`{reporter_id}`)"
        + (f" · {reports} reports of this job so far" if reports > 1 else ""),
    ]
    if reason:
        lines.append(f"Reason: {quote(reason, 300)}")
    if link:
        lines.append(f"Message: {link}")
    if job.video_url:
        lines.append(f"Video: <{job.video_url}>")
    lines.append(f"Remove it everywhere with `/jobs delete job_id:{job.id}`.")
    return fit("\n".join(lines))


def report_received(job: Job, sent: bool) -> str:
    if sent:
        return f"Thanks — your report of job `{job.id}` was recorded and sent to the moderators."
    return f"Thanks — your report of job `{job.id}` was recorded; the moderators could not be told right away."


def removed_reply(job: Job, deleted: int, kept: int) -> str:
    """/jobs delete: what was removed, and what the bot could not reach."""
    text = f"🗑️ Job `{job.id}` removed: {deleted} message(s) carrying its result deleted."
    if kept:
        text += f" {kept} could not be deleted by the bot (a DM copy it can no longer reach, or already gone)."
    return text + " The job stays in the audit record."


# ---- members' own voices (bot/jobs/voices.py); names are member text: always code spans


def render_voice_ready(job: Job) -> str:
    """A clone's result: the voice is the member's, under their name, and where to use it (never its id)."""
    took = format_duration((job.finished_at or time.time()) - job.created_at)
    name = quote(job.spec.voice_name or "your voice", NAME_LIMIT)
    lines = [
        f"{header(job, 'ready')} · took {took}",
        f"🎙️ Voice {name} is ready — use it with `voice:` on /talkinghead or /lipsync",
        f"Inputs: {input_summary(job)}",
        f"MiniMax deletes a cloned voice that is not used within {voices.UNUSED_DAYS} days; once used, it is kept.",
    ]
    if job.error:
        lines.append(job.error)
    if job.cost_estimate is not None:
        lines.append(f"{cost_line(job)} (fal publishes no price for cloning: the highest price found)")
    preview = (job.result or {}).get("audio")
    if isinstance(preview, dict) and isinstance(preview.get("url"), str):
        lines.append(f"[Hear a preview]({preview['url']}) (fal keeps its files for a limited time)")
    return fit("\n".join(lines))


def voice_list(found: list[voices.Voice], *, now: float | None = None, off_here: str | None = None) -> str:
    """/voice list: the member's voices, when made and last used, and what MiniMax does with unused ones."""
    now = time.time() if now is None else now
    if not found:
        lines = ["You have no voices of your own yet. Clone one with `/voice clone` (a sample of 10 s to 5 minutes)."]
    else:
        lines = [f"**Your voices** ({len(found)} of {voices.MAX_VOICES})"]
        for voice in found:
            line = f"🎙️ {quote(voice.name, NAME_LIMIT)} · made {relative_time(voice.created_at)}"
            if voice.gone(now):
                line += " · ❌ deleted by MiniMax (unused for 7 days): clone it again with /voice clone"
            elif voice.last_used_at is not None:
                line += f" · last used {relative_time(voice.last_used_at)}"
            else:
                line += f" · not used yet: MiniMax deletes it {relative_time(voice.deletes_at or now)} unless used"
            lines.append(line)
    lines.append(
        f"-# MiniMax deletes a cloned voice not used within {voices.UNUSED_DAYS} days of its making. The bot keeps "
        "only your name for each voice, MiniMax's id for it and when it was made and used; the sample itself is not "
        "kept (the audit keeps its SHA-256). `/voice delete` forgets one."
    )
    if off_here:
        lines.append(f"⚠️ {off_here}")
    return fit("\n".join(lines))


def voice_deleted(name: str, deleted: bool) -> str:
    if not deleted:
        return f"⚠️ `name`: you have no voice called {quote(name, NAME_LIMIT)}; `/voice list` shows yours."
    return (
        f"🗑️ Voice {quote(name, NAME_LIMIT)} deleted: the bot has forgotten it, and nobody can speak with it here any "
        "more. (fal offers no way to delete MiniMax's copy; MiniMax deletes an unused one after 7 days.)"
    )
