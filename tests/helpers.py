"""Helpers shared by the tests and the benchmarks (importing them changes nothing in the environment)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins.discord_api import DiscordStandIn
from tests.standins.fal_queue import FalStandIn

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FAL_KEY = "test-fal-key"
STORES = ("sqlite", "postgres")  # every store test runs on both


def fal_child_env(fal: FalStandIn, home: Path) -> dict[str, str]:
    """Environment for a child process (CLI or bot) that talks to the fal stand-in and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "DISCORD_"))}
    env.update(
        FAL_KEY=FAL_KEY,
        FAL_QUEUE_RUN_HOST=fal.host,
        SSL_CERT_FILE=fal.ca_path,
        TEST_FAL_STORAGE_URL=fal.base_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        HOME=str(home),
    )
    return env


def attach(discord: DiscordStandIn, fixture: str, content_type: str, filename: str | None = None) -> dict:
    return discord.add_attachment(filename or fixture, (FIXTURES / fixture).read_bytes(), content_type)


def shown_text(message) -> str:
    """What a message says: its content, or the text displays of a Components V2 message, in order."""
    if message.content:
        return message.content
    texts: list[str] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, dict):
                if item.get("type") == 10:
                    texts.append(item.get("content", ""))
                walk(item.get("components") or [])

    walk(message.components)
    return "\n".join(texts)


def media_urls(message) -> list[str]:
    """The media gallery items of a Components V2 message."""
    urls: list[str] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, dict):
                if item.get("type") == 12:
                    urls.extend(i["media"]["url"] for i in item.get("items", []))
                walk(item.get("components") or [])

    walk(message.components)
    return urls


def custom_ids(message) -> list[str]:
    """The custom_id of every component of a message, in order (action rows and Components V2 alike)."""
    ids: list[str] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, dict):
                if "custom_id" in item:
                    ids.append(item["custom_id"])
                walk(item.get("components") or [])

    walk(message.components)
    return ids


def acknowledged(interaction) -> bool:
    """The command was taken: deferred, or answered with a message everyone sees (a job waiting in line)."""
    kind, body = interaction.callbacks[0][1]["type"], interaction.callbacks[0][1]
    return kind == 5 or (kind == 4 and not (body.get("data", {}).get("flags") or 0) & 64)


def refused(interaction) -> bool:
    """The command was answered privately (a refusal)."""
    body = interaction.callbacks[0][1]
    return body["type"] == 4 and bool((body.get("data", {}).get("flags") or 0) & 64)


async def finished(discord: DiscordStandIn, interaction, marker: str = "✅", timeout: float = 30):
    """The interaction's job message once its text starts with `marker`."""

    def check():
        mid = interaction.original_message_id
        message = discord.messages.get(mid) if mid else None
        return message if message and shown_text(message).startswith(marker) else None

    return await discord.wait_for(check, timeout=timeout)


async def configure(discord: DiscordStandIn, guild_id: int | None = None, **limits: int) -> None:
    """/config limits as the server owner."""
    interaction = await discord.send_command(
        "config", limits, subcommand="limits", user_id=discord.owner_id, guild_id=guild_id
    )
    await discord.wait_for(lambda: interaction.callbacks)
    content = interaction.callbacks[0][1]["data"]["content"]
    assert "Settings for this server" in content, content


def private_followup(discord: DiscordStandIn, interaction):
    """The first ephemeral followup message of an interaction, once sent."""
    found = (discord.messages.get(mid) for mid in interaction.followup_ids)
    return next((m for m in found if m is not None and m.ephemeral), None)


def secrets_sent(
    discord: DiscordStandIn | None,
    fal: FalStandIn | None,
    *,
    fal_key: str,
    discord_token: str = "",
    interaction_tokens: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Each place a secret went where it does not belong. Every secret is kept out of every body and query sent
    to either service; FAL_KEY goes only to fal (in its Authorization header), the bot token and interaction
    tokens only to Discord (in its Authorization header and webhook paths)."""
    everything = [s for s in (fal_key, discord_token, *interaction_tokens) if s]
    found: list[str] = []

    def scan(where: str, text: str, secrets: list[str]) -> None:
        found.extend(f"{s[:6]}… in {where}" for s in secrets if s in text)

    for r in discord.requests if discord else []:
        body = (r.raw_json or b"").decode("utf-8", "replace") + "".join(
            data.decode("latin-1") + name for name, data in r.files
        )
        scan(f"Discord {r.method} {r.route or r.path} body", body + str(r.query), everything)
        scan(f"Discord {r.method} {r.route or r.path} headers/path", r.path + str(dict(r.headers)), [fal_key])
    for r in fal.requests if fal else []:
        scan(f"fal {r.method} {r.route} body", r.raw.decode("latin-1") + str(r.query) + r.path, everything)
        scan(f"fal {r.method} {r.route} headers", str(dict(r.headers)), [s for s in everything if s != fal_key])
    return sorted(set(found))


# ---- content credentials (C2PA) on the videos the bot attaches

AI_GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def manifest_of(path: Path) -> tuple[dict, dict]:
    """The active C2PA manifest of a file, read with c2pa's Reader, and the reader's validation results."""
    import json

    import c2pa

    with c2pa.Reader(str(path)) as reader:
        store = json.loads(reader.json())
        return store["manifests"][store["active_manifest"]], reader.get_validation_results()


def assert_ai_generated_by(path: Path, name: str, endpoint_id: str) -> dict:
    """The file's manifest declares it AI-generated (a c2pa.created action, digital source type
    trainedAlgorithmicMedia) by the model `name` (`endpoint_id` on fal), and its content is what was signed: the only
    failure a reader reports is that it does not know the bot's own signer. The created action."""
    manifest, validation = manifest_of(path)
    (actions,) = [a["data"]["actions"] for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2"]
    (created,) = actions
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == AI_GENERATED, created
    assert name in created["softwareAgent"]["name"] and endpoint_id in created["softwareAgent"]["name"], created
    codes = {s["code"] for s in validation["activeManifest"]["success"]}
    assert {"claimSignature.validated", "assertion.bmffHash.match"} <= codes, validation
    assert [f["code"] for f in validation["activeManifest"]["failure"]] == ["signingCredential.untrusted"], validation
    return created


def mp4_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level boxes of an MP4 file: (type, the whole box)."""
    boxes, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        elif size == 0:
            size = len(data) - at
        assert size >= 8, f"a box of {size} bytes at {at}"
        boxes.append((data[at + 4 : at + 8], data[at : at + size]))
        at += size
    return boxes


def assert_signed_copy_of(delivered: bytes, original: bytes, path: Path, name: str, endpoint_id: str) -> dict:
    """`delivered` is fal's `original` with content credentials added, and nothing else changed: the manifest reads
    back from it (written to `path`), and without its C2PA box it has fal's boxes, the media data byte for byte (the
    movie header differs only in the offsets that point into the data, which moved)."""
    path.write_bytes(delivered)
    created = assert_ai_generated_by(path, name, endpoint_id)
    c2pa_boxes = [box for kind, box in mp4_boxes(delivered) if kind == b"uuid"]
    rest = [(kind, box) for kind, box in mp4_boxes(delivered) if kind != b"uuid"]
    fal = mp4_boxes(original)
    assert len(c2pa_boxes) == 1 and [k for k, _ in rest] == [k for k, _ in fal]
    for (kind, box), (_, fal_box) in zip(rest, fal, strict=True):
        assert len(box) == len(fal_box) and (kind == b"moov" or box == fal_box), kind
    assert len(delivered) == len(original) + len(c2pa_boxes[0])
    return created
