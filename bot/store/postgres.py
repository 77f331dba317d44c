"""The shared store: PostgreSQL through asyncpg, for any number of bot processes on any machines.

Each write is one transaction on a pooled connection; the guarded UPDATEs of base.JobStore are what keep two
processes from moving one job twice (under READ COMMITTED, the second UPDATE waits for the first one's row lock
and then re-checks its WHERE against the new row, so it matches nothing). Changes to the waiting line take a
transaction-scoped advisory lock, so admissions, starts and ends are serialized across processes. Claims skip
rows another process is claiming (FOR UPDATE SKIP LOCKED). A lead (one process at a time does a chore, such as
showing places in the line) is a session advisory lock held on a connection of its own: if the process dies,
its connection closes and another process takes the lead. Migrations run under an advisory lock too, so
processes that start together apply each one once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.jobs.events import JobEvents
from bot.store.base import JobStore, StoreUnavailable, Work, migration_files, split_script

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6C697073  # "lips": the advisory lock key every process takes to migrate
LINE_LOCK = 0x6C696E65  # "line": held by every transaction that changes the waiting line's counts
T = TypeVar("T")
POOL_SIZE = (2, 16)
CONNECT_TIMEOUT = 10.0


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's $1, $2, … (our SQL has no `?` inside literals)."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def masked(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Tx:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._c = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status = await self._c.execute(numbered(sql), *params)
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._c.executemany(numbered(sql), rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        return list(await self._c.fetch(numbered(sql), *params))


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresStore(JobStore):
    dialect = "postgres"
    null_safe_equals = "IS NOT DISTINCT FROM"
    now_sql = "extract(epoch from clock_timestamp())::double precision"
    skip_locked = "FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: asyncpg.Pool, url: str, events: JobEvents | None) -> None:
        super().__init__(events)
        self._pool, self._url = pool, url
        self._leads: dict[str, asyncpg.Connection] = {}
        self._listener: asyncpg.Connection | None = None

    @property
    def where(self) -> str:
        return masked(self._url)

    @classmethod
    async def open(
        cls, url: str, events: JobEvents | None = None, *, pool_size: tuple[int, int] = POOL_SIZE
    ) -> PostgresStore:
        """Connect and migrate; StoreUnavailable says why it could not."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=pool_size[0], max_size=pool_size[1], timeout=CONNECT_TIMEOUT, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreUnavailable(masked(url), _reason(exc)) from exc
        try:
            await _migrate(pool)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                raise StoreUnavailable(masked(url), f"migrating failed: {exc}") from exc
            raise
        return cls(pool, url, events)

    async def close(self) -> None:
        for connection in [*self._leads.values(), *([self._listener] if self._listener else [])]:
            await connection.close()
        self._leads.clear()
        self._listener = None
        await self._pool.close()

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        return list(await self._pool.fetch(numbered(sql), *params))

    async def _transaction(self, work: Work[T], *, line: bool = False) -> T:
        async with self._pool.acquire() as connection, connection.transaction():
            if line:
                await connection.execute("SELECT pg_advisory_xact_lock($1)", LINE_LOCK)
            return await work(_Tx(connection))

    async def lead(self, name: str) -> bool:
        held = self._leads.get(name)
        if held is not None and not held.is_closed():
            return True
        connection = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
        if await connection.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(name)):
            self._leads[name] = connection
            return True
        await connection.close()
        return False

    async def notify(self, channel: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, '')", channel)

    async def listen(self, channel: str, callback: Callable[[], None]) -> None:
        if self._listener is None or self._listener.is_closed():
            self._listener = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
        await self._listener.add_listener(channel, lambda *_: callback())


async def _migrate(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
            for number, name, script in migration_files("postgres"):
                if number in applied:
                    continue
                log.info("migrating the database: %s", name)
                async with connection.transaction():
                    for statement in split_script(script):
                        await connection.execute(statement)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", number, name
                    )
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "the server refused the user name or password"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "that database does not exist on the server (create it first)"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing accepts connections at that host and port"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__
