"""The Discord stand-in, driven by the real discord.py client (and, for protocol details, by raw HTTP/websocket)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
from contextlib import asynccontextmanager

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands
from jsonschema import Draft202012Validator

from tests.standins import discord_api as standin_module
from tests.standins.discord_api import OPENAPI_PATH, DiscordStandIn, snowflake_time

pytestmark = pytest.mark.asyncio

TOKEN = "test-discord-token"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CALLBACK = "POST /interactions/{interaction_id}/{token}/callback"
EDIT_ORIGINAL = "PATCH /webhooks/{application_id}/{token}/messages/@original"
CHANNEL_POST = "POST /channels/{channel_id}/messages"
CDN_GET = "GET /attachments/{channel_id}/{attachment_id}/{filename}"


@pytest_asyncio.fixture
async def standin():
    server = DiscordStandIn(token=TOKEN)
    await server.start()
    yield server
    await server.close()
    assert not server.violations, server.violations


@pytest.fixture
def discord_env(standin, monkeypatch):
    """Point this process's discord.py at the stand-in."""
    monkeypatch.setattr(discord.http.Route, "BASE", standin.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(standin.gateway_url))
    return standin


def make_bot() -> commands.Bot:
    return commands.Bot(
        command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1
    )


class FastShardedBot(commands.AutoShardedBot):
    """An AutoShardedBot that IDENTIFYs every shard at once (discord.py waits 5 s before each one after the first)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass


def make_sharded_bot(**shards) -> commands.AutoShardedBot:
    return FastShardedBot(
        command_prefix=commands.when_mentioned, intents=discord.Intents.default(), guild_ready_timeout=0.1, **shards
    )


@asynccontextmanager
async def running(bot: discord.Client):
    """Run ``bot`` as a task until the block ends; a login or gateway failure is raised here."""
    task = asyncio.create_task(bot.start(TOKEN))
    try:
        deadline = time.monotonic() + 10
        while not bot.is_ready():
            if task.done():
                task.result()
                raise AssertionError("the bot stopped before it was ready")
            assert time.monotonic() < deadline, "the bot did not become ready"
            await asyncio.sleep(0.02)
        yield bot
    finally:
        await bot.close()
        await asyncio.wait({task}, timeout=5)


def routes(standin: DiscordStandIn, *names: str) -> list:
    return [r for r in standin.requests if r.route in names]


@functools.cache
def response_validator(path: str, method: str, status: str = "200") -> Draft202012Validator:
    doc = json.loads(OPENAPI_PATH.read_text())
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def assert_matches(body: dict, path: str, method: str) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in response_validator(path, method).iter_errors(body)]
    assert not errors, errors


# --------------------------------------------------------------------------- with the real discord.py client


async def test_slash_command_defers_reads_attachment_edits_and_posts(discord_env):
    standin = discord_env
    bot = make_bot()
    seen: dict = {}

    @bot.tree.command(name="talkinghead", description="Animate a portrait")
    async def talkinghead(interaction: discord.Interaction, image: discord.Attachment, text: str) -> None:
        await interaction.response.defer(thinking=True)
        seen["bytes"] = await image.read()
        await interaction.edit_original_response(content="Working… 50%")
        seen["edited"] = await interaction.edit_original_response(content=f"Done: {text}")
        seen["sent"] = await interaction.channel.send(f"{interaction.user.mention} your video is ready")

    async with running(bot):
        image = standin.add_attachment("face.png", PNG, "image/png")
        interaction = await standin.send_command("talkinghead", {"image": image, "text": "hello"})
        await standin.wait_for(lambda: "sent" in seen)

    assert seen["bytes"] == PNG
    assert [r.route for r in standin.requests[:2]] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    assert [r.route for r in standin.requests[2:]] == [CALLBACK, CDN_GET, EDIT_ORIGINAL, EDIT_ORIGINAL, CHANNEL_POST]
    callback, cdn, first_edit, last_edit, post = standin.requests[2:]
    assert "Authorization" not in callback.headers and "authorization" not in cdn.headers
    assert post.headers["authorization"] == f"Bot {TOKEN}"
    assert callback.query == {"with_response": "1"} and callback.json == {"type": 5}
    assert cdn.query["hm"] and cdn.status == 200
    assert first_edit.json["content"] == "Working… 50%" and last_edit.json["content"] == "Done: hello"

    # The interaction record: acknowledged in time, payload as discord.py needs it.
    assert len(interaction.callbacks) == 1 and interaction.callbacks[0][1] == {"type": 5}
    assert 0 <= interaction.callbacks[0][0] < standin.ack_deadline
    assert interaction.payload["data"]["options"][0] == {"name": "image", "type": 11, "value": image["id"]}
    assert "guild_id" not in interaction.payload["data"]  # the command was never synced to the guild
    assert abs(interaction.created - snowflake_time(interaction.id)) < 1e-9

    original = standin.messages[interaction.original_message_id]
    assert (original.source, original.interaction_id, original.content) == (
        "interaction",
        interaction.id,
        "Done: hello",
    )
    assert not original.loading and not original.ephemeral
    assert [body["content"] for _, body in original.edits] == ["Working… 50%", "Done: hello"]
    assert seen["edited"].id == original.id

    posted = standin.messages[seen["sent"].id]
    assert posted.source == "channel" and posted.author_id == standin.bot_user_id
    assert posted.content == f"<@{standin.user_id}> your video is ready"
    assert post.json["enforce_nonce"] is True and posted.nonce == post.json["nonce"]


async def test_guild_sync_is_recorded_and_guild_commands_are_routed(discord_env):
    standin = discord_env
    bot = make_bot()
    users = []

    @bot.tree.command(name="ping", description="Check the bot is alive")
    @app_commands.describe(loud="Shout the answer")
    async def ping(interaction: discord.Interaction, loud: bool = False) -> None:
        users.append((interaction.user.id, loud))
        await interaction.response.send_message("PONG" if loud else "pong", ephemeral=True)

    async with running(bot):
        guild = discord.Object(standin.guild_id)
        bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
        assert [c.name for c in synced] == ["ping"] and synced[0].guild_id == standin.guild_id
        stored = standin.commands[standin.guild_id]
        assert stored[0]["id"] == str(synced[0].id) and stored[0]["options"][0]["name"] == "loud"
        assert [scope for scope, _ in standin.command_puts] == [standin.guild_id]

        interaction = await standin.send_command("ping", {"loud": True}, user_id=standin.owner_id)
        assert interaction.payload["data"]["guild_id"] == str(standin.guild_id)
        assert interaction.payload["data"]["id"] == stored[0]["id"]
        await standin.wait_for(lambda: interaction.callbacks)

        await bot.tree.sync()
        assert [c["name"] for c in standin.commands[None]] == ["ping"]
        assert [scope for scope, _ in standin.command_puts] == [standin.guild_id, None]

    assert users == [(standin.owner_id, True)]
    reply = standin.messages[interaction.original_message_id]
    assert reply.content == "PONG" and reply.ephemeral and reply.type == 20


async def test_429_with_via_on_an_edit_is_retried(discord_env):
    standin = discord_env
    bot = make_bot()
    done = asyncio.Event()

    @bot.tree.command(name="progress", description="Report progress")
    async def progress(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="50%")
        done.set()

    standin.fail_next("PATCH", r"/messages/@original$", 429, retry_after=0.05)
    async with running(bot):
        interaction = await standin.send_command("progress")
        await asyncio.wait_for(done.wait(), 5)

    assert len(standin.rate_limited) == 1 and standin.rate_limited[0].endswith("/messages/@original")
    edits = routes(standin, EDIT_ORIGINAL)
    assert [r.status for r in edits] == [429, 200]
    assert edits[1].time - edits[0].time >= 0.05
    assert standin.messages[interaction.original_message_id].content == "50%"


async def test_edit_rate_spaces_out_edits(discord_env):
    standin = discord_env
    standin.edit_rate = (1, 0.3)
    bot = make_bot()
    done = asyncio.Event()

    @bot.tree.command(name="progress", description="Report progress")
    async def progress(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        for step in ("25%", "50%", "75%"):
            await interaction.edit_original_response(content=step)
        done.set()

    async with running(bot):
        await standin.send_command("progress")
        await asyncio.wait_for(done.wait(), 5)

    edits = routes(standin, EDIT_ORIGINAL)
    # discord.py honours X-RateLimit-Remaining: 0 and waits for Reset-After, so it never sees the 429.
    assert [r.status for r in edits] == [200, 200, 200] and standin.rate_limited == []
    assert all(later.time - earlier.time >= 0.25 for earlier, later in zip(edits, edits[1:], strict=False))


async def test_edit_after_token_expiry_gets_50027_and_is_a_violation(discord_env):
    standin = discord_env
    bot = make_bot()
    outcome: dict = {}

    @bot.tree.command(name="slow", description="A job that outlives its token")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await asyncio.sleep(0.7)
        outcome["expired"] = interaction.is_expired()
        try:
            await interaction.edit_original_response(content="finally done")
        except discord.HTTPException as exc:
            outcome["error"] = (exc.status, exc.code)

    async with running(bot):
        interaction = await standin.send_command("slow", age=899.5)
        await standin.wait_for(lambda: "error" in outcome)

    assert outcome == {"expired": True, "error": (401, 50027)}
    assert interaction.callbacks  # the ack itself was in time
    assert len(standin.violations) == 1 and "expired interaction token" in standin.violations[0]
    standin.violations.clear()


async def test_late_ack_gets_unknown_interaction(discord_env):
    standin = discord_env
    standin.ack_deadline = 0.2
    bot = make_bot()
    outcome: dict = {}

    @bot.tree.command(name="sluggish", description="Blocks before deferring")
    async def sluggish(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            outcome["code"] = exc.code

    async with running(bot):
        interaction = await standin.send_command("sluggish")
        await standin.wait_for(lambda: outcome)

    assert outcome == {"code": 10062} and not interaction.callbacks
    assert len(standin.violations) == 1 and "after dispatch" in standin.violations[0]
    standin.violations.clear()


async def test_enforce_nonce_returns_the_first_message(discord_env):
    standin = discord_env
    bot = make_bot()
    async with running(bot):
        channel = bot.get_channel(standin.channel_id)
        first = await channel.send("Your video is ready", nonce=777)
        again = await channel.send("Your video is ready", nonce=777)
        other = await channel.send("Another one")

    assert again.id == first.id and other.id != first.id
    assert [m.content for m in standin.messages.values()] == ["Your video is ready", "Another one"]
    assert len(routes(standin, CHANNEL_POST)) == 3


async def test_component_click_updates_its_message(discord_env):
    standin = discord_env
    bot = make_bot()
    clicks = []

    class JobView(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Cancel", style=discord.ButtonStyle.danger, custom_id="job:cancel:42")
        async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.edit_message(content="Cancelled", view=None)

    async with running(bot):
        sent = await bot.get_channel(standin.channel_id).send("Job 42 is running", view=JobView())
        assert standin.messages[sent.id].components[0]["components"][0]["custom_id"] == "job:cancel:42"
        with pytest.raises(ValueError):
            await standin.send_component(sent.id, "job:cancel:43")
        interaction = await standin.send_component(sent.id, "job:cancel:42", user_id=standin.owner_id)
        await standin.wait_for(lambda: interaction.callbacks)

    assert clicks == [standin.owner_id]
    assert interaction.callbacks[0][1]["type"] == 7
    assert interaction.payload["message"]["id"] == str(sent.id)
    message = standin.messages[sent.id]
    assert message.content == "Cancelled" and message.components == [] and len(message.edits) == 1
    assert_matches(interaction.payload["message"], "/channels/{channel_id}/messages/{message_id}", "get")


async def test_followup_upload_dm_and_channel_route_fallback(discord_env):
    standin = discord_env
    bot = make_bot()
    out: dict = {}

    @bot.tree.command(name="deliver", description="Deliver a result")
    async def deliver(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Queued", ephemeral=True)
        video = discord.File(io.BytesIO(b"fake-mp4-bytes"), filename="result.mp4")
        out["followup"] = await interaction.followup.send("Here it is", file=video, wait=True)
        out["read"] = await out["followup"].attachments[0].read()
        original = await interaction.original_response()
        try:  # an ephemeral response cannot be reached through the bot-token channel route
            await interaction.channel.get_partial_message(original.id).edit(content="edited")
        except discord.NotFound as exc:
            out["channel_edit"] = exc.code
        out["dm"] = await interaction.user.send("Your video is ready")

    async with running(bot):
        interaction = await standin.send_command("deliver")
        await standin.wait_for(lambda: "dm" in out)

    assert out["read"] == b"fake-mp4-bytes" and out["channel_edit"] == 10008
    followup = standin.messages[out["followup"].id]
    assert followup.source == "followup" and followup.interaction_id == interaction.id
    assert interaction.followup_ids == [followup.id]
    assert [(a["filename"], a["size"], a["content_type"]) for a in followup.attachments] == [
        ("result.mp4", 14, "video/mp4")
    ]
    upload = routes(standin, "POST /webhooks/{application_id}/{token}")[0]
    assert upload.files == [("result.mp4", b"fake-mp4-bytes")] and upload.json["content"] == "Here it is"
    dm = standin.messages[out["dm"].id]
    assert dm.channel_id != standin.channel_id and dm.content == "Your video is ready"
    assert routes(standin, "POST /users/@me/channels")[0].json == {"recipient_id": standin.user_id}
    assert standin.violations == [
        f"PATCH /channels/{standin.channel_id}/messages/{interaction.original_message_id}"
        ": ephemeral messages are not reachable through channel routes (404, code 10008)"
    ]
    standin.violations.clear()


async def test_deferred_then_followup_is_flagged_as_deprecated(discord_env):
    standin = discord_env
    bot = make_bot()
    done = asyncio.Event()

    @bot.tree.command(name="legacy", description="Defers, then answers with a followup")
    async def legacy(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done")
        done.set()

    async with running(bot):
        interaction = await standin.send_command("legacy")
        await asyncio.wait_for(done.wait(), 5)

    original = standin.messages[interaction.original_message_id]
    assert original.content == "done" and not original.loading and interaction.followup_ids == []
    assert len(standin.violations) == 1 and "deprecated" in standin.violations[0]
    standin.violations.clear()


async def test_autocomplete_over_25_choices_is_rejected(discord_env):
    standin = discord_env
    bot = make_bot()

    async def voices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current}{i}", value=f"v{i}") for i in range(30)]

    @bot.tree.command(name="speak", description="Say something")
    @app_commands.autocomplete(voice=voices)
    async def speak(interaction: discord.Interaction, voice: str) -> None:
        await interaction.response.send_message(voice)

    async with running(bot):
        interaction = await standin.send_autocomplete("speak", {"voice": "ali"}, "voice")
        await standin.wait_for(lambda: routes(standin, CALLBACK))

    assert interaction.payload["type"] == 4
    assert interaction.payload["data"]["options"] == [{"name": "voice", "type": 3, "value": "ali", "focused": True}]
    assert routes(standin, CALLBACK)[0].status == 400 and not interaction.callbacks
    assert standin.violations == [
        f"POST /interactions/{interaction.id}/{interaction.token}/callback: "
        "body/data/choices: 30 autocomplete choices (max 25) (400, code 50035)"
    ]
    standin.violations.clear()


async def test_gateway_disconnect_resumes_and_interactions_still_arrive(discord_env):
    standin = discord_env
    bot = make_bot()
    answered = asyncio.Event()

    @bot.tree.command(name="ping", description="Check the bot is alive")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")
        answered.set()

    async with running(bot):
        standin.disconnect_gateway()
        interaction = await standin.send_command("ping")  # waits for the resumed connection
        await asyncio.wait_for(answered.wait(), 5)

    assert (standin.connections, standin.identifies) == (2, 1)
    assert standin.messages[interaction.original_message_id].content == "pong"


# --------------------------------------------------------------------------- raw HTTP and websocket


@asynccontextmanager
async def raw_gateway(standin: DiscordStandIn, shard: list[int] | None = None):
    """A bare websocket client that identifies the way discord.py does (as ``shard`` [id, count] if given)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{standin.gateway_url}?v=10&encoding=json&compress=zlib-stream") as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello == {"op": 10, "d": {"heartbeat_interval": 41250}}
            await ws.send_json({"op": 1, "d": None})
            assert await ws.receive_json(timeout=2) == {"op": 11}
            identify = {
                "token": TOKEN,
                "intents": 53575421,
                "properties": {"os": "linux", "browser": "raw", "device": "raw"},
            }
            if shard is not None:
                identify["shard"] = shard
            await ws.send_json({"op": 2, "d": identify})
            yield ws, session


