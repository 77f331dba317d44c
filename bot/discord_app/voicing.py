"""Members' own voices on Discord (bot/jobs/voices.py): where cloning is allowed, a member's voice names resolved for
that member alone, and the checks of /voice clone's sample (the command itself: cogs/voice.py).

Where: a server where the bot is installed follows its own setting (`/config features voice_clone:`, off until an
admin turns it on); everywhere else (DMs, group DMs, servers that only reach the bot through a member's own install)
the owner's setting VOICE_CLONING (off by default). Off means the place wants no cloned voices at all: they are
neither made nor spoken there.
"""

from __future__ import annotations

from bot import media
from bot.errors import BadInput
from bot.i18n import Number, _
from bot.jobs import pipeline, voices
from bot.jobs.limits import GuildConfig
from bot.jobs.model import Job
from bot.jobs.spec import SAMPLE, Command, JobSpec, Source
from bot.store.base import JobStore

MAX_SAMPLE_BYTES = 20 * 1024 * 1024  # MiniMax's voice-clone API takes a file of up to 20 MB


def off_problem(guild_id: int | None, config: GuildConfig, option: str) -> BadInput | None:
    """Voice cloning switched off where the command came from: the rule, and who can change it."""
    if config.voice_clone:
        return None
    if guild_id is not None:
        return BadInput(
            option,
            _(
                "voice cloning is off on this server, so cloned voices are neither made nor used here; a server admin "
                "(Manage Server) can turn it on with `/config features voice_clone:True`"
            ),
        )
    return BadInput(
        option,
        _(
            "voice cloning is off here (DMs, group DMs and servers that did not add the bot), so cloned voices are "
            "neither made nor used here; the bot's owner can turn it on with the setting `VOICE_CLONING`"
        ),
    )


def voice_problem(job: Job, config: GuildConfig) -> BadInput | None:
    """A clone, or a job speaking with a member's own voice, where cloning is off (checked at every launch: a
    command, a context menu, Retry, Run again)."""
    if job.command is Command.VOICE_CLONE:
        return off_problem(job.guild_id, config, "voice_clone")
    if voices.speaks_with_own_voice(job.spec):
        return off_problem(job.guild_id, config, "voice")
    return None


async def own_voice(store: JobStore, user_id: int, voice: str | None) -> voices.Voice | None:
    """The member's own voice of that name (None: a stock voice, or a name that is not theirs; another member's
    voice is just an unknown voice). A voice MiniMax has deleted is refused before anything is paid."""
    if not voice or not voice.strip():
        return None
    found = await store.voice(user_id, voice)
    if found is not None and found.gone():
        raise BadInput("voice", voices.gone_text(found.name))
    return found


def clone_spec(source: Source, name: str) -> JobSpec:
    """The clone job for a checked sample (its declared size and, for a voice message, its length checked here; its
    true length once downloaded, bot/jobs/inputs.py)."""
    if source.attachment and source.size is not None and source.size > MAX_SAMPLE_BYTES:
        raise BadInput(
            SAMPLE,
            # Translators: {file} is the file's name; {extensions} lists the accepted file types (".mp3, .wav, …")
            _(
                "'{file}' is {size} MB; a voice sample is at most 20 MB (10 s to 5 minutes of speech: {extensions})",
                file=source.filename,
                size=Number(source.size / 1024**2, 1),
                extensions=media.extensions_text("audio"),
            ),
        )
    spec = voices.clone_spec(source.url, name, audio_seconds=source.duration)
    pipeline.check_audio_length(spec, source.duration)
    return spec
