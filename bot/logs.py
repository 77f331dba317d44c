"""Logging that never shows a secret: tokens and keys are masked in every record, whoever logs it."""

from __future__ import annotations

import logging
import re

# Interaction tokens travel in webhook and callback URLs, which discord.py logs at DEBUG level.
_URL_TOKENS = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s'\"?]+")
# ...and in gateway payloads (INTERACTION_CREATE), which discord.py dumps at DEBUG level.
_FIELD_TOKENS = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+""")
MASK = "***"


class RedactSecrets(logging.Filter):
    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _FIELD_TOKENS.sub(rf"\1{MASK}", _URL_TOKENS.sub(rf"\1{MASK}", message))
        for secret in self.secrets:
            clean = clean.replace(secret, MASK)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup(level: int, *secrets: str) -> None:
    import discord

    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets(*secrets))
    discord.utils.setup_logging(handler=handler, level=level)
    # aiosqlite logs every statement with its parameters (interaction tokens among them) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
