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
from bot.i18n import Number, Text, _

GROUPS = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)
SNOWFLAKE_KINDS: dict[AppCommandOptionType, tuple[str | None, Text]] = {
    AppCommandOptionType.user: ("users", _("a member")),
    AppCommandOptionType.channel: ("channels", _("a channel")),
    AppCommandOptionType.role: ("roles", _("a role")),
    AppCommandOptionType.mentionable: (None, _("a member or a role")),
    AppCommandOptionType.attachment: ("attachments", _("a file attached to the command")),
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
            return BadInput("options", _("/{command} received options it cannot read", command=command.qualified_name))
        name = option["name"]
        parameter = declared.get(name)
        if parameter is None:
            takes = (
                _("it takes {options}", options=", ".join(f"`{n}`" for n in declared))
                if declared
                else _("it takes no options")
            )
            return BadInput(
                name, _("is not an option of /{command}; {takes}", command=command.qualified_name, takes=takes)
            )
        if name in seen:
            return BadInput(name, _("was given twice; give it once"))
        seen.add(name)
        if option.get("focused"):  # an autocomplete's half-typed value; the command checks the finished one
            if not isinstance(option.get("value"), str):
                return BadInput(name, _("must be text as it is typed"))
            continue
        wrong = _value_problem(parameter, option.get("value"), resolved)
        if wrong is not None:
            return BadInput(name, wrong)
    for name, parameter in declared.items():
        if parameter.required and name not in seen:
            return BadInput(name, _("is required"))
    return None


def _value_problem(parameter: app_commands.Parameter, value: Any, resolved: dict[str, Any]) -> Text | None:
    kind = parameter.type
    if parameter.choices:
        offered = [c.value for c in parameter.choices]
        if type(value) is not type(offered[0]) or value not in offered:
            return _(
                "must be one of the offered choices: {choices}",
                choices=", ".join(f"`{c.name}`" for c in parameter.choices[:10]),
            )
        return None
    if kind is AppCommandOptionType.string:
        if not isinstance(value, str):
            return _("must be text")
        return _out_of_range(parameter, len(value), characters=True)
    if kind is AppCommandOptionType.integer:
        if type(value) is not int:
            return _("must be a whole number")
        return _out_of_range(parameter, value)
    if kind is AppCommandOptionType.number:
        if type(value) not in (int, float) or not math.isfinite(value):
            return _("must be a number")
        return _out_of_range(parameter, value)
    if kind is AppCommandOptionType.boolean:
        return None if type(value) is bool else _("must be True or False")
    if kind in SNOWFLAKE_KINDS:
        key, what = SNOWFLAKE_KINDS[kind]
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 20:
            return _("must be {what}", what=what)
        if kind is AppCommandOptionType.attachment:
            return _attachment_problem(resolved.get("attachments"), value)
        if key is not None and value not in (resolved.get(key) or {}):
            return _("must be {what} Discord knows", what=what)
        return None
    return _("has a type this bot does not take ({kind})", kind=kind.name)


def _out_of_range(parameter: app_commands.Parameter, measure: float, *, characters: bool = False) -> Text | None:
    low, high = parameter.min_value, parameter.max_value
    if (low is not None and measure < low) or (high is not None and measure > high):
        values = {"shown": Number(measure), "low": Number(low or 0), "high": Number(high or 0)}
        if characters:
            if low is not None and high is not None:
                return _("is {shown} characters long; from {low} to {high} characters are accepted", **values)
            if low is not None:
                return _("is {shown} characters long; at least {low} characters are accepted", **values)
            return _("is {shown} characters long; at most {high} characters are accepted", **values)
        if low is not None and high is not None:
            return _("is {shown}; from {low} to {high} are accepted", **values)
        if low is not None:
            return _("is {shown}; at least {low} are accepted", **values)
        return _("is {shown}; at most {high} are accepted", **values)
    return None


def _attachment_problem(attachments: Any, attachment_id: str) -> Text | None:
    found = attachments.get(attachment_id) if isinstance(attachments, dict) else None
    if not isinstance(found, dict):
        return _("must be a file attached to the command")
    described = (found.get(f) for f in ("filename", "url", "proxy_url", "size", "content_type", "duration_secs"))
    return description_problem(*described)


def unreadable(attachment: discord.Attachment) -> Text | None:
    """What cannot be read in how Discord describes a message's or a modal's file (discord.py keeps whatever the
    interaction's JSON held), or None."""
    a = attachment
    return description_problem(a.filename, a.url, a.proxy_url, a.size, a.content_type, getattr(a, "duration", None))


def description_problem(
    filename: object, url: object, proxy_url: object, size: object, content_type: object, duration: object
) -> Text | None:
    if any(type(text) is not str for text in (filename, url, proxy_url)) or type(size) is not int or size < 0:
        return _("must be a file; Discord's description of this one is not readable")
    if not isinstance(content_type, (str, type(None))):
        return _("must be a file; its declared type is not readable")
    if type(duration) not in (int, float, type(None)):
        return _("must be a file; its declared length is not readable")
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
