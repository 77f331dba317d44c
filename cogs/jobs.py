"""/jobs list: a member's recent and running jobs (with places in the line); /jobs show job_id: one job's detail;
/jobs delete job_id: its result removed everywhere. (Discord lets a command with subcommands have no options of
its own, so the listing is a subcommand too.)"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options, render
from bot.discord_app.buttons import requester_or_manager
from bot.discord_app.replies import is_manager, refuse, where
from bot.discord_app.services import Services, services_of
from bot.i18n import _
from bot.jobs.lifecycle import Status
from bot.jobs.model import JOB_ID, Job

RECENT = 10


@options.anywhere
class Jobs(commands.GroupCog, group_name="jobs", group_description="Your jobs: list them, show one, delete a result"):
    def __init__(self, services: Services) -> None:
        self.services = services
        super().__init__()

    @app_commands.command(name="list", description="Your recent and running jobs (admins: the server's too)")
    async def list_jobs(self, interaction: discord.Interaction) -> None:
        store, runner = self.services.store, self.services.runner
        scope, _reach = where(interaction)
        mine = [runner.live(j.id) or j for j in await store.member_jobs(scope, interaction.user.id, RECENT)]
        lines = [str(_("**Your jobs**"))] + (await self._lines(mine) or [str(_("None yet. Try /talkinghead."))])
        if is_manager(interaction):
            assert interaction.guild_id is not None
            running = [runner.live(j.id) or j for j in await store.unfinished_in_guild(interaction.guild_id)]
            lines += ["", str(_("**Running and waiting on this server**"))] + (
                await self._lines(running, by=True) or [str(_("Nothing."))]
            )
        await interaction.response.send_message(render.fit("\n".join(lines)), ephemeral=True)

    @app_commands.command(name="show", description="One job's detail: where it stands, who asked, its fal request")
    @app_commands.describe(job_id="A job id (8 characters, shown on the job message)")
    async def show(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self._job(job_id)
        if job is None or not requester_or_manager(interaction, job):
            await refuse(
                interaction,
                "job_id",
                str(_("no job {job_id} of yours; /jobs list shows them", job_id=render.quote(job_id, 20))),
            )
            return
        runner = self.services.runner
        job = runner.live(job.id) or job
        place = await runner.line.place_of(job)
        detail = render.job_detail(job, place)
        if (removed := await self.services.store.removed_at(job.id)) is not None:
            # Translators: /jobs show; {when} is a Discord timestamp shown as "3 minutes ago" in the member's language.
            removed_line = _("Result removed {when}", when=render.relative_time(removed))
            detail = render.fit(f"{detail}\n{removed_line}")
        await interaction.response.send_message(detail, ephemeral=True)

    @app_commands.command(
        name="delete", description="Delete every message carrying a job's result (yours, or as a moderator)"
    )
    @app_commands.describe(job_id="A job id (8 characters, shown on the job message)")
    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self._job(job_id)
        if job is None:
            await refuse(
                interaction,
                "job_id",
                str(_("no job {job_id}; /jobs list shows yours", job_id=render.quote(job_id, 20))),
            )
            return
        await self._delete(interaction, job)

    async def _job(self, job_id: str) -> Job | None:
        wanted = job_id.strip().lower()
        return await self.services.store.get(wanted) if JOB_ID.fullmatch(wanted) else None

    async def _delete(self, interaction: discord.Interaction, job: Job) -> None:
        """/jobs delete — by the requester, or by a member with Manage Messages in the job's
        server: every message carrying the result is deleted and the job marked removed (its record stays)."""
        moderator = (
            job.guild_id is not None
            and job.guild_id == interaction.guild_id
            and bool(interaction.permissions.manage_messages)
        )
        if interaction.user.id != job.user_id and not moderator:
            await refuse(
                interaction,
                "job_id",
                str(
                    _(
                        "job `{job_id}` is not yours; only its requester or a member with Manage Messages on its "
                        "server may delete it",
                        job_id=job.id,
                    )
                ),
            )
            return
        if not job.status.terminal:
            unfinished = (
                _("job `{job_id}` is being delivered right now; try again in a moment", job_id=job.id)
                if job.ending is not None
                else _("job `{job_id}` has not finished; cancel it first", job_id=job.id)
            )
            await refuse(interaction, "job_id", str(unfinished))
            return
        if await self.services.store.removed_at(job.id) is not None:
            await refuse(interaction, "job_id", str(_("job `{job_id}` was removed already", job_id=job.id)))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        address = await self.services.store.address(job.id)
        deleted, kept = await self.services.notifier.remove(job, address) if address else (0, 0)
        await self.services.store.mark_removed(job.id, interaction.user.id)
        await interaction.edit_original_response(content=render.removed_reply(job, deleted, kept))

    async def _lines(self, jobs: list[Job], *, by: bool = False) -> list[str]:
        """One line per job, linking its video or else its message."""
        addresses = await self.services.store.addresses([j.id for j in jobs])
        places = await self.services.runner.line.places() if any(j.status is Status.WAITING for j in jobs) else {}
        lines = []
        for job in jobs:
            a = addresses.get(job.id)
            link = render.message_link(job.guild_id, a.message_channel_id or a.channel_id, a.message_id) if a else ""
            place = places.get(job.id)
            line = render.job_line(job, place, link)
            lines.append(f"{line} · <@{job.user_id}>" if by else line)
        return lines


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Jobs(services_of(bot)))
