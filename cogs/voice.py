"""/voice clone|list|delete: a member's own voices (bot/jobs/voices.py), spoken with `voice:` on /talkinghead and
/lipsync. Every answer is private: a member's voice is their own business."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import options, render, voicing
from bot.discord_app.intake import Given, collect
from bot.discord_app.replies import refuse, where
from bot.discord_app.services import Services, services_of
from bot.errors import BadInput
from bot.i18n import N_, _
from bot.jobs import voices
from bot.jobs.spec import SAMPLE, Command

# The words a member confirms with `consent: True` (voices.CONSENT, kept in English in the job's record), as shown.
CONSENT = _("this is my voice, or its owner agreed")
assert CONSENT.msgid == voices.CONSENT, "CONSENT must say what voices.CONSENT says"


async def _own_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await options.own_voice_choices(interaction, current, everywhere=True)


@options.anywhere
class Voice(commands.GroupCog, group_name="voice", group_description="Your own voice: clone it, list and delete yours"):
    def __init__(self, services: Services) -> None:
        self.services = services
        super().__init__()

    @app_commands.command(
        name="clone", description="Clone a voice from a sample (10 s to 5 min) to speak with on /talkinghead, /lipsync"
    )
    @app_commands.describe(
        name="Your name for the voice (up to 32 characters); the same name again replaces it",
        consent=f"True: {voices.CONSENT}",
        sample="A recording of the voice alone, 10 s to 5 minutes (mp3, wav, ogg, m4a, aac, flac)",
        sample_url="…or an https link to the recording",
    )
    async def clone(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, voices.MAX_NAME],
        consent: bool,
        sample: discord.Attachment | None = None,
        sample_url: str | None = None,
    ) -> None:
        intake = self.services.intake
        scope, _reach = where(interaction)
        try:
            if consent is not True:
                raise BadInput(
                    "consent",
                    # Translators: `consent: True` is the option as typed (keep it); {consent} is the sentence
                    # "this is my voice, or its owner agreed".
                    _("cloning a voice needs `consent: True`, saying: {consent}; nothing was sent", consent=CONSENT),
                )
            problem = voicing.off_problem(scope, self.services.configs.get(scope), "voice_clone")
            if problem is not None:
                raise problem
            tidy = voices.check_name(name)
            kept = await self.services.store.voices(interaction.user.id)
            if len(kept) >= voices.MAX_VOICES and voices.key(tidy) not in {voices.key(v.name) for v in kept}:
                raise BadInput(
                    "name",
                    N_(
                        "you keep {n} voice, the most one member may; delete one with /voice delete (or clone "
                        "again under one of their names to replace it)",
                        "you keep {n} voices, the most one member may; delete one with /voice delete (or clone "
                        "again under one of their names to replace it)",
                        len(kept),
                    ),
                )
            sources = collect(Command.VOICE_CLONE, [Given(SAMPLE, sample, sample_url)], None, intake.runner.hosting)
            spec = voicing.clone_spec(sources[SAMPLE], tidy)
        except BadInput as exc:
            await refuse(interaction, exc.field, str(exc))
            return
        job, address = intake.new_job(interaction, spec, sources, private=True)  # a voice is the member's business
        await intake.launch(interaction, job, address)

    @app_commands.command(name="list", description="Your voices: when made and last used (MiniMax deletes unused ones)")
    async def list_(self, interaction: discord.Interaction) -> None:
        scope, _reach = where(interaction)
        found = await self.services.store.voices(interaction.user.id)
        off = voicing.off_problem(scope, self.services.configs.get(scope), "voice")
        await interaction.response.send_message(
            render.voice_list(found, now=time.time(), off_here=str(off) if off and found else None),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(name="delete", description="Forget one of your voices")
    @app_commands.describe(name="The voice to delete")
    @app_commands.autocomplete(name=_own_names)
    async def delete(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        found = await self.services.store.voice(interaction.user.id, name)
        deleted = found is not None and await self.services.store.delete_voice(interaction.user.id, found.name)
        await interaction.response.send_message(
            render.voice_deleted(found.name if found else name, deleted),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Voice(services_of(bot)))
