"""/audit (Manage Server): this server's recent jobs from the audit trail, optionally one member's."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options, render
from bot.discord_app.services import Services, services_of
from bot.i18n import _
from bot.jobs import audit

RECENT = 10


class Audit(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="audit", description="This server's recent jobs: who asked, what, digests, cost")
    @options.server_only
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(member="Only this member's jobs", limit="How many jobs (newest first; default 10)")
    async def audit(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        limit: app_commands.Range[int, 1, 50] | None = None,
    ) -> None:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            await interaction.response.send_message(
                str(_("⚠️ `/audit` needs the Manage Server permission.")), ephemeral=True
            )
            return
        member_id = member.id if member is not None else None
        retention = self.services.engine.settings.audit_retention_days
        found = await audit.records(
            self.services.store,
            guild_id=interaction.guild_id,
            user_id=member_id,
            since=time.time() - retention * audit.DAY,  # past the retention, even before the sweep
            limit=limit or RECENT,
        )
        await interaction.response.send_message(
            render.audit_report(found, member_id, retention),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Audit(services_of(bot)))
