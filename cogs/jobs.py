"""Job controls: Cancel / Retry / Run again buttons that keep working across restarts, and /jobs."""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import LipSyncBot
from bot.intake import is_manager, refuse
from bot.jobs.runner import HOSTED
from bot.jobs.spec import Stage
from bot.jobs.store import Job

JOB_ID = r"(?P<job_id>[0-9a-f]{8})"
RECENT = 10


def requester_or_manager(interaction: discord.Interaction, job: Job) -> bool:
    return interaction.user.id == job.user_id or is_manager(interaction)


async def job_for(interaction: discord.Interaction, job_id: str, action: str) -> Job | None:
    """The job a button acts on, when this member may act on it; otherwise says why not."""
    bot: LipSyncBot = interaction.client  # type: ignore[assignment]
    job = await bot.store.get(job_id)
    if job is None:
        await refuse(interaction, "job", f"job {job_id} is not known here")
    elif not requester_or_manager(interaction, job):
        await refuse(interaction, action, f"only the member who started this job, or someone with Manage Server, can {action} it")
    else:
        return job
    return None


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"job:cancel:{JOB_ID}"):
    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"job:cancel:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> CancelButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: LipSyncBot = interaction.client  # type: ignore[assignment]
        job = await job_for(interaction, self.job_id, "cancel")
        if job is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        cancelled = await bot.runner.cancel(job.id)
        text = (f"Job `{job.id}` had already finished." if cancelled is None
                else f"Job `{job.id}` is cancelled; fal was told to stop it.")
        await interaction.edit_original_response(content=text)


class RetryButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"job:again:{JOB_ID}"):
    """Retry on a failed or cancelled job, "Run again" on a finished one: the same inputs, a new job."""

    def __init__(self, job_id: str, label: str = "Run again") -> None:
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.secondary, custom_id=f"job:again:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> RetryButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: LipSyncBot = interaction.client  # type: ignore[assignment]
        old = await job_for(interaction, self.job_id, "rerun")
        if old is None:
            return
        hosted = {HOSTED: True} if old.state.get(HOSTED) else {}
        await bot.intake.launch(interaction, bot.intake.new_job(interaction, old.spec, old.sources, hosted))


def job_view(job: Job) -> discord.ui.View | None:
    """The buttons a job message carries at its current stage."""
    view = discord.ui.View(timeout=None)
    if not job.stage.finished:
        view.add_item(CancelButton(job.id))
    elif job.stage is Stage.DONE:
        view.add_item(RetryButton(job.id, "Run again"))
    else:
        view.add_item(RetryButton(job.id, "Retry"))
    return view


def job_line(job: Job) -> str:
    state = job.stage.value + (f" (position {job.position + 1})" if job.stage is Stage.QUEUED and job.position is not None else "")
    link = job.video_url or (f"https://discord.com/channels/{job.guild_id}/{job.message_channel_id}/{job.message_id}"
                             if job.message_id and job.guild_id else "")
    return f"`{job.id}` {render.TITLES[job.command]} · {render.model_name(job)} · {state} · {render.relative_time(job.created_at)} {link}".rstrip()


def job_detail(job: Job) -> str:
    lines = [render.render(job), f"Requested by <@{job.user_id}> {render.relative_time(job.created_at)}"]
    if job.request_id:
        lines.append(f"fal request `{job.request_id}` ({job.spec.main_model.endpoint_id})")
    return render.fit("\n".join(lines))


class Jobs(commands.Cog):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    @app_commands.command(name="jobs", description="Your recent and running jobs, or one job's detail")
    @app_commands.guild_only()
    @app_commands.describe(job_id="A job id (8 characters, shown on the job message) for its detail")
    async def jobs(self, interaction: discord.Interaction, job_id: str | None = None) -> None:
        store = self.bot.store
        if job_id:
            job = await store.get(job_id.strip().lower())
            if job is None or job.guild_id != interaction.guild_id or not requester_or_manager(interaction, job):
                await refuse(interaction, "job_id", f"no job `{render.quote(job_id, 20)[1:-1]}` of yours on this server; /jobs lists them")
                return
            await interaction.response.send_message(job_detail(job), ephemeral=True)
            return
        mine = await store.query("guild_id = ? AND user_id = ?", (interaction.guild_id, interaction.user.id), limit=RECENT)
        lines = ["**Your jobs**"] + ([job_line(j) for j in mine] or ["None yet. Try /talkinghead."])
        if is_manager(interaction):
            running = await store.query("guild_id = ? AND finished_at IS NULL", (interaction.guild_id,), order="created_at")
            lines += ["", "**Running on this server**"] + ([f"{job_line(j)} · <@{j.user_id}>" for j in running] or ["Nothing."])
        await interaction.response.send_message(render.fit("\n".join(lines)), ephemeral=True)


async def setup(bot: LipSyncBot) -> None:
    bot.add_dynamic_items(CancelButton, RetryButton)
    bot.delivery.views = job_view
    await bot.add_cog(Jobs(bot))
