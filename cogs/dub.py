"""/dub: a video's speech translated into another language, re-voiced in the speakers' own voices, lips re-synced."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options
from bot.discord_app.intake import Given
from bot.discord_app.services import Services, services_of
from bot.fal import catalog, languages
from bot.fal.catalog import Kind
from bot.jobs.spec import Command


async def language_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The languages of the model chosen so far (the default's when none), matching what was typed in name or
    code; the value is the code."""
    chosen = getattr(interaction.namespace, "model", None)
    endpoint_id = chosen if isinstance(chosen, str) and chosen in languages.ACCEPTED else catalog.DEFAULTS[Kind.DUB]
    return [app_commands.Choice(name=name, value=code) for name, code in languages.choices(endpoint_id, current or "")]


class Dub(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="dub", description="Dub a video into another language, in its speakers' own voices")
    @options.anywhere
    @app_commands.describe(
        video="Video with speech to dub (mp4, mov, webm; up to 10 minutes)",
        video_url="…or an https link to the video (or one of yours from before)",
        language="Language to dub into: type a name or a code (es, pt, ja…) and pick one",
        model="Dubbing model (default: VEED Dubbing; Pro adds regional accents such as es-MX)",
        private=options.PRIVATE,
    )
    @app_commands.choices(model=options.model_choices(Kind.DUB))
    @app_commands.autocomplete(language=language_choices, video_url=options.recent("video"))
    async def dub(
        self,
        interaction: discord.Interaction,
        language: app_commands.Range[str, 1, 100],
        video: discord.Attachment | None = None,
        video_url: str | None = None,
        model: str | None = None,
        private: bool | None = None,
    ) -> None:
        await self.services.intake.submit(
            interaction,
            Command.DUB,
            [Given("video", video, video_url)],
            model=model,
            language=language,
            private=private,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Dub(services_of(bot)))