async def test_raw_gateway_handshake_and_callback_protocol(standin):
    async with raw_gateway(standin) as (ws, http):
        ready = await ws.receive_json(timeout=2)
        guild = await ws.receive_json(timeout=2)
        assert (ready["t"], ready["s"], guild["t"], guild["s"]) == ("READY", 1, "GUILD_CREATE", 2)
        assert ready["d"]["resume_gateway_url"] == standin.gateway_url
        roles = {r["name"]: r for r in guild["d"]["roles"]}
        assert roles["@everyone"]["id"] == str(standin.guild_id) and roles["Admins"]["id"] == str(standin.admin_role_id)
        assert {m["user"]["id"] for m in guild["d"]["members"]} == {
            str(standin.bot_user_id),
            str(standin.user_id),
            str(standin.owner_id),
        }

        interaction = await standin.send_command(
            "talk", {"text": "hi", "n": 2, "x": 0.5, "hd": True}, subcommand="say", group="voice", age=60
        )
        event = await ws.receive_json(timeout=2)
        assert (event["t"], event["s"]) == ("INTERACTION_CREATE", 3)
        d = event["d"]
        for key in (
            "id",
            "application_id",
            "type",
            "token",
            "version",
            "attachment_size_limit",
            "channel",
            "member",
            "guild",
            "app_permissions",
            "authorizing_integration_owners",
        ):
            assert key in d
        assert d["member"]["flags"] == 0 and d["member"]["permissions"] == "1071698660929"
        assert d["channel"]["id"] == str(standin.channel_id) and d["channel"]["type"] == 0
        group = d["data"]["options"][0]
        assert (group["type"], group["name"], group["options"][0]["type"]) == (2, "voice", 1)
        assert [(o["name"], o["type"]) for o in group["options"][0]["options"]] == [
            ("text", 3),
            ("n", 4),
            ("x", 10),
            ("hd", 5),
        ]
        assert 59 < time.time() - interaction.created < 62

        base = f"{standin.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
        body = {"type": 4, "data": {"content": "hello", "flags": 64}}
        async with http.post(base, params={"with_response": "true"}, json=body) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
            reply = await resp.json()
        assert reply["interaction"]["response_message_ephemeral"] is True
        assert reply["resource"]["message"]["id"] == reply["interaction"]["response_message_id"]
        assert_matches(reply, "/interactions/{interaction_id}/{interaction_token}/callback", "post")

        async with http.post(base, json=body) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060
        assert "second callback" in standin.violations.pop()

        hook = f"{standin.api_base}/webhooks/{standin.application_id}/{interaction.token}"
        async with http.post(hook, params={"wait": "true"}, json={"content": "more"}) as resp:
            followup = await resp.json()
        assert followup["channel_id"] == str(standin.channel_id)
        assert_matches(followup, "/webhooks/{webhook_id}/{webhook_token}", "post")
        async with http.get(hook + "/messages/@original") as resp:
            original = await resp.json()
        assert original["interaction_metadata"]["id"] == str(interaction.id)
        assert_matches(original, "/webhooks/{webhook_id}/{webhook_token}/messages/@original", "get")


