"""What every Discord handler asks about an interaction: where it comes from, whether the member manages the
server, and how to refuse it privately (or, for an error nobody foresaw, apologize)."""

from __future__ import annotations

import discord

from bot.discord_app import render
from bot.i18n import Text, _
from bot.jobs.model import CHANNEL, DM


def is_manager(interaction: discord.Interaction) -> bool:
    """Manage Server in a server where the bot is installed (its settings are theirs to change)."""
    return (
        interaction.guild_id is not None
        and interaction.is_guild_integration()
        and bool(interaction.permissions.manage_guild)
    )


def where(interaction: discord.Interaction) -> tuple[int | None, str]:
    """(the server whose settings apply, how the bot reaches the requester once the interaction token is gone).

    A server applies when the bot is installed there (not only to the member's account). The bot can write in
    the channel with its own token in such a server and in its own DM with the member; elsewhere (a server that
    never added it, a group DM) only the interaction token can, and then only the member's DMs are left."""
    if interaction.guild_id is not None and interaction.is_guild_integration():
        return interaction.guild_id, CHANNEL
    if interaction.guild_id is None and interaction.context.dm_channel:
        return None, CHANNEL
    return None, DM


async def refuse(interaction: discord.Interaction, what: str, message: str | Text) -> None:
    """A private answer saying what was wrong and what is accepted (in the interaction's locale, set on entry)."""
    text = render.render_bad_input(what, message)
    await interaction.response.send_message(text, ephemeral=True)


UNFORESEEN = _("Something went wrong on our side; the details are in the bot's log. Nothing was charged.")


async def apologize(interaction: discord.Interaction) -> None:
    """The last resort, for an error no check foresaw (its details go to the log): say so privately (an
    autocomplete can only offer nothing)."""
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():
                await interaction.response.autocomplete([])
        elif interaction.response.is_done():
            await interaction.edit_original_response(content=str(UNFORESEEN))
        else:
            await interaction.response.send_message(str(UNFORESEEN), ephemeral=True)
    except discord.HTTPException:
        pass
