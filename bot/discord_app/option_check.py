"""A slash command's raw option values checked against what the command declares, before discord.py reads them.

Discord's apps send only the options a command declares, with the declared types, but an interaction is JSON
that can carry anything: a number in a text option, a choice that is not offered, an attachment id with nothing
behind it. discord.py hands such values to the command unchanged (or fails on them while building its namespace,
outside any error handler). `CheckedTree` refuses them first, privately, naming the option.
"""

from __future__ import annotations

import math
from typing import Any, cast

import discord
from discord import AppCommandOptionType, app_commands

from bot import i18n
from bot.discord_app import render
from bot.errors import BadInput

GROUPS = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)
SNOWFLAKE_KINDS = {
    AppCommandOptionType.user: ("users", "a member"),
    AppCommandOptionType.channel: ("channels", "a channel"),
    AppCommandOptionType.role: ("roles", "a role"),
    AppCommandOptionType.mentionable: (None, "a member or a role"),
    AppCommandOptionType.attachment: ("attachments", "a file attached to the command"),
}


def leaf_options(data: dict[str, Any]) -> list[Any]:
    """The options of the command that runs, below any subcommand group and subcommand."""
    options = data.get("options") or []
    while (
        isinstance(options, list)
        and len(options) == 1
        and isinstance(options[0], dict)
        and options[0].get("type") in GROUPS
    ):
        options = options[0].get("options") or []
    return options if isinstance(options, list) else [None]


def problem(command: app_commands.Command[Any, ..., Any], data: dict[str, Any]) -> BadInput | None:
    """Why the options given to `command` cannot be taken, or None."""
    declared = {p.name: p for p in command.parameters}
    resolved: dict[str, Any] = data["resolved"] if isinstance(data.get("resolved"), dict) else {}
    seen: set[str] = set()
    for option in leaf_options(data):
        if not isinstance(option, dict) or not isinstance(option.get("name"), str):
            return BadInput("options", f"/{command.qualified_name} received options it cannot read")
        name = option["name"]
        parameter = declared.get(name)
        if parameter is None:
            return BadInput(
                name,
                f"is not an option of /{command.qualified_name}; "
                f"it takes {', '.join(f'`{n}`' for n in declared) or 'no options'}",
            )
        if name in seen:
            return BadInput(name, "was given twice; give it once")
        seen.add(name)
        if option.get("focused"):  # an autocomplete's half-typed value; the command checks the finished one
            if not isinstance(option.get("value"), str):
                return BadInput(name, "must be text as it is typed")
            continue
        wrong = _value_problem(parameter, option.get("value"), resolved)
        if wrong is not None:
            return BadInput(name, wrong)
    for name, parameter in declared.items():
        if parameter.required and name not in seen:
            return BadInput(name, "is required")
    return None


def _value_problem(parameter: app_commands.Parameter, value: Any, resolved: dict[str, Any]) -> str | None:
    kind = parameter.type
    if parameter.choices:
        offered = [c.value for c in parameter.choices]
        if type(value) is not type(offered[0]) or value not in offered:
            return "must be one of the offered choices: " + ", ".join(f"`{c.name}`" for c in parameter.choices[:10])
        return None
    if kind is AppCommandOptionType.string:
        if not isinstance(value, str):
            return "must be text"
        return _out_of_range(parameter, len(value), "characters long", "characters")
    if kind is AppCommandOptionType.integer:
        if type(value) is not int:
            return "must be a whole number"
        return _out_of_range(parameter, value, "", "")
    if kind is AppCommandOptionType.number:
        if type(value) not in (int, float) or not math.isfinite(value):
            return "must be a number"
        return _out_of_range(parameter, value, "", "")
    if kind is AppCommandOptionType.boolean:
        return None if type(value) is bool else "must be True or False"
    if kind in SNOWFLAKE_KINDS:
        key, what = SNOWFLAKE_KINDS[kind]
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 20:
            return f"must be {what}"
        if kind is AppCommandOptionType.attachment:
            return _attachment_problem(resolved.get("attachments"), value)
        if key is not None and value not in (resolved.get(key) or {}):
            return f"must be {what} Discord knows"
        return None
    return f"has a type this bot does not take ({kind.name})"


def _out_of_range(parameter: app_commands.Parameter, measure: float, unit: str, plural: str) -> str | None:
    low, high = parameter.min_value, parameter.max_value
    if (low is not None and measure < low) or (high is not None and measure > high):
        shown = f"{measure:g} {unit}".strip() if unit else f"{measure:g}"
        bounds = (
            f"from {low:g} to {high:g}"
            if low is not None and high is not None
            else (f"at least {low:g}" if low is not None else f"at most {high:g}")
        )
        return f"is {shown}; {bounds} {plural}".rstrip() + " are accepted"
    return None


def _attachment_problem(attachments: Any, attachment_id: str) -> str | None:
    found = attachments.get(attachment_id) if isinstance(attachments, dict) else None
    if not isinstance(found, dict):
        return "must be a file attached to the command"
    described = (found.get(f) for f in ("filename", "url", "proxy_url", "size", "content_type", "duration_secs"))
    return description_problem(*described)


def unreadable(attachment: discord.Attachment) -> str | None:
    """What cannot be read in how Discord describes a message's or a modal's file (discord.py keeps whatever the
    interaction's JSON held), or None."""
    a = attachment
    return description_problem(a.filename, a.url, a.proxy_url, a.size, a.content_type, getattr(a, "duration", None))


def description_problem(
    filename: object, url: object, proxy_url: object, size: object, content_type: object, duration: object
) -> str | None:
    if any(type(text) is not str for text in (filename, url, proxy_url)) or type(size) is not int or size < 0:
        return "must be a file; Discord's description of this one is not readable"
    if not isinstance(content_type, (str, type(None))):
        return "must be a file; its declared type is not readable"
    if type(duration) not in (int, float, type(None)):
        return "must be a file; its declared length is not readable"
    return None


class CheckedTree(app_commands.CommandTree):
    """The command tree that checks raw option values first (see the module docstring)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        i18n.use(interaction.locale)  # every answer to this interaction, in the member's language
        data = interaction.data
        try:
            command = interaction.command
        except app_commands.AppCommandError:
            return True  # an unknown command: discord.py reports it as usual
        if not isinstance(data, dict) or not isinstance(command, app_commands.Command):
            return True  # context menus and modals carry no typed options
        bad = problem(command, cast(dict[str, Any], data))
        if bad is None:
            return True
        if interaction.type is discord.InteractionType.application_command:
            await interaction.response.send_message(render.render_bad_input(bad.field, str(bad)), ephemeral=True)
        elif interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])  # nothing to offer for options that cannot be read
        return False