async def test_rest_responses_match_the_openapi_document(standin):
    auth = {"Authorization": f"Bot {TOKEN}"}
    api = standin.api_base
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{api}/users/@me") as resp:
            assert resp.headers["Content-Type"] == "application/json" and resp.headers["Via"]
            assert_matches(await resp.json(), "/users/@me", "get")
        async with http.get(f"{api}/oauth2/applications/@me") as resp:
            app = await resp.json()
            assert app["owner"]["id"] == str(standin.owner_id)
            assert_matches(app, "/oauth2/applications/@me", "get")
        commands_url = f"{api}/applications/{standin.application_id}/commands"
        payload = [
            {
                "name": "lipsync",
                "description": "Lip-sync a video",
                "type": 1,
                "options": [{"type": 11, "name": "video", "description": "The video", "required": True}],
                "default_member_permissions": 32768,
                "contexts": [0],
                "integration_types": [0],
            }
        ]
        async with http.put(commands_url, json=payload) as resp:
            stored = await resp.json()
            assert_matches(stored, "/applications/{application_id}/commands", "put")
        async with http.put(commands_url, json=payload) as resp:
            assert (await resp.json())[0]["id"] == stored[0]["id"]  # same name keeps its id
        async with http.post(f"{api}/users/@me/channels", json={"recipient_id": str(standin.user_id)}) as resp:
            dm = await resp.json()
            assert_matches(dm, "/users/@me/channels", "post")
        async with http.post(
            f"{api}/channels/{dm['id']}/messages",
            json={
                "content": "hi",
                "embeds": [
                    {"title": "Done", "description": "Your video", "fields": [{"name": "Model", "value": "fabric"}]}
                ],
            },
        ) as resp:
            message = await resp.json()
            assert_matches(message, "/channels/{channel_id}/messages", "post")
        async with http.get(f"{api}/guilds/{standin.guild_id}/members/{standin.user_id}") as resp:
            member = await resp.json()
            assert member["user"]["username"] == "alice"
            assert_matches(member, "/guilds/{guild_id}/members/{user_id}", "get")
        async with http.get(f"{api}/channels/{standin.channel_id}") as resp:
            channel = await resp.json()
            assert channel["name"] == "general"
            assert_matches(channel, "/channels/{channel_id}", "get")


def _long(n: int) -> str:
    return "x" * n


