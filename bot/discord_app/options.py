"""What the command cogs share: where commands may be used, the choices they offer, and autocompletes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.discord_app.replies import where
from bot.discord_app.services import services_of
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.i18n import _

T = TypeVar("T")
Autocomplete = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


def anywhere(command: T) -> T:
    """Installed to a server or to a member's account; usable in servers, the DM with the bot and group DMs."""
    command = app_commands.allowed_installs(guilds=True, users=True)(command)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)(command)


def server_only(command: T) -> T:
    """Only where the bot is installed to the server (its settings live there)."""
    command = app_commands.allowed_installs(guilds=True, users=False)(command)
    return app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(command)


def model_choices(kind: Kind) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=m.name, value=m.endpoint_id) for m in catalog.models_of(kind)]


def resolution_choices(kind: Kind) -> list[app_commands.Choice[str]]:
    resolutions = sorted({r for m in catalog.models_of(kind) for r in m.resolutions}, key=lambda r: int(r[:-1]))
    return [app_commands.Choice(name=r, value=r) for r in resolutions]


SYNC_MODE_CHOICES = [
    app_commands.Choice(name="cut off: trim the longer one", value="cut_off"),
    app_commands.Choice(name="loop: loop the video to the audio's length", value="loop"),
    app_commands.Choice(name="bounce: play the video back and forth", value="bounce"),
    app_commands.Choice(name="silence: pad the shorter one with silence", value="silence"),
    app_commands.Choice(name="remap: stretch the video to the audio", value="remap"),
]
PRIVATE = "Only you see the job and its video (a long job ends in your DMs)"


async def voice_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The member's own voices first (where cloning is on: bot/discord_app/voicing.py), marked as theirs, then the
    stock voices."""
    needle = current.lower().replace(" ", "_")
    stock = [
        app_commands.Choice(name=v.replace("_", " "), value=v) for v in catalog.MINIMAX_VOICES if needle in v.lower()
    ]
    return (await own_voice_choices(interaction, current) + stock)[:25]


async def own_voice_choices(
    interaction: discord.Interaction, current: str, *, everywhere: bool = False
) -> list[app_commands.Choice[str]]:
    """The member's own voices whose names contain `current` (ignoring case), by name; only where cloning is on,
    unless `everywhere` (/voice delete: a member may always forget their voices)."""
    services = services_of(interaction.client)
    scope, _reach = where(interaction)
    if not everywhere and not services.configs.get(scope).voice_clone:
        return []
    needle = " ".join(current.split()).casefold()
    found = []
    for voice in await services.store.voices(interaction.user.id):
        if needle in voice.name.casefold():
            # The choice's name is built now, in the interaction's locale (set by CheckedTree.interaction_check).
            shown = (
                _("🎙️ {name} — your voice (deleted by MiniMax: clone it again)", name=voice.name)
                if voice.gone()
                else _("🎙️ {name} — your voice", name=voice.name)
            )
            found.append(app_commands.Choice(name=str(shown)[:100], value=voice.name))  # Discord takes 100
    return found[:25]


def recent(name: str) -> Autocomplete:
    """An autocomplete offering the member's recent `name` inputs that still resolve."""

    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        scope, _reach = where(interaction)
        offers = await services_of(interaction.client).engine.recent_inputs.offers(
            scope, interaction.user.id, name, current
        )
        return [app_commands.Choice(name=o.label, value=o.url) for o in offers]

    return complete
