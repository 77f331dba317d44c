"""The secrets scan that runs after every test with a bot (tests/conftest.py): shown here to find what it looks
for, in bodies sent to either service, headers sent to the wrong one, and log records with tracebacks."""

from __future__ import annotations

import io
import logging
import ssl

import aiohttp
import httpx

from bot.logs import RedactSecrets
from tests.helpers import FAL_KEY, secrets_sent


async def test_the_scan_finds_a_secret_sent_where_it_does_not_belong(discord_standin, fal_standin):
    discord_token, interaction_token = discord_standin.token, "aW50ZXJhY3Rpb246MTIzNDU2Nzg5"
    assert secrets_sent(discord_standin, fal_standin, fal_key=FAL_KEY, discord_token=discord_token) == []
    async with aiohttp.ClientSession() as session:
        await session.post(
            f"{discord_standin.api_base}/channels/{discord_standin.channel_id}/messages",
            headers={"Authorization": f"Bot {discord_token}"},
            json={"content": f"key {FAL_KEY}"},
        )
    verify = ssl.create_default_context(cafile=fal_standin.ca_path)
    async with httpx.AsyncClient(verify=verify) as client:
        await client.post(
            f"{fal_standin.base_url}/veed/fabric-1.0",
            headers={"Authorization": f"Key {FAL_KEY}", "X-Debug": interaction_token},
            json={"image_url": "https://x.com/a.png", "audio_url": "https://x.com/a.mp3", "resolution": "480p"},
        )
    found = secrets_sent(
        discord_standin,
        fal_standin,
        fal_key=FAL_KEY,
        discord_token=discord_token,
        interaction_tokens=[interaction_token],
    )
    assert any(f.startswith(FAL_KEY[:6]) and "Discord POST" in f and "body" in f for f in found), found
    assert any(f.startswith(interaction_token[:6]) and "fal POST" in f and "headers" in f for f in found), found
    assert not any("fal" in f and f.startswith(FAL_KEY[:6]) for f in found), found  # its Authorization header is fal's
    fal_standin.requests.clear()  # the fixture's own scan would (rightly) find them too
    discord_standin.requests.clear()


def test_log_records_and_their_tracebacks_are_masked():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets("discord-token-0123456789", FAL_KEY))
    log = logging.getLogger("test-secrets")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError("POST https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb24 failed; key test-fal-key")
        except RuntimeError:
            log.exception("with %s", "discord-token-0123456789")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "discord-token-0123456789" not in text and "aW50ZXJhY3Rpb24" not in text and FAL_KEY not in text
    assert "with ***" in text and "webhooks/123/***" in text and "RuntimeError" in text
