"""Our own refusal of an input, before anything reaches fal. Not a fal error: a handler for fal's failures
can never catch it by accident, whatever order the handlers are in."""

from __future__ import annotations

from bot.i18n import Text


class BadInput(Exception):
    """str(error) tells the user what was wrong and what is accepted, in the locale of the moment (bot.i18n);
    `field` names the option."""

    def __init__(self, field: str, message: str | Text) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return str(self.message)
