"""/jobs: a member's recent and running jobs (with places in the line), or one job's detail."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options, render
from bot.discord_app.buttons import requester_or_manager
from bot.discord_app.replies import is_manager, refuse, where
from bot.discord_app.services import Services, services_of
from bot.jobs.lifecycle import Status
from bot.jobs.model import JOB_ID, Job

RECENT = 10


class Jobs(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="jobs", description="Your recent and running jobs, or one job's detail")
    @options.anywhere
    @app_commands.describe(
        job_id="A job id (8 characters, shown on the job message) for its detail",
        delete="True: delete every message carrying this job's result (yours, or as a moderator)",
    )
    async def jobs(self, interaction: discord.Interaction, job_id: str | None = None, delete: bool = False) -> None:
        store, runner = self.services.store, self.services.runner
        if delete and not job_id:
            await refuse(interaction, "job_id", "give the id of the job whose result to delete")
            return
        if job_id:
            wanted = job_id.strip().lower()
            job = await store.get(wanted) if JOB_ID.fullmatch(wanted) else None
            if job is not None and delete:
                await self._delete(interaction, job)
                return
            if job is None or not requester_or_manager(interaction, job):
                await refuse(interaction, "job_id", f"no job {render.quote(job_id, 20)} of yours; /jobs lists them")
                return
            job = runner.live(job.id) or job
            place = await runner.line.place_of(job)
            detail = render.job_detail(job, place)
            if (removed := await store.removed_at(job.id)) is not None:
                detail = render.fit(f"{detail}\nResult removed {render.relative_time(removed)}")
            await interaction.response.send_message(detail, ephemeral=True)
            return
        scope, _ = where(interaction)
        mine = [runner.live(j.id) or j for j in await store.member_jobs(scope, interaction.user.id, RECENT)]
        lines = ["**Your jobs**"] + (await self._lines(mine) or ["None yet. Try /talkinghead."])
        if is_manager(interaction):
            assert interaction.guild_id is not None
            running = [runner.live(j.id) or j for j in await store.unfinished_in_guild(interaction.guild_id)]
            lines += ["", "**Running and waiting on this server**"] + (
                await self._lines(running, by=True) or ["Nothing."]
            )
        await interaction.response.send_message(render.fit("\n".join(lines)), ephemeral=True)

    async def _delete(self, interaction: discord.Interaction, job: Job) -> None:
        """/jobs job_id:<id> delete:True — by the requester, or by a member with Manage Messages in the job's
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
                f"job `{job.id}` is not yours; only its requester or a member with Manage Messages on its server "
                "may delete it",
            )
            return
        if not job.status.terminal:
            await refuse(interaction, "job_id", f"job `{job.id}` has not finished; cancel it first")
            return
        if await self.services.store.removed_at(job.id) is not None:
            await refuse(interaction, "job_id", f"job `{job.id}` was removed already")
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
