"""The job message, rendered as plain text by pure functions (no Discord objects, no I/O).

Discord shows an mp4 link in message content as an inline player, so results are links in the
content rather than embeds. Times use Discord's relative timestamps (<t:…:R>), which clients keep
current on their own: the message needs no edit just because a second passed.
"""

from __future__ import annotations

import time

from bot.fal import catalog
from bot.jobs.spec import Command, Stage
from bot.jobs.store import Job

MESSAGE_LIMIT = 2000  # characters of message content
LOG_LINE_LIMIT = 200
NAME_LIMIT = 60

TITLES = {Command.TALKINGHEAD: "Talking head", Command.LIPSYNC: "Lip sync", Command.ANIMATE: "Live portrait"}
ICONS = {Stage.PENDING: "⏳", Stage.UPLOADING: "📤", Stage.SPEAKING: "🗣️", Stage.QUEUED: "⏳",
         Stage.GENERATING: "🎬", Stage.DONE: "✅", Stage.FAILED: "❌", Stage.CANCELLED: "🚫"}


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


def model_name(job: Job) -> str:
    return job.spec.main_model.name


def stage_line(job: Job) -> str:
    if job.stage is Stage.QUEUED:
        return "Queued on fal" + (f" — position {job.position + 1} in line" if job.position is not None else "")
    speech = job.spec.speech_model
    return {
        Stage.PENDING: "Starting",
        Stage.UPLOADING: "Uploading the inputs to fal",
        Stage.SPEAKING: f"Speaking the text with {speech.name if speech else 'TTS'}",
        Stage.GENERATING: f"Generating with {model_name(job)}",
    }.get(job.stage, job.stage.value.capitalize())


def input_summary(job: Job) -> str:
    parts = []
    for name in ("image", "video", "audio"):
        source = job.sources.get(name)
        if source:
            label = source.get("filename") or source.get("url", "")
            parts.append(f"{name} {quote(label, NAME_LIMIT)}")
    if job.spec.text and "audio" not in job.sources:
        voice = job.spec.voice or catalog.DEFAULT_VOICE
        parts.append(f"text ({len(job.spec.text)} characters, voice {quote(voice, NAME_LIMIT)})")
    extras = [f"{k} {v}" for k, v in (("resolution", job.spec.resolution), ("sync mode", job.spec.sync_mode)) if v]
    return " · ".join(parts + extras)


def header(job: Job, verb: str = "") -> str:
    title = TITLES[job.command] + (f" {verb}" if verb else "")
    return f"{ICONS[job.stage]} **{title}** · {model_name(job)} · job `{job.id}`"


def render_progress(job: Job, *, eta: float | None = None) -> str:
    lines = [header(job), f"**{stage_line(job)}**"]
    timing = f"Started {relative_time(job.created_at)}"
    if eta is not None and eta > time.time():
        timing += f" · done {relative_time(eta)} (estimate)"
    lines.append(timing)
    if job.cost_estimate is not None:
        lines.append(f"Estimated cost {format_cost(job.cost_estimate)}")
    if job.log:
        lines.append(f"> {quote(job.log)}")
    return fit("\n".join(lines))


def render_result(job: Job) -> str:
    took = format_duration((job.finished_at or time.time()) - job.created_at)
    lines = [header(job, "ready") + f" · took {took}", f"Inputs: {input_summary(job)}"]
    if job.cost_estimate is not None:
        lines.append(f"Estimated cost {format_cost(job.cost_estimate)}")
    lines.append(job.video_url or "(fal returned no video link)")
    return fit("\n".join(lines))


def render_failure(job: Job) -> str:
    lines = [header(job, "failed"), job.error or "The job failed.", f"Inputs: {input_summary(job)}"]
    return fit("\n".join(lines))


def render_cancelled(job: Job) -> str:
    return fit("\n".join([header(job, "cancelled"), job.error or "Cancelled; nothing more will be charged."]))


def render(job: Job, *, eta: float | None = None) -> str:
    """The job message for the job's current stage."""
    if job.stage is Stage.DONE:
        return render_result(job)
    if job.stage is Stage.FAILED:
        return render_failure(job)
    if job.stage is Stage.CANCELLED:
        return render_cancelled(job)
    return render_progress(job, eta=eta)


def render_ready_ping(job: Job) -> str:
    """The channel message that tells the requester a long job is over (the only text that mentions)."""
    what = TITLES[job.command].lower()
    if job.stage is Stage.DONE:
        return fit(f"<@{job.user_id}> your {what} video is ready (job `{job.id}`): {job.video_url}")
    return fit(f"<@{job.user_id}> your {what} job `{job.id}` {job.stage.value}: {job.error or ''}".rstrip(": "))


def render_bad_input(option: str, problem: str) -> str:
    return fit(f"⚠️ `{option}`: {problem}")


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
