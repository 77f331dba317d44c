"""The Discord bot: a commands.Bot subclass that wires settings, the job store, fal and the cogs."""

from __future__ import annotations

import asyncio
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

from bot import render
from bot.buttons import JobButton, job_buttons
from bot.delivery import DiscordDelivery
from bot.fal.queue import FalQueue
from bot.intake import Intake
from bot.jobs.limits import Configs, personal_config
from bot.jobs.line import Line
from bot.jobs.recent import RecentInputs
from bot.jobs.runner import JobRunner
from bot.jobs.store import Store
from bot.option_check import CheckedTree, leaf_options
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.talkinghead", "cogs.lipsync", "cogs.animate", "cogs.menus", "cogs.jobs", "cogs.admin")
PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True, read_message_history=True
)
SCOPES = ("bot", "applications.commands")
GC_THRESHOLDS = (5_000, 20, 20)  # collections of the youngest objects every 5,000 allocations (default: 700, 10, 10)
STREAM_MARGIN = 16  # status streams beyond the running slots (a job's TTS step and its video step may overlap)


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


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


class LipSyncBot(commands.Bot):
    store: Store
    configs: Configs
    queue: FalQueue
    runner: JobRunner
    delivery: DiscordDelivery
    recent_inputs: RecentInputs
    session: aiohttp.ClientSession

    def __init__(self, settings: Settings, *, force_sync: bool = False, guild_ready_timeout: float = 2.0) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),  # slash commands need no privileged intents
            allowed_mentions=discord.AllowedMentions.none(),  # user text never pings; pings are opted into per message
            help_command=None,
            tree_cls=CheckedTree,
            guild_ready_timeout=guild_ready_timeout,
            max_messages=None,  # the bot never reads messages back from discord.py's cache
        )
        self.settings = settings
        self.force_sync = force_sync
        self._closing: asyncio.Future[None] | None = None
        self.intake = Intake(self)
        self.tree.error(self.on_app_command_error)

    async def setup_hook(self) -> None:
        self.session = aiohttp.ClientSession()
        self.store = await Store.open(self.settings.database_path)
        settings = self.settings
        self.configs = await Configs.load(
            self.store,
            personal_config(settings.user_running_jobs, settings.user_waiting_jobs, settings.user_daily_jobs),
        )
        line = Line(self.configs, max_running=self.settings.max_running_jobs, bot_budget=self.settings.daily_budget_usd)
        self.queue = FalQueue(self.settings.fal_key, stream_connections=self.settings.max_running_jobs + STREAM_MARGIN)
        self.delivery = DiscordDelivery(self, self.store, buttons=job_buttons)
        self.recent_inputs = RecentInputs(self.store, self.session)
        self.runner = JobRunner(
            self.store, self.queue, self.delivery, line, session=self.session, input_hosting=self.settings.input_hosting
        )
        self.add_dynamic_items(JobButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        assert self.application_id is not None
        log.info("Invite the bot with: %s", invite_url(self.application_id))
        undelivered = await self.runner.start_up()
        if undelivered:
            log.info("Picked up %d job(s) whose outcome was not delivered yet", len(undelivered))
        settle_garbage_collector()

    async def sync_commands(self) -> None:
        """Sync only when the command set changed (Discord limits command creates per day), or when asked."""
        guild = discord.Object(self.settings.discord_guild_id) if self.settings.discord_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"commands:{guild.id if guild else 'global'}:{self.application_id}"
        if not self.force_sync and await self.store.get_meta(key) == digest:
            log.info("Application commands unchanged; not syncing")
            return
        synced = await self.tree.sync(guild=guild)
        await self.store.set_meta(key, digest)
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
                render.render_bad_input(option, f"must be {error.type.name.replace('_', ' ')}, which this is not"),
                ephemeral=True,
            )
            return
        log.error("command %s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        text = "Something went wrong on our side; the details are in the bot's log. Nothing was charged."
        try:
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass

    async def close(self) -> None:
        """Stop following jobs (they resume on the next start) and release what setup_hook opened, however far it
        got. A second call (discord.py's __aexit__ after a signal's) waits for the first."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if hasattr(self, "runner"):
            await self.runner.close()
        await super().close()  # no more interactions arrive after this
        if hasattr(self, "queue"):
            await self.queue.aclose()
        if hasattr(self, "store"):
            await self.store.close()
        if hasattr(self, "session"):
            await self.session.close()
