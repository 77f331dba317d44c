"""/lipsync: a video plus new speech becomes the same video with the lips synced."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options
from bot.discord_app.intake import Given
from bot.discord_app.services import Services, services_of
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.jobs.spec import Command

EMOTION_CHOICES = [app_commands.Choice(name=e, value=e) for e in catalog.EMOTIONS]


class LipSync(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="lipsync", description="Re-sync a video's lips to new speech (audio or text)")
    @options.anywhere
    @app_commands.describe(
        video="Video of the face (mp4, mov, webm)",
        video_url="…or an https link to the video (or one of yours from before)",
        audio="New speech (mp3, wav, ogg, m4a, aac, flac)",
        audio_url="…or an https link to the speech (or one of yours from before)",
        text="…or text to speak (text-to-speech)",
        model="Lip-sync model (default: Sync Lipsync 2.0)",
        voice="Text-to-speech voice, used with text",
        sync_mode="What to do when audio and video lengths differ (default: cut off; React-1: bounce)",
        emotion="Direct the face's expression: runs Sync React-1 (clips up to 15 s; $10 a minute)",
        private=options.PRIVATE,
    )
    @app_commands.choices(
        model=options.model_choices(Kind.LIPSYNC), sync_mode=options.SYNC_MODE_CHOICES, emotion=EMOTION_CHOICES
    )
    @app_commands.autocomplete(
        voice=options.voice_choices, video_url=options.recent("video"), audio_url=options.recent("audio")
    )
    async def lipsync(
        self,
        interaction: discord.Interaction,
        video: discord.Attachment | None = None,
        video_url: str | None = None,
        audio: discord.Attachment | None = None,
        audio_url: str | None = None,
        text: app_commands.Range[str, 1, 2000] | None = None,
        model: str | None = None,
        voice: str | None = None,
        sync_mode: str | None = None,
        emotion: str | None = None,
        private: bool | None = None,
    ) -> None:
        await self.services.intake.submit(
            interaction,
            Command.LIPSYNC,
            [Given("video", video, video_url), Given("audio", audio, audio_url)],
            model=model,
            text=text,
            voice=voice,
            sync_mode=sync_mode,
            emotion=emotion,
            private=private,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(LipSync(services_of(bot)))
