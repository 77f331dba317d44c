"""From a slash command's options to a running job: the checks that need no network, then admit, acknowledge
and start. Shared by the command cogs and the message menus, which only declare options."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import discord

from bot import i18n, links, metrics
from bot.discord_app import render, voicing
from bot.discord_app.notifier import DiscordNotifier
from bot.discord_app.option_check import unreadable
from bot.discord_app.replies import is_manager, refuse, where
from bot.errors import BadInput
from bot.fal import catalog
from bot.i18n import _
from bot.jobs import audit, cost, inputs, limits, moderation
from bot.jobs.build import build_spec
from bot.jobs.lifecycle import Status
from bot.jobs.model import DM, Address, Job, StepRecord, new_job_id
from bot.jobs.runner import JobRunner
from bot.jobs.spec import Command, JobSpec, Source
from bot.store.base import JobStore

log = logging.getLogger(__name__)

ADMIT_WITHIN = 1.5  # seconds admission may take before the command is acknowledged first (Discord allows 3)


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
            return Source(self.name, url, False, links.file_name(url) or url)
        return None


def collect(command: Command, given: list[Given], text: str | None, hosting: inputs.Hosting) -> dict[str, Source]:
    """Exactly one source per input, each checked as far as it can be without the network, or BadInput naming
    the options."""
    sources: dict[str, Source] = {}
    for g in given:
        options = [f"`{g.name}`", f"`{g.name}_url`"] + (
            ["`text`"] if g.name == "audio" and command is not Command.ANIMATE else []
        )
        count = (g.attachment is not None) + bool(g.url and g.url.strip()) + (g.name == "audio" and bool(text))
        if count == 0:
            raise BadInput(g.name, _("missing: give one of {options}", options=_either(options)))
        if count > 1:
            raise BadInput(g.name, _("give only one of {options}, not several", options=_either(options)))
        if g.attachment is not None and (problem := unreadable(g.attachment)):
            raise BadInput(g.name, problem)
        source = g.source()
        if source is not None:
            inputs.check_declared(source, hosting)
            sources[g.name] = source
    return sources


def _either(options: list[str]) -> str:
    """'`image` or `image_url`' (or three), in the locale of the moment."""
    if len(options) == 2:
        return str(_("{first} or {second}", first=options[0], second=options[1]))
    return str(_("{first} or {second} or {third}", first=options[0], second=options[1], third=options[2]))


def spec_from(command: Command, sources: dict[str, Source], **choices: str | None) -> JobSpec:
    """The job for these sources and the command's other options (text, model, voice, ...), checked."""
    audio, video = sources.get("audio"), sources.get("video")
    return build_spec(
        command,
        **{f"{name}_url": source.url for name, source in sources.items()},
        audio_seconds=audio.duration if audio else None,
        video_seconds=video.duration if video else None,
        **choices,
    )


def permission_problem(interaction: discord.Interaction, config: limits.GuildConfig, spec: JobSpec) -> BadInput | None:
    """Server settings that keep this member, channel or model from running a job."""
    if is_manager(interaction):
        return (
            None
            if config.offers(spec.model)
            else BadInput("model", _("{model} is switched off on this server", model=spec.main_model.name))
        )
    if config.allowed_channels and interaction.channel_id not in config.allowed_channels:
        where = ", ".join(f"<#{c}>" for c in config.allowed_channels)
        return BadInput("channel", _("jobs run only in {channels} on this server", channels=where))
    roles = {r.id for r in getattr(interaction.user, "roles", [])}
    if config.allowed_roles and not roles & set(config.allowed_roles):
        return BadInput(
            "role",
            _(
                "running jobs here needs one of these roles: {roles}",
                roles=", ".join(f"<@&{r}>" for r in config.allowed_roles),
            ),
        )
    if not config.offers(spec.model):
        offered = [m.name for m in catalog.models_of(spec.command.kind) if config.offers(m.endpoint_id)]
        return BadInput(
            "model",
            _(
                "{model} is switched off on this server; offered: {offered}",
                model=spec.main_model.name,
                offered=", ".join(offered) if offered else _("none"),
            ),
        )
    return None