REJECTED = [
    # (method, path (after /api/v10, with {channel}), body, headers, status, code, in the violation)
    (
        "POST",
        "/channels/{channel}/messages",
        {"content": 123},
        None,
        400,
        50035,
        "body/content: 123 is not of type 'string', 'null'",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"content": "hi", "flags": "64"},
        None,
        400,
        50035,
        "body/flags: '64' is not of type 'integer', 'null'",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"content": _long(2001)},
        None,
        400,
        50035,
        "content is 2001 characters (max 2000)",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"embeds": [{"title": _long(257)}]},
        None,
        400,
        50035,
        "body/embeds/0/title",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {
            "content": "x",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": "a", "custom_id": "same"},
                        {"type": 2, "style": 1, "label": "b", "custom_id": "same"},
                    ],
                }
            ],
        },
        None,
        400,
        50035,
        "used twice",
    ),
    ("POST", "/channels/{channel}/messages", {}, None, 400, 50006, "Cannot send an empty message"),
    (
        "POST",
        "/channels/{channel}/messages",
        {"content": "hi"},
        {"Authorization": "Bearer nope"},
        401,
        0,
        "needs 'Authorization: Bot <token>'",
    ),
    ("POST", "/channels/1/messages", {"content": "hi"}, None, 404, 10003, "Unknown Channel"),
    ("GET", "/guilds/{guild}/bans", None, None, 404, 0, "unknown route"),
    ("GET", "/webhooks/{app}/not-a-token/messages/@original", None, None, 401, 50027, "unknown interaction token"),
    (
        "POST",
        "/channels/{channel}/messages",
        {"flags": 1 << 15, "content": "hi", "components": [{"type": 10, "content": "card"}]},
        None,
        400,
        50035,
        "content is not allowed with IS_COMPONENTS_V2",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"flags": 1 << 15, "embeds": [{"title": "x"}], "components": [{"type": 10, "content": "card"}]},
        None,
        400,
        50035,
        "embeds are not allowed",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"flags": 1 << 15, "components": [{"type": 12, "items": [{"media": {"url": "ftp://x/y.mp4"}}]}]},
        None,
        400,
        50035,
        "neither http(s):// nor attachment://",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {"flags": 1 << 15, "components": [{"type": 12, "items": [{"media": {"url": "attachment://missing.mp4"}}]}]},
        None,
        400,
        50035,
        "attachment://missing.mp4 names no file of the message",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {
            "flags": 1 << 15,
            "components": [{"type": 12, "items": [{"media": {"url": f"https://x/{i}.png"}} for i in range(11)]}],
        },
        None,
        400,
        50035,
        "a media gallery holds 1-10 items, not 11",
    ),
    (
        "POST",
        "/channels/{channel}/messages",
        {
            "flags": 1 << 15,
            "components": [
                {"type": 17, "components": [{"type": 10, "content": _long(2500)}, {"type": 10, "content": _long(2000)}]}
            ],
        },
        None,
        400,
        50035,
        "text displays hold 4500 characters in all (max 4000)",
    ),
]


@pytest.mark.parametrize(
    "method,path,body,headers,status,code,problem", REJECTED, ids=[f"{c[4]}-{c[5]}-{i}" for i, c in enumerate(REJECTED)]
)
async def test_requests_discord_would_reject_are_violations(
    standin, method, path, body, headers, status, code, problem
):
    url = standin.api_base + path.format(channel=standin.channel_id, guild=standin.guild_id, app=standin.application_id)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, json=body, headers=headers or {"Authorization": f"Bot {TOKEN}"}) as resp:
            assert resp.status == status
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == code
    assert len(standin.violations) == 1 and problem in standin.violations[0], standin.violations
    standin.violations.clear()


async def test_channel_edits_respect_authors_and_edit_rate(standin):
    standin.edit_rate = (1, 5.0)
    theirs = standin.add_user_message("hello bot")
    auth = {"Authorization": f"Bot {TOKEN}"}
    messages = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.patch(f"{messages}/{theirs.id}", json={"content": "hijacked"}) as resp:
            assert resp.status == 403 and (await resp.json())["code"] == 50005
        assert "authored by another user" in standin.violations.pop()
        async with http.post(messages, json={"content": "Working…"}) as resp:
            mine = (await resp.json())["id"]
        async with http.patch(f"{messages}/{mine}", json={"content": "50%"}) as resp:
            assert resp.status == 200 and resp.headers["X-RateLimit-Remaining"] == "0"
        async with http.patch(f"{messages}/{mine}", json={"content": "75%"}) as resp:
            assert resp.status == 429 and resp.headers["Via"]
            assert 4 < (await resp.json())["retry_after"] <= 5
    assert standin.rate_limited == [f"PATCH /channels/{standin.channel_id}/messages/{mine}"]
    assert [body for _, body in standin.messages[int(mine)].edits] == [{"content": "50%"}]
    assert theirs.content == "hello bot" and not standin.violations


async def test_injected_failures_have_discords_shape(standin):
    auth = {"Authorization": f"Bot {TOKEN}"}
    standin.fail_next("GET", r"^/users/@me$", 429, retry_after=1.5, via=False)
    standin.fail_next("*", "/oauth2/", 503, times=2)
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{standin.api_base}/users/@me") as resp:
            assert resp.status == 429 and "Via" not in resp.headers
            assert await resp.json() == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
            assert resp.headers["X-RateLimit-Remaining"] == "0" and resp.headers["Retry-After"] == "2"
        for expected in (503, 503, 200):
            async with http.get(f"{standin.api_base}/oauth2/applications/@me") as resp:
                assert resp.status == expected
    assert standin.rate_limited == ["GET /users/@me"] and not standin.violations


# --------------------------------------------------------------------------- many guilds, contexts, installs


async def test_many_guilds_are_announced_and_commands_found_per_guild(discord_env):
    standin = discord_env
    early = await standin.add_guild("Before login")
    bot = make_bot()
    seen = []

    @bot.tree.command(name="where", description="Say where you are")
    async def where(interaction: discord.Interaction) -> None:
        seen.append((interaction.guild_id, interaction.channel_id, interaction.guild.name))
        await interaction.response.send_message("here")

    async with running(bot):
        assert bot.get_guild(early[0]).name == "Before login" and bot.get_channel(early[1]) is not None
        late = await standin.add_guild("After login")
        await standin.wait_for(lambda: bot.get_guild(late[0]))
        media = await standin.add_channel("media", guild_id=late[0])
        await standin.wait_for(lambda: bot.get_channel(media))
        await bot.tree.sync()  # global
        bot.tree.copy_global_to(guild=discord.Object(late[0]))
        await bot.tree.sync(guild=discord.Object(late[0]))  # and to one guild
        first = await standin.send_command("where", guild_id=early[0])
        second = await standin.send_command("where", channel_id=media)
        await standin.wait_for(lambda: first.callbacks and second.callbacks)
        with pytest.raises(ValueError):
            await standin.send_command("where", guild_id=early[0], channel_id=standin.channel_id)

    assert seen == [(early[0], early[1], "Before login"), (late[0], media, "After login")]
    assert "guild_id" not in first.payload["data"]
    assert first.payload["data"]["id"] == standin.commands[None][0]["id"]
    assert second.payload["data"]["guild_id"] == str(late[0])
    assert second.payload["data"]["id"] == standin.commands[late[0]][0]["id"]
    assert standin.messages[second.original_message_id].channel_id == media


async def test_ready_lists_every_guild_then_one_guild_create_each(standin):
    guilds = [await standin.add_guild() for _ in range(3)]
    await standin.add_foreign_guild()  # never on the gateway
    async with raw_gateway(standin) as (ws, _):
        ready = await ws.receive_json(timeout=2)
        creates = [await ws.receive_json(timeout=2) for _ in range(4)]
        extra = await standin.add_guild()
        announced = await ws.receive_json(timeout=2)
    ids = [str(standin.guild_id)] + [str(g) for g, _ in guilds]
    assert ready["d"]["guilds"] == [{"id": i, "unavailable": True} for i in ids]
    assert [(c["t"], c["d"]["id"]) for c in creates] == [("GUILD_CREATE", i) for i in ids]
    assert creates[1]["d"]["channels"][0]["id"] == str(guilds[0][1])
    assert (announced["t"], announced["d"]["id"]) == ("GUILD_CREATE", str(extra[0]))


