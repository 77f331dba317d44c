"""/config (server admins): where and by whom jobs run, which models, limits and the daily budget; /usage."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import discord
from babel.numbers import format_percent
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.discord_app import options, render
from bot.discord_app.replies import refuse
from bot.discord_app.services import Services, services_of
from bot.errors import BadInput
from bot.fal import catalog
from bot.i18n import N_, Money, Number, Text, _
from bot.jobs import limits, moderation
from bot.jobs.limits import GuildConfig
from bot.jobs.model import Job

ACTIONS = [app_commands.Choice(name=n, value=n) for n in ("add", "remove", "clear")]
MODEL_CHOICES = [
    app_commands.Choice(name=f"{m.name} ({m.kind.value.replace('_', ' ')})", value=m.endpoint_id)
    for m in catalog.MODELS
    if m.kind not in (catalog.Kind.TTS, catalog.Kind.VOICE_CLONE)  # voice cloning is /config features'
]
OFFERABLE = {choice.value for choice in MODEL_CHOICES}


def describe(config: GuildConfig) -> str:
    """The server's settings, in the current locale."""
    channels = ", ".join(f"<#{c}>" for c in config.allowed_channels)
    roles = ", ".join(f"<@&{r}>" for r in config.allowed_roles)
    offered = ", ".join(m.name for m in catalog.MODELS if m.endpoint_id in OFFERABLE and config.offers(m.endpoint_id))
    blocked = ", ".join(f"<@{m}>" for m in config.blocked_members[:20])
    more = len(config.blocked_members) - 20
    per_member = {
        "running": Number(config.user_concurrent),
        "waiting": Number(config.user_waiting),
        "cooldown": Number(config.user_cooldown),
        "daily": Number(config.user_daily),
    }
    prices_read = catalog.PRICES_READ_ON.isoformat()
    lines: list[Text] = [
        _("**Settings for this server**"),
        _("Channels: {channels}", channels=channels) if channels else _("Channels: every channel"),
        _("Roles: {roles}", roles=roles) if roles else _("Roles: everyone"),
        _("Models offered: {models}", models=offered) if offered else _("Models offered: none"),
        # Translators: /config show; "s" is seconds (the cooldown between one member's jobs).
        _(
            "Per member: {running} running at once, {waiting} waiting in line, {cooldown} s between jobs, "
            "{daily} jobs per day",
            **per_member,
        )
        if config.user_cooldown
        else _(
            "Per member: {running} running at once, {waiting} waiting in line, no cooldown, {daily} jobs per day",
            **per_member,
        ),
        _(
            "Server: {running} running at once, {waiting} waiting in line",
            running=Number(config.guild_concurrent),
            waiting=Number(config.guild_waiting),
        ),
        _(
            "Budget: {budget} per day (UTC days; estimates from fal's prices read {date})",
            budget=Money(config.daily_budget),
            date=prices_read,
        )
        if config.daily_budget is not None
        else _("Budget: no cap (UTC days; estimates from fal's prices read {date})", date=prices_read),
        _("Reports go to: <#{channel}>", channel=config.moderation_channel)
        if config.moderation_channel
        else _("Reports go to: the server owner's DMs"),
        N_("Blocked members: {members} and {n} more", "Blocked members: {members} and {n} more", more, members=blocked)
        if more > 0
        else _("Blocked members: {members}", members=blocked)
        if blocked
        else _("Blocked members: none"),
        _("Banned words: {count} (/config words list)", count=Number(len(config.banned_words))),
        # Translators: "/config features voice_clone:" is the command that turns it on or off; keep it as is.
        _("Voice cloning: on (members may clone their voices and speak with them) (/config features voice_clone:)")
        if config.voice_clone
        else _("Voice cloning: off (/config features voice_clone:)"),
    ]
    return render.fit("\n".join(map(str, lines)))


# Which channel or role to add or remove, when the option was left empty.
CHOOSE = {
    ("channel", "add"): _("choose the channel to add"),
    ("channel", "remove"): _("choose the channel to remove"),
    ("role", "add"): _("choose the role to add"),
    ("role", "remove"): _("choose the role to remove"),
    ("member", "add"): _("choose the member to add"),
    ("member", "remove"): _("choose the member to remove"),
}