def audit_record(interaction: discord.Interaction, job: Job) -> audit.Record:
    """The job's audit record as it is asked for: who, in which server and channel, and how the bot is there (the
    server installed it, or the member did); never the interaction's token."""
    if interaction.guild_id is not None:
        place = audit.SERVER
    elif interaction.context.dm_channel:
        place = audit.DM
    else:
        place = audit.GROUP_DM
    install = audit.GUILD_INSTALL if interaction.is_guild_integration() else audit.USER_INSTALL
    return audit.record_for(
        job, guild_id=interaction.guild_id, channel_id=interaction.channel_id, place=place, install=install
    )


def moderation_problem(
    interaction: discord.Interaction, config: limits.GuildConfig, spec: JobSpec, blocked_users: frozenset[int]
) -> BadInput | None:
    """A blocked member (everywhere: BLOCKED_USERS; here: the server's list), or banned words in the text to be
    spoken or the prompt (the server's list; outside servers, BLOCKED_WORDS). Checked before anything is admitted or
    paid for."""
    user = interaction.user.id
    if user in blocked_users:
        return BadInput("member", _("you are blocked from using this bot by its owner"))
    if user in config.blocked_members:
        return BadInput("member", _("you are blocked from using this bot on this server by its moderators"))
    for option, text in (("text", spec.text), ("prompt", spec.prompt)):
        word = moderation.banned_word(text, config.banned_words)
        if word is not None:
            quoted = render.quote(word, 40)
            in_server = where(interaction)[0] is not None
            if option == "text":
                banned = (
                    _("the text contains a word not allowed on this server ({word})", word=quoted)
                    if in_server
                    else _("the text contains a word not allowed here ({word})", word=quoted)
                )
            else:
                banned = (
                    _("the prompt contains a word not allowed on this server ({word})", word=quoted)
                    if in_server
                    else _("the prompt contains a word not allowed here ({word})", word=quoted)
                )
            return BadInput(option, banned)
    return None


