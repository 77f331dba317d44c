"""From a slash command's options to a running job: the checks that need no network, then
defer, record and start. Shared by the command cogs, which only declare options."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import discord

from bot import render
from bot.errors import BadInput
from bot.fal import catalog
from bot.jobs import cost, inputs, limits
from bot.jobs.build import build_spec
from bot.jobs.inputs import Source
from bot.jobs.spec import Command, JobSpec, Stage
from bot.jobs.store import CHANNEL, DM, Job, new_job_id

if TYPE_CHECKING:
    from bot.app import LipSyncBot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Given:
    """One input as the user gave it: an attachment option, a URL option, or neither."""

    name: str  # "image" | "video" | "audio"
    attachment: discord.Attachment | None
    url: str | None

    def source(self) -> Source | None:
        if self.attachment is not None:
            a = self.attachment
            return Source(self.name, a.url, True, a.filename, a.content_type, a.size, getattr(a, "duration", None))
        if self.url:
            url = self.url.strip()
            return Source(self.name, url, False, os.path.basename(urlparse(url).path) or url)
        return None


def collect(command: Command, given: list[Given], text: str | None) -> dict[str, Source]:
    """Exactly one source per input, or BadInput naming the options."""
    sources: dict[str, Source] = {}
    for g in given:
        options = [f"`{g.name}`", f"`{g.name}_url`"] + (
            ["`text`"] if g.name == "audio" and command is not Command.ANIMATE else []
        )
        count = (g.attachment is not None) + bool(g.url and g.url.strip()) + (g.name == "audio" and bool(text))
        if count == 0:
            raise BadInput(g.name, f"missing: give one of {' or '.join(options)}")
        if count > 1:
            raise BadInput(g.name, f"give only one of {' or '.join(options)}, not several")
        source = g.source()
        if source is not None:
            inputs.check_declared(source)
            sources[g.name] = source
    return sources


def spec_from(command: Command, sources: dict[str, Source], **choices: str | None) -> JobSpec:
    """The job for these sources and the command's other options (text, model, voice, ...), checked."""
    audio = sources.get("audio")
    return build_spec(
        command,
        **{f"{name}_url": source.url for name, source in sources.items()},
        audio_seconds=audio.duration if audio else None,
        **choices,
    )


def is_manager(interaction: discord.Interaction) -> bool:
    """Manage Server in a server where the bot is installed (its settings are theirs to change)."""
    return (
        interaction.guild_id is not None
        and interaction.is_guild_integration()
        and bool(interaction.permissions.manage_guild)
    )


def permission_problem(interaction: discord.Interaction, config: limits.GuildConfig, spec: JobSpec) -> BadInput | None:
    """Server settings that keep this member, channel or model from running a job."""
    if is_manager(interaction):
        return (
            None
            if config.offers(spec.model)
            else BadInput("model", f"{spec.main_model.name} is switched off on this server")
        )
    if config.allowed_channels and interaction.channel_id not in config.allowed_channels:
        where = ", ".join(f"<#{c}>" for c in config.allowed_channels)
        return BadInput("channel", f"jobs run only in {where} on this server")
    roles = {r.id for r in getattr(interaction.user, "roles", [])}
    if config.allowed_roles and not roles & set(config.allowed_roles):
        return BadInput(
            "role", "running jobs here needs one of these roles: " + ", ".join(f"<@&{r}>" for r in config.allowed_roles)
        )
    if not config.offers(spec.model):
        offered = [m.name for m in catalog.models_of(spec.command.kind) if config.offers(m.endpoint_id)]
        return BadInput(
            "model", f"{spec.main_model.name} is switched off on this server; offered: {', '.join(offered) or 'none'}"
        )
    return None


