"""The Discord client: an AutoShardedBot assembled from the engine's services (bot/discord_app/run.py opens them
and passes them in), connecting the shards SHARD_COUNT and SHARD_IDS name (by default all the shards Discord
recommends). Its setup_hook only loads the cogs and syncs the commands."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from typing import Any, cast

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.discord_app import render
from bot.discord_app.buttons import JobButton, job_buttons
from bot.discord_app.intake import Intake
from bot.discord_app.notifier import DiscordNotifier
from bot.discord_app.option_check import CheckedTree, leaf_options
from bot.discord_app.replies import apologize
from bot.discord_app.services import Services
from bot.discord_app.translator import CatalogTranslator
from bot.engine import Engine
from bot.i18n import Text, _
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.talkinghead",
    "cogs.lipsync",
    "cogs.animate",
    "cogs.dub",
    "cogs.voice",
    "cogs.menus",
    "cogs.jobs",
    "cogs.admin",
    "cogs.audit",
)
PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True, read_message_history=True
)
SCOPES = ("bot", "applications.commands")
GC_THRESHOLDS = (5_000, 20, 20)  # collections of the youngest objects every 5,000 allocations (default: 700, 10, 10)


def point_at(settings: Settings) -> None:
    """Use the configured Discord endpoints (a REST proxy, or the test stand-in)."""
    discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def settle_garbage_collector() -> None:
    """Keep the collector out of the way under load: what start-up created (modules, discord.py's state) lives
    as long as the process, so it is moved out of every future collection, and collections run less often.
    Measured in the burst benchmark: with Python's defaults, ten full collections paused the bot 0.1–0.3 s
    each while 1,000 jobs ran."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])


def transformed_option(interaction: discord.Interaction, error: app_commands.TransformerError) -> str:
    """The name of the option whose value discord.py could not convert."""
    raw = str(getattr(error.value, "id", error.value))
    data: dict[str, Any] = cast(dict[str, Any], interaction.data) if isinstance(interaction.data, dict) else {}
    for option in leaf_options(data):
        if isinstance(option, dict) and str(option.get("value")) == raw:
            return str(option.get("name"))
    return "option"


def not_a(kind: discord.AppCommandOptionType) -> Text:
    """What an option's value was not, by the type discord.py wanted (its English words as they were)."""
    kinds = {
        discord.AppCommandOptionType.string: _("must be string, which this is not"),
        discord.AppCommandOptionType.integer: _("must be integer, which this is not"),
        discord.AppCommandOptionType.boolean: _("must be boolean, which this is not"),
        discord.AppCommandOptionType.user: _("must be user, which this is not"),
        discord.AppCommandOptionType.channel: _("must be channel, which this is not"),
        discord.AppCommandOptionType.role: _("must be role, which this is not"),
        discord.AppCommandOptionType.mentionable: _("must be mentionable, which this is not"),
        discord.AppCommandOptionType.number: _("must be number, which this is not"),
        discord.AppCommandOptionType.attachment: _("must be attachment, which this is not"),
    }
    # Translators: {kind} is a Discord option type's English name (such as "user"), for types not listed above.
    return kinds.get(kind) or _("must be {kind}, which this is not", kind=kind.name.replace("_", " "))


def unknown_command(error: app_commands.AppCommandError) -> str | None:
    """The command as a member sent it, when the bot has no such command (or not in that shape), else None.
    Discord's apps can offer a command list older than the bot's."""
    if isinstance(error, app_commands.CommandNotFound):
        return " ".join([*error.parents, error.name])
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return error.command.qualified_name
    return None


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


class LipSyncBot(commands.AutoShardedBot):
    def __init__(
        self,
        engine: Engine,
        *,
        force_sync: bool = False,
        guild_ready_timeout: float = 2.0,
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        settings = engine.settings
        options: dict[str, Any] = {"shard_count": settings.shard_count}  # None: the count Discord recommends
        if settings.shard_ids is not None:
            options["shard_ids"] = list(settings.shard_ids)
        if http_trace is not None:
            options["http_trace"] = http_trace
        super().__init__(
            **options,
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),  # slash commands need no privileged intents
            allowed_mentions=discord.AllowedMentions.none(),  # user text never pings; pings are opted into per message
            help_command=None,
            tree_cls=CheckedTree,
            guild_ready_timeout=guild_ready_timeout,
            max_messages=None,  # the bot never reads messages back from discord.py's cache
        )
        self.settings = engine.settings
        self.force_sync = force_sync
        notifier = DiscordNotifier(
            self,
            engine.store,
            engine.session,
            buttons=job_buttons,
            owner=engine.presence.id,
            share=lambda: engine.runner.acks.share,
            signer=engine.signer,
        )
        self.services = Services(
            engine,
            notifier,
            Intake(engine.runner, engine.configs, engine.store, notifier, engine.settings.blocked_users),
        )
        self.tree.error(self.on_app_command_error)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        if self.is_closed():
            return  # discord.py's ready delay can outlive close(), and its loop is gone by then
        super().dispatch(event_name, *args, **kwargs)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        await self.tree.set_translator(CatalogTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        assert self.application_id is not None
        log.info("Invite the bot with: %s", invite_url(self.application_id))

    async def sync_commands(self) -> None:
        """Sync only when the command set changed (Discord limits command creates per day), or when asked."""
        guild = discord.Object(self.settings.discord_guild_id) if self.settings.discord_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        translator = self.tree.translator
        assert translator is not None
        payload = [
            await command.get_translated_payload(self.tree, translator)
            for command in self.tree.get_commands(guild=guild)
        ]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"commands:{guild.id if guild else 'global'}:{self.application_id}"
        if not self.force_sync and await self.services.store.get_meta(key) == digest:
            log.info("Application commands unchanged; not syncing")
            return
        synced = await self.tree.sync(guild=guild)
        await self.services.store.set_meta(key, digest)
        log.info("Synced %d application command(s) %s", len(synced), f"to guild {guild.id}" if guild else "globally")

    async def on_ready(self) -> None:
        log.info(
            "Logged in as %s (id %s) in %d server(s)", self.user, self.user.id if self.user else "?", len(self.guilds)
        )

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure) and interaction.response.is_done():
            return  # the check has already told the member why
        if isinstance(error, app_commands.TransformerError) and not interaction.response.is_done():
            option = transformed_option(interaction, error)
            await interaction.response.send_message(
                render.render_bad_input(option, str(not_a(error.type))),
                ephemeral=True,
            )
            return
        sent = unknown_command(error)
        if sent is not None and not interaction.response.is_done():
            log.info("a command this bot does not have as sent: %s", render.quote(sent))
            if interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
            else:
                await interaction.response.send_message(
                    render.render_bad_input(
                        f"/{sent}",
                        # Translators: follows the command's name as the member sent it ("/talkinghead").
                        str(_("is not a command of this bot as sent; type / and pick it again")),
                    ),
                    ephemeral=True,
                )
            return
        log.error("command %s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        await apologize(interaction)
