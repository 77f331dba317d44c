"""The buttons on a job message: Cancel, and Retry / Run again. They keep working across restarts
(their custom_id holds the action and the job id), and only the requester or a server manager may
press them — checked in interaction_check, as discord.py's DynamicItem example does."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot import i18n
from bot.discord_app import render
from bot.discord_app.replies import is_manager, refuse
from bot.discord_app.services import services_of
from bot.i18n import Text, _, pgettext_
from bot.jobs.lifecycle import Status
from bot.jobs.model import Job
from bot.jobs.spec import Command

CANCEL, AGAIN = "cancel", "again"


def label_of(action: str) -> Text:
    """A button's label when none is given (Cancel; Again: only rebuilt from a custom_id, never shown)."""
    return pgettext_("button", "Cancel") if action == CANCEL else pgettext_("button", "Again")


def refusal(action: str) -> tuple[Text, Text]:
    """(the button named as a refusal names an option, why the member may not press it)."""
    if action == CANCEL:
        return (
            # Translators: names the Cancel button in a refusal ("⚠️ `cancel`: only the member who…")
            pgettext_("refused button", "cancel"),
            _("only the member who started this job, or someone with Manage Server, can cancel it"),
        )
    return (
        # Translators: names the Retry / Run again button in a refusal ("⚠️ `rerun`: only the member who…")
        pgettext_("refused button", "rerun"),
        _("only the member who started this job, or someone with Manage Server, can rerun it"),
    )


def requester_or_manager(interaction: discord.Interaction, job: Job) -> bool:
    return interaction.user.id == job.user_id or (is_manager(interaction) and job.guild_id == interaction.guild_id)


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"job:(?P<action>cancel|again):(?P<job_id>[0-9a-f]{8})"
):
    """Cancel on a job that has not ended; Retry on a failed or cancelled one; Run again on a finished one."""

    def __init__(self, action: str, job_id: str, label: str | None = None) -> None:
        style = discord.ButtonStyle.danger if action == CANCEL else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(label=label or str(label_of(action)), style=style, custom_id=f"job:{action}:{job_id}")
        )
        self.action, self.job_id = action, job_id
        self.job: Job | None = None

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(match["action"], match["job_id"])

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        i18n.use(interaction.locale)
        self.job = await services_of(interaction.client).store.get(self.job_id)
        if self.job is None:
            # Translators: names the job in a refusal ("⚠️ `job`: job 3f9c2a1b is not known here")
            job = str(pgettext_("refused button", "job"))
            await refuse(interaction, job, _("job {id} is not known here", id=self.job_id))
            return False
        if not requester_or_manager(interaction, self.job):
            what, why = refusal(self.action)
            await refuse(interaction, str(what), why)
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction.client)
        job = self.job
        assert job is not None  # set by interaction_check
        if self.action == CANCEL:
            await interaction.response.defer(ephemeral=True, thinking=True)
            outcome = await services.runner.cancel(job.id)
            await interaction.edit_original_response(content=render.cancel_reply(job, outcome))
            return
        # Run again (a finished job): a new take, paid anew. Retry: whatever fal finished or may still finish is
        # taken over rather than paid for twice.
        steps = {} if job.ending is Status.DONE else job.inherited_steps()
        earlier = await services.notifier.address(job.id)
        again, address = services.intake.new_job(
            interaction,
            job.spec,
            job.sources,
            steps,
            inputs_ready=job.inputs_ready,
            private=bool(earlier and earlier.private),
        )
        await services.intake.launch(interaction, again, address)


def job_buttons(job: Job) -> list[discord.ui.Item]:
    """The buttons a job message carries at its current stage."""
    if job.ending is None:
        return [JobButton(CANCEL, job.id)]
    if job.ending is Status.DONE and job.command is Command.VOICE_CLONE:
        return []  # the voice is made; cloning it again is /voice clone's (paid anew, with consent asked again)
    again = pgettext_("button", "Run again") if job.ending is Status.DONE else pgettext_("button", "Retry")
    return [JobButton(AGAIN, job.id, str(again))]
