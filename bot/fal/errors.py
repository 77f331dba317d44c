"""Typed failures of the fal layer, each with a message a person can act on."""

from __future__ import annotations

from typing import Any

from bot import i18n
from bot.i18n import Text


class FalError(Exception):
    """Base class; str(error) is the user-facing message, in the locale of the moment (`message` may be a bot.i18n
    Text); `english` is the same message in English, for logs."""

    def __init__(self, message: str | Text, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return i18n.text(self.message)

    @property
    def english(self) -> str:
        return self.message.render(i18n.DEFAULT) if isinstance(self.message, Text) else self.message


class MissingKey(FalError):
    pass


class AuthRejected(FalError):
    pass


class InputRejected(FalError):
    """fal (or the model) refused an input: a 422 naming the field."""

    def __init__(self, message: str | Text, *, field: str | None = None, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.field = field


class JobFailed(FalError):
    """The job ran and failed on fal's side."""


class JobCancelled(FalError):
    pass


class FalUnavailable(FalError):
    """fal could not be reached or kept failing after retries; nothing was lost on our side."""


class SubmissionUnknown(FalError):
    """The submit request may or may not have reached fal; it is not resent to avoid a double job."""


def describe_detail(detail: Any) -> tuple[str, str | None]:
    """fal's error `detail` (a list of {loc, msg, type} or a plain string) as (message, field)."""
    if isinstance(detail, list) and detail:
        parts, field = [], None
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            loc = [str(p) for p in item.get("loc") or [] if p != "body"]
            name = ".".join(loc) or None
            field = field or name
            msg = str(item.get("msg") or item.get("type") or "invalid value")
            parts.append(f"{name}: {msg}" if name else msg)
        return "; ".join(parts), field
    if isinstance(detail, dict):
        return describe_detail([detail])
    if detail:
        return str(detail), None
    return str(i18n._("no detail given")), None