async def test_user_install_contexts_parse_in_discord_py(discord_env):
    standin = discord_env
    foreign_guild, foreign_channel = await standin.add_foreign_guild("Elsewhere")
    bot = make_bot()
    seen: dict = {}

    @bot.tree.command(name="gen", description="Generate a video")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def gen(interaction: discord.Interaction) -> None:
        seen[interaction.id] = {
            "guild": interaction.guild.id if interaction.guild else None,
            "guild_id": interaction.guild_id,
            "context": (interaction.context.guild, interaction.context.dm_channel, interaction.context.private_channel),
            "guild_install": interaction.is_guild_integration(),
            "user_install": interaction.is_user_integration(),
            "channel": interaction.channel.type,
            "member": isinstance(interaction.user, discord.Member),
            "attach": interaction.app_permissions.attach_files,
            "manage": interaction.app_permissions.manage_messages,
        }
        await interaction.response.send_message("ok")

    async with running(bot):
        await bot.tree.sync()
        stored = standin.commands[None][0]
        assert (stored["contexts"], stored["integration_types"]) == ([0, 1, 2], [0, 1])
        home = await standin.send_command("gen")
        away = await standin.send_command("gen", guild_id=foreign_guild, installs=1)
        bot_dm = await standin.send_command("gen", context=1, installs=1)
        group = await standin.send_command("gen", context=2, installs=1)
        other_dm = await standin.send_command("gen", context=2, installs=1, private_channel="dm")
        everything = [home, away, bot_dm, group, other_dm]
        await standin.wait_for(lambda: all(i.callbacks for i in everything))
        with pytest.raises(ValueError):  # a server install cannot be used where the bot is not
            await standin.send_command("gen", guild_id=foreign_guild)
        with pytest.raises(ValueError):
            await standin.send_command("gen", context=2)

    assert seen[home.id] == {
        "guild": standin.guild_id,
        "guild_id": standin.guild_id,
        "context": (True, False, False),
        "guild_install": True,
        "user_install": False,
        "channel": discord.ChannelType.text,
        "member": True,
        "attach": True,
        "manage": False,
    }
    assert seen[away.id] == {
        "guild": foreign_guild,
        "guild_id": foreign_guild,
        "context": (True, False, False),
        "guild_install": False,
        "user_install": True,
        "channel": discord.ChannelType.text,
        "member": True,
        "attach": True,
        "manage": False,
    }
    for interaction, kind in (
        (bot_dm, discord.ChannelType.private),
        (group, discord.ChannelType.group),
        (other_dm, discord.ChannelType.private),
    ):
        assert seen[interaction.id]["guild"] is None and seen[interaction.id]["guild_id"] is None
        assert seen[interaction.id]["channel"] is kind and not seen[interaction.id]["member"]
        assert seen[interaction.id]["user_install"] and not seen[interaction.id]["guild_install"]
    assert seen[bot_dm.id]["context"] == (False, True, False) and seen[group.id]["context"] == (False, False, True)
    assert away.payload["authorizing_integration_owners"] == {"1": str(standin.user_id)}
    assert away.payload["channel"]["id"] == str(foreign_channel) and "permissions" in away.payload["channel"]
    assert int(away.payload["app_permissions"]) == 1071698660929 & ((1 << 15) | (1 << 14) | (1 << 17) | (1 << 18))
    assert "user" in bot_dm.payload and "member" not in bot_dm.payload and "guild" not in bot_dm.payload
    assert other_dm.channel_id != bot_dm.channel_id
    assert [standin.messages[i.original_message_id].content for i in everything] == ["ok"] * 5


