"""A local stand-in for Discord's REST API and gateway, so tests can run the real discord.py client offline.

It serves, over plain HTTP on 127.0.0.1 (port 0):

* the REST API under ``/api/v10``, the routes a slash-command bot uses (see ``ROUTES``):
  ``GET /users/@me`` and ``/users/{id}``, ``GET /oauth2/applications/@me``, bulk ``PUT``/``GET`` of global and guild
  application commands, ``POST /interactions/{id}/{token}/callback``, the interaction webhooks (followups with
  ``POST /webhooks/{app}/{token}``; ``GET``/``PATCH``/``DELETE`` of ``…/messages/@original`` and ``…/messages/{id}``),
  channel messages (``POST``, and ``GET``/``PATCH``/``DELETE`` by id), ``GET /channels/{id}``, DMs through
  ``POST /users/@me/channels``, ``GET /guilds/{guild}/members/{user}``, and ``GET /gateway`` and ``/gateway/bot``
  (``recommended_shards``);
* a gateway websocket at ``/gateway``: HELLO, heartbeat ACKs, IDENTIFY -> READY (every guild, unavailable) + one
  GUILD_CREATE per guild, RESUME -> RESUMED, GUILD_CREATE and CHANNEL_CREATE for what a test adds, and the
  INTERACTION_CREATE events a test sends with ``send_command``, ``send_autocomplete``, ``send_component``,
  ``send_message_command`` and ``send_modal_submit``. Frames are plain JSON text, never compressed. It shards as
  Discord does: an IDENTIFY's ``shard`` [id, count] (default [0, 1]) gets one live connection per shard id, READY
  and GUILD_CREATE for the guilds with ``(guild_id >> 22) % count == id`` only, and each event goes to the shard of
  its guild; DMs, group DMs and guilds the bot is not in go to shard 0;
* a CDN route, ``/attachments/{channel}/{attachment}/{filename}?ex=&is=&hm=``, for attachment bytes (uploads included).

Point discord.py at it with ``discord.http.Route.BASE = standin.api_base`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)``.

The world starts as one guild with one text channel (``general``). Its members are the bot, ``alice`` and the guild
owner. (The owner also owns the application.) ``add_guild`` adds guilds the bot is in; ``add_foreign_guild`` adds
one only its user install reaches. Interactions come from a guild (context 0), the bot's DM (1) or a group DM or
other users' DM (2), through the app's server install (installs=0) or user install (installs=1), with the payload
Discord sends for each.

Request bodies (JSON, or multipart ``payload_json``) are checked against Discord's OpenAPI document
(``tests/contracts/discord/openapi.json``) and against the documented message, embed, component (Components V2
included) and upload limits. Discord's per-route and global rate limits apply (see ``rate_limits``).

Every request the stand-in rejects by its own rules goes into ``DiscordStandIn.violations``. A rule the bot breaks
that Discord documents but does not reject also goes there (say, the deprecated "first followup finishes the
deferred response"). Failures injected with ``fail_next``, 429s (``rate_limited``), and refusals the bot cannot
foresee (a guild it is not in, other people's DMs, closed DMs: ``refused_bot_writes``) do not. Tests assert the
list is empty.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import hashlib
import hmac
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message as _MimeHeaders
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from multidict import CIMultiDict

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "contracts" / "discord" / "openapi.json"
API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bitfields (sent as decimal strings).
EVERYONE_PERMISSIONS = 1071698660929  # what Discord gives @everyone in a new guild
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 52) - 1
# What an app that is not in the guild (a user-installed one) gets: @everyone's permissions, limited to those an
# interaction response can use (Discord change log, 2022-06-29).
RESPONSE_PERMISSIONS = (1 << 15) | (1 << 14) | (1 << 17) | (1 << 18)  # ATTACH_FILES, EMBED_LINKS,
# MENTION_EVERYONE, USE_EXTERNAL_EMOJIS

# Message flags.
SUPPRESS_EMBEDS, EPHEMERAL, LOADING = 1 << 2, 1 << 6, 1 << 7
SUPPRESS_NOTIFICATIONS, COMPONENTS_V2 = 1 << 12, 1 << 15
_CHANNEL_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2
_INTERACTION_FLAGS = _CHANNEL_FLAGS | EPHEMERAL

_SELECTS = {3, 5, 6, 7, 8}  # component types of select menus

# Interaction types, and the callback types Discord accepts for each.
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
_CALLBACK_TYPES = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_LOCALE = "en-US"  # a member's and a server's Discord locale unless a test sets one
FOLLOWUP_CAP = 5  # followups per interaction that only the app's user install authorized
NONCE_WINDOW = 300.0  # seconds during which enforce_nonce returns the earlier message
HEARTBEAT_INTERVAL_MS = 41250
LIVE_CONNECTION_WAIT = 10.0
JOINED_AT = "2025-01-15T12:00:00.000000+00:00"
_GONE = "This content is no longer available."

# Fixed ids, minted with realistic creation times. The bot user's id is the application's id, as for current
# applications.
APPLICATION_ID = 1169672315527102465  # 2023-11-02
GUILD_ID = 853922575507259394  # 2021-06-14
CHANNEL_ID = 853922577587634180  # 2021-06-14
ADMIN_ROLE_ID = 854427561014067201  # 2021-06-15
OWNER_ID = 289151303421001728  # 2017-03-08
USER_ID = 624956183748673539  # 2019-09-21


# --------------------------------------------------------------------------- snowflakes and small helpers


def snowflake_at(timestamp: float, increment: int = 0) -> int:
    """A snowflake whose embedded time is ``timestamp`` (epoch seconds)."""
    return ((int(timestamp * 1000) - DISCORD_EPOCH_MS) << 22) | (increment & 0x3FFFFF)


def snowflake_time(snowflake: int) -> float:
    """Epoch seconds embedded in ``snowflake``."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def _as_id(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() else None


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _respond(status: int, body: Any = None, headers: dict[str, str] | None = None, *, via: bool = True) -> web.Response:
    headers = dict(headers or {})
    if via:
        headers.setdefault("Via", "1.1 google")
    if body is None:
        return web.Response(status=status, headers=headers)
    # A bytes body keeps the header exactly "application/json". text= would add "; charset=utf-8", and then
    # discord.py does not parse the body as JSON.
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers)


def _user_object(user_id: int, username: str, global_name: str | None, *, bot: bool = False) -> dict:
    user = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        user["bot"] = True
    return user


def _role_object(role_id: int, name: str, permissions: int, position: int) -> dict:
    return {
        "id": str(role_id),
        "name": name,
        "description": None,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _safe_filename(name: str) -> str:
    """Discord replaces characters it does not keep in attachment names with underscores."""
    return re.sub(r"[^\w.\-]", "_", name) or "unknown"


def _embed_response(embed: dict) -> dict:
    """An embed as Discord returns it: with its type, and every field's inline flag."""
    embed = {"type": "rich", **copy.deepcopy(embed)}
    for item in embed.get("fields") or []:
        if isinstance(item, dict):
            item.setdefault("inline", False)
    return embed


def _unfurled(media: Any, attachments: dict[str, dict]) -> Any:
    """An unfurled media item as Discord returns it; attachment://name resolves to the message's file."""
    if not isinstance(media, dict) or not isinstance(media.get("url"), str):
        return media
    url = media["url"]
    if url.startswith("attachment://") and url.removeprefix("attachment://") in attachments:
        attachment = attachments[url.removeprefix("attachment://")]
        return {
            "id": attachment["id"],
            "url": attachment["url"],
            "proxy_url": attachment["proxy_url"],
            "width": None,
            "height": None,
            "content_type": attachment.get("content_type"),
            "attachment_id": attachment["id"],
            "flags": 0,
            "loading_state": 2,
        }
    return {
        "id": "0",
        "url": url,
        "proxy_url": url,
        "width": None,
        "height": None,
        "content_type": None,
        "flags": 0,
        "loading_state": 0,
    }


def _components_response(components: list, attachments: Iterable[dict] = ()) -> list:
    """Components as Discord returns them: numbered depth-first, selects with their value bounds, V2 components
    with their defaults and their media unfurled (attachment:// resolved against ``attachments``)."""
    components = copy.deepcopy(components)
    numbers = itertools.count(1)
    files = {_safe_filename(a["filename"]): a for a in attachments if isinstance(a, dict) and "filename" in a}

    def number(items: list) -> None:
        for item in items:
            if not isinstance(item, dict):
                continue
            item.setdefault("id", next(numbers))
            kind = item.get("type")
            if kind in _SELECTS:
                item.setdefault("min_values", 1)
                item.setdefault("max_values", 1)
            if kind in (11, 12, 13, 17):
                item.setdefault("spoiler", False)
            if kind == 11:
                item.setdefault("description", None)
                item["media"] = _unfurled(item.get("media"), files)
            if kind == 12 and isinstance(item.get("items"), list):
                for entry in item["items"]:
                    if isinstance(entry, dict):
                        entry.setdefault("description", None)
                        entry.setdefault("spoiler", False)
                        entry["media"] = _unfurled(entry.get("media"), files)
            if kind == 13:
                name = str(_get(item, "file", "url") or "").removeprefix("attachment://")
                item.setdefault("name", name if name in files else None)
                item.setdefault("size", files[name]["size"] if name in files else None)
                item["file"] = _unfurled(item.get("file"), files)
            if kind == 14:
                item.setdefault("spacing", 1)
                item.setdefault("divider", True)
            if kind == 17:
                item.setdefault("accent_color", None)
            if isinstance(item.get("components"), list):
                number(item["components"])
            for key in ("accessory", "component"):
                if isinstance(item.get(key), dict):
                    number([item[key]])

    number(components)
    return components


# --------------------------------------------------------------------------- records


@dataclass
class Recorded:
    """One REST or CDN request the stand-in received."""

    method: str
    path: str  # after /api/v10 for REST calls; the whole path for the CDN
    route: str | None  # template, e.g. "PATCH /webhooks/{application_id}/{token}/messages/@original"; None: unknown
    query: dict[str, str]
    headers: CIMultiDict[str]  # lookups ignore case
    json: Any  # the parsed JSON body, or the parsed payload_json of a multipart body
    files: list[tuple[str, bytes]]  # uploaded (filename, bytes) of a multipart body
    time: float  # time.monotonic() on arrival
    status: int | None = None  # what the stand-in answered
    raw_json: bytes | None = field(default=None, repr=False)  # the JSON text of ``json``


@dataclass
class Message:
    """A message as the stand-in stores it. ``to_api()`` renders Discord's message object."""

    id: int
    channel_id: int
    author_id: int
    source: str  # "interaction" (a callback's response), "followup" or "channel"
    content: str = ""
    embeds: list[dict] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)  # Discord attachment objects (filename, size, url, ...)
    flags: int = 0
    nonce: int | str | None = None
    interaction_id: int | None = None  # set for interaction responses and followups
    allowed_mentions: dict | None = None  # as last sent
    tts: bool = False
    type: int = 0
    created: float = field(default_factory=time.monotonic)
    edits: list[tuple[float, dict]] = field(default_factory=list)  # (monotonic time, body) of each successful edit
    deleted: bool = False
    edited_timestamp: float | None = None  # wall clock of the last visible edit
    webhook_id: int | None = None
    author: dict = field(default_factory=dict, repr=False)
    interaction_metadata: dict | None = field(default=None, repr=False)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def to_api(self) -> dict:
        data = {
            "id": str(self.id),
            "type": self.type,
            "channel_id": str(self.channel_id),
            "author": dict(self.author),
            "content": self.content,  # author and attachments hold scalars only
            "timestamp": _iso(snowflake_time(self.id)),
            "edited_timestamp": _iso(self.edited_timestamp) if self.edited_timestamp else None,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [dict(a) for a in self.attachments],
            "embeds": [_embed_response(embed) for embed in self.embeds],
            "components": _components_response(self.components, self.attachments) if self.components else [],
            "pinned": False,
            "flags": self.flags,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = data["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            meta = copy.deepcopy(self.interaction_metadata)
            data["interaction_metadata"] = meta
            if "name" in meta:  # the deprecated `interaction` field exists for application commands only
                data["interaction"] = {
                    "id": meta["id"],
                    "type": meta["type"],
                    "name": meta["name"],
                    "user": meta["user"],
                }
        return data


@dataclass(frozen=True)
class _Origin:
    """Where an interaction comes from: who, which guild and channel, which context and install."""

    user_id: int
    guild_id: int | None
    channel_id: int
    context: int
    installs: int
    permissions: int
    roles: tuple[int, ...]
    attachment_size_limit: int
    locale: str = DEFAULT_LOCALE  # the member's Discord language (the interaction's `locale`)
    guild_locale: str | None = None  # the interaction's `guild_locale`; None: the guild's preferred locale


@dataclass
class Interaction:
    """An interaction the stand-in dispatched, and what the bot did with it."""

    id: int
    token: str
    type: int
    created: float  # wall-clock epoch seconds, from the snowflake (age shifts it into the past)
    payload: dict  # the INTERACTION_CREATE `d` as dispatched
    user_id: int
    callbacks: list[tuple[float, dict]] = field(default_factory=list)  # accepted: (seconds after dispatch, body)
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    message_id: int | None = None  # component interactions: the message the component is on
    dispatched_at: float = 0.0  # time.monotonic(), just before the INTERACTION_CREATE frame was written
    guild_id: int | None = None  # None in DMs (contexts 1 and 2)
    channel_id: int = 0
    context: int = 0  # 0 guild, 1 the bot's DM, 2 a group DM or a DM between users
    installs: int = 0  # 0 the app's server install, 1 its user install
    attachment_size_limit: int = ATTACHMENT_SIZE_LIMIT
    origin: _Origin | None = field(default=None, repr=False)  # how it was sent, for follow-on interactions

    @property
    def user_installed_only(self) -> bool:
        """Only the user install authorized it (no "0" owner): Discord caps followups at 5."""
        return "0" not in self.payload.get("authorizing_integration_owners", {})

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)


@dataclass
class _Guild:
    """A guild of the stand-in's world."""

    id: int
    name: str
    member: bool  # the bot is in it (False: a guild only a user-installed app reaches)
    system_channel_id: int
    external_apps: bool = True  # @everyone may use external (user-installed) apps publicly
    locale: str = DEFAULT_LOCALE  # the server's preferred locale (guild_locale on its interactions)


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    code: int | None
    via: bool
    body: dict | None


@dataclass
class _Window:
    """A rate-limit bucket's current fixed window."""

    start: float
    count: int = 0


@dataclass
class _Upload:
    field_name: str | None
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class _StoredFile:
    channel_id: int
    filename: str
    data: bytes
    content_type: str | None
    signature: str


@dataclass
class _Call:
    """A REST/CDN request being answered."""

    record: Recorded
    params: dict[str, str]
    body: Any
    uploads: list[_Upload]

    @property
    def where(self) -> str:
        return f"{self.record.method} {self.record.path}"


class _Rejected(Exception):
    """Raised by handlers to answer with ``response`` at once."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(eq=False)
class _Connection:
    """One gateway websocket."""

    ws: web.WebSocketResponse
    session_id: str | None = None
    seq: int = 0
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count) of its session
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(payload, allow_nan=False))  # Discord sends JSON: no NaN, no Infinity

    async def dispatch(self, event: str, data: dict, before_write: Callable[[], None] | None = None) -> None:
        async with self.lock:
            self.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}, allow_nan=False)
            if before_write is not None:
                before_write()
            await self.ws.send_str(frame)


# --------------------------------------------------------------------------- the OpenAPI contract


@dataclass(frozen=True)
class _BodySchema:
    """The JSON request-body schema of one operation."""

    validator: Draft202012Validator
    by_type: dict[int, Draft202012Validator]  # branches of a union, keyed by the values of their `type` enum

    def errors(self, body: Any) -> list[ValidationError]:
        kind = body.get("type") if isinstance(body, dict) else None
        validator = self.by_type.get(kind, self.validator) if isinstance(kind, int) else self.validator
        # For a union, report why the closest branch failed rather than "not valid under any of the given schemas".
        return [_closest(e) for e in validator.iter_errors(body)]


def _closest(error: ValidationError) -> ValidationError:
    """For a failed union, the error of the branch meant: the one whose ``type`` enum holds the instance's type
    (components are told apart by it), else jsonschema's best match."""
    if not error.context:
        return error
    kind = error.instance.get("type") if isinstance(error.instance, dict) else None
    if isinstance(kind, int) and isinstance(error.validator_value, list):
        for index, branch in enumerate(error.validator_value):
            if kind in (_get(branch, "properties", "type", "enum") or ()):
                inner = [e for e in error.context if e.schema_path and e.schema_path[0] == index]
                if inner:
                    return _closest(best_match(inner))
    return best_match(error.context)


def _path_shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def _lenient(components: dict) -> dict:
    # Discord accepts snowflakes as JSON integers as well as strings, and discord.py sends some as integers
    # (recipient_id, for one). The document only allows strings.
    schemas = dict(components["schemas"])
    schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]}
    return {**components, "schemas": schemas}