def edit_ids(ids: list[int], action: str, target: int | None, option: str) -> list[int]:
    if action == "clear":
        return []
    if target is None:
        raise BadInput(option, CHOOSE[option, action])
    return sorted(set(ids) | {target}) if action == "add" else [i for i in ids if i != target]


@options.server_only
@app_commands.default_permissions(manage_guild=True)
class Config(commands.GroupCog, group_name="config", group_description="Server settings for the lip-sync bot (admins)"):
    def __init__(self, services: Services) -> None:
        self.services = services
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.permissions.manage_guild:
            return True
        await interaction.response.send_message(
            str(_("⚠️ `/config` needs the Manage Server permission.")), ephemeral=True
        )
        return False

    async def _update(
        self,
        interaction: discord.Interaction,
        change: Callable[[GuildConfig], None],
        reply: Callable[[GuildConfig], str] = describe,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        try:
            config = await self.services.configs.update(interaction.guild_id, change)
        except BadInput as exc:
            await refuse(interaction, exc.field, str(exc))
            return
        await self.services.runner.limits_changed()
        await interaction.response.send_message(reply(config), ephemeral=True)

    @app_commands.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            describe(self.services.configs.get(interaction.guild_id)), ephemeral=True
        )

    @app_commands.command(name="channels", description="Channels where jobs may run (none listed: every channel)")
    @app_commands.describe(action="add or remove a channel, or clear the list", channel="The channel")
    @app_commands.choices(action=ACTIONS)
    async def channels(
        self, interaction: discord.Interaction, action: str, channel: discord.TextChannel | None = None
    ) -> None:
        def change(c: GuildConfig) -> None:
            c.allowed_channels = edit_ids(c.allowed_channels, action, channel.id if channel else None, "channel")

        await self._update(interaction, change)

    @app_commands.command(name="roles", description="Roles that may run jobs (none listed: everyone)")
    @app_commands.describe(action="add or remove a role, or clear the list", role="The role")
    @app_commands.choices(action=ACTIONS)
    async def roles(self, interaction: discord.Interaction, action: str, role: discord.Role | None = None) -> None:
        def change(c: GuildConfig) -> None:
            c.allowed_roles = edit_ids(c.allowed_roles, action, role.id if role else None, "role")

        await self._update(interaction, change)

    @app_commands.command(name="model", description="Offer or withdraw a model on this server")
    @app_commands.describe(model="The model", offered="Whether members may use it")
    @app_commands.choices(model=MODEL_CHOICES)
    async def model(self, interaction: discord.Interaction, model: str, offered: bool) -> None:
        def change(c: GuildConfig) -> None:
            disabled = set(c.disabled_models) - {model}
            c.disabled_models = sorted(disabled if offered else disabled | {model})

        await self._update(interaction, change)

    @app_commands.command(name="limits", description="Per-member and per-server job limits; extra jobs wait in line")
    @app_commands.describe(
        user_concurrent="Jobs one member may have running at once",
        user_cooldown="Seconds between one member's jobs (0: none)",
        user_daily="Jobs per member per day (failed and cancelled ones do not count)",
        guild_concurrent="Jobs running at once on this server",
        user_waiting="Jobs one member may have waiting in line",
        guild_waiting="Jobs this server may have waiting in line",
    )
    async def limits_(
        self,
        interaction: discord.Interaction,
        user_concurrent: app_commands.Range[int, 1, 100] | None = None,
        user_cooldown: app_commands.Range[int, 0, 86400] | None = None,
        user_daily: app_commands.Range[int, 1, 10000] | None = None,
        guild_concurrent: app_commands.Range[int, 1, 10000] | None = None,
        user_waiting: app_commands.Range[int, 0, 1000] | None = None,
        guild_waiting: app_commands.Range[int, 0, 100000] | None = None,
    ) -> None:
        given = {
            "user_concurrent": user_concurrent,
            "user_cooldown": user_cooldown,
            "user_daily": user_daily,
            "guild_concurrent": guild_concurrent,
            "user_waiting": user_waiting,
            "guild_waiting": guild_waiting,
        }

        def change(c: GuildConfig) -> None:
            for name, value in given.items():
                if value is not None:
                    setattr(c, name, value)

        await self._update(interaction, change)

    @app_commands.command(
        name="budget", description="Daily spending cap for this server in US dollars (0 = no jobs; empty = no cap)"
    )
    @app_commands.describe(usd="Dollars per UTC day; leave empty to remove the cap")
    async def budget(
        self, interaction: discord.Interaction, usd: app_commands.Range[float, 0, 100000] | None = None
    ) -> None:
        def change(c: GuildConfig) -> None:
            c.daily_budget = usd

        await self._update(interaction, change)

    @app_commands.command(name="moderation", description="Where reports of results are posted (empty: the owner's DMs)")
    @app_commands.describe(channel="The channel for reports; leave empty to send them to the server owner by DM")
    async def moderation(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        def change(c: GuildConfig) -> None:
            c.moderation_channel = channel.id if channel else None

        await self._update(interaction, change)

    @app_commands.command(name="features", description="Turn features on or off on this server")
    @app_commands.describe(
        voice_clone="Members may clone voices (/voice clone, with consent) and speak with them here (default: off)"
    )
    async def features(self, interaction: discord.Interaction, voice_clone: bool | None = None) -> None:
        def change(c: GuildConfig) -> None:
            if voice_clone is not None:
                c.voice_clone = voice_clone

        await self._update(interaction, change)

    @app_commands.command(name="block", description="Refuse a member's commands on this server")
    @app_commands.describe(member="The member to block")
    async def block(self, interaction: discord.Interaction, member: discord.User) -> None:
        def change(c: GuildConfig) -> None:
            c.blocked_members = edit_ids(c.blocked_members, "add", member.id, "member")

        await self._update(interaction, change)

    @app_commands.command(name="unblock", description="Let a blocked member use the bot on this server again")
    @app_commands.describe(member="The member to unblock")
    async def unblock(self, interaction: discord.Interaction, member: discord.User) -> None:
        def change(c: GuildConfig) -> None:
            if member.id not in c.blocked_members:
                raise BadInput("member", _("that member is not blocked on this server"))
            c.blocked_members = edit_ids(c.blocked_members, "remove", member.id, "member")

        await self._update(interaction, change)

    words = app_commands.Group(name="words", description="Words that text to be spoken may not contain")

    @words.command(name="add", description="Ban a word (or phrase) from text to be spoken on this server")
    @app_commands.describe(word="The word or phrase (matched as whole words, ignoring case)")
    async def words_add(self, interaction: discord.Interaction, word: str) -> None:
        kept = moderation.normal_word(word)

        def change(c: GuildConfig) -> None:
            if not kept:
                raise BadInput("word", _("give a word (it was empty)"))
            if len(kept) > moderation.MAX_WORD:
                raise BadInput(
                    "word",
                    N_(
                        "a banned word or phrase has at most {n} character",
                        "a banned word or phrase has at most {n} characters",
                        moderation.MAX_WORD,
                    ),
                )
            if kept not in c.banned_words and len(c.banned_words) >= moderation.MAX_WORDS:
                raise BadInput(
                    "word",
                    N_(
                        "a server bans at most {n} word; remove some first",
                        "a server bans at most {n} words; remove some first",
                        moderation.MAX_WORDS,
                    ),
                )
            c.banned_words = sorted(set(c.banned_words) | {kept})

        # Translators: {word} is the banned word or phrase, shown as code.
        await self._words(interaction, change, _("Banned {word}.", word=render.quote(kept, 60)))

    @words.command(name="remove", description="Allow a banned word again")
    @app_commands.describe(word="The banned word or phrase")
    async def words_remove(self, interaction: discord.Interaction, word: str) -> None:
        kept = moderation.normal_word(word)

        def change(c: GuildConfig) -> None:
            if kept not in c.banned_words:
                raise BadInput(
                    "word", _("{word} is not banned on this server; /config words list", word=render.quote(kept, 60))
                )
            c.banned_words = [w for w in c.banned_words if w != kept]

        await self._words(interaction, change, _("Allowed {word} again.", word=render.quote(kept, 60)))

    @words.command(name="list", description="The words text to be spoken may not contain on this server")
    async def words_list(self, interaction: discord.Interaction) -> None:
        config = self.services.configs.get(interaction.guild_id)
        await interaction.response.send_message(render.banned_words(config.banned_words), ephemeral=True)

    async def _words(self, interaction: discord.Interaction, change: Callable[[GuildConfig], None], done: Text) -> None:
        await self._update(
            interaction, change, lambda config: render.fit(f"{done}\n{render.banned_words(config.banned_words)}")
        )


class Usage(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="usage", description="Today's spending on this server, the budget and jobs per model")
    @options.server_only
    async def usage(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        now = time.time()
        config = self.services.configs.get(interaction.guild_id)
        spent, bot_spent = await self.services.runner.line.spent_today(interaction.guild_id, now)
        jobs = await self.services.store.guild_jobs_since(interaction.guild_id, limits.day_start(now))
        bot_budget = self.services.engine.settings.daily_budget_usd if interaction.permissions.manage_guild else None
        await interaction.response.send_message(
            usage_report(config, spent, jobs, now, bot_spent, bot_budget), ephemeral=True
        )


def usage_report(
    config: GuildConfig,
    spent: float,
    jobs: list[Job],
    now: float,
    bot_spent: float = 0.0,
    bot_budget: float | None = None,
) -> str:
    """/usage, in the current locale."""
    resets = render.relative_time(limits.next_day(now))
    lines = [
        str(
            N_(
                "**Today (UTC)**: {n} job(s), about {spent} committed of {budget}; resets {resets}",
                "**Today (UTC)**: {n} job(s), about {spent} committed of {budget}; resets {resets}",
                len(jobs),
                spent=Money(spent),
                budget=Money(config.daily_budget),
                resets=resets,
            )
            if config.daily_budget is not None
            else N_(
                "**Today (UTC)**: {n} job(s), about {spent} committed of no cap; resets {resets}",
                "**Today (UTC)**: {n} job(s), about {spent} committed of no cap; resets {resets}",
                len(jobs),
                spent=Money(spent),
                resets=resets,
            )
        )
    ]
    per_model: dict[str, Counter[str]] = {}
    for job in jobs:
        per_model.setdefault(job.spec.main_model.name, Counter())[job.status.value] += 1
    for name, stages in sorted(per_model.items()):
        counts = ", ".join(str(stage_count(stage, n)) for stage, n in sorted(stages.items()))
        # Translators: /usage, one model's jobs today: "VEED Fabric 1.0: 2 done, 1 failed".
        lines.append(str(_("{model}: {counts}", model=name, counts=counts)))
    if bot_budget is not None:
        cap = Money(bot_budget)
        if bot_budget:
            share = format_percent(bot_spent / bot_budget, locale=i18n.babel_locale(i18n.current()))
            lines.append(
                str(
                    _(
                        "The bot's owner caps all servers together at {cap} a day; {share} of it is committed today.",
                        cap=cap,
                        share=share,
                    )
                )
            )
        else:
            lines.append(
                str(
                    _(
                        "The bot's owner caps all servers together at {cap} a day; all of it is committed today.",
                        cap=cap,
                    )
                )
            )
    return render.fit("\n".join(lines))


def stage_count(stage: str, n: int) -> Text | str:
    """'3 done': how many of a model's jobs today are at a stage (a job status's value)."""
    counts = {
        # Translators: /usage, how many of a model's jobs today are waiting in line (and so on for each status).
        "waiting": N_("{n} waiting", "{n} waiting", n),
        "starting": N_("{n} starting", "{n} starting", n),
        "sending": N_("{n} sending", "{n} sending", n),
        "queued": N_("{n} queued", "{n} queued", n),
        "running": N_("{n} running", "{n} running", n),
        "fetching": N_("{n} fetching", "{n} fetching", n),
        "delivering": N_("{n} delivering", "{n} delivering", n),
        "done": N_("{n} done", "{n} done", n),
        "failed": N_("{n} failed", "{n} failed", n),
        "cancelled": N_("{n} cancelled", "{n} cancelled", n),
    }
    return counts.get(stage) or f"{n} {stage}"  # a status without a text (none today)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Config(services_of(bot)))
    await bot.add_cog(Usage(services_of(bot)))