async def test_guild_only_commands_are_not_offered_in_dms(discord_env):
    standin = discord_env
    bot = make_bot()

    @bot.tree.command(name="serveronly", description="Only in servers")
    @app_commands.guild_only()
    async def serveronly(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok")

    async with running(bot):
        await bot.tree.sync()
        with pytest.raises(ValueError, match="contexts"):
            await standin.send_command("serveronly", context=1)
        with pytest.raises(ValueError, match="installable"):
            await standin.send_command("serveronly", context=0, installs=1)


async def test_bot_token_writes_where_the_bot_cannot_reach_are_refused(discord_env):
    standin = discord_env
    foreign_guild, foreign_channel = await standin.add_foreign_guild()
    bot = make_bot()
    out: dict = {}

    @bot.tree.command(name="gen", description="Generate a video")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def gen(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="done")
        try:
            await interaction.channel.send("also here")
        except discord.Forbidden as exc:
            out.setdefault("codes", []).append(exc.code)
        followups = []
        try:
            for i in range(6):
                followups.append(await interaction.followup.send(f"part {i}", wait=True))
        except discord.HTTPException as exc:
            out.setdefault("caps", []).append((exc.status, exc.code, len(followups)))
        try:
            await interaction.user.send("your video")  # the DM with the bot works
            out["dm"] = True
        except discord.Forbidden as exc:
            out.setdefault("codes", []).append(exc.code)

    standin.webhook_rate = (10, 1.0)
    async with running(bot):
        away = await standin.send_command("gen", guild_id=foreign_guild, installs=1)
        await standin.wait_for(lambda: len(out.get("caps", [])) == 1 and "dm" in out)
        group = await standin.send_command("gen", context=2, installs=1)
        await standin.wait_for(lambda: len(out["caps"]) == 2 and len(out["codes"]) == 2)
        standin.close_dms(standin.user_id)
        await standin.send_command("gen", context=1, installs=1)
        await standin.wait_for(lambda: len(out["caps"]) == 3 and len(out["codes"]) == 4)

    # the foreign guild's channel, the group DM, then (DMs closed) the bot's DM twice: channel.send and user.send
    assert out["codes"] == [50001, 50001, 50007, 50007] and out["dm"] is True
    assert out["caps"] == [(400, 40094, 5)] * 3
    assert len(away.followup_ids) == 5 and len(standin.refused_bot_writes) == 4
    assert standin.refused_bot_writes[0] == (
        f"POST /channels/{foreign_channel}/messages: the bot is not in guild {foreign_guild} (403, code 50001)"
    )
    assert f"/channels/{group.channel_id}/" in standin.refused_bot_writes[1]
    assert "DMs are closed" in standin.refused_bot_writes[-1]
    assert len(standin.violations) == 3 and all("40094" in v for v in standin.violations)
    standin.violations.clear()


async def test_external_apps_disabled_forces_ephemeral_responses(discord_env):
    standin = discord_env
    foreign_guild, _ = await standin.add_foreign_guild()
    standin.disable_external_apps(foreign_guild)
    bot = make_bot()

    @bot.tree.command(name="gen", description="Generate a video")
    @app_commands.allowed_installs(guilds=True, users=True)
    async def gen(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("public, I hoped")
        await interaction.followup.send("me too")

    async with running(bot):
        away = await standin.send_command("gen", guild_id=foreign_guild, installs=1)
        home = await standin.send_command("gen")
        await standin.wait_for(lambda: away.followup_ids and home.followup_ids)

    assert standin.messages[away.original_message_id].ephemeral
    assert standin.messages[away.followup_ids[0]].ephemeral
    assert not standin.messages[home.original_message_id].ephemeral


async def test_enforce_nonce_is_per_channel_and_works_in_dms(discord_env):
    standin = discord_env
    bot = make_bot()
    async with running(bot):
        other_id = await standin.add_channel("other")
        other = await standin.wait_for(lambda: bot.get_channel(other_id))
        general = bot.get_channel(standin.channel_id)
        first = await general.send("ready", nonce=5)
        elsewhere = await other.send("ready", nonce=5)
        again = await general.send("ready", nonce=5)
        dm = await (await bot.fetch_user(standin.user_id)).create_dm()
        in_dm = await dm.send("ready", nonce=5)
        dm_again = await dm.send("ready", nonce=5)

    assert again.id == first.id and elsewhere.id != first.id
    assert dm_again.id == in_dm.id and in_dm.id not in (first.id, elsewhere.id)
    assert sum(1 for m in standin.messages.values() if m.content == "ready") == 3


# --------------------------------------------------------------------------- rate limits


async def test_discord_py_paces_itself_by_the_rate_limit_headers(discord_env):
    standin = discord_env
    standin.message_create_rate = (5, 0.5)
    standin.webhook_rate = (5, 0.5)
    bot = make_bot()
    done = asyncio.Event()

    @bot.tree.command(name="progress", description="Report progress")
    async def progress(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        for step in range(8):
            await interaction.edit_original_response(content=f"{step * 10}%")
        done.set()

    async with running(bot):
        channel = bot.get_channel(standin.channel_id)
        started = time.monotonic()
        sent = await asyncio.gather(*(channel.send(f"message {i}") for i in range(12)))
        elapsed = time.monotonic() - started
        interaction = await standin.send_command("progress")
        await asyncio.wait_for(done.wait(), 10)

    assert sorted(standin.messages[m.id].content for m in sent) == sorted(f"message {i}" for i in range(12))
    assert len(standin.rate_limited) <= 1, standin.rate_limited
    assert elapsed >= 1.0  # three windows of five
    posts = routes(standin, CHANNEL_POST)
    assert all(r.status == 200 for r in posts[-12:]) or len(posts) <= 13
    assert standin.messages[interaction.original_message_id].content == "70%"
    assert [r.status for r in routes(standin, EDIT_ORIGINAL)] == [200] * 8


async def test_rate_limit_headers_and_429s_have_discords_shape(standin):
    standin.global_rate = (7, 60.0)  # a 429 does not count
    auth = {"Authorization": f"Bot {TOKEN}"}
    messages = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    async with raw_gateway(standin) as (_, http):
        seen = []
        for i in range(6):
            async with http.post(messages, json={"content": f"m{i}"}, headers=auth) as resp:
                seen.append((resp.status, resp.headers.get("X-RateLimit-Remaining")))
                last = resp
                body = await resp.json()
        assert seen == [(200, "4"), (200, "3"), (200, "2"), (200, "1"), (200, "0"), (429, "0")]
        assert body["global"] is False and 0 < body["retry_after"] <= 5 and last.headers["Via"]
        assert last.headers["X-RateLimit-Scope"] == "user" and last.headers["X-RateLimit-Limit"] == "5"
        assert 0 < float(last.headers["X-RateLimit-Reset-After"]) <= 5 and last.headers["X-RateLimit-Bucket"]
        async with http.get(f"{standin.api_base}/users/@me", headers=auth) as resp:  # the 6th counted request
            assert resp.status == 200 and resp.headers["X-RateLimit-Limit"] == "50"
        async with http.get(f"{standin.api_base}/channels/{standin.channel_id}", headers=auth) as resp:
            assert resp.status == 200
        async with http.get(f"{standin.api_base}/users/@me", headers=auth) as resp:
            assert resp.status == 429 and resp.headers["X-RateLimit-Global"] == "true"
            assert resp.headers["X-RateLimit-Scope"] == "global" and resp.headers["Via"]
            assert (await resp.json())["global"] is True

        interaction = await standin.send_command("anything")
        callback = f"{standin.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
        async with http.post(callback, json={"type": 5}) as resp:  # not limited, not counted globally
            assert resp.status == 204 and "X-RateLimit-Limit" not in resp.headers
        hook = f"{standin.api_base}/webhooks/{standin.application_id}/{interaction.token}"
        statuses = []
        for i in range(6):
            async with http.patch(hook + "/messages/@original", json={"content": f"{i}"}) as resp:
                statuses.append(resp.status)
        assert statuses == [200] * 5 + [429]
        async with http.get(f"{standin.cdn_base}/attachments/1/2/x.png") as resp:
            assert "X-RateLimit-Limit" not in resp.headers
        standin.violations.clear()  # the CDN miss

    assert standin.rate_limited == [
        f"POST /channels/{standin.channel_id}/messages",
        "GET /users/@me",
        f"PATCH /webhooks/{standin.application_id}/{interaction.token}/messages/@original",
    ]
    standin.rate_limits = False
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(messages, json={"content": "free"}) as resp:
            assert resp.status == 200 and "X-RateLimit-Limit" not in resp.headers


# --------------------------------------------------------------------------- throughput


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def test_burst_of_1000_commands_over_50_guilds(standin):
    """1,000 commands dispatched at once across 50 guilds to a minimal bot in its own process, which defers each
    and edits it once. Prints the ack latency and the stand-in's CPU time (run with -s to see them)."""
    import os
    import sys

    standin.ack_deadline = 15.0  # a slow machine must not turn a measurement into a failure
    guilds = [(standin.guild_id, standin.channel_id)] + [await standin.add_guild() for _ in range(49)]
    env = dict(os.environ, STANDIN_API=standin.api_base, STANDIN_GATEWAY=standin.gateway_url, STANDIN_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.standins.burst_bot", env=env)
    try:
        await standin.wait_ready(timeout=30)
        await asyncio.sleep(0.5)  # let the client settle after its GUILD_CREATEs
        cpu, wall = time.process_time(), time.monotonic()
        sent = await asyncio.gather(*(standin.send_command("burst", guild_id=guilds[i % 50][0]) for i in range(1000)))
        dispatched = time.monotonic() - wall
        await standin.wait_for(lambda: all(i.callbacks for i in sent), timeout=60)
        acked = time.monotonic() - wall
        await standin.wait_for(
            lambda: all(not standin.messages[i.original_message_id].loading for i in sent), timeout=60
        )
        finished = time.monotonic() - wall
        cpu = time.process_time() - cpu
    finally:
        proc.terminate()
        await proc.wait()

    latencies = [i.callbacks[0][0] * 1000 for i in sent]
    spread = max(i.dispatched_at for i in sent) - min(i.dispatched_at for i in sent)
    edits = len(routes(standin, EDIT_ORIGINAL))
    print(
        f"\nburst: 1000 commands over 50 guilds dispatched in {dispatched:.2f} s (frames written over {spread:.2f} s); "
        f"all acked after {acked:.2f} s, all edited after {finished:.2f} s ({edits / finished:.0f} edits/s)"
    )
    print(
        f"burst: ack latency p50 {_percentile(latencies, 0.5):.0f} ms, p99 {_percentile(latencies, 0.99):.0f} ms, "
        f"max {max(latencies):.0f} ms; stand-in CPU {cpu:.2f} s "
        f"({cpu / (2000 + edits) * 1e6:.0f} µs per dispatch or request)"
    )
    assert len({i.guild_id for i in sent}) == 50 and edits == 1000
    assert _percentile(latencies, 0.5) < 3000  # Discord's deadline
    assert not standin.rate_limited


# --------------------------------------------------------------------------- uploads and Components V2


async def test_uploads_are_served_by_the_cdn_and_limited_in_size(discord_env):
    standin = discord_env
    big = b"x" * (standin_module.ATTACHMENT_SIZE_LIMIT + 1)
    bot = make_bot()
    out: dict = {}

    def file(data: bytes, name: str) -> discord.File:
        return discord.File(io.BytesIO(data), filename=name)

    @bot.tree.command(name="deliver", description="Deliver a result")
    async def deliver(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first", file=file(b"one", "first.mp4"))
        out["edited"] = await interaction.edit_original_response(attachments=[file(b"two!", "second.mp4")])
        try:
            await interaction.followup.send("big", file=file(big, "big.mp4"))
            out["big"] = "sent"
        except discord.HTTPException as exc:
            out["big"] = (exc.status, exc.code)

    async with running(bot):
        small = await standin.send_command("deliver")
        await standin.wait_for(lambda: "big" in out)
        assert out.pop("big") == (413, 40005) and "is 10485761 bytes (limit 10485760)" in standin.violations.pop()
        roomy = await standin.send_command("deliver", attachment_size_limit=25 * 1024 * 1024)
        await standin.wait_for(lambda: "big" in out)
        channel = bot.get_channel(standin.channel_id)
        posted = await channel.send("here", file=file(b"three", "third.mp4"))
        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send("too big", file=file(big, "big.mp4"))
        assert (too_big.value.status, too_big.value.code) == (413, 40005)
        assert "bytes (limit 10485760)" in standin.violations.pop()
        fetched = await out["edited"].attachments[0].read()

    assert out["big"] == "sent" and roomy.payload["attachment_size_limit"] == 25 * 1024 * 1024
    original = standin.messages[small.original_message_id]
    assert [a["filename"] for a in original.attachments] == ["second.mp4"] and fetched == b"two!"
    assert standin.attachment_bytes(original.attachments[0]) == b"two!"
    first_body = original.edits[0][1]
    assert [a["filename"] for a in first_body["attachments"]] == ["second.mp4"]
    stored = standin.messages[roomy.followup_ids[0]].attachments[0]
    assert (stored["filename"], stored["size"], stored["content_type"]) == ("big.mp4", len(big), "video/mp4")
    assert stored["url"].startswith(standin.cdn_base) and stored["proxy_url"] == stored["url"]
    third = standin.messages[posted.id].attachments[0]
    assert standin.attachment_bytes(third) == b"three" and not third.get("ephemeral")
    async with aiohttp.ClientSession() as http:
        async with http.get(third["url"]) as resp:
            assert resp.status == 200 and await resp.read() == b"three"
            assert resp.headers["Content-Type"] == "video/mp4"


async def test_multipart_attachment_ids_must_match_uploaded_files(standin):
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"content": "x", "attachments": [{"id": 1, "filename": "a.mp4"}]}))
    form.add_field("files[0]", b"abc", filename="a.mp4", content_type="application/octet-stream")
    url = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        async with http.post(url, data=form) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", json.dumps({"content": 5}))
        form.add_field("files[0]", b"abc", filename="a.mp4")
        async with http.post(url, data=form) as resp:  # payload_json is checked against the route's schema
            assert resp.status == 400
    assert "attachment id 1 is neither on the message nor an uploaded files[n]" in standin.violations[0]
    assert "body/content: 5 is not of type" in standin.violations[1]
    standin.violations.clear()


async def test_layout_view_with_a_video_gallery_and_a_button(discord_env):
    standin = discord_env
    bot = make_bot()
    clicks = []
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(64)

    class Again(discord.ui.ActionRow):
        @discord.ui.button(label="Again", custom_id="job:again:7")
        async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.send_message("queued again", ephemeral=True)

    class Card(discord.ui.LayoutView):
        def __init__(self) -> None:
            super().__init__(timeout=None)
            self.add_item(
                discord.ui.Container(
                    discord.ui.TextDisplay("## Your video is ready"),
                    discord.ui.MediaGallery(discord.MediaGalleryItem("attachment://result.mp4", description="result")),
                    discord.ui.Separator(),
                    discord.ui.TextDisplay("-# fal-ai/sync-lipsync · 12 s"),
                    accent_colour=discord.Colour.green(),
                )
            )
            self.add_item(Again())

    @bot.tree.command(name="deliver", description="Deliver a result")
    async def deliver(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(
            view=Card(), attachments=[discord.File(io.BytesIO(video), filename="result.mp4")]
        )

    async with running(bot):
        interaction = await standin.send_command("deliver")
        await standin.wait_for(
            lambda: interaction.original_message_id and standin.messages[interaction.original_message_id].edits
        )
        card = standin.messages[interaction.original_message_id]
        click = await standin.send_component(card.id, "job:again:7")
        await standin.wait_for(lambda: click.callbacks)

    assert card.flags & (1 << 15) and card.content == ""
    container, row = card.components
    assert [c["type"] for c in container["components"]] == [10, 12, 14, 10] and row["type"] == 1
    gallery = container["components"][1]
    assert gallery["items"][0]["media"]["url"] == "attachment://result.mp4"
    assert [a["filename"] for a in card.attachments] == ["result.mp4"]
    assert standin.attachment_bytes(card.attachments[0]) == video
    assert clicks == [standin.user_id]
    assert_matches(card.to_api(), "/channels/{channel_id}/messages/{message_id}", "get")


async def test_components_v2_flag_cannot_be_removed(standin):
    url = f"{standin.api_base}/channels/{standin.channel_id}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        async with http.post(url, json={"flags": 1 << 15, "components": [{"type": 10, "content": "card"}]}) as resp:
            assert resp.status == 200
            message_id = (await resp.json())["id"]
        async with http.patch(f"{url}/{message_id}", json={"components": [{"type": 10, "content": "still"}]}) as resp:
            assert resp.status == 200  # flags left out: still V2
        async with http.patch(f"{url}/{message_id}", json={"content": "plain again", "flags": 0}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
    assert standin.messages[int(message_id)].components[0]["content"] == "still"
    assert "IS_COMPONENTS_V2 cannot be removed" in standin.violations[0]
    standin.violations.clear()


# --------------------------------------------------------------------------- context menus and modals


async def test_message_context_menu_opens_a_modal_with_a_file_upload(discord_env):
    standin = discord_env
    bot = make_bot()
    got: dict = {}

    class Redo(discord.ui.Modal, title="Redo with a new voice"):
        text = discord.ui.Label(
            text="What should it say?", component=discord.ui.TextInput(custom_id="text", max_length=200)
        )
        note = discord.ui.Label(text="Anything else?", component=discord.ui.TextInput(custom_id="note", required=False))
        audio = discord.ui.Label(text="Voice sample", component=discord.ui.FileUpload(custom_id="audio", max_values=2))

        async def on_submit(self, interaction: discord.Interaction) -> None:
            got["text"], got["note"] = self.text.component.value, self.note.component.value
            got["files"] = [(a.filename, a.content_type, await a.read()) for a in self.audio.component.values]
            await interaction.response.send_message("redoing", ephemeral=True)

    @app_commands.context_menu(name="Lip-sync this")
    async def lipsync_this(interaction: discord.Interaction, message: discord.Message) -> None:
        got["target"] = (
            message.id,
            message.content,
            message.author.id,
            [a.filename for a in message.attachments],
            [e.video.url for e in message.embeds],
        )
        got["clip"] = await message.attachments[0].read()
        await interaction.response.send_modal(Redo())

    bot.tree.add_command(lipsync_this)
    async with running(bot):
        await bot.tree.sync()
        assert [(c["name"], c["type"]) for c in standin.commands[None]] == [("Lip-sync this", 3)]
        clip = standin.add_attachment("clip.mp4", b"mp4-bytes", "video/mp4")
        video = "https://media.example.com/v.mp4"
        target = standin.add_user_message(
            "use this one", attachments=[clip], embeds=[{"type": "video", "url": video, "video": {"url": video}}]
        )
        opened = await standin.send_message_command("Lip-sync this", target)
        await standin.wait_for(lambda: opened.callbacks)
        with pytest.raises(ValueError, match="no input"):
            await standin.send_modal_submit(opened, {"text": "hi", "voice": "x"})
        with pytest.raises(ValueError, match="required"):
            await standin.send_modal_submit(opened, {"text": "hi"})
        sample = standin.add_attachment("voice.wav", b"RIFF-wav", "audio/wav")
        submitted = await standin.send_modal_submit(opened, {"text": "hello there", "audio": [sample]})
        await standin.wait_for(lambda: submitted.callbacks)

    data = opened.payload["data"]
    assert (data["type"], data["target_id"], data["id"]) == (3, str(target.id), standin.commands[None][0]["id"])
    assert got["target"] == (target.id, "use this one", standin.user_id, ["clip.mp4"], [video])
    assert got["clip"] == b"mp4-bytes"
    assert opened.callbacks[0][1]["type"] == 9
    assert got["text"] == "hello there" and got["note"] == ""
    assert got["files"] == [("voice.wav", "audio/wav", b"RIFF-wav")]
    sent = submitted.payload["data"]
    assert submitted.type == 5 and sent["custom_id"] == opened.callbacks[0][1]["data"]["custom_id"]
    assert [c["type"] for c in sent["components"]] == [18, 18, 18]
    assert sent["components"][2]["component"] == {"type": 19, "id": 6, "custom_id": "audio", "values": [sample["id"]]}
    assert sent["resolved"]["attachments"] == {sample["id"]: sample}
    assert standin.messages[submitted.original_message_id].content == "redoing"


# --------------------------------------------------------------------------- sharding


async def test_two_sharded_processes_each_get_their_shards_guilds_and_interactions(discord_env):
    standin = discord_env
    zero = await standin.add_guild("On shard 0", shard=0, num_shards=2)
    one = await standin.add_guild("On shard 1", shard=1, num_shards=2)
    foreign = await standin.add_foreign_guild()
    while standin.shard_of(foreign[0], 2) != 1:  # its id maps to shard 1, yet the bot is not in it
        foreign = await standin.add_foreign_guild()
    guilds: dict[int, set[int]] = {0: set(), 1: set()}
    for guild_id in (standin.guild_id, zero[0], one[0]):
        guilds[standin.shard_of(guild_id, 2)].add(guild_id)
    seen: dict[int, list[str]] = {}

    def sharded_bot(name: str, shard_id: int) -> commands.AutoShardedBot:
        bot = make_sharded_bot(shard_ids=[shard_id], shard_count=2)

        @bot.tree.command(name="where", description="Say which process answers")
        async def where(interaction: discord.Interaction) -> None:
            seen.setdefault(interaction.id, []).append(name)
            await interaction.response.send_message(name)

        return bot

    first, second = sharded_bot("first", 0), sharded_bot("second", 1)
    async with running(first), running(second):
        await standin.wait_ready(shards=[0, 1])
        assert standin.live_shards() == {0, 1}
        assert sorted(standin.identified_shards) == [(0, 2), (1, 2)]
        assert {g.id for g in first.guilds} == guilds[0] and {g.id for g in second.guilds} == guilds[1]
        in_one = await standin.send_command("where", guild_id=one[0])
        in_zero = await standin.send_command("where", guild_id=zero[0])
        in_dm = await standin.send_command("where", context=1)
        away = await standin.send_command("where", guild_id=foreign[0], installs=1)
        sent = [in_one, in_zero, in_dm, away]
        await standin.wait_for(lambda: all(i.callbacks for i in sent))

    assert seen == {in_one.id: ["second"], in_zero.id: ["first"], in_dm.id: ["first"], away.id: ["first"]}
    assert [standin.messages[i.original_message_id].content for i in sent] == ["second", "first", "first", "first"]


async def test_auto_sharded_bot_takes_the_recommended_shard_count_and_resumes_one_shard(discord_env):
    standin = discord_env
    standin.recommended_shards = 2
    home_shard = standin.shard_of(standin.guild_id)
    other, _ = await standin.add_guild("The other shard", shard=1 - home_shard)
    bot = make_sharded_bot()
    answered: list[int | None] = []

    @bot.tree.command(name="ping", description="Check the bot is alive")
    async def ping(interaction: discord.Interaction) -> None:
        answered.append(interaction.guild_id)
        await interaction.response.send_message("pong")

    async with running(bot):
        await standin.wait_ready()
        assert bot.shard_count == 2 and set(bot.shards) == {0, 1}
        assert {g.id for g in bot.guilds} == {standin.guild_id, other}
        assert {bot.get_guild(standin.guild_id).shard_id, bot.get_guild(other).shard_id} == {0, 1}
        standin.disconnect_gateway(shard=1)
        assert standin.live_shards() == {0}
        later = await standin.send_command("ping", guild_id=other if home_shard == 0 else standin.guild_id)
        await standin.wait_for(lambda: later.callbacks)  # it waited for shard 1 to RESUME

    assert answered == [later.guild_id]
    assert (standin.identifies, standin.connections) == (2, 3)
    assert sorted(standin.identified_shards) == [(0, 2), (1, 2)]
    (gateway,) = routes(standin, "GET /gateway/bot")
    assert gateway.status == 200 and gateway.headers["Authorization"] == f"Bot {TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.api_base}/gateway/bot", headers={"Authorization": f"Bot {TOKEN}"}) as resp:
            body = await resp.json()
        assert body["url"] == standin.gateway_url and body["shards"] == 2
        assert_matches(body, "/gateway/bot", "get")
        async with http.get(f"{standin.api_base}/gateway") as resp:
            body = await resp.json()
        assert body == {"url": standin.gateway_url}
        assert_matches(body, "/gateway", "get")


async def test_identify_with_an_invalid_shard_is_closed_with_4010(standin, monkeypatch):
    on_one, _ = await standin.add_guild(shard=1, num_shards=2)
    async with raw_gateway(standin, shard=[1, 2]) as (ws, _):
        ready = await ws.receive_json(timeout=2)
        created = await ws.receive_json(timeout=2)
        listed = {g["id"] for g in ready["d"]["guilds"]}
        assert ready["d"]["shard"] == [1, 2] and str(on_one) in listed
        assert listed == {str(g) for g in (standin.guild_id, on_one) if standin.shard_of(g, 2) == 1}
        assert created["t"] == "GUILD_CREATE" and created["d"]["id"] in listed

        monkeypatch.setattr(standin_module, "LIVE_CONNECTION_WAIT", 0.1)
        with pytest.raises(TimeoutError, match="on shard 0"):  # a DM goes to shard 0, which is not connected
            await standin.send_command("ping", context=1)

        for shard, why in (([2, 2], "0 <= shard_id < num_shards"), ([0, 3], "the live connections use [2] shards")):
            async with raw_gateway(standin, shard=shard) as (refused, _):
                closing = await refused.receive(timeout=2)
                assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4010)
            assert why in standin.violations.pop()
    assert standin.identifies == 1 and standin.identified_shards == [(1, 2)]
