"""Shared fixtures: the fal stand-in over TLS and the environment that points fal_client at it, the Discord
stand-in and the real bot process, and the two job stores (SQLite in a temporary file; PostgreSQL on a private
server the suite starts itself, one fresh database per test). See tests/README.md."""

from __future__ import annotations

import itertools
import os

import fal_client.client
import pytest
import pytest_asyncio

from bot.fal.queue import FalQueue
from bot.jobs.events import JobEvents
from bot.settings import parse_database
from bot.store import open_store
from tests import no_dns
from tests.botproc import BotProcess, bot_env, secrets_in
from tests.helpers import FAL_KEY, STORES, fal_child_env, secrets_sent
from tests.postgres import PostgresServer
from tests.standins.discord_api import DiscordStandIn
from tests.standins.fal_queue import FalStandIn
from tests.standins.link_host import LinkHost

# Nothing in the suite may reach the real services, whatever a test forgets to set, nor look up a name.
for _name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "DISCORD_TOKEN"):
    os.environ.pop(_name, None)
no_dns.install()


@pytest_asyncio.fixture
async def fal_standin():
    server = FalStandIn(key=FAL_KEY, keepalive=0.5)
    await server.start()
    yield server
    await server.close()
    assert not server.violations, server.violations
    assert not secrets_sent(None, server, fal_key=FAL_KEY)


@pytest_asyncio.fixture
async def link_host(fal_standin):
    """A web server on 127.0.0.1 that members' links point at (tests/standins/link_host.py); a bot reaches it with
    PRIVATE_LINK_HOSTS=127.0.0.1."""
    async with LinkHost(fal_standin.ca) as host:
        yield host


@pytest.fixture
def link_urls(link_host):
    """A portrait and a speech file on the link host, as /talkinghead's image_url and audio_url."""
    return {"image_url": link_host.url("files/portrait.png"), "audio_url": link_host.url("files/speech.mp3")}


@pytest.fixture
def fal_env(fal_standin, monkeypatch):
    """Point this process's fal_client at the stand-in, as FAL_QUEUE_RUN_HOST and SSL_CERT_FILE would.

    fal_client reads FAL_QUEUE_RUN_HOST once at import, so in-process tests set the constant it
    derives; subprocesses get the real variable (see subprocess_env). Storage hosts are fixed
    constants in fal_client, so they are patched the same way.
    """
    monkeypatch.setenv("SSL_CERT_FILE", fal_standin.ca_path)
    monkeypatch.setenv("FAL_KEY", FAL_KEY)
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{fal_standin.host}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", fal_standin.base_url)
    monkeypatch.setattr(fal_client.client, "CDN_URL", fal_standin.base_url)
    return fal_standin


@pytest_asyncio.fixture
async def queue(fal_env):
    q = FalQueue(FAL_KEY, poll_min=0.05, poll_max=0.2, backoff=0.01)
    yield q
    await q.aclose()


@pytest.fixture
def subprocess_env(fal_standin, tmp_path):
    """Environment for a child process (CLI or bot) that talks to the fal stand-in."""
    return fal_child_env(fal_standin, tmp_path)


# ---- the Discord side: the stand-in and the real bot process


@pytest_asyncio.fixture
async def discord_standin():
    server = DiscordStandIn()
    await server.start()
    yield server
    await server.close()
    assert not server.violations, server.violations


@pytest_asyncio.fixture
async def bot_database(request, tmp_path) -> str:
    """The bot process's DATABASE_URL: SQLite, unless a module runs its tests on each store with
    `pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)`."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return await request.getfixturevalue("pg_server").create_database(f"bot_{os.getpid()}_{next(_databases)}")


@pytest.fixture
def bot_settings() -> dict[str, str]:
    """Settings the `bot` fixture's process gets besides the stand-ins' (a module overrides this fixture)."""
    return {}


@pytest_asyncio.fixture
async def bot(discord_standin, fal_standin, subprocess_env, tmp_path, bot_database, bot_settings):
    env = bot_env(subprocess_env, discord_standin, tmp_path, DATABASE_URL=bot_database, **bot_settings)
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start(discord_standin)
    yield process
    await process.stop()
    tokens = [i.token for i in discord_standin.interactions.values()]
    assert not secrets_in(process.log, discord_standin.token, FAL_KEY, *tokens), "a secret reached the bot's log"
    assert not secrets_sent(
        discord_standin, fal_standin, fal_key=FAL_KEY, discord_token=discord_standin.token, interaction_tokens=tokens
    )
    log = process.log
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]


# ---- the job stores: every store test runs on SQLite and on PostgreSQL

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One private PostgreSQL server for the whole run (it never skips: a machine without one fails here)."""
    server = PostgresServer.start(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest_asyncio.fixture
async def database_url(store_kind, request, tmp_path) -> str:
    """A DATABASE_URL of the test's store kind, naming an empty database."""
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    server = request.getfixturevalue("pg_server")
    return await server.create_database(f"test_{os.getpid()}_{next(_databases)}")


@pytest_asyncio.fixture
async def store(database_url):
    """An open store of each kind, with its own events bus."""
    opened = await open_store(parse_database(database_url), JobEvents())
    yield opened
    await opened.close()
