"""/lipsync: a video plus new speech becomes the same video with the lips synced."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import LipSyncBot
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.intake import Given
from bot.jobs.spec import Command
from cogs.talkinghead import voice_choices

MODELS = [app_commands.Choice(name=m.name, value=m.endpoint_id) for m in catalog.models_of(Kind.LIPSYNC)]
SYNC_MODES = [
    app_commands.Choice(name="cut off: trim the longer one", value="cut_off"),
    app_commands.Choice(name="loop: loop the video to the audio's length", value="loop"),
    app_commands.Choice(name="bounce: play the video back and forth", value="bounce"),
    app_commands.Choice(name="silence: pad the shorter one with silence", value="silence"),
    app_commands.Choice(name="remap: stretch the video to the audio", value="remap"),
]


class LipSync(commands.Cog):
    def __init__(self, bot: LipSyncBot) -> None:
        self.bot = bot

    @app_commands.command(name="lipsync", description="Re-sync a video's lips to new speech (audio or text)")
    @app_commands.guild_only()
    @app_commands.describe(
        video="Video of the face (mp4, mov, webm)",
        video_url="…or an https link to the video",
        audio="New speech (mp3, wav, ogg, m4a, aac, flac)",
        audio_url="…or an https link to the speech",
        text="…or text to speak (text-to-speech)",
        model="Lip-sync model (default: Sync Lipsync 2.0)",
        voice="Text-to-speech voice, used with text",
        sync_mode="What to do when audio and video lengths differ (Sync models; default: cut off)",
    )
    @app_commands.choices(model=MODELS, sync_mode=SYNC_MODES)
    @app_commands.autocomplete(voice=voice_choices)
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
    ) -> None:
        await self.bot.intake.submit(
            interaction, Command.LIPSYNC, [Given("video", video, video_url), Given("audio", audio, audio_url)],
            model=model, text=text, voice=voice, sync_mode=sync_mode,
        )


async def setup(bot: LipSyncBot) -> None:
    await bot.add_cog(LipSync(bot))