class Intake:
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    async def submit(
        self,
        interaction: discord.Interaction,
        command: Command,
        given: list[Given],
        *,
        model: str | None = None,
        text: str | None = None,
        voice: str | None = None,
        resolution: str | None = None,
        sync_mode: str | None = None,
        private: bool | None = None,
    ) -> Job | None:
        try:
            sources = collect(command, given, text)
            spec = spec_from(
                command, sources, model=model, text=text, voice=voice, resolution=resolution, sync_mode=sync_mode
            )
        except BadInput as exc:
            await refuse(interaction, exc.field, str(exc))
            return None
        job = self.new_job(interaction, spec, {name: s.to_dict() for name, s in sources.items()}, private=bool(private))
        return await self.launch(interaction, job)

    def new_job(
        self,
        interaction: discord.Interaction,
        spec: JobSpec,
        sources: dict,
        state: dict | None = None,
        *,
        private: bool = False,
    ) -> Job:
        scope, reach = where(interaction)
        return Job(
            id=new_job_id(),
            command=spec.command,
            spec=spec,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            guild_id=scope,
            sources=sources,
            state=state or {},
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            application_id=interaction.application_id,
            message_channel_id=interaction.channel_id,
            cost_estimate=cost.estimate(spec),
            attachment_limit=interaction.filesize_limit,
            reach=DM if private else reach,
            ephemeral=private,
        )

    async def launch(self, interaction: discord.Interaction, job: Job) -> Job | None:
        """Admit the job (into a slot or the line) or refuse it privately; acknowledge; start it.

        Everything before the acknowledgement is decided in memory; only the job's record is written
        (with others, in one commit), so a burst of commands is acknowledged in time.
        """
        with self.bot.runner.acks.acknowledging():
            config = self.bot.configs.get(job.guild_id)
            problem = permission_problem(interaction, config, job.spec)
            if problem is not None:
                await refuse(interaction, problem.field, str(problem))
                return None
            refusal = await self.bot.runner.admit(job)
            if refusal is not None:
                await refuse(interaction, refusal.limit, refusal.message)
                return None
            try:
                callback: discord.InteractionCallbackResponse[discord.Client] | None
                if job.stage is Stage.WAITING:  # the acknowledgement itself says where it stands
                    view = discord.ui.View(timeout=None)
                    for item in self.bot.delivery.buttons(job):
                        view.add_item(item)
                    place = self.bot.runner.line.place_of(job)
                    callback = await interaction.response.send_message(
                        render.render(job, place=place), view=view, ephemeral=job.ephemeral
                    )
                    self.bot.runner.shown(job, place)
                else:
                    callback = await interaction.response.defer(thinking=True, ephemeral=job.ephemeral)
                if callback is not None and callback.is_ephemeral() and not job.ephemeral:
                    job.ephemeral, job.reach = True, DM  # the server turned off external apps' public replies
                job.message_id = callback.message_id if callback else None
                if job.message_id is None:
                    job.message_id = (await interaction.original_response()).id
            except discord.HTTPException as exc:
                log.warning("job %s: could not acknowledge the command (%s); dropped", job.id, exc)
                await self.bot.runner.drop(job, "not acknowledged")
                return None
        await self.bot.store.save(job, "message_id", "ephemeral", "reach")
        log.info(
            "job %s: %s by user %s in guild %s (%s)",
            job.id,
            job.command.value,
            job.user_id,
            job.guild_id,
            job.stage.value,
        )
        await self.bot.runner.launch(job)
        return job


def where(interaction: discord.Interaction) -> tuple[int | None, str]:
    """(the server whose settings apply, how the bot reaches the requester once the interaction token is gone).

    A server applies when the bot is installed there (not only to the member's account). The bot can write in
    the channel with its own token in such a server and in its own DM with the member; elsewhere (a server that
    never added it, a group DM) only the interaction token can, and then only the member's DMs are left."""
    if interaction.guild_id is not None and interaction.is_guild_integration():
        return interaction.guild_id, CHANNEL
    if interaction.guild_id is None and interaction.context.dm_channel:
        return None, CHANNEL
    return None, DM


async def refuse(interaction: discord.Interaction, what: str, message: str) -> None:
    """A private answer saying what was wrong and what is accepted."""
    text = render.render_bad_input(what, message)
    await interaction.response.send_message(text, ephemeral=True)
