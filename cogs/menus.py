"""Right-click → Apps on a message: "Make this talk", "Lip-sync this video", "Animate with this video", "Dub this
video", and "Report" (a result, to the moderators).

The message's image or video (an attachment or an embed) is the input; a modal asks only for what is
missing (the speech as text or an audio file, or the portrait), and the job then goes through the same
checks and the same waiting line as the slash commands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n, media
from bot.discord_app import options, render
from bot.discord_app.intake import Given
from bot.discord_app.option_check import unreadable
from bot.discord_app.replies import apologize, refuse, where
from bot.discord_app.services import Services, services_of
from bot.discord_app.translator import translated
from bot.fal import catalog
from bot.i18n import N_, Text, _
from bot.jobs.spec import Command

log = logging.getLogger(__name__)

TITLE_LIMIT = 45  # characters of a modal's title
LABEL_LIMIT = 45  # characters of a label's text in a modal
DESCRIPTION_LIMIT = 100  # characters of a label's description
PLACEHOLDER_LIMIT = 100  # characters of a text input's placeholder (a select's: 150)


@dataclass(frozen=True)
class Found:
    """One image or video in a message."""

    kind: str
    attachment: discord.Attachment | None = None
    url: str | None = None

    def given(self, name: str) -> Given:
        return Given(name, self.attachment, self.url)


def media_of(message: discord.Message) -> list[Found]:
    """The images and videos a message carries: its attachments, then what its embeds show."""
    found = []
    for attachment in message.attachments:
        if unreadable(attachment):
            continue
        kind = _kind(attachment.content_type, attachment.filename)
        if kind in (media.IMAGE, media.VIDEO):
            found.append(Found(kind, attachment=attachment))
    for embed in message.embeds:
        shown = embed.to_dict()  # as the message's JSON held it: discord.py checks none of it
        video, image, thumbnail = (_link(shown.get(part)) for part in ("video", "image", "thumbnail"))
        if video:
            found.append(Found(media.VIDEO, url=video))
        elif image:
            found.append(Found(media.IMAGE, url=image))
        elif shown.get("type") == "image" and thumbnail:
            found.append(Found(media.IMAGE, url=thumbnail))
    return found


def _link(part: object) -> str | None:
    """The link of an embed's video, image or thumbnail, if it has one."""
    url = part.get("url") if isinstance(part, dict) else None
    return url if isinstance(url, str) and url else None


def _kind(content_type: str | None, filename: str) -> str | None:
    declared = media.declared_type(content_type) or ""
    major = declared.split("/")[0]
    if major in (media.IMAGE, media.VIDEO, media.AUDIO):
        return major
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return next((kind for kind, formats in media.ACCEPTED.items() for f in formats if extension in f.extensions), None)


def pick(found: list[Found], kind: str, menu: str) -> Found | str:
    """The one `kind` (an image or a video) in the message, or what to tell the member (in the current locale)."""
    wanted = [f for f in found if f.kind == kind]
    if len(wanted) == 1:
        return wanted[0]
    if len(wanted) > 1:
        many = (
            N_(
                "that message has {n} image; '{menu}' needs exactly one — use the slash command with the one you want",
                "that message has {n} images; '{menu}' needs exactly one — use the slash command with the one you want",
                len(wanted),
                menu=menu,
            )
            if kind == media.IMAGE
            else N_(
                "that message has {n} video; '{menu}' needs exactly one — use the slash command with the one you want",
                "that message has {n} videos; '{menu}' needs exactly one — use the slash command with the one you want",
                len(wanted),
                menu=menu,
            )
        )
        return str(many)
    if found:  # only the other kind: a message carries nothing else (media_of)
        other = (
            _("that message has a video but not an image; '{menu}' needs an image", menu=menu)
            if kind == media.IMAGE
            else _("that message has an image but not a video; '{menu}' needs a video", menu=menu)
        )
        return str(other)
    extensions = media.extensions_text(kind)
    none = (
        _(
            "that message has no image or video; '{menu}' needs an image ({extensions})",
            menu=menu,
            extensions=extensions,
        )
        if kind == media.IMAGE
        else _(
            "that message has no image or video; '{menu}' needs a video ({extensions})",
            menu=menu,
            extensions=extensions,
        )
    )
    return str(none)


def menu_name(interaction: discord.Interaction) -> str:
    """The name of the menu used, as the member's Discord shows it (the catalog's, else the English)."""
    name = interaction.command.name if interaction.command else "this"
    return translated(name, i18n.current(), "command_name") or name


