"""/animate: a portrait driven by a video's expressions (live portrait)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options
from bot.discord_app.intake import Given
from bot.discord_app.services import Services, services_of
from bot.jobs.spec import Command


class Animate(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="animate", description="Drive a portrait with a video's expressions (live portrait)")
    @options.anywhere
    @app_commands.describe(
        image="Portrait to animate (png, jpg, webp, gif, avif)",
        image_url="…or an https link to the portrait",
        video="Driving video whose face movements are copied (mp4, mov, webm)",
        video_url="…or an https link to the driving video",
        private=options.PRIVATE,
    )
    async def animate(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment | None = None,
        image_url: str | None = None,
        video: discord.Attachment | None = None,
        video_url: str | None = None,
        private: bool | None = None,
    ) -> None:
        await self.services.intake.submit(
            interaction,
            Command.ANIMATE,
            [Given("image", image, image_url), Given("video", video, video_url)],
            private=private,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Animate(services_of(bot)))