_ANNOTATIONS = {"title", "description", "format", "deprecated", "x-discord-union"}


class _Simplifier:
    """Makes the document's schemas cheaper to validate against, with the same meaning: a oneOf of constants
    (Discord's enums) becomes an enum, and a $ref to a schema that does not (directly or not) contain itself is
    replaced by that schema, so validation neither resolves references nor tries every branch of an enum."""

    def __init__(self, schemas: dict) -> None:
        self.schemas = schemas
        self.done: dict[str, Any] = {}
        self.active: set[str] = set()

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/") and len(node) == 1:
            name = ref.rsplit("/", 1)[-1]
            if name in self.done:
                return self.done[name]
            if name in self.active or name not in self.schemas:
                return node  # a cycle: keep the reference
            self.active.add(name)
            self.done[name] = result = self(self.schemas[name])
            self.active.discard(name)
            return result
        node = {key: (value if key in ("enum", "const", "required") else self(value)) for key, value in node.items()}
        branches = node.get("oneOf")
        if (
            isinstance(branches, list)
            and branches
            and all(isinstance(b, dict) and "const" in b and set(b) - {"const"} <= _ANNOTATIONS for b in branches)
        ):
            values = [b["const"] for b in branches]
            del node["oneOf"]
            node["enum"] = [v for v in node["enum"] if v in values] if "enum" in node else values
        return node


def _body_schema(schema: dict, components: dict) -> _BodySchema:
    def validator(sub: dict) -> Draft202012Validator:
        # The document's components sit at the schema root, so "#/components/schemas/..." resolves.
        # No format checker: "format" is not enforced.
        return Draft202012Validator({**sub, "components": components})

    by_type: dict[int, Draft202012Validator] = {}
    for branch in schema.get("anyOf") or schema.get("oneOf") or ():
        target = components["schemas"].get(branch.get("$ref", "").rsplit("/", 1)[-1], branch)
        for value in target.get("properties", {}).get("type", {}).get("enum", []):
            by_type[value] = validator(branch)
    return _BodySchema(validator(schema), by_type)


@functools.lru_cache(maxsize=4)
def load_request_schemas(openapi_path: str, shapes: frozenset[tuple[str, str]]) -> dict[tuple[str, str], _BodySchema]:
    """(METHOD, path shape) -> body schema, for the operations in ``shapes`` that have a JSON request body."""
    doc = json.loads(Path(openapi_path).read_text())
    components = _lenient(doc["components"])
    simplify = _Simplifier(components["schemas"])
    components = {**components, "schemas": {name: simplify(schema) for name, schema in components["schemas"].items()}}
    found = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            key = (method.upper(), _path_shape(path))
            if key not in shapes or not isinstance(operation, dict):
                continue
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                found[key] = _body_schema(simplify(schema), components)
    return found


# --------------------------------------------------------------------------- documented limits

Problem = tuple[tuple[Any, ...], str]  # (location in the body, what is wrong)

_EMBED_TEXT_LIMITS = {("title",): 256, ("description",): 4096, ("footer", "text"): 2048, ("author", "name"): 256}


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


_V2_TYPES = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17}  # what a message with IS_COMPONENTS_V2 may hold
_MEDIA_URL = re.compile(r"^(https?://\S+|attachment://[^/\s]+)$")


def message_problems(body: dict, *, existing_flags: int | None = None) -> list[Problem]:
    """Documented limits a message body breaks: content, embeds and components. ``existing_flags``: the flags
    of the message an edit changes (an edit of an IS_COMPONENTS_V2 message follows its rules)."""
    problems: list[Problem] = []
    flags = body.get("flags") if isinstance(body.get("flags"), int) else None
    was_v2 = bool((existing_flags or 0) & COMPONENTS_V2)
    if was_v2 and flags is not None and not flags & COMPONENTS_V2:
        problems.append((("flags",), "IS_COMPONENTS_V2 cannot be removed from a message"))
    v2 = bool(flags & COMPONENTS_V2) if flags is not None else was_v2
    if v2:
        problems += v2_problems(body)
    content = body.get("content")
    if isinstance(content, str) and len(content) > 2000:
        problems.append((("content",), f"content is {len(content)} characters (max 2000)"))
    embeds = body.get("embeds")
    if isinstance(embeds, list):
        if len(embeds) > 10:
            problems.append((("embeds",), f"{len(embeds)} embeds (max 10)"))
        total = 0
        for i, embed in enumerate(e for e in embeds if isinstance(e, dict)):
            found, length = _embed_problems(embed)
            problems += [(("embeds", i, *loc), text) for loc, text in found]
            total += length
        if total > 6000:
            problems.append((("embeds",), f"embeds hold {total} characters in all (max 6000)"))
    components = body.get("components")
    if isinstance(components, list):
        problems += component_problems(components, v2=v2)
    return problems


def v2_problems(body: dict) -> list[Problem]:
    """What IS_COMPONENTS_V2 forbids or limits: content and embeds, unknown component types, media galleries of
    1-10 items, media URLs other than http(s) or attachment://, and over 4000 characters of text display."""
    problems: list[Problem] = []
    if body.get("content") not in (None, ""):
        problems.append((("content",), "content is not allowed with IS_COMPONENTS_V2 (use a text display)"))
    if body.get("embeds") not in (None, []):
        problems.append((("embeds",), "embeds are not allowed with IS_COMPONENTS_V2"))
    components = body.get("components")
    if not isinstance(components, list):
        return problems
    text = 0
    for where, component in _walk_components(components, ("components",)):
        kind = component.get("type")
        if kind not in _V2_TYPES:
            problems.append(((*where, "type"), f"component type {kind!r} cannot be in a message"))
        if kind == 10 and isinstance(component.get("content"), str):
            text += len(component["content"])
        if kind == 12:
            items = component.get("items")
            if not isinstance(items, list) or not 1 <= len(items) <= 10:
                count = len(items) if isinstance(items, list) else 0
                problems.append(((*where, "items"), f"a media gallery holds 1-10 items, not {count}"))
        for loc, url in _media_urls(component):
            if not isinstance(url, str) or not _MEDIA_URL.match(url):
                problems.append(((*where, *loc), f"media url {url!r} is neither http(s):// nor attachment://"))
    if text > 4000:
        problems.append((("components",), f"text displays hold {text} characters in all (max 4000)"))
    return problems


def _media_urls(component: dict) -> list[tuple[tuple, Any]]:
    """(location, url) of the media a component points at: gallery items, a thumbnail, a file."""
    kind = component.get("type")
    if kind == 12 and isinstance(component.get("items"), list):
        return [
            (("items", i, "media", "url"), _get(item, "media", "url"))
            for i, item in enumerate(component["items"])
            if isinstance(item, dict)
        ]
    if kind == 11:
        return [(("media", "url"), _get(component, "media", "url"))]
    if kind == 13:
        return [(("file", "url"), _get(component, "file", "url"))]
    return []


def attachment_references(components: list) -> list[tuple[tuple, str]]:
    """(location, filename) of every attachment://filename a message's components use."""
    found = []
    for where, component in _walk_components(components, ("components",)):
        for loc, url in _media_urls(component):
            if isinstance(url, str) and url.startswith("attachment://"):
                found.append(((*where, *loc), url.removeprefix("attachment://")))
    return found


def _embed_problems(embed: dict) -> tuple[list[Problem], int]:
    problems: list[Problem] = []
    length = 0
    for keys, limit in _EMBED_TEXT_LIMITS.items():
        text = _get(embed, *keys)
        if isinstance(text, str):
            length += len(text)
            if len(text) > limit:
                problems.append((keys, f"{'.'.join(keys)} is {len(text)} characters (max {limit})"))
    fields = embed.get("fields")
    if isinstance(fields, list):
        if len(fields) > 25:
            problems.append((("fields",), f"{len(fields)} fields (max 25)"))
        for i, item in enumerate(f for f in fields if isinstance(f, dict)):
            for key, limit in (("name", 256), ("value", 1024)):
                text = item.get(key)
                if isinstance(text, str):
                    length += len(text)
                    if len(text) > limit:
                        problems.append((("fields", i, key), f"field {key} is {len(text)} characters (max {limit})"))
    return problems, length


def _walk_components(components: list, loc: tuple) -> Iterable[tuple[tuple, dict]]:
    for i, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        here = (*loc, i)
        yield here, component
        if isinstance(component.get("components"), list):
            yield from _walk_components(component["components"], (*here, "components"))
        if isinstance(component.get("accessory"), dict):
            yield (*here, "accessory"), component["accessory"]
        if isinstance(component.get("component"), dict):  # a label in a modal wraps one component
            yield (*here, "component"), component["component"]


