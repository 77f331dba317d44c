"""/talkinghead: a portrait plus speech (audio or text) becomes a talking-head video."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options
from bot.discord_app.intake import Given
from bot.discord_app.services import Services, services_of
from bot.fal.catalog import Kind
from bot.jobs.build import MAX_PROMPT_CHARS
from bot.jobs.spec import Command


class TalkingHead(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(
        name="talkinghead", description="Make a portrait speak: portrait + voice clip or text → video"
    )
    @options.anywhere
    @app_commands.describe(
        image="Portrait to animate (png, jpg, webp, gif, avif)",
        image_url="…or an https link to the portrait (or one of yours from before)",
        audio="Speech to say (mp3, wav, ogg, m4a, aac, flac)",
        audio_url="…or an https link to the speech (or one of yours from before)",
        text="…or text for the portrait to say (spoken by text-to-speech)",
        model="Talking-head model (default: VEED Fabric 1.0)",
        voice="Text-to-speech voice, used with text",
        resolution="Output resolution (models offer 480p/720p; OmniHuman 720p/1080p)",
        prompt="How the portrait should act and the camera move (OmniHuman 1.5 and Creatify Aurora)",
        private=options.PRIVATE,
    )
    @app_commands.choices(
        model=options.model_choices(Kind.TALKING_HEAD), resolution=options.resolution_choices(Kind.TALKING_HEAD)
    )
    @app_commands.autocomplete(
        voice=options.voice_choices, image_url=options.recent("image"), audio_url=options.recent("audio")
    )
    async def talkinghead(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment | None = None,
        image_url: str | None = None,
        audio: discord.Attachment | None = None,
        audio_url: str | None = None,
        text: app_commands.Range[str, 1, 2000] | None = None,
        model: str | None = None,
        voice: str | None = None,
        resolution: str | None = None,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        private: bool | None = None,
    ) -> None:
        await self.services.intake.submit(
            interaction,
            Command.TALKINGHEAD,
            [Given("image", image, image_url), Given("audio", audio, audio_url)],
            model=model,
            text=text,
            voice=voice,
            resolution=resolution,
            prompt=prompt,
            private=private,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(TalkingHead(services_of(bot)))
