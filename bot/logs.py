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
        clean = self.clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:  # a traceback can carry a URL with a token in it
            record.exc_text = self.clean(_FORMATTER.formatException(record.exc_info))
        return True

    def clean(self, text: str) -> str:
        text = _FIELD_TOKENS.sub(rf"\1{MASK}", _URL_TOKENS.sub(rf"\1{MASK}", text))
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


_FORMATTER = logging.Formatter()


def setup(level: int, *secrets: str) -> None:
    """Log to stderr, every record cleaned of the secrets (and of interaction tokens, whoever logs them)."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets(*secrets))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosqlite logs every statement with its parameters (interaction tokens among them) at DEBUG; asyncpg's
    # connection URLs carry the database password.
    for noisy in ("aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