def component_problems(components: list, *, v2: bool = False, loc: tuple = ("components",)) -> list[Problem]:
    """Documented component limits: rows, buttons per row, custom_id length and uniqueness, V2 totals."""
    problems: list[Problem] = []
    walked = list(_walk_components(components, loc))
    if v2:
        if len(walked) > 40:
            problems.append((loc, f"{len(walked)} components (max 40 with IS_COMPONENTS_V2)"))
    else:
        if len(components) > 5:
            problems.append((loc, f"{len(components)} action rows (max 5)"))
        for i, row in enumerate(components):
            children = row.get("components") if isinstance(row, dict) else None
            if not isinstance(children, list):
                continue
            kinds = [c.get("type") for c in children if isinstance(c, dict)]
            buttons = kinds.count(2)
            selects = sum(1 for k in kinds if k in _SELECTS)
            if buttons > 5:
                problems.append(((*loc, i), f"{buttons} buttons in one action row (max 5)"))
            if selects and len(kinds) > 1:
                problems.append(((*loc, i), "a select menu must be alone in its action row"))
    seen: dict[str, tuple] = {}
    for where, component in walked:
        custom_id = component.get("custom_id")
        if not isinstance(custom_id, str):
            continue
        if not 1 <= len(custom_id) <= 100:
            problems.append(((*where, "custom_id"), f"custom_id is {len(custom_id)} characters (1-100)"))
        if custom_id in seen:
            problems.append(((*where, "custom_id"), f"custom_id {custom_id!r} is used twice in one message"))
        seen[custom_id] = where
    return problems


def callback_problems(body: dict, *, existing_flags: int | None = None) -> list[Problem]:
    """Documented limits an interaction callback breaks (its data is a message, choices or a modal).
    ``existing_flags``: those of the message an update (type 7) changes."""
    data = body.get("data")
    if not isinstance(data, dict):
        return []
    kind = body.get("type")
    if kind in (4, 7):
        flags = existing_flags if kind == 7 else None
        return [(("data", *loc), text) for loc, text in message_problems(data, existing_flags=flags)]
    if kind == 8:
        choices = data.get("choices")
        if isinstance(choices, list) and len(choices) > 25:
            return [(("data", "choices"), f"{len(choices)} autocomplete choices (max 25)")]
    if kind == 9:
        problems: list[Problem] = []
        title, custom_id, rows = data.get("title"), data.get("custom_id"), data.get("components")
        if isinstance(title, str) and len(title) > 45:
            problems.append((("data", "title"), f"modal title is {len(title)} characters (max 45)"))
        if isinstance(custom_id, str) and not 1 <= len(custom_id) <= 100:
            problems.append((("data", "custom_id"), f"custom_id is {len(custom_id)} characters (1-100)"))
        if isinstance(rows, list):
            if not 1 <= len(rows) <= 5:
                problems.append((("data", "components"), f"{len(rows)} modal components (1-5)"))
            problems += [
                p for p in component_problems(rows, v2=True, loc=("data", "components")) if p[1].startswith("custom_id")
            ]
        return problems
    return []


def _schema_message(error: ValidationError) -> str:
    """jsonschema's message, without quoting a whole long instance back."""
    if error.validator in ("maxLength", "minLength", "maxItems", "minItems"):
        unit = "characters" if isinstance(error.instance, str) else "items"
        return f"{len(error.instance)} {unit} ({error.validator} {error.validator_value})"
    return error.message if len(error.message) <= 300 else error.message[:297] + "..."


def _pointer(loc: Iterable[Any]) -> str:
    return "".join(f"/{part}" for part in loc)


def _form_errors(problems: list[tuple[tuple, str, str]]) -> dict:
    """Discord's nested ``errors`` object for a 50035 Invalid Form Body."""
    errors: dict = {}
    for loc, code, text in problems:
        node = errors
        for part in loc:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": text})
    return errors


_ERROR_CODES = {
    "maxLength": "BASE_TYPE_MAX_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minLength": "BASE_TYPE_MIN_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "required": "BASE_TYPE_REQUIRED",
}


# --------------------------------------------------------------------------- multipart bodies


def _parse_multipart(content_type: str, raw: bytes) -> list[_Upload]:
    """The parts of a multipart/form-data body; ``filename`` is "" for plain fields such as payload_json."""
    header = _MimeHeaders()
    header["content-type"] = content_type
    boundary = header.get_param("boundary", header="content-type")
    if not boundary:
        return []
    parts = []
    for chunk in (b"\r\n" + raw).split(b"\r\n--" + str(boundary).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = _MimeHeaders()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        ctype = headers.get("content-type")
        parts.append(
            _Upload(
                headers.get_param("name", header="content-disposition"),
                headers.get_filename() or "",
                ctype.split(";")[0].strip() if ctype else None,
                data,
            )
        )
    return parts


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # after /api/v10 (or from the root, for the CDN)
    handler: str  # DiscordStandIn._on_<handler>
    bot_auth: bool  # needs "Authorization: Bot <token>"; interaction and webhook routes use their token instead
    body: str | None = None  # "message" or "callback": which documented limits apply to the body
    api: bool = True  # False: served from the root (the CDN)

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", self.template)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        return re.compile(f"^{pattern}$")

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


_APP_HOOK = "/webhooks/{application_id}/{token}"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/users/@me", "get_current_user", True),
    Route("GET", "/users/{user_id}", "get_user", True),
    Route("GET", "/oauth2/applications/@me", "get_application", True),
    Route("GET", "/applications/{application_id}/commands", "get_commands", True),
    Route("PUT", "/applications/{application_id}/commands", "put_commands", True),
    Route("GET", "/applications/{application_id}/guilds/{guild_id}/commands", "get_commands", True),
    Route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", "put_commands", True),
    Route("POST", "/interactions/{interaction_id}/{token}/callback", "create_callback", False, "callback"),
    Route("POST", _APP_HOOK, "create_followup", False, "message"),
    Route("GET", _APP_HOOK + "/messages/@original", "get_webhook_message", False),
    Route("PATCH", _APP_HOOK + "/messages/@original", "edit_webhook_message", False, "message"),
    Route("DELETE", _APP_HOOK + "/messages/@original", "delete_webhook_message", False),
    Route("GET", _APP_HOOK + "/messages/{message_id}", "get_webhook_message", False),
    Route("PATCH", _APP_HOOK + "/messages/{message_id}", "edit_webhook_message", False, "message"),
    Route("DELETE", _APP_HOOK + "/messages/{message_id}", "delete_webhook_message", False),
    Route("POST", "/channels/{channel_id}/messages", "create_channel_message", True, "message"),
    Route("GET", "/channels/{channel_id}/messages/{message_id}", "get_channel_message", True),
    Route("PATCH", "/channels/{channel_id}/messages/{message_id}", "edit_channel_message", True, "message"),
    Route("DELETE", "/channels/{channel_id}/messages/{message_id}", "delete_channel_message", True),
    Route("GET", "/channels/{channel_id}", "get_channel", True),
    Route("POST", "/users/@me/channels", "create_dm", True),
    Route("GET", "/guilds/{guild_id}/members/{user_id}", "get_member", True),
    Route("GET", "/gateway", "get_gateway", False),
    Route("GET", "/gateway/bot", "get_bot_gateway", True),
    Route("GET", "/attachments/{channel_id}/{attachment_id}/{filename}", "get_attachment", False, api=False),
)


# --------------------------------------------------------------------------- the stand-in


