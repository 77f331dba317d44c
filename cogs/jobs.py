"""/jobs: a member's recent and running jobs (with places in the line), or one job's detail."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import options, render
from bot.app import LipSyncBot
from bot.buttons import requester_or_manager
from bot.intake import is_manager, refuse, where

RECENT = 10


class Jobs(commands.Cog):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    @app_commands.command(name="jobs", description="Your recent and running jobs, or one job's detail")
    @options.anywhere
    @app_commands.describe(job_id="A job id (8 characters, shown on the job message) for its detail")
    async def jobs(self, interaction: discord.Interaction, job_id: str | None = None) -> None:
        store, line = self.bot.store, self.bot.runner.line
        if job_id:
            job = await store.get(job_id.strip().lower())
            if job is None or not requester_or_manager(interaction, job):
                await refuse(interaction, "job_id", f"no job {render.quote(job_id, 20)} of yours; /jobs lists them")
                return
            job = self.bot.runner.live(job.id) or job
            await interaction.response.send_message(render.job_detail(job, line.place_of(job)), ephemeral=True)
            return
        scope, _ = where(interaction)
        mine = [self.bot.runner.live(j.id) or j for j in await store.member_jobs(scope, interaction.user.id, RECENT)]
        lines = ["**Your jobs**"] + (
            [render.job_line(j, line.place_of(j)) for j in mine] or ["None yet. Try /talkinghead."]
        )
        if is_manager(interaction):
            assert interaction.guild_id is not None
            running = [self.bot.runner.live(j.id) or j for j in await store.unfinished_in_guild(interaction.guild_id)]
            lines += ["", "**Running and waiting on this server**"] + (
                [f"{render.job_line(j, line.place_of(j))} · <@{j.user_id}>" for j in running] or ["Nothing."]
            )
        await interaction.response.send_message(render.fit("\n".join(lines)), ephemeral=True)


async def setup(bot: LipSyncBot) -> None:
    await bot.add_cog(Jobs(bot))