def cut(text: Text | str, limit: int) -> str:
    """A text rendered in the current locale, cut to a component's limit."""
    return str(text)[:limit]


class Modal(discord.ui.Modal):
    """A modal whose unforeseen errors are logged and answered, as a command's are (discord.py only logs them), in
    the member's language."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        i18n.use(interaction.locale)
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        log.error("modal %s failed", type(self).__name__, exc_info=error)
        await apologize(interaction)


class SpeechModal(Modal):
    """What to say: text for text-to-speech (and its voice), or an audio file."""

    def __init__(self, services: Services, command: Command, given: Given, title: Text) -> None:
        super().__init__(title=cut(title, TITLE_LIMIT), timeout=900)
        self.services, self.command, self.given = services, command, given
        self.text: discord.ui.TextInput[SpeechModal] = discord.ui.TextInput(
            custom_id="speech:text",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
            # Translators: an example of text to speak, shown greyed in the empty field.
            placeholder=cut(_("Hello! I'm speaking now."), PLACEHOLDER_LIMIT),
        )
        self.voice: discord.ui.Select[SpeechModal] = discord.ui.Select(
            custom_id="speech:voice",
            required=False,
            # Translators: {voice} is the default voice's name (such as "Wise Woman"), kept in English.
            placeholder=str(_("{voice} (default)", voice=catalog.DEFAULT_VOICE.replace("_", " "))),
            options=[discord.SelectOption(label=v.replace("_", " "), value=v) for v in catalog.MINIMAX_VOICES],
        )
        self.audio: discord.ui.FileUpload[SpeechModal] = discord.ui.FileUpload(
            custom_id="speech:audio", required=False, max_values=1
        )
        self.add_item(
            discord.ui.Label(
                text=cut(_("Text to speak"), LABEL_LIMIT),
                description=cut(_("…or leave it empty and give an audio file"), DESCRIPTION_LIMIT),
                component=self.text,
            )
        )
        self.add_item(discord.ui.Label(text=cut(_("Voice for the text"), LABEL_LIMIT), component=self.voice))
        self.add_item(
            discord.ui.Label(
                text=cut(_("…or an audio file"), LABEL_LIMIT),
                description=media.extensions_text(media.AUDIO),
                component=self.audio,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text, files = self.text.value.strip(), self.audio.values
        if text and files:
            await refuse(interaction, "speech", str(_("give the text to speak or an audio file, not both")))
            return
        if not text and not files:
            await refuse(
                interaction,
                "speech",
                str(
                    _(
                        "give the text to speak or an audio file ({extensions})",
                        extensions=media.extensions_text(media.AUDIO),
                    )
                ),
            )
            return
        voice = self.voice.values[0] if self.voice.values and text else None
        await self.services.intake.submit(
            interaction,
            self.command,
            [self.given, Given("audio", files[0] if files else None, None)],
            text=text or None,
            voice=voice,
        )


class PortraitModal(Modal):
    """The portrait to drive with the message's video."""

    def __init__(self, services: Services, video: Given) -> None:
        super().__init__(title=cut(_("Animate a portrait with this video"), TITLE_LIMIT), timeout=900)
        self.services, self.video = services, video
        self.portrait: discord.ui.FileUpload[PortraitModal] = discord.ui.FileUpload(
            custom_id="portrait:image", required=True, max_values=1
        )
        self.add_item(
            discord.ui.Label(
                text=cut(_("Portrait"), LABEL_LIMIT),
                description=media.extensions_text(media.IMAGE),
                component=self.portrait,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.services.intake.submit(
            interaction, Command.ANIMATE, [Given("image", self.portrait.values[0], None), self.video]
        )


class LanguageModal(Modal):
    """The language to dub the message's video into: a code or an English name (mapped to the code)."""

    def __init__(self, services: Services, video: Given) -> None:
        # Translators: the title of the form asking for the language to dub a video into.
        super().__init__(title=cut(_("Dub this video"), TITLE_LIMIT), timeout=900)
        self.services, self.video = services, video
        self.language: discord.ui.TextInput[LanguageModal] = discord.ui.TextInput(
            custom_id="dub:language",
            required=True,
            min_length=1,
            max_length=100,
            # Translators: what to type: a language code (keep "es") or the language's English name (keep "Spanish").
            placeholder=cut(_("es, or Spanish"), PLACEHOLDER_LIMIT),
        )
        self.add_item(
            discord.ui.Label(
                text=cut(_("Language to dub into"), LABEL_LIMIT),
                # Translators: codes and the English name are typed as they are: keep "es", "pt", "ja" and "Spanish".
                description=cut(
                    _("A code such as es, pt or ja, or an English name such as Spanish"), DESCRIPTION_LIMIT
                ),
                component=self.language,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.services.intake.submit(interaction, Command.DUB, [self.video], language=self.language.value)


class Menus(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot, self.services = bot, services_of(bot)
        self.menus = [
            app_commands.ContextMenu(name="Make this talk", callback=self.make_this_talk),
            app_commands.ContextMenu(name="Lip-sync this video", callback=self.lipsync_this_video),
            app_commands.ContextMenu(name="Animate with this video", callback=self.animate_with_this_video),
            app_commands.ContextMenu(name="Dub this video", callback=self.dub_this_video),
            app_commands.ContextMenu(name="Report", callback=self.report),
        ]
        for menu in self.menus:
            bot.tree.add_command(options.anywhere(menu))

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    async def _one(self, interaction: discord.Interaction, message: discord.Message, kind: str) -> Found | None:
        choice = pick(media_of(message), kind, menu_name(interaction))
        if isinstance(choice, str):
            await refuse(interaction, kind, choice)
            return None
        return choice

    async def make_this_talk(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if image := await self._one(interaction, message, media.IMAGE):
            await interaction.response.send_modal(
                SpeechModal(self.services, Command.TALKINGHEAD, image.given("image"), _("Make this picture talk"))
            )

    async def lipsync_this_video(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if video := await self._one(interaction, message, media.VIDEO):
            await interaction.response.send_modal(
                SpeechModal(
                    self.services, Command.LIPSYNC, video.given("video"), _("Lip-sync this video to new speech")
                )
            )

    async def animate_with_this_video(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if video := await self._one(interaction, message, media.VIDEO):
            await interaction.response.send_modal(PortraitModal(self.services, video.given("video")))

    async def dub_this_video(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if video := await self._one(interaction, message, media.VIDEO):
            await interaction.response.send_modal(LanguageModal(self.services, video.given("video")))

    async def report(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Record a report of the result this message carries and tell the moderators: the server's moderation
        channel, else its owner by DM; outside servers, MODERATION_CHANNEL_ID, else the bot's owner by DM."""
        store = self.services.store
        job_id = await store.job_of_message(message.id)
        job = await store.get(job_id) if job_id else None
        if job is None:
            await refuse(
                interaction, "message", str(_("this message carries no result of this bot; report one that does"))
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope, _reach = where(interaction)
        count = await store.add_report(job.id, scope, interaction.user.id, message.channel.id, message.id)
        link = render.message_link(interaction.guild_id, message.channel.id, message.id)
        # The moderators read it in the server's preferred language (the bot's owner, outside servers: English).
        with i18n.using(interaction.guild_locale if scope is not None and interaction.guild_locale else i18n.DEFAULT):
            place = " · " + str(
                _("reported in <#{channel}>", channel=message.channel.id)
                if interaction.guild_id
                else _("reported outside servers")
            )
            text = render.report_message(job, interaction.user.id, count, link, place)
        sent = await self._tell_moderators(interaction, scope, text)
        log.info(
            "job %s: reported by user %s (report %d; moderators told: %s)", job.id, interaction.user.id, count, sent
        )
        await interaction.edit_original_response(content=render.report_received(job, sent))

    async def _tell_moderators(self, interaction: discord.Interaction, scope: int | None, text: str) -> bool:
        settings = self.services.engine.settings
        channel_id = self.services.configs.get(scope).moderation_channel if scope else settings.moderation_channel_id
        none = discord.AllowedMentions.none()
        if channel_id:
            try:
                await self.bot.get_partial_messageable(channel_id).send(text, allowed_mentions=none)
                return True
            except discord.HTTPException as exc:
                log.info("report: cannot post in the moderation channel %s (%s); trying a DM", channel_id, exc)
        guild = self.bot.get_guild(scope) if scope else None
        owner_id = guild.owner_id if guild is not None else None
        try:
            if owner_id is None:
                info = await self.bot.application_info()
                owner_id = (info.team.owner_id if info.team else None) or info.owner.id
            dm = await self.bot.create_dm(discord.Object(id=owner_id))
            await dm.send(text, allowed_mentions=none)
            return True
        except discord.HTTPException as exc:
            log.info("report: cannot DM the owner %s (%s)", owner_id, exc)
            return False


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Menus(bot))
