"""What the Discord side is handed: the engine (built outside the bot, bot/engine.py) and the Discord services
made on it.

Cogs, buttons and autocompletes reach them through `services_of(client)`; nothing imports the bot class.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.discord_app.intake import Intake
from bot.discord_app.notifier import DiscordNotifier
from bot.engine import Engine
from bot.jobs.limits import Configs
from bot.jobs.runner import JobRunner
from bot.store.base import JobStore


@dataclass(frozen=True)
class Services:
    engine: Engine
    notifier: DiscordNotifier
    intake: Intake

    @property
    def store(self) -> JobStore:
        return self.engine.store

    @property
    def runner(self) -> JobRunner:
        return self.engine.runner

    @property
    def configs(self) -> Configs:
        return self.engine.configs


def services_of(client: discord.Client) -> Services:
    services = getattr(client, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("this client was not assembled with the bot's services (see bot/discord_app/run.py)")
    return services
