"""/config (server admins): where and by whom jobs run, which models, limits and the daily budget; /usage."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import LipSyncBot
from bot.fal import catalog
from bot.jobs import limits
from bot.jobs.limits import GuildConfig

ACTIONS = [app_commands.Choice(name=n, value=n) for n in ("add", "remove", "clear")]
MODEL_CHOICES = [app_commands.Choice(name=f"{m.name} ({m.kind.value.replace('_', ' ')})", value=m.endpoint_id)
                 for m in catalog.MODELS if m.kind is not catalog.Kind.TTS]


def describe(config: GuildConfig) -> str:
    channels = ", ".join(f"<#{c}>" for c in config.allowed_channels) or "every channel"
    roles = ", ".join(f"<@&{r}>" for r in config.allowed_roles) or "everyone"
    offered = [m.name for m in catalog.MODELS if m.kind is not catalog.Kind.TTS and config.offers(m.endpoint_id)]
    budget = f"${config.daily_budget:.2f} per day" if config.daily_budget is not None else "no cap"
    return render.fit("\n".join([
        "**Settings for this server**",
        f"Channels: {channels}",
        f"Roles: {roles}",
        f"Models offered: {', '.join(offered) or 'none'}",
        f"Per member: {config.user_concurrent} running at once, {config.user_cooldown} s between jobs, {config.user_daily} per day",
        f"Server: {config.guild_concurrent} running at once",
        f"Budget: {budget} (UTC days; estimates from fal's prices read {catalog.PRICES_READ_ON.isoformat()})",
    ]))


def edit_ids(ids: list[int], action: str, target: int | None) -> list[int]:
    if action == "clear":
        return []
    if target is None:
        raise ValueError(f"choose what to {action}")
    return sorted(set(ids) | {target}) if action == "add" else [i for i in ids if i != target]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Config(commands.GroupCog, group_name="config", group_description="Server settings for the lip-sync bot (admins)"):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.permissions.manage_guild:
            return True
        await interaction.response.send_message("⚠️ `/config` needs the Manage Server permission.", ephemeral=True)
        return False

    async def _update(self, interaction: discord.Interaction, change) -> None:
        store = self.bot.store
        async with store.lock:
            config = await limits.load_config(store, interaction.guild_id)
            try:
                change(config)
            except ValueError as exc:
                await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
                return
            await limits.save_config(store, interaction.guild_id, config)  # type: ignore[arg-type]
        await interaction.response.send_message(describe(config), ephemeral=True)

    @app_commands.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(describe(await limits.load_config(self.bot.store, interaction.guild_id)), ephemeral=True)

    @app_commands.command(name="channels", description="Channels where jobs may run (none listed: every channel)")
    @app_commands.describe(action="add or remove a channel, or clear the list", channel="The channel")
    @app_commands.choices(action=ACTIONS)
    async def channels(self, interaction: discord.Interaction, action: str, channel: discord.TextChannel | None = None) -> None:
        def change(c: GuildConfig) -> None:
            c.allowed_channels = edit_ids(c.allowed_channels, action, channel.id if channel else None)
        await self._update(interaction, change)

    @app_commands.command(name="roles", description="Roles that may run jobs (none listed: everyone)")
    @app_commands.describe(action="add or remove a role, or clear the list", role="The role")
    @app_commands.choices(action=ACTIONS)
    async def roles(self, interaction: discord.Interaction, action: str, role: discord.Role | None = None) -> None:
        def change(c: GuildConfig) -> None:
            c.allowed_roles = edit_ids(c.allowed_roles, action, role.id if role else None)
        await self._update(interaction, change)

    @app_commands.command(name="model", description="Offer or withdraw a model on this server")
    @app_commands.describe(model="The model", offered="Whether members may use it")
    @app_commands.choices(model=MODEL_CHOICES)
    async def model(self, interaction: discord.Interaction, model: str, offered: bool) -> None:
        def change(c: GuildConfig) -> None:
            disabled = set(c.disabled_models) - {model}
            c.disabled_models = sorted(disabled if offered else disabled | {model})
        await self._update(interaction, change)

    @app_commands.command(name="limits", description="Per-member and per-server job limits")
    @app_commands.describe(user_concurrent="Jobs one member may run at once", user_cooldown="Seconds between one member's jobs",
                           user_daily="Finished jobs per member per day", guild_concurrent="Jobs running at once on this server")
    async def limits_(self, interaction: discord.Interaction, user_concurrent: app_commands.Range[int, 1, 20] | None = None,
                      user_cooldown: app_commands.Range[int, 0, 86400] | None = None,
                      user_daily: app_commands.Range[int, 1, 1000] | None = None,
                      guild_concurrent: app_commands.Range[int, 1, 100] | None = None) -> None:
        given = {"user_concurrent": user_concurrent, "user_cooldown": user_cooldown, "user_daily": user_daily,
                 "guild_concurrent": guild_concurrent}

        def change(c: GuildConfig) -> None:
            for name, value in given.items():
                if value is not None:
                    setattr(c, name, value)
        await self._update(interaction, change)

    @app_commands.command(name="budget", description="Daily spending cap for this server in US dollars (0 = no jobs; empty = no cap)")
    @app_commands.describe(usd="Dollars per UTC day; leave empty to remove the cap")
    async def budget(self, interaction: discord.Interaction, usd: app_commands.Range[float, 0, 100000] | None = None) -> None:
        def change(c: GuildConfig) -> None:
            c.daily_budget = usd
        await self._update(interaction, change)


class Usage(commands.Cog):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    @app_commands.command(name="usage", description="Today's spending on this server, the budget and jobs per model")
    @app_commands.guild_only()
    async def usage(self, interaction: discord.Interaction) -> None:
        now = time.time()
        config = await limits.load_config(self.bot.store, interaction.guild_id)
        report = await limits.usage(self.bot.store, interaction.guild_id, now)  # type: ignore[arg-type]
        budget = f"${config.daily_budget:.2f}" if config.daily_budget is not None else "no cap"
        lines = [f"**Today (UTC)**: {report['jobs']} job(s), about ${report['spent']:.2f} committed of {budget}; "
                 f"resets {render.relative_time(limits.next_day(now))}"]
        for name, stages in sorted(report["per_model"].items()):
            lines.append(f"{name}: " + ", ".join(f"{n} {stage}" for stage, n in sorted(stages.items())))
        await interaction.response.send_message(render.fit("\n".join(lines)), ephemeral=True)


async def setup(bot: LipSyncBot) -> None:
    await bot.add_cog(Config(bot))
    await bot.add_cog(Usage(bot))