class Intake:
    def __init__(
        self,
        runner: JobRunner,
        configs: limits.Configs,
        store: JobStore,
        notifier: DiscordNotifier,
        blocked_users: frozenset[int] = frozenset(),
    ) -> None:
        self.runner, self.configs, self.store, self.notifier = runner, configs, store, notifier
        self.blocked_users = blocked_users

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
        emotion: str | None = None,
        prompt: str | None = None,
        language: str | None = None,
        private: bool | None = None,
    ) -> Job | None:
        try:
            own = await voicing.own_voice(self.store, interaction.user.id, voice)  # theirs alone; None: a stock voice
            sources = collect(command, given, text, self.runner.hosting)
            spec = spec_from(
                command,
                sources,
                model=model,
                text=text,
                voice=own.custom_voice_id if own else voice,
                voice_name=own.name if own else None,
                resolution=resolution,
                sync_mode=sync_mode,
                emotion=emotion,
                prompt=prompt,
                language=language,
            )
        except BadInput as exc:
            await refuse(interaction, exc.field, str(exc))
            return None
        job, address = self.new_job(interaction, spec, sources, private=bool(private))
        return await self.launch(interaction, job, address)

    def new_job(
        self,
        interaction: discord.Interaction,
        spec: JobSpec,
        sources: dict[str, Source],
        steps: dict[str, StepRecord] | None = None,
        *,
        inputs_ready: bool = False,
        private: bool = False,
    ) -> tuple[Job, Address]:
        """A job for this interaction, and where it is shown."""
        scope, reach = where(interaction)
        job = Job(
            id=new_job_id(),
            spec=spec,
            user_id=interaction.user.id,
            guild_id=scope,
            sources=sources,
            steps=steps or {},
            inputs_ready=inputs_ready,
            cost_estimate=cost.estimate(spec),
            locale=i18n.shipped(interaction.locale),
        )
        address = Address(
            job.id,
            channel_id=interaction.channel_id or 0,
            application_id=interaction.application_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            message_channel_id=interaction.channel_id,
            attachment_limit=interaction.filesize_limit,
            reach=DM if private else reach,
            private=private,
            guild_locale=i18n.shipped(interaction.guild_locale) if interaction.guild_locale else None,
        )
        return job, address

    async def launch(self, interaction: discord.Interaction, job: Job, address: Address) -> Job | None:
        """Admit the job (into a slot or the line) or refuse it privately; acknowledge; start it.

        Admission is one short transaction shared by the commands that arrive together. Should the store be slow
        to answer, the command is acknowledged first (Discord drops one not acknowledged within 3 s) and the answer
        follows: a refusal then comes as a private message, the public acknowledgement removed.
        """
        with self.runner.acks.acknowledging():
            config = self.configs.get(job.guild_id)
            problem = (
                moderation_problem(interaction, config, job.spec, self.blocked_users)
                or permission_problem(interaction, config, job.spec)
                or voicing.voice_problem(job, config)
            )
            if problem is not None:
                await self._refuse(interaction, problem.field, str(problem))
                return None
            # The audit record is written with the admission, in its transaction: before the job can start anywhere,
            # and not at all for a job refused.
            admission = asyncio.ensure_future(self.runner.admit(job, address, audit_record(interaction, job)))
            done, _pending = await asyncio.wait({admission}, timeout=ADMIT_WITHIN)
            early: discord.InteractionCallbackResponse[discord.Client] | None = None
            if not done:
                log.info("job %s: admission is slow; acknowledging first", job.id)
                early = await interaction.response.defer(thinking=True, ephemeral=address.private)
            refusal = await admission
            if refusal is not None:
                await self._refuse(interaction, refusal.limit, refusal.message, after_ack=early is not None)
                return None
            self.notifier.remember(address)
            try:
                callback = early or await self._acknowledge(interaction, job, address)
                if callback is not None and callback.is_ephemeral() and not address.private:
                    address.private, address.reach = True, DM  # the server turned off external apps' public replies
                address.message_id = callback.message_id if callback else None
                if address.message_id is None:
                    address.message_id = (await interaction.original_response()).id
            except discord.HTTPException as exc:
                log.warning("job %s: could not acknowledge the command (%s); dropped", job.id, exc)
                await self.runner.drop(job, "not acknowledged")
                return None
            self._acknowledged(interaction, job.status.value)
        await self.store.save_address(address, "message_id", "private", "reach")
        log.info(
            "job %s: %s by user %s in guild %s (%s)",
            job.id,
            job.command.value,
            job.user_id,
            job.guild_id,
            job.status.value,
        )
        if early is not None and job.status is Status.WAITING:
            self.notifier.show(job, place=await self.runner.line.place_of(job))  # the deferred reply shows its place
        await self.runner.launch(job)
        return job

    async def _acknowledge(
        self, interaction: discord.Interaction, job: Job, address: Address
    ) -> discord.InteractionCallbackResponse[discord.Client] | None:
        if job.status is not Status.WAITING:
            return await interaction.response.defer(thinking=True, ephemeral=address.private)
        view = discord.ui.View(timeout=None)  # a waiting job's acknowledgement itself says where it stands
        for item in self.notifier.buttons(job):
            view.add_item(item)
        place = await self.runner.line.place_of(job)
        callback = await interaction.response.send_message(
            render.render(job, place=place, ends_by_dm=address.reach == DM), view=view, ephemeral=address.private
        )
        self.runner.shown(job, place)
        return callback

    async def _refuse(self, interaction: discord.Interaction, what: str, why: str, *, after_ack: bool = False) -> None:
        if not after_ack:
            await refuse(interaction, what, why)
        else:  # acknowledged publicly already: the refusal goes privately, and the acknowledgement away
            # The first followup after a deferral would replace the public loading message; an edit completes it.
            await interaction.edit_original_response(content=str(_("⏳ Checking the limits…")))
            await interaction.followup.send(render.render_bad_input(what, why), ephemeral=True)
            await interaction.delete_original_response()
        self._acknowledged(interaction, "refused")

    @staticmethod
    def _acknowledged(interaction: discord.Interaction, outcome: str) -> None:
        metrics.COMMANDS.labels(outcome).inc()
        metrics.ACK_SECONDS.observe(max(0.0, time.time() - interaction.created_at.timestamp()))