class DiscordStandIn:
    """Discord's REST API, gateway and CDN on 127.0.0.1. See the module docstring.

    What a test reads: ``requests`` (every REST/CDN call), ``messages``, ``interactions``, ``commands`` (scope ->
    commands as stored, with ``contexts``/``integration_types`` for global ones) and ``command_puts``,
    ``violations``, ``rate_limited``, ``refused_bot_writes``, ``attachment_bytes()``, and the gateway's
    ``identifies``, ``identified_shards``, ``connections``, ``live_shards()`` and ``shard_of()``. What it drives:
    ``send_command``, ``send_component``, ``send_autocomplete``, ``send_message_command``, ``send_modal_submit``,
    ``add_attachment``, ``add_user_message``, ``add_channel``, ``add_guild``, ``add_foreign_guild``,
    ``set_locale``, ``close_dms``, ``disable_external_apps``, ``fail_next``, ``edit_rate``, ``disconnect_gateway``,
    ``wait_ready`` and ``wait_for``. ``token_ttl`` and ``ack_deadline`` (seconds), ``recommended_shards`` (what
    ``/gateway/bot`` answers) and the rate limits (``rate_limits``, ``webhook_rate``, ``message_create_rate``,
    ``message_edit_rate``, ``route_rate``, ``global_rate``) may be changed at any time.
    """

    def __init__(
        self,
        *,
        token: str = "test-discord-token",
        openapi_path: Path = OPENAPI_PATH,
        token_ttl: float = 900.0,
        ack_deadline: float = 3.0,
    ) -> None:
        self.token = token
        self.openapi_path = Path(openapi_path)
        self.token_ttl = token_ttl
        self.ack_deadline = ack_deadline
        self.edit_rate: tuple[int, float] | None = None
        # Discord's per-route limits (it does not publish the numbers; these are observed ones). Fixed windows,
        # as discord.py models them: (requests, seconds). Switch all off with rate_limits = False.
        self.rate_limits = True
        self.webhook_rate = (5, 2.0)  # interaction webhooks (followups, @original and message GET/PATCH/DELETE),
        # per application and token
        self.message_create_rate = (5, 5.0)  # POST /channels/{id}/messages, per channel
        self.message_edit_rate = (5, 5.0)  # PATCH and DELETE /channels/{id}/messages/{id}, per channel
        self.route_rate = (50, 1.0)  # every other bot-token route, per route and channel or guild
        self.global_rate = (50, 1.0)  # all bot-token routes together; callbacks and the CDN are not limited
        self.recommended_shards = 1  # the shard count /gateway/bot recommends

        self.application_id = self.bot_user_id = APPLICATION_ID
        self.guild_id, self.channel_id, self.admin_role_id = GUILD_ID, CHANNEL_ID, ADMIN_ROLE_ID
        self.owner_id, self.user_id = OWNER_ID, USER_ID

        self.requests: list[Recorded] = []
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int | None, list[dict]] = {}
        self.command_puts: list[tuple[int | None, float]] = []
        self.violations: list[str] = []
        self.rate_limited: list[str] = []
        self.refused_bot_writes: list[str] = []
        self.identifies = 0
        self.identified_shards: list[tuple[int, int]] = []  # (shard id, shard count) of each accepted IDENTIFY
        self.connections = 0

        self.host = ""
        self._counter = itertools.count(1)
        self._verify_key = secrets.token_hex(32)
        self._cdn_key = secrets.token_bytes(32)
        self._users: dict[int, dict] = {
            self.bot_user_id: _user_object(self.bot_user_id, "standin-bot", None, bot=True),
            self.user_id: _user_object(self.user_id, "alice", "Alice"),
            self.owner_id: _user_object(self.owner_id, "owner", "Owner"),
        }
        self._member_roles: dict[int, list[int]] = {uid: [] for uid in self._users}
        self._channels: dict[int, dict] = {}
        self._guilds: dict[int, _Guild] = {
            self.guild_id: _Guild(self.guild_id, "Stand-in Guild", True, self.channel_id)
        }
        self._add_text_channel(self.channel_id, "general")
        self._dm_by_user: dict[int, int] = {}
        self._nonces: dict[tuple[int, str], Message] = {}  # (channel, nonce) -> the latest message with it
        self._outside: set[int] = set()  # private channels the bot is not part of (context 2)
        self._dms_closed: set[int] = set()  # users who do not accept DMs from the bot
        self._user_locales: dict[int, str] = {}  # set_locale: a member's Discord language
        self._files: dict[int, _StoredFile] = {}
        self._by_token: dict[str, Interaction] = {}
        self._faults: list[_Fault] = []
        self._edit_times: dict[int, list[float]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._checked: dict[tuple[Route, bytes], list[ValidationError]] = {}
        self._sessions: dict[str, int] = {}  # session id -> last sequence number sent
        self._session_shards: dict[str, tuple[int, int]] = {}  # session id -> (shard id, shard count)
        self._sockets: set[_Connection] = set()
        self._live: dict[int, _Connection] = {}  # shard id -> the connection its events go to
        self._tasks: set[asyncio.Task] = set()
        self._schemas: dict[Route, _BodySchema] = {}
        self._runner: web.AppRunner | None = None

    # ---- lifecycle

    async def start(self) -> None:
        shapes = frozenset((r.method, _path_shape(r.template)) for r in ROUTES if r.api)
        by_shape = load_request_schemas(str(self.openapi_path), shapes)
        self._schemas = {
            r: by_shape[(r.method, _path_shape(r.template))]
            for r in ROUTES
            if (r.method, _path_shape(r.template)) in by_shape
        }
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._on_gateway)
        app.router.add_route("*", "/{tail:.*}", self._on_http)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = f"127.0.0.1:{port}"

    async def close(self) -> None:
        for conn in list(self._sockets):
            await conn.ws.close(code=1001, message=b"stand-in closing")
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_base(self) -> str:
        return f"http://{self.host}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}/gateway"

    @property
    def cdn_base(self) -> str:
        return f"http://{self.host}"

    # ---- test controls

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 429,
        *,
        times: int = 1,
        retry_after: float = 0.2,
        code: int | None = None,
        via: bool = True,
        body: dict | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose method matches ("*": any) and whose path after /api/v10
        matches ``path_pattern`` (re.search) with ``status``. A 429 has Discord's body, X-RateLimit-* headers
        and, unless ``via`` is False, the ``Via`` header discord.py needs to retry."""
        self._faults.append(
            _Fault(method.upper(), re.compile(path_pattern), status, times, retry_after, code, via, body)
        )

    def disconnect_gateway(self, shard: int | None = None) -> None:
        """Close the live gateway sockets (or only ``shard``'s) with 4000; discord.py reconnects and RESUMEs."""
        for shard_id in list(self._live) if shard is None else [shard]:
            conn = self._live.pop(shard_id, None)
            if conn is not None and not conn.ws.closed:
                self._spawn(conn.ws.close(code=4000, message=b"Unknown error."))

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = None, *, ephemeral: bool = True
    ) -> dict:
        """Store ``data`` on the CDN and return its attachment object, usable as a ``send_command`` option value."""
        return self._store_file(self.channel_id, filename, data, content_type, ephemeral=ephemeral)

    def add_user_message(
        self,
        content: str,
        *,
        user_id: int | None = None,
        channel_id: int | None = None,
        attachments: Iterable[dict] = (),
        embeds: Iterable[dict] = (),
    ) -> Message:
        """Store a message written by a member (alice by default); it is not dispatched on the gateway.
        ``attachments`` are ``add_attachment`` dicts (CDN-servable), ``embeds`` Discord embed objects (say
        ``{"type": "video", "url": ..., "video": {"url": ...}}``)."""
        user_id = self.user_id if user_id is None else user_id
        channel_id = self.channel_id if channel_id is None else channel_id
        if channel_id not in self._channels:
            raise ValueError(f"no channel {channel_id}")
        kept = []
        for attachment in attachments:
            if _as_id(attachment.get("id")) not in self._files:
                raise ValueError(f"attachment {attachment.get('id')} was not made with add_attachment")
            kept.append({k: v for k, v in copy.deepcopy(attachment).items() if k != "ephemeral"})
        message = Message(
            self._mint(),
            channel_id,
            user_id,
            "channel",
            content=content,
            author=self._user(user_id),
            attachments=kept,
            embeds=[copy.deepcopy(e) for e in embeds],
        )
        self.messages[message.id] = message
        return message

    async def add_channel(self, name: str, *, guild_id: int | None = None) -> int:
        """Add a text channel to a guild the bot is in (the original one by default), announced with
        CHANNEL_CREATE if a client is connected."""
        guild = self._guilds.get(self.guild_id if guild_id is None else guild_id)
        if guild is None:
            raise ValueError(f"no guild {guild_id}")
        channel_id = self._mint()
        self._add_text_channel(channel_id, name, guild.id)
        conn = self._guild_connection(guild.id)
        if conn is not None and guild.member:
            await self._dispatch_event(conn, "CHANNEL_CREATE", copy.deepcopy(self._channels[channel_id]))
        return channel_id

    async def add_guild(
        self, name: str | None = None, *, shard: int | None = None, num_shards: int | None = None
    ) -> tuple[int, int]:
        """Add a guild the bot is a member of, with one text channel: (guild_id, channel_id). Its id maps to
        ``shard`` of ``num_shards`` (default: see ``shard_of``) if given. Its shard's client, if connected, is sent
        its GUILD_CREATE; later IDENTIFYs of that shard list it in READY."""
        guild_id = None
        if shard is not None:
            num_shards = self._shard_count() if num_shards is None else num_shards
            if not 0 <= shard < num_shards:
                raise ValueError(f"shard {shard} is not one of {num_shards}")
            guild_id = self._mint()
            while self.shard_of(guild_id, num_shards) != shard:
                guild_id -= 1 << 22  # minted a millisecond earlier
        guild_id, channel_id = self._new_guild(name, member=True, guild_id=guild_id)
        conn = self._guild_connection(guild_id)
        if conn is not None:
            await self._dispatch_event(conn, "GUILD_CREATE", self._guild_create(guild_id))
        return guild_id, channel_id

    async def add_foreign_guild(self, name: str | None = None) -> tuple[int, int]:
        """Add a guild the bot is not in, where only its user install reaches (send_command(..., installs=1));
        never sent on the gateway. Bot-token routes touching it answer 403 50001 (see ``refused_bot_writes``)."""
        return self._new_guild(name, member=False)

    def close_dms(self, user_id: int) -> None:
        """``user_id`` no longer accepts DMs from the bot: posting to that DM answers 403 50007."""
        self._dms_closed.add(user_id)

    def disable_external_apps(self, guild_id: int) -> None:
        """Deny @everyone USE_EXTERNAL_APPS in the guild: a user-installed app's responses there become
        ephemeral, whatever the bot asks."""
        self._guilds[guild_id].external_apps = False

    def attachment_bytes(self, attachment: dict | str | int) -> bytes:
        """The bytes stored on the CDN for an attachment object (or id)."""
        key = attachment.get("id") if isinstance(attachment, dict) else attachment
        return self._files[int(key)].data

    def shard_of(self, guild_id: int | None, num_shards: int | None = None) -> int:
        """The shard whose connection gets ``guild_id``'s events (0 for None). ``num_shards`` defaults to the
        shard count of the connected clients, else ``recommended_shards``."""
        if guild_id is None:
            return 0
        return (guild_id >> 22) % (self._shard_count() if num_shards is None else num_shards)

    def live_shards(self) -> set[int]:
        """The shard ids that have a live (IDENTIFIED or RESUMED) connection."""
        return {shard for shard, conn in self._live.items() if not conn.ws.closed}

    async def wait_ready(self, timeout: float = 15, shards: Iterable[int] | None = None) -> None:
        """Wait until ``shards`` (default: every shard of the count the clients IDENTIFY with; shard 0 if
        unsharded) have a live client that has IDENTIFIED (or RESUMED) and been sent READY + GUILD_CREATE."""
        wanted = None if shards is None else set(shards)

        def ready() -> bool:
            live = self.live_shards()
            return bool(live) and (set(range(self._shard_count())) if wanted is None else wanted) <= live

        what = f"shards {sorted(wanted)}" if wanted is not None else "every shard"
        await self._poll(ready, timeout, f"{what} to IDENTIFY on the gateway")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Poll ``predicate`` every 20 ms until it returns something truthy, and return that."""
        return await self._poll(predicate, timeout, getattr(predicate, "__qualname__", repr(predicate)))

    async def _poll(self, predicate: Callable[[], Any], timeout: float, what: str | Callable[[], str]) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-8:]]
                raise TimeoutError(
                    f"waited {timeout}s for {what() if callable(what) else what}; last requests: {recent}; "
                    f"violations: {self.violations}"
                )
            await asyncio.sleep(0.02)

    # ---- interactions a test sends
    #
    # Every send_* takes where the interaction comes from: ``guild_id`` and ``channel_id`` (default: the original
    # guild and its ``general``; a channel alone names its guild), ``context`` (0 a guild, 1 the DM with the bot,
    # 2 a group DM or a DM between users; for 2, ``private_channel`` is "group" or "dm") and ``installs`` (0: the
    # app's server install, 1: its user install). ``attachment_size_limit`` overrides the interaction's upload limit.
    # ``locale`` is the member's Discord language (default: the one ``set_locale`` gave the user, else en-US) and
    # ``guild_locale`` the server's preferred locale the interaction carries (default: the guild's, see
    # ``set_locale``); follow-on interactions (a modal's submit) keep the locales of the one that opened them.

    async def send_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int | None = None,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        age: float = 0.0,
        channel_id: int | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        guild_id: int | None = None,
        context: int = 0,
        installs: int = 0,
        attachment_size_limit: int | None = None,
        private_channel: str = "group",
        locale: str | None = None,
        guild_locale: str | None = None,
    ) -> Interaction:
        """Dispatch a chat-input command. Option values: str, bool, int, float, an ``add_attachment`` dict, or a
        raw option dict with a "type". ``age`` seconds shift the interaction's creation into the past.
        ``permissions`` defaults to the owner's or an Admins member's (everything) or else @everyone's."""
        origin = self._origin(
            user_id, guild_id, channel_id, context, installs, permissions, roles, attachment_size_limit, private_channel
        )
        origin = self._localized(origin, locale, guild_locale)
        built, resolved = self._build_options(options or {})
        data = self._command_data(name, self._wrap_options(built, subcommand, group), resolved, origin)
        return await self._send_interaction(APPLICATION_COMMAND, data, origin, age=age)

    async def send_autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user_id: int | None = None,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        age: float = 0.0,
        channel_id: int | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        guild_id: int | None = None,
        context: int = 0,
        installs: int = 0,
        private_channel: str = "group",
        locale: str | None = None,
        guild_locale: str | None = None,
    ) -> Interaction:
        """Dispatch an autocomplete interaction with ``options`` typed so far; ``focused`` names the one in focus."""
        if focused not in options:
            raise ValueError(f"focused option {focused!r} is not among {list(options)}")
        origin = self._origin(
            user_id, guild_id, channel_id, context, installs, permissions, roles, None, private_channel
        )
        origin = self._localized(origin, locale, guild_locale)
        built, _ = self._build_options(options)
        for option in built:
            if option["name"] == focused:
                option["focused"] = True
        data = self._command_data(name, self._wrap_options(built, subcommand, group), {}, origin)
        return await self._send_interaction(AUTOCOMPLETE, data, origin, age=age)

    async def send_message_command(
        self,
        name: str,
        message: Message | int,
        *,
        user_id: int | None = None,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        age: float = 0.0,
        guild_id: int | None = None,
        channel_id: int | None = None,
        context: int = 0,
        installs: int = 0,
        attachment_size_limit: int | None = None,
        locale: str | None = None,
        guild_locale: str | None = None,
    ) -> Interaction:
        """Dispatch a message context-menu command (data.type 3) on ``message``, which Discord sends resolved."""
        message = self._message_or_id(message)
        if channel_id is None and guild_id is None and context == 0:
            channel_id = message.channel_id
        origin = self._origin(
            user_id, guild_id, channel_id, context, installs, permissions, roles, attachment_size_limit, "group"
        )
        origin = self._localized(origin, locale, guild_locale)
        resolved = {"messages": {str(message.id): message.to_api()}}
        data = self._command_data(name, [], resolved, origin, kind=3)
        data["target_id"] = str(message.id)
        return await self._send_interaction(APPLICATION_COMMAND, data, origin, age=age)

    async def send_component(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int | None = None,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        component_type: int = 2,
        values: list[str] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        context: int | None = None,
        installs: int | None = None,
        locale: str | None = None,
        guild_locale: str | None = None,
    ) -> Interaction:
        """Dispatch a click on (or a selection in) the component ``custom_id`` of message ``message_id``. Where it
        comes from defaults to where the message is (and, for an interaction's response, how that was installed)."""
        message = self._message_or_id(message_id)
        if custom_id not in {c.get("custom_id") for _, c in _walk_components(message.components, ())}:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        source = self.interactions.get(message.interaction_id or 0)
        if context is None:
            context = source.context if source else (0 if self._channel_guild(message.channel_id) else 1)
        if installs is None:
            installs = source.installs if source else 0
        if channel_id is None and (guild_id is None or guild_id == self._channel_guild(message.channel_id)):
            channel_id = message.channel_id
        origin = self._origin(user_id, guild_id, channel_id, context, installs, permissions, roles, None, "group")
        origin = self._localized(origin, locale, guild_locale)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type in _SELECTS:
            data["values"] = list(values or [])
        return await self._send_interaction(MESSAGE_COMPONENT, data, origin, message=message)

    async def send_modal_submit(self, opened_by: Interaction, values: dict[str, str | list]) -> Interaction:
        """Submit the modal the bot opened (callback type 9) in answer to ``opened_by``, filling its inputs by
        custom_id: a text input takes a str, a file upload a list of ``add_attachment`` dicts, a select a list of
        values. Naming an input the modal does not have is a ValueError, and so is leaving a required one empty."""
        modal = next((body.get("data") for _, body in opened_by.callbacks if body.get("type") == 9), None)
        if not isinstance(modal, dict):
            raise ValueError(f"interaction {opened_by.id} was not answered with a modal (callback type 9)")
        unknown = set(values) - {c.get("custom_id") for _, c in _walk_components(modal.get("components", []), ())}
        if unknown:
            raise ValueError(f"the modal {modal.get('custom_id')!r} has no input {sorted(unknown)}")
        attachments: dict[str, dict] = {}
        components = [
            self._submitted(c, values, attachments) for c in _components_response(modal.get("components") or [])
        ]
        data: dict[str, Any] = {"custom_id": modal.get("custom_id"), "components": components}
        if attachments:
            data["resolved"] = {"attachments": attachments}
        message = self.messages.get(opened_by.message_id or 0)
        return await self._send_interaction(MODAL_SUBMIT, data, opened_by.origin, message=message)

    @staticmethod
    def _submitted(component: dict, values: dict[str, Any], attachments: dict[str, dict]) -> dict:
        """One modal component as Discord sends it back on submit."""
        kind, ident = component.get("type"), component.get("id")
        if kind == 1:
            return {
                "type": 1,
                "id": ident,
                "components": [
                    DiscordStandIn._submitted(c, values, attachments) for c in component.get("components", [])
                ],
            }
        if kind == 18:
            return {
                "type": 18,
                "id": ident,
                "component": DiscordStandIn._submitted(component["component"], values, attachments),
            }
        custom_id = component.get("custom_id")
        if custom_id is None:
            return {"type": kind, "id": ident}
        given = values.get(custom_id)
        if given in (None, "", []) and component.get("required", True) is not False:
            raise ValueError(f"the modal's input {custom_id!r} is required")
        if kind == 4:
            if given is not None and not isinstance(given, str):
                raise TypeError(f"text input {custom_id!r} takes a str")
            return {"type": 4, "id": ident, "custom_id": custom_id, "value": given or ""}
        items = list(given or [])
        if kind == 19:
            for item in items:
                if not (isinstance(item, dict) and {"id", "filename", "url"} <= item.keys()):
                    raise TypeError(f"file upload {custom_id!r} takes attachment dicts from add_attachment")
                attachments[str(item["id"])] = copy.deepcopy(item)
            return {"type": 19, "id": ident, "custom_id": custom_id, "values": [str(i["id"]) for i in items]}
        return {"type": kind, "id": ident, "custom_id": custom_id, "values": [str(v) for v in items]}

    def _message_or_id(self, message: Message | int) -> Message:
        found = self.messages.get(message.id if isinstance(message, Message) else message)
        if found is None or found.deleted:
            raise ValueError(f"no message {message if isinstance(message, int) else message.id}")
        return found

    def _build_options(self, options: dict[str, Any]) -> tuple[list[dict], dict]:
        built, attachments, channels, users = [], {}, {}, {}
        for name, value in options.items():
            if isinstance(value, dict) and "type" in value:
                built.append({"name": name, **copy.deepcopy(value)})
                if value["type"] == 6 and int(value["value"]) in self._users:  # user options come resolved
                    users[str(value["value"])] = dict(self._users[int(value["value"])])
                if value["type"] == 7 and int(value["value"]) in self._channels:  # channel options come resolved
                    channel = copy.deepcopy(self._channels[int(value["value"])])
                    channels[str(value["value"])] = channel | {"permissions": str(ALL_PERMISSIONS)}
            elif isinstance(value, dict) and {"id", "filename", "url"} <= value.keys():
                attachments[str(value["id"])] = copy.deepcopy(value)
                built.append({"name": name, "type": 11, "value": str(value["id"])})
            elif isinstance(value, (bool, int, float, str)):
                kind = {bool: 5, int: 4, float: 10, str: 3}[type(value)]
                built.append({"name": name, "type": kind, "value": value})
            else:
                raise TypeError(f"option {name!r}: cannot send a {type(value).__name__}")
        resolved = {"attachments": attachments} if attachments else {}
        if channels:
            resolved["channels"] = channels
        if users:
            resolved["users"] = users
        return built, resolved

    @staticmethod
    def _wrap_options(options: list[dict], subcommand: str | None, group: str | None) -> list[dict]:
        if group is not None and subcommand is None:
            raise ValueError("a subcommand group needs a subcommand")
        if subcommand is not None:
            options = [{"name": subcommand, "type": 1, "options": options}]
        if group is not None:
            options = [{"name": group, "type": 2, "options": options}]
        return options

    def _command_data(self, name: str, options: list[dict], resolved: dict, origin: _Origin, kind: int = 1) -> dict:
        """The command's data; a synced command keeps its id, and one Discord would not offer here is a ValueError."""
        command, scope = None, None
        if origin.guild_id is not None and origin.context == 0:
            command = next(
                (c for c in self.commands.get(origin.guild_id, []) if c["name"] == name and c.get("type", 1) == kind),
                None,
            )
            scope = origin.guild_id if command is not None else None
        if command is None:
            command = next(
                (c for c in self.commands.get(None, []) if c["name"] == name and c.get("type", 1) == kind), None
            )
            if command is not None:
                contexts = command.get("contexts")
                if contexts is None and command.get("dm_permission") is False:
                    contexts = [0]
                if contexts is not None and origin.context not in contexts:
                    raise ValueError(f"command {name!r} allows contexts {contexts}, not {origin.context}")
                if origin.installs not in (command.get("integration_types") or [0]):
                    raise ValueError(
                        f"command {name!r} is installable as {command.get('integration_types')}, not {origin.installs}"
                    )
        data: dict[str, Any] = {"id": command["id"] if command else str(self._mint()), "name": name, "type": kind}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if scope is not None:  # discord.py routes guild commands by it
            data["guild_id"] = str(scope)
        return data

    def set_locale(self, locale: str, *, user_id: int | None = None, guild_id: int | None = None) -> None:
        """A member's Discord language (``user_id``) or a server's preferred locale (``guild_id``; the server's
        GUILD_CREATE says it from the next connect on): what their interactions carry unless a send_* names one."""
        if (user_id is None) == (guild_id is None):
            raise ValueError("set_locale takes user_id or guild_id")
        if user_id is not None:
            self._user(user_id)
            self._user_locales[user_id] = locale
        else:
            guild = self._guilds.get(guild_id or 0)
            if guild is None:
                raise ValueError(f"no guild {guild_id}")
            guild.locale = locale

    def _localized(self, origin: _Origin, locale: str | None, guild_locale: str | None) -> _Origin:
        chosen = self._user_locales.get(origin.user_id, DEFAULT_LOCALE) if locale is None else locale
        return replace(origin, locale=chosen, guild_locale=guild_locale)

    def _origin(
        self,
        user_id: int | None,
        guild_id: int | None,
        channel_id: int | None,
        context: int,
        installs: int,
        permissions: int | None,
        roles: Iterable[int],
        size_limit: int | None,
        private_channel: str,
    ) -> _Origin:
        user_id = self.user_id if user_id is None else user_id
        self._user(user_id)
        if context not in (0, 1, 2) or installs not in (0, 1):
            raise ValueError(f"context is 0, 1 or 2 and installs 0 or 1, got {context} and {installs}")
        if context == 0:
            if guild_id is None:
                guild_id = self.guild_id if channel_id is None else self._channel_guild(channel_id)
            guild = self._guilds.get(guild_id or 0)
            if guild is None:
                raise ValueError(f"{channel_id if channel_id else guild_id} is not a guild channel or guild")
            if not guild.member and installs == 0:
                raise ValueError(f"the bot is not in guild {guild.id}: only its user install (installs=1) works there")
            channel_id = guild.system_channel_id if channel_id is None else channel_id
            channel = self._channels.get(channel_id)
            if channel is None or channel["type"] != 0 or channel.get("guild_id") != str(guild.id):
                raise ValueError(f"{channel_id} is not a text channel of guild {guild.id} (see add_channel)")
        else:
            if guild_id is not None:
                raise ValueError(f"context {context} has no guild")
            if context == 1:
                dm = self._dm_channel(user_id)
                if channel_id not in (None, dm):
                    raise ValueError(f"context 1 is the bot's DM with the user, channel {dm}")
                channel_id = dm
            else:
                if installs != 1:
                    raise ValueError("only a user-installed app (installs=1) can be used in context 2")
                if channel_id is None:
                    if private_channel not in ("group", "dm"):
                        raise ValueError(f"private_channel is 'group' or 'dm', got {private_channel!r}")
                    channel_id = self._private_channel(user_id, group=private_channel == "group")
                elif channel_id not in self._outside or self._channels[channel_id]["type"] not in (1, 3):
                    raise ValueError(f"{channel_id} is not a private channel the bot is outside of")
        roles = tuple(int(r) for r in roles)
        if permissions is None:
            admin = user_id == self.owner_id or self.admin_role_id in roles
            permissions = ALL_PERMISSIONS if admin else EVERYONE_PERMISSIONS
        return _Origin(
            user_id,
            guild_id,
            channel_id,
            context,
            installs,
            permissions,
            roles,
            ATTACHMENT_SIZE_LIMIT if size_limit is None else size_limit,
        )

    def _interaction_payload(self, kind: int, interaction_id: int, token: str, data: dict, origin: _Origin) -> dict:
        user = self._user(origin.user_id)
        channel = self._channels[origin.channel_id]
        owners: dict[str, str] = {}
        guild = self._guilds.get(origin.guild_id or 0)
        if origin.installs == 0 or (guild is not None and guild.member):
            owners["0"] = str(guild.id) if guild is not None else "0"
        if origin.installs == 1:
            owners["1"] = str(origin.user_id)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "channel_id": str(origin.channel_id),
        }
        if guild is not None:
            member = self._member(origin.user_id)
            member.update(roles=[str(r) for r in origin.roles], permissions=str(origin.permissions))
            listed = {k: v for k, v in channel.items() if k != "permission_overwrites"}
            app_permissions = EVERYONE_PERMISSIONS if guild.member else EVERYONE_PERMISSIONS & RESPONSE_PERMISSIONS
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": origin.guild_locale or guild.locale, "features": []},
                    "channel": {**listed, "permissions": str(origin.permissions)},
                    "member": member,
                    "app_permissions": str(app_permissions),
                    "guild_locale": origin.guild_locale or guild.locale,
                }
            )
        else:
            payload.update(
                {
                    "channel": copy.deepcopy(channel),
                    "user": user,
                    "app_permissions": str(EVERYONE_PERMISSIONS & RESPONSE_PERMISSIONS),
                }
            )
        payload.update(
            {
                "locale": origin.locale,
                "entitlements": [],
                "authorizing_integration_owners": owners,
                "context": origin.context,
                "attachment_size_limit": origin.attachment_size_limit,
                "data": data,
            }
        )
        return payload

    async def _send_interaction(
        self, kind: int, data: dict, origin: _Origin, *, age: float = 0.0, message: Message | None = None
    ) -> Interaction:
        created = time.time() - age
        interaction_id = self._mint(created)
        token = (
            base64.urlsafe_b64encode(f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}".encode())
            .decode()
            .rstrip("=")
        )
        payload = self._interaction_payload(kind, interaction_id, token, data, origin)
        if message is not None:
            payload["message"] = message.to_api()
        guild = self._guilds.get(origin.guild_id or 0)
        conn = await self._connection_for(origin.guild_id if guild is not None and guild.member else None)
        interaction = Interaction(
            interaction_id,
            token,
            kind,
            snowflake_time(interaction_id),
            payload,
            origin.user_id,
            message_id=message.id if message else None,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            context=origin.context,
            installs=origin.installs,
            attachment_size_limit=origin.attachment_size_limit,
            origin=origin,
        )
        self.interactions[interaction_id] = interaction
        self._by_token[token] = interaction

        def stamp() -> None:
            interaction.dispatched_at = time.monotonic()

        await self._dispatch_event(conn, "INTERACTION_CREATE", payload, stamp)
        return interaction

    # ---- world

    def _mint(self, at: float | None = None) -> int:
        return snowflake_at(time.time() if at is None else at, next(self._counter))

    def _add_text_channel(self, channel_id: int, name: str, guild_id: int | None = None) -> None:
        guild_id = self.guild_id if guild_id is None else guild_id
        self._channels[channel_id] = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": name,
            "position": sum(1 for c in self._channels.values() if c.get("guild_id") == str(guild_id)),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def _new_guild(self, name: str | None, *, member: bool, guild_id: int | None = None) -> tuple[int, int]:
        guild_id, channel_id = guild_id or self._mint(), self._mint()
        name = name or f"Guild {len(self._guilds) + 1}"
        self._guilds[guild_id] = _Guild(guild_id, name, member, channel_id)
        self._add_text_channel(channel_id, "general", guild_id)
        return guild_id, channel_id

    def _dm_channel(self, user_id: int) -> int:
        """The bot's DM channel with ``user_id`` (the one POST /users/@me/channels returns)."""
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel_id = self._dm_by_user[user_id] = self._mint()
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._user(user_id)],
            }
        return channel_id

    def _private_channel(self, user_id: int, *, group: bool) -> int:
        """A group DM of ``user_id`` and a friend, or their DM with the friend: the bot is in neither."""
        channel_id, friend = self._mint(), self._mint()
        recipients = [self._user(friend)]
        if group:
            recipients.insert(0, self._user(user_id))
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 3,
                "name": None,
                "icon": None,
                "owner_id": str(user_id),
                "last_message_id": None,
                "flags": 0,
                "recipients": recipients,
            }
        else:
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": recipients,
            }
        self._outside.add(channel_id)
        return channel_id

    def _channel_guild(self, channel_id: int) -> int | None:
        channel = self._channels.get(channel_id)
        return _as_id(channel["guild_id"]) if channel and "guild_id" in channel else None

    def _user(self, user_id: int) -> dict:
        if user_id not in self._users:  # any id a test sends becomes a guild member
            tail = str(user_id)[-4:]
            self._users[user_id] = _user_object(user_id, f"user{tail}", f"User {tail}")
            self._member_roles[user_id] = []
        return dict(self._users[user_id])  # its values are all scalars

    def _member(self, user_id: int) -> dict:
        user = self._user(user_id)
        return {
            "user": user,
            "roles": [str(r) for r in self._member_roles[user_id]],
            "joined_at": JOINED_AT,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
        }

    def _bot_user(self) -> dict:
        return {
            **self._user(self.bot_user_id),
            "mfa_enabled": False,
            "verified": True,
            "email": None,
            "locale": "en-US",
            "bio": "",
        }

    def _guild_create(self, guild_id: int | None = None) -> dict:
        guild = self._guilds[self.guild_id if guild_id is None else guild_id]
        members = [self._member(uid) for uid in (self.bot_user_id, self.user_id, self.owner_id)]
        channels = [
            copy.deepcopy(c) for c in self._channels.values() if c["type"] == 0 and c.get("guild_id") == str(guild.id)
        ]
        for channel in channels:
            channel.pop("guild_id")
        roles = [_role_object(guild.id, "@everyone", EVERYONE_PERMISSIONS, 0)]
        if guild.id == self.guild_id:
            roles.append(_role_object(self.admin_role_id, "Admins", EVERYONE_PERMISSIONS | ADMINISTRATOR, 1))
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "application_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "mfa_level": 0,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": guild.locale,
            "system_channel_id": str(guild.system_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "features": [],
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "joined_at": JOINED_AT,
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": channels,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "incidents_data": None,
        }

    # ---- gateway

    def _shard_count(self) -> int:
        """The shard count of the live connections (they all use one), else ``recommended_shards``."""
        for conn in self._live.values():
            if not conn.ws.closed:
                return conn.shard[1]
        return self.recommended_shards

    def _guild_connection(self, guild_id: int | None) -> _Connection | None:
        """The live connection of the shard that owns ``guild_id`` (None: shard 0), if there is one."""
        conn = self._live.get(self.shard_of(guild_id))
        return conn if conn is not None and not conn.ws.closed else None

    async def _connection_for(self, guild_id: int | None) -> _Connection:
        """``_guild_connection``, waiting up to LIVE_CONNECTION_WAIT for it. The shard is worked out again on each
        try: the shard count is known only while a client is connected."""
        return self._guild_connection(guild_id) or await self._poll(
            lambda: self._guild_connection(guild_id),
            LIVE_CONNECTION_WAIT,
            lambda: f"a live gateway connection on shard {self.shard_of(guild_id)} to dispatch INTERACTION_CREATE on",
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_event(
        self, conn: _Connection, event: str, data: dict, before_write: Callable[[], None] | None = None
    ) -> None:
        await conn.dispatch(event, data, before_write)
        if conn.session_id is not None:
            self._sessions[conn.session_id] = conn.seq

    async def _on_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=2.0, compress=False)
        await ws.prepare(request)
        conn = _Connection(ws)
        self.connections += 1
        self._sockets.add(conn)
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            self.violations.append(f"gateway: connect with ?v=10&encoding=json, got {request.query_string!r}")
        try:
            await conn.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    if frame.type is WSMsgType.BINARY:
                        self.violations.append("gateway: binary frame from the client (send JSON text)")
                    continue
                try:
                    payload = json.loads(frame.data)
                except ValueError:
                    self.violations.append("gateway: a frame that is not JSON")
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_gateway_payload(conn, payload)
        except ConnectionError:
            pass
        finally:
            self._sockets.discard(conn)
            if self._live.get(conn.shard[0]) is conn:
                del self._live[conn.shard[0]]
        return ws

    async def _on_gateway_payload(self, conn: _Connection, payload: dict) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op not in (3, 4, 8):  # presence, voice state and member requests need no answer here
            self.violations.append(f"gateway: unknown opcode {op}")

    async def _identify(self, conn: _Connection, data: dict) -> None:
        if data.get("token") != self.token:
            self.violations.append("gateway: IDENTIFY with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if conn.session_id is not None:
            self.violations.append("gateway: IDENTIFY twice on one connection")
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        shard = data.get("shard", [0, 1])
        problem = self._shard_problem(shard)
        if problem:
            self.violations.append(f"gateway: IDENTIFY with shard {shard!r}: {problem}")
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        conn.shard = (shard[0], shard[1])
        shard_id, num_shards = conn.shard
        self.identifies += 1
        self.identified_shards.append(conn.shard)
        conn.session_id = secrets.token_hex(16)
        self._session_shards[conn.session_id] = conn.shard
        guilds = [g for g in self._guilds.values() if g.member and self.shard_of(g.id, num_shards) == shard_id]
        ready = {
            "v": 10,
            "user": self._bot_user(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": conn.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "_trace": ['["gateway-standin",{"micros":0}]'],
        }
        if "shard" in data:
            ready["shard"] = [shard_id, num_shards]
        await self._dispatch_event(conn, "READY", ready)
        for guild in guilds:
            await self._dispatch_event(conn, "GUILD_CREATE", self._guild_create(guild.id))
        self._live[shard_id] = conn

    def _shard_problem(self, shard: Any) -> str | None:
        """Why an IDENTIFY's ``shard`` is refused (4010), if it is."""
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            return "not [shard_id, num_shards] with 0 <= shard_id < num_shards"
        counts = {c.shard[1] for i, c in self._live.items() if i != shard[0] and not c.ws.closed}
        if counts - {shard[1]}:
            return f"the live connections use {sorted(counts)} shards"
        return None

    async def _resume(self, conn: _Connection, data: dict) -> None:
        if data.get("token") != self.token:
            self.violations.append("gateway: RESUME with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session_id = data.get("session_id")
        if session_id not in self._sessions:
            await conn.send({"op": 9, "d": False})
            return
        conn.session_id, conn.seq = session_id, self._sessions[session_id]
        conn.shard = self._session_shards[session_id]
        await self._dispatch_event(conn, "RESUMED", {"_trace": ['["gateway-standin",{"micros":0}]']})
        self._live[conn.shard[0]] = conn

    # ---- REST and CDN dispatch

    def _match(self, api: bool, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed = []
        for route in ROUTES:
            if route.api != api:
                continue
            match = route.regex.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        api = request.path.startswith(API_PREFIX + "/")
        path = request.path[len(API_PREFIX) :] if api else request.path
        route, params, allowed = self._match(api, request.method, path)
        record = Recorded(
            request.method,
            path,
            route.name if route else None,
            dict(request.query),
            CIMultiDict(request.headers),
            None,
            [],
            time.monotonic(),
        )
        self.requests.append(record)
        try:
            response = await self._answer(request, record, route, params, allowed, raw)
        except _Rejected as rejected:
            response = rejected.response
        record.status = response.status
        return response

    async def _answer(
        self,
        request: web.Request,
        record: Recorded,
        route: Route | None,
        params: dict[str, str],
        allowed: list[str],
        raw: bytes,
    ) -> web.StreamResponse:
        if route is None:
            if allowed:
                raise self._reject(record, 405, 0, "405: Method Not Allowed", f"method not allowed (use {allowed})")
            raise self._reject(record, 404, 0, "404: Not Found", "unknown route")
        uploads, body_error = self._read_body(request, record, raw)
        call = _Call(record, params, record.json, [u for u in uploads if u.filename])
        if route.bot_auth:
            given = request.headers.get("Authorization")
            if given != f"Bot {self.token}":
                raise self._reject(
                    record, 401, 0, "401: Unauthorized", f"needs 'Authorization: Bot <token>', got {given!r}"
                )
        fault = self._take_fault(record)
        if fault is not None:
            return self._fault_response(record, fault)
        limit_headers = self._count_request(route, call)
        try:
            if body_error:
                raise self._reject(record, 400, 50109, "The request body contains invalid JSON.", body_error)
            self._validate(route, call)
            response = await getattr(self, f"_on_{route.handler}")(call)
        except _Rejected as rejected:
            response = rejected.response
        for name, value in limit_headers.items():  # a stricter edit_rate answer keeps its own
            response.headers.setdefault(name, value)
        return response

    def _read_body(self, request: web.Request, record: Recorded, raw: bytes) -> tuple[list[_Upload], str | None]:
        if not raw:
            return [], None
        payload: bytes | None = raw
        uploads: list[_Upload] = []
        if request.content_type == "multipart/form-data":
            uploads = _parse_multipart(request.headers["Content-Type"], raw)
            record.files = [(u.filename, u.data) for u in uploads if u.filename]
            payload = next((u.data for u in uploads if u.field_name == "payload_json"), None)
        if payload is None:
            return uploads, None
        record.raw_json = payload
        try:
            record.json = json.loads(payload)
        except ValueError as exc:
            return uploads, f"body is not JSON ({exc})"
        return uploads, None

    def _refuse(self, call: _Call, status: int, code: int, message: str, why: str) -> _Rejected:
        """A Discord error answer that is no fault of the bot's (it cannot know beforehand): recorded in
        ``refused_bot_writes``, not a violation."""
        self.refused_bot_writes.append(f"{call.where}: {why} ({status}, code {code})")
        return _Rejected(_respond(status, {"message": message, "code": code}))

    def _reject(self, record: Recorded, status: int, code: int, message: str, problem: str | None = None) -> _Rejected:
        """A Discord error answer to raise, recorded as a violation."""
        self.violations.append(f"{record.method} {record.path}: {problem or message} ({status}, code {code})")
        return _Rejected(_respond(status, {"message": message, "code": code}))

    def _call_interaction(self, route: Route, call: _Call) -> Interaction | None:
        """The interaction an interaction route (callback or webhook) is about, if it exists."""
        if route.handler == "create_callback":
            return self.interactions.get(_as_id(call.params["interaction_id"]) or 0)
        if "token" in call.params:
            return self._by_token.get(call.params["token"])
        return None

    def _upload_limit(self, route: Route, call: _Call) -> int:
        """The largest file a request may upload: the interaction's attachment_size_limit, or 10 MiB."""
        interaction = self._call_interaction(route, call)
        return interaction.attachment_size_limit if interaction is not None else ATTACHMENT_SIZE_LIMIT

    def _target_message(self, route: Route, call: _Call) -> Message | None:
        """The message an edit (or an update callback) changes, if it can be found; None for new messages."""
        if route.method == "PATCH" and route.handler == "edit_channel_message":
            return self.messages.get(_as_id(call.params["message_id"]) or 0)
        interaction = self._call_interaction(route, call)
        if interaction is None:
            return None
        if route.handler == "create_callback":
            return self.messages.get(interaction.message_id or 0)
        if route.method == "PATCH":
            wanted = call.params.get("message_id")
            return self.messages.get(interaction.original_message_id if wanted is None else _as_id(wanted) or 0)
        return None

    def _schema_errors(self, route: Route, schema: _BodySchema, call: _Call) -> list[ValidationError]:
        """The body's schema errors. A burst repeats the same bodies (defers, progress edits), so the answer is
        kept for each exact JSON text already checked."""
        raw = call.record.raw_json
        if raw is None or len(raw) > 8192:
            return schema.errors(call.body)
        key = (route, raw)
        errors = self._checked.get(key)
        if errors is None:
            if len(self._checked) >= 4096:
                self._checked.clear()
            errors = self._checked[key] = schema.errors(call.body)
        return errors

    def _validate(self, route: Route, call: _Call) -> None:
        """Reject a body that breaks the OpenAPI schema or a documented limit: 400 50035, a violation each."""
        limit = self._upload_limit(route, call)
        for upload in call.uploads:
            if len(upload.data) > limit:
                raise self._reject(
                    call.record,
                    413,
                    40005,
                    "Request entity too large",
                    f"file {upload.filename!r} is {len(upload.data)} bytes (limit {limit})",
                )
        if call.body is None:
            return
        limits: list[Problem] = []
        if isinstance(call.body, dict):
            existing = self._target_message(route, call)
            flags = existing.flags if existing is not None else None
            limits = (
                message_problems(call.body, existing_flags=flags)
                if route.body == "message"
                else (callback_problems(call.body, existing_flags=flags) if route.body == "callback" else [])
            )
        problems = [(loc, "BASE_TYPE_MAX_LENGTH", text) for loc, text in limits]
        schema = self._schemas.get(route)
        if schema is not None:
            limited = {loc for loc, _ in limits}
            for error in self._schema_errors(route, schema, call):
                loc = tuple(error.absolute_path)
                if loc not in limited:  # the documented limit already says it, more plainly
                    problems.append(
                        (loc, _ERROR_CODES.get(str(error.validator), "BASE_TYPE_INVALID"), _schema_message(error))
                    )
        if not problems:
            return
        for loc, _, text in problems:
            self.violations.append(f"{call.where}: body{_pointer(loc)}: {text} (400, code 50035)")
        raise _Rejected(
            _respond(400, {"message": "Invalid Form Body", "code": 50035, "errors": _form_errors(problems)})
        )

    # ---- injected failures and rate limits

    def _take_fault(self, record: Recorded) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", record.method) and fault.pattern.search(record.path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, record: Recorded, fault: _Fault) -> web.Response:
        if fault.status == 429:
            return self._too_many(record, fault.retry_after, via=fault.via, code=fault.code, body=fault.body)
        body = (
            fault.body
            if fault.body is not None
            else {"message": f"{fault.status}: {HTTPStatus(fault.status).phrase}", "code": fault.code or 0}
        )
        return _respond(fault.status, copy.deepcopy(body))

    def _too_many(
        self,
        record: Recorded,
        retry_after: float,
        *,
        via: bool = True,
        code: int | None = None,
        body: dict | None = None,
        limit: int = 5,
        bucket: str | None = None,
        is_global: bool = False,
    ) -> web.Response:
        self.rate_limited.append(f"{record.method} {record.path}")
        retry_after = max(math.ceil(retry_after * 1000) / 1000, 0.001)
        if body is None:
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
            if code is not None:
                body["code"] = code
        if is_global:
            headers = {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}
        else:
            headers = self._limit_headers(limit, 0, retry_after, bucket or record.route or record.path)
            headers["X-RateLimit-Scope"] = "user"
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return _respond(429, copy.deepcopy(body), headers, via=via)

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _bucket_hash(bucket: str) -> str:
        return hashlib.sha1(bucket.encode()).hexdigest()[:32]

    @classmethod
    def _limit_headers(cls, limit: int, remaining: int, reset_after: float, bucket: str) -> dict[str, str]:
        reset_after = math.ceil(reset_after * 1000) / 1000  # never earlier than the stand-in resets
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": cls._bucket_hash(bucket),
        }

    def _bucket(self, route: Route, params: dict[str, str]) -> tuple[str, str, tuple[int, float]] | None:
        """(bucket name, major parameter, (limit, seconds)) of a route; None for routes Discord does not limit."""
        if not route.api or route.handler == "create_callback":
            return None
        if route.template.startswith(_APP_HOOK):
            return "interaction-webhook", f"{params['application_id']}/{params['token']}", self.webhook_rate
        if route.handler == "create_channel_message":
            return "message-create", params["channel_id"], self.message_create_rate
        if route.handler in ("edit_channel_message", "delete_channel_message"):
            return "message-edit", params["channel_id"], self.message_edit_rate
        return route.name, params.get("channel_id") or params.get("guild_id") or "", self.route_rate

    def _window(self, key: tuple[str, str], per: float, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.start + per:
            window = self._windows[key] = _Window(now)
        return window

    def _count_request(self, route: Route, call: _Call) -> dict[str, str]:
        """Count a request against its bucket and, for bot-token routes, the global limit: its X-RateLimit-*
        headers, or a 429 (recorded in ``rate_limited``, not a violation) when a limit is used up."""
        bucket = self._bucket(route, call.params)
        if bucket is None or not self.rate_limits:
            return {}
        now = time.monotonic()
        name, major, (limit, per) = bucket
        window = self._window((name, major), per, now)
        if route.bot_auth:
            global_limit, global_per = self.global_rate
            overall = self._window(("global", ""), global_per, now)
            if overall.count >= global_limit:
                retry_after = overall.start + global_per - now
                raise _Rejected(self._too_many(call.record, retry_after, is_global=True))
        if window.count >= limit:
            raise _Rejected(self._too_many(call.record, window.start + per - now, limit=limit, bucket=name))
        if route.bot_auth:
            overall.count += 1
        window.count += 1
        return self._limit_headers(limit, limit - window.count, window.start + per - now, name)

    def _edit_rate_headers(self, call: _Call, message: Message) -> dict[str, str]:
        """Count an edit of ``message`` against ``edit_rate``: its X-RateLimit-* headers, or a 429."""
        if self.edit_rate is None:
            return {}
        limit, per = self.edit_rate
        now = time.monotonic()
        recent = [t for t in self._edit_times.get(message.id, []) if now - t < per]
        bucket = f"edit:{message.id}"
        if len(recent) >= limit:
            retry_after = max(recent[0] + per - now, 0.001)
            raise _Rejected(self._too_many(call.record, retry_after, limit=limit, bucket=bucket))
        recent.append(now)
        self._edit_times[message.id] = recent
        return self._limit_headers(limit, limit - len(recent), recent[0] + per - now, bucket)

    # ---- messages

    def _new_message(self, channel_id: int, source: str, interaction: Interaction | None = None) -> Message:
        message = Message(self._mint(), channel_id, self.bot_user_id, source, author=self._user(self.bot_user_id))
        if interaction is not None:
            message.interaction_id = interaction.id
            message.webhook_id = self.application_id
            data = interaction.payload.get("data", {})
            meta = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self._user(interaction.user_id),
                "authorizing_integration_owners": copy.deepcopy(
                    interaction.payload.get("authorizing_integration_owners", {})
                ),
            }
            if interaction.type == APPLICATION_COMMAND:
                meta.update(name=data.get("name"), command_type=data.get("type", 1))
                if source == "interaction":
                    message.type = 20 if data.get("type", 1) == 1 else 23
            elif interaction.message_id is not None:
                meta["interacted_message_id"] = str(interaction.message_id)
            message.interaction_metadata = meta
        return message

    def _create_message(self, call: _Call, message: Message, flag_mask: int) -> Message:
        """Fill a new message from the request body and store it (400 50006 if it would be empty)."""
        body = call.body if isinstance(call.body, dict) else {}
        message.flags = (body.get("flags") or 0) & flag_mask if isinstance(body.get("flags"), int) else 0
        if self._forced_ephemeral(message):
            message.flags |= EPHEMERAL
        attachments = self._attachments_for(call, message, body) or []
        self._apply_fields(message, body)
        message.attachments = attachments
        if not (
            message.content
            or message.embeds
            or message.components
            or attachments
            or body.get("sticker_ids")
            or body.get("poll")
        ):
            raise self._reject(call.record, 400, 50006, "Cannot send an empty message")
        self.messages[message.id] = message
        return message

    def _forced_ephemeral(self, message: Message) -> bool:
        """A response of the app's user install in a guild that denies external apps is always ephemeral."""
        interaction = self.interactions.get(message.interaction_id or 0)
        if interaction is None or not interaction.user_installed_only:
            return False
        guild = self._guilds.get(interaction.guild_id or 0)
        return guild is not None and not guild.external_apps

    def _edit_message(self, call: _Call, message: Message, body: dict | None = None) -> None:
        body = (call.body if isinstance(call.body, dict) else {}) if body is None else body
        attachments = self._attachments_for(call, message, body)
        was_loading = message.loading
        self._apply_fields(message, body)
        if isinstance(body.get("flags"), int):
            message.flags = (message.flags & (EPHEMERAL | LOADING)) | (body["flags"] & _CHANNEL_FLAGS)
        if attachments is not None:
            message.attachments = attachments
        message.flags &= ~LOADING
        if not was_loading:
            message.edited_timestamp = time.time()
        message.edits.append((time.monotonic(), body))  # parsed afresh for each request, and never changed

    @staticmethod
    def _apply_fields(message: Message, body: dict) -> None:
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = copy.deepcopy(body["embeds"] or [])
        if "components" in body:
            message.components = copy.deepcopy(body["components"] or [])
        if "allowed_mentions" in body:
            message.allowed_mentions = copy.deepcopy(body["allowed_mentions"])
        if "tts" in body:
            message.tts = bool(body["tts"])

    def _attachments_for(self, call: _Call, message: Message, body: dict) -> list[dict] | None:
        """The message's attachments after this request, or None when it leaves them alone. Every
        ``attachments[i].id`` must be one already on the message or the index n of an uploaded ``files[n]``, and
        every attachment://name its components use must name one of the message's files after the request."""
        by_index = {}
        for i, upload in enumerate(call.uploads):
            match = re.fullmatch(r"files\[(\d+)\]", upload.field_name or "")
            by_index[int(match.group(1)) if match else i] = upload
        requested = body.get("attachments")
        plan: list[dict | tuple[_Upload, dict]] | None
        if not isinstance(requested, list):
            plan = None if not call.uploads else [*message.attachments, *((u, {}) for u in call.uploads)]
        else:
            existing = {a["id"]: a for a in message.attachments}
            plan = []
            for i, item in enumerate(requested):
                if not isinstance(item, dict):
                    continue
                key = str(item.get("id"))
                if key in existing:
                    plan.append(existing[key])
                elif key.isdigit() and int(key) in by_index:
                    plan.append((by_index.pop(int(key)), item))
                else:
                    self._invalid(
                        call,
                        [
                            (
                                ("attachments", i, "id"),
                                f"attachment id {key} is neither on the message nor an uploaded files[n]",
                            )
                        ],
                    )
        names = {self._planned_name(entry) for entry in (message.attachments if plan is None else plan)}
        components = body["components"] if isinstance(body.get("components"), list) else message.components
        missing = [
            (loc, f"attachment://{name} names no file of the message")
            for loc, name in attachment_references(components or [])
            if _safe_filename(name) not in names
        ]
        if missing:
            self._invalid(call, missing)
        if plan is None:
            return None
        return [entry if isinstance(entry, dict) else self._store_upload(message, *entry) for entry in plan]

    @staticmethod
    def _planned_name(entry: dict | tuple[_Upload, dict]) -> str:
        if isinstance(entry, dict):
            return entry["filename"]
        upload, item = entry
        return _safe_filename(item.get("filename") or upload.filename)

    def _invalid(self, call: _Call, problems: list[Problem]) -> None:
        """Answer 400 50035 with Discord's errors object; a violation each."""
        for loc, text in problems:
            self.violations.append(f"{call.where}: body{_pointer(loc)}: {text} (400, code 50035)")
        raise _Rejected(
            _respond(
                400,
                {
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": _form_errors([(loc, "BASE_TYPE_INVALID", t) for loc, t in problems]),
                },
            )
        )

    def _store_upload(self, message: Message, upload: _Upload, item: dict) -> dict:
        content_type = None if upload.content_type == "application/octet-stream" else upload.content_type
        attachment = self._store_file(
            message.channel_id,
            item.get("filename") or upload.filename,
            upload.data,
            content_type,
            ephemeral=message.ephemeral,
        )
        for key in ("description", "title"):
            if item.get(key):
                attachment[key] = item[key]
        return attachment

    def _store_file(
        self, channel_id: int, filename: str, data: bytes, content_type: str | None, *, ephemeral: bool
    ) -> dict:
        attachment_id = self._mint()
        filename = _safe_filename(filename)
        content_type = content_type or mimetypes.guess_type(filename)[0]
        issued = int(time.time())
        path = f"/attachments/{channel_id}/{attachment_id}/{quote(filename)}"
        query = f"ex={issued + 86400:x}&is={issued:x}"
        signature = hmac.new(self._cdn_key, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()
        url = f"{self.cdn_base}{path}?{query}&hm={signature}&"
        self._files[attachment_id] = _StoredFile(channel_id, filename, data, content_type, signature)
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            attachment["content_type"] = content_type
        if ephemeral:
            attachment["ephemeral"] = True
        return attachment

    # ---- handlers: user, application, commands

    async def _on_get_current_user(self, call: _Call) -> web.Response:
        return _respond(200, self._bot_user())

    async def _on_get_user(self, call: _Call) -> web.Response:
        user_id = _as_id(call.params["user_id"])
        if user_id not in self._users:
            raise self._reject(call.record, 404, 10013, "Unknown User")
        return _respond(200, self._user(user_id))

    async def _on_get_application(self, call: _Call) -> web.Response:
        return _respond(
            200,
            {
                "id": str(self.application_id),
                "name": "Stand-in App",
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "hook": True,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": self._verify_key,
                "flags": 0,
                "flags_new": "0",
                "team": None,
                "owner": self._user(self.owner_id),
                "bot": self._user(self.bot_user_id),
                "redirect_uris": [],
                "rpc_origins": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "integration_types_config": {"0": {}},
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": ["bot", "applications.commands"],
                "approximate_guild_count": 1,
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
            },
        )

    def _command_scope(self, call: _Call) -> int | None:
        if _as_id(call.params["application_id"]) != self.application_id:
            raise self._reject(call.record, 404, 10002, "Unknown Application")
        if "guild_id" not in call.params:
            return None
        return self._known_guild(call).id

    def _known_guild(self, call: _Call) -> _Guild:
        """The guild of the route: 404 10004 if there is none, 403 50001 (a refusal) if the bot is not in it."""
        guild = self._guilds.get(_as_id(call.params["guild_id"]) or 0)
        if guild is None:
            raise self._reject(call.record, 404, 10004, "Unknown Guild")
        if not guild.member:
            raise self._refuse(call, 403, 50001, "Missing Access", f"the bot is not in guild {guild.id}")
        return guild

    async def _on_get_commands(self, call: _Call) -> web.Response:
        return _respond(200, copy.deepcopy(self.commands.get(self._command_scope(call), [])))

    async def _on_put_commands(self, call: _Call) -> web.Response:
        scope = self._command_scope(call)
        items = call.body or []
        keys = [(c.get("name"), c.get("type", 1)) for c in items]
        if len(set(keys)) != len(keys):
            raise self._reject(
                call.record, 400, 50035, "Invalid Form Body", "application command names must be unique per type"
            )
        previous = {(c["name"], c["type"]): c for c in self.commands.get(scope, [])}
        stored = []
        for item, key in zip(items, keys, strict=False):
            permissions = item.get("default_member_permissions")
            command = {
                "id": previous[key]["id"] if key in previous else str(self._mint()),
                "application_id": str(self.application_id),
                "version": str(self._mint()),
                "type": key[1],
                "name": item["name"],
                "name_localizations": item.get("name_localizations"),
                "description": item.get("description") or "",
                "description_localizations": item.get("description_localizations"),
                "default_member_permissions": None if permissions is None else str(permissions),
                "nsfw": bool(item.get("nsfw", False)),
                "options": copy.deepcopy(item.get("options") or []),
            }
            if scope is None:
                command.update(
                    contexts=item.get("contexts"),
                    integration_types=item.get("integration_types") or [0],
                    dm_permission=item.get("dm_permission", True) is not False,
                )
            else:
                command["guild_id"] = str(scope)
            stored.append(command)
        self.commands[scope] = stored
        self.command_puts.append((scope, time.monotonic()))
        return _respond(200, copy.deepcopy(stored))

    # ---- handlers: interaction callback

    async def _on_create_callback(self, call: _Call) -> web.Response:
        interaction = self.interactions.get(_as_id(call.params["interaction_id"]) or 0)
        if interaction is None or interaction.token != call.params["token"]:
            raise self._reject(call.record, 404, 10062, "Unknown interaction")
        elapsed = time.monotonic() - interaction.dispatched_at
        if interaction.acknowledged:
            raise self._reject(
                call.record,
                400,
                40060,
                "Interaction has already been acknowledged.",
                "second callback for one interaction",
            )
        if elapsed > self.ack_deadline:
            raise self._reject(
                call.record,
                404,
                10062,
                "Unknown interaction",
                f"callback {elapsed:.2f}s after dispatch (deadline {self.ack_deadline}s)",
            )
        body = call.body if isinstance(call.body, dict) else {}
        kind = body.get("type")
        if kind not in _CALLBACK_TYPES[interaction.type]:
            raise self._reject(
                call.record,
                400,
                50035,
                "Invalid Form Body",
                f"callback type {kind} is not valid for interaction type {interaction.type}",
            )
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        message = None
        if kind == 4:
            fresh = self._new_message(self._interaction_channel(interaction), "interaction", interaction)
            message = self._create_message(
                _Call(call.record, call.params, data, call.uploads), fresh, _INTERACTION_FLAGS
            )
            interaction.original_message_id = message.id
        elif kind == 5:
            flags = data.get("flags") if isinstance(data.get("flags"), int) else 0
            if flags & ~EPHEMERAL:
                self.violations.append(
                    f"{call.where}: a deferred response may only carry the EPHEMERAL flag, got flags={flags}"
                )
            message = self._new_message(self._interaction_channel(interaction), "interaction", interaction)
            message.flags = LOADING | (flags & EPHEMERAL) | (EPHEMERAL if self._forced_ephemeral(message) else 0)
            self.messages[message.id] = message
            interaction.original_message_id = message.id
        elif kind in (6, 7):
            message = self.messages.get(interaction.message_id or 0)
            if message is None or message.deleted:
                raise self._reject(
                    call.record, 404, 10008, "Unknown Message", "update callback for an interaction without a message"
                )
            if kind == 7:
                self._edit_message(_Call(call.record, call.params, data, call.uploads), message, data)
            interaction.original_message_id = message.id
        interaction.callbacks.append((elapsed, copy.deepcopy(body)))
        if not _truthy(call.record.query.get("with_response")):
            return _respond(204)
        return _respond(200, self._callback_response(interaction, kind, message))

    def _interaction_channel(self, interaction: Interaction) -> int:
        return int(interaction.payload["channel_id"])

    @staticmethod
    def _callback_response(interaction: Interaction, kind: int, message: Message | None) -> dict:
        info: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if message is not None:
            info.update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
        response: dict[str, Any] = {"interaction": info}
        if kind in (4, 7) and message is not None:
            response["resource"] = {"type": kind, "message": message.to_api()}
        return response

    # ---- handlers: interaction webhooks

    def _webhook_interaction(self, call: _Call) -> Interaction:
        if _as_id(call.params["application_id"]) != self.application_id:
            raise self._reject(call.record, 404, 10015, "Unknown Webhook", "webhook id is not the application id")
        interaction = self._by_token.get(call.params["token"])
        if interaction is None:
            raise self._reject(call.record, 401, 50027, "Invalid Webhook Token", "unknown interaction token")
        if time.time() >= interaction.created + self.token_ttl:
            raise self._reject(
                call.record, 401, 50027, "Invalid Webhook Token", "webhook call with expired interaction token"
            )
        return interaction

    def _webhook_message(self, call: _Call, interaction: Interaction) -> Message:
        wanted = call.params.get("message_id")
        message_id = interaction.original_message_id if wanted is None else _as_id(wanted)
        if wanted is not None and message_id not in (interaction.original_message_id, *interaction.followup_ids):
            message_id = None
        message = self.messages.get(message_id or 0)
        if message is None and wanted is None:
            raise self._reject(call.record, 404, 10008, "Unknown Message", "@original before a type 4/5 callback")
        if message is None or message.deleted:
            raise self._reject(call.record, 404, 10008, "Unknown Message")
        return message

    async def _on_create_followup(self, call: _Call) -> web.Response:
        interaction = self._webhook_interaction(call)
        if not interaction.acknowledged:
            raise self._reject(
                call.record, 404, 10015, "Unknown Webhook", "followup before the interaction was acknowledged"
            )
        original = self.messages.get(interaction.original_message_id or 0)
        if original is not None and original.loading and not original.deleted:
            self.violations.append(
                f"{call.where}: deprecated: the first followup after a deferred response "
                "completes the loading message; use PATCH .../messages/@original"
            )
            self._edit_message(call, original)
            return _respond(200, original.to_api())
        if interaction.user_installed_only and len(interaction.followup_ids) >= FOLLOWUP_CAP:
            raise self._reject(
                call.record,
                400,
                40094,
                "This interaction has hit the maximum number of follow up messages",
                f"followup {FOLLOWUP_CAP + 1} of an interaction only the user install authorized (max {FOLLOWUP_CAP})",
            )
        message = self._create_message(
            call, self._new_message(self._interaction_channel(interaction), "followup", interaction), _INTERACTION_FLAGS
        )
        interaction.followup_ids.append(message.id)
        return _respond(200, message.to_api())

    async def _on_get_webhook_message(self, call: _Call) -> web.Response:
        return _respond(200, self._webhook_message(call, self._webhook_interaction(call)).to_api())

    async def _on_edit_webhook_message(self, call: _Call) -> web.Response:
        message = self._webhook_message(call, self._webhook_interaction(call))
        headers = self._edit_rate_headers(call, message)
        self._edit_message(call, message)
        return _respond(200, message.to_api(), headers)

    async def _on_delete_webhook_message(self, call: _Call) -> web.Response:
        self._webhook_message(call, self._webhook_interaction(call)).deleted = True
        return _respond(204)

    # ---- handlers: channels, DMs, members

    def _channel(self, call: _Call) -> int:
        """The route's channel: 404 10003 if there is none; 403 50001 (a refusal) if the bot cannot reach it: a
        channel of a guild it is not in, or a private channel it is not part of."""
        channel_id = _as_id(call.params["channel_id"])
        if channel_id not in self._channels:
            raise self._reject(call.record, 404, 10003, "Unknown Channel")
        guild = self._guilds.get(self._channel_guild(channel_id) or 0)
        if guild is not None and not guild.member:
            raise self._refuse(call, 403, 50001, "Missing Access", f"the bot is not in guild {guild.id}")
        if channel_id in self._outside:
            raise self._refuse(call, 403, 50001, "Missing Access", "the bot is not in this private channel")
        return channel_id

    def _channel_message(self, call: _Call) -> Message:
        channel_id = self._channel(call)
        message = self.messages.get(_as_id(call.params["message_id"]) or 0)
        if message is not None and message.ephemeral:
            raise self._reject(
                call.record,
                404,
                10008,
                "Unknown Message",
                "ephemeral messages are not reachable through channel routes",
            )
        if message is None or message.deleted or message.channel_id != channel_id:
            raise self._reject(call.record, 404, 10008, "Unknown Message")
        return message

    async def _on_create_channel_message(self, call: _Call) -> web.Response:
        channel_id = self._channel(call)
        channel = self._channels[channel_id]
        if channel["type"] == 1 and {_as_id(u["id"]) for u in channel["recipients"]} & self._dms_closed:
            raise self._refuse(call, 403, 50007, "Cannot send messages to this user", "the user's DMs are closed")
        body = call.body if isinstance(call.body, dict) else {}
        nonce = body.get("nonce")
        key = (channel_id, str(nonce))
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self._nonces.get(key)
            if earlier is not None and not earlier.deleted and time.monotonic() - earlier.created <= NONCE_WINDOW:
                return _respond(200, earlier.to_api())
        message = self._create_message(call, self._new_message(channel_id, "channel"), _CHANNEL_FLAGS)
        message.nonce = nonce
        if nonce is not None:
            self._nonces[key] = message
        return _respond(200, message.to_api())

    async def _on_get_channel_message(self, call: _Call) -> web.Response:
        return _respond(200, self._channel_message(call).to_api())

    async def _on_edit_channel_message(self, call: _Call) -> web.Response:
        message = self._channel_message(call)
        if message.author_id != self.bot_user_id:
            raise self._reject(call.record, 403, 50005, "Cannot edit a message authored by another user")
        headers = self._edit_rate_headers(call, message)
        self._edit_message(call, message)
        return _respond(200, message.to_api(), headers)

    async def _on_delete_channel_message(self, call: _Call) -> web.Response:
        self._channel_message(call).deleted = True
        return _respond(204)

    async def _on_get_channel(self, call: _Call) -> web.Response:
        return _respond(200, copy.deepcopy(self._channels[self._channel(call)]))

    async def _on_create_dm(self, call: _Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        recipient = _as_id(body.get("recipient_id"))
        if recipient is None or recipient not in self._users or recipient == self.bot_user_id:
            raise self._reject(call.record, 400, 50033, "Invalid Recipient(s)")
        return _respond(200, copy.deepcopy(self._channels[self._dm_channel(recipient)]))

    async def _on_get_member(self, call: _Call) -> web.Response:
        self._known_guild(call)
        user_id = _as_id(call.params["user_id"])
        if user_id not in self._member_roles:
            raise self._reject(call.record, 404, 10007, "Unknown Member")
        return _respond(200, self._member(user_id))

    # ---- handlers: gateway

    async def _on_get_gateway(self, call: _Call) -> web.Response:
        return _respond(200, {"url": self.gateway_url})

    async def _on_get_bot_gateway(self, call: _Call) -> web.Response:
        return _respond(
            200,
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            },
        )

    # ---- CDN

    async def _on_get_attachment(self, call: _Call) -> web.Response:
        stored = self._files.get(_as_id(call.params["attachment_id"]) or 0)
        if (
            stored is None
            or str(stored.channel_id) != call.params["channel_id"]
            or stored.filename != call.params["filename"]
        ):
            self.violations.append(f"{call.where}: no such attachment")
            return web.Response(status=404, text=_GONE)
        if not hmac.compare_digest(call.record.query.get("hm", ""), stored.signature):
            self.violations.append(f"{call.where}: attachment URL without its signed ex/is/hm query")
            return web.Response(status=404, text=_GONE)
        return web.Response(body=stored.data, content_type=stored.content_type or "application/octet-stream")
