"""/talkinghead: a portrait plus speech (audio or text) becomes a talking-head video."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import LipSyncBot
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.intake import Given
from bot.jobs.spec import Command

MODELS = [app_commands.Choice(name=m.name, value=m.endpoint_id) for m in catalog.models_of(Kind.TALKING_HEAD)]
RESOLUTIONS = sorted({r for m in catalog.models_of(Kind.TALKING_HEAD) for r in m.resolutions}, key=lambda r: int(r[:-1]))


async def voice_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    needle = current.lower().replace(" ", "_")
    return [app_commands.Choice(name=v.replace("_", " "), value=v) for v in catalog.MINIMAX_VOICES if needle in v.lower()][:25]


class TalkingHead(commands.Cog):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    @app_commands.command(name="talkinghead", description="Make a portrait speak: portrait + voice clip or text → video")
    @app_commands.guild_only()
    @app_commands.describe(
        image="Portrait to animate (png, jpg, webp, gif, avif)",
        image_url="…or an https link to the portrait",
        audio="Speech to say (mp3, wav, ogg, m4a, aac, flac)",
        audio_url="…or an https link to the speech",
        text="…or text for the portrait to say (spoken by text-to-speech)",
        model="Talking-head model (default: VEED Fabric 1.0)",
        voice="Text-to-speech voice, used with text",
        resolution="Output resolution (models offer 480p/720p; OmniHuman 720p/1080p)",
    )
    @app_commands.choices(model=MODELS, resolution=[app_commands.Choice(name=r, value=r) for r in RESOLUTIONS])
    @app_commands.autocomplete(voice=voice_choices)
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
    ) -> None:
        await self.bot.intake.submit(
            interaction, Command.TALKINGHEAD, [Given("image", image, image_url), Given("audio", audio, audio_url)],
            model=model, text=text, voice=voice, resolution=resolution,
        )


async def setup(bot: LipSyncBot) -> None:
    await bot.add_cog(TalkingHead(bot))
