"""The job store: SQLite (WAL) through aiosqlite, with numbered schema migrations and one writer.

A job row holds everything needed to finish the job without the process that started it.

Every write goes through one writer task that commits whatever is pending in one transaction
(group commit): a burst of commands costs a few commits, not one each, and no write can land
inside (and be rolled back with) someone else's transaction. `insert` and `save` return once
their commit is done; with WAL and synchronous=NORMAL a commit survives the process being killed.
`save_soon` (progress) returns at once and rides on the next commit, at most LAZY_DELAY later.
Rows are built when they are written, so a job saved twice before a commit is written once, as
it is then. Reads are named operations; SQL is built with placeholders only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.spec import SPEECH, VIDEO, Command, JobSpec, Stage

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        spec TEXT NOT NULL,
        sources TEXT NOT NULL DEFAULT '{}',
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        position INTEGER,
        log TEXT,
        created_at REAL NOT NULL,
        finished_at REAL,
        interaction_id INTEGER,
        interaction_token TEXT,
        token_expires_at REAL,
        application_id INTEGER,
        message_id INTEGER,
        message_channel_id INTEGER,
        moved_to_channel INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        cost_estimate REAL,
        delivered_at REAL
    );
    CREATE INDEX jobs_unfinished ON jobs (stage) WHERE finished_at IS NULL;
    CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE guild_config (guild_id INTEGER PRIMARY KEY, config TEXT NOT NULL);
    CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);
    """,
    # The waiting line (seq is the order of admission), what fal may bill, and deliveries given up.
    """
    ALTER TABLE jobs DROP COLUMN interaction_id;
    ALTER TABLE jobs ADD COLUMN seq INTEGER;
    ALTER TABLE jobs ADD COLUMN turn REAL;
    ALTER TABLE jobs ADD COLUMN ran_on_fal INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN delivery_error TEXT;
    UPDATE jobs SET seq = rowid;
    CREATE INDEX jobs_undelivered ON jobs (seq) WHERE delivered_at IS NULL;
    CREATE INDEX jobs_by_created ON jobs (created_at);
    """,
    # Results that are attached: how large a file the interaction allows, and the message carrying the video
    # when it was not the job's own; where the bot can reach the requester (user installs, private jobs).
    """
    ALTER TABLE jobs ADD COLUMN attachment_limit INTEGER;
    ALTER TABLE jobs ADD COLUMN result_channel_id INTEGER;
    ALTER TABLE jobs ADD COLUMN result_message_id INTEGER;
    ALTER TABLE jobs ADD COLUMN reach TEXT NOT NULL DEFAULT 'channel';
    ALTER TABLE jobs ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;
    """,
)

_JSON = {"spec", "sources", "state", "result"}
_BOOLS = {"moved_to_channel", "ran_on_fal", "ephemeral"}
CHANNEL, DM = "channel", "dm"
LAZY_DELAY = 1.0  # seconds a progress save may wait for company


def new_job_id() -> str:
    return secrets.token_hex(4)


@dataclass
class Job:
    id: str
    command: Command
    spec: JobSpec
    channel_id: int
    user_id: int
    guild_id: int | None = None  # the server whose settings and limits apply; None outside configured servers
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # input name -> where it comes from
    stage: Stage = Stage.PENDING
    state: dict[str, Any] = field(default_factory=dict)  # the pipeline's per-step submissions and outputs
    position: int | None = None
    log: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    interaction_token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None
    application_id: int | None = None
    message_id: int | None = None
    message_channel_id: int | None = None
    moved_to_channel: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    cost_estimate: float | None = None
    delivered_at: float | None = None
    seq: int | None = None  # place in the order of admission
    turn: float | None = None  # the waiting line's order: see bot/jobs/line.py
    ran_on_fal: bool = False  # a step reached a runner on fal, so fal may bill it even if cancelled
    delivery_error: str | None = None  # why the outcome could not be shown on Discord, when it could not
    attachment_limit: int | None = None  # bytes a file may have on this interaction's messages
    result_channel_id: int | None = None  # where the video went, when not on the job's message
    result_message_id: int | None = None
    reach: str = (
        CHANNEL  # after the interaction token: CHANNEL (the bot may write there) or DM (only the requester's DMs)
    )
    ephemeral: bool = False  # only the requester sees the job's message

    @property
    def video_url(self) -> str | None:
        video = (self.result or {}).get("video")
        return video.get("url") if isinstance(video, dict) else None

    @property
    def request_id(self) -> str | None:
        for step in (VIDEO, SPEECH):
            sub = self.state.get(step, {}).get("submission")
            if sub:
                return str(sub["request_id"])
        return None

    def row(self) -> dict[str, Any]:
        row = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "spec":
                value = json.dumps(value.to_dict())
            elif f.name in _JSON:
                value = None if value is None else json.dumps(value)
            elif f.name in _BOOLS:
                value = int(value)
            elif isinstance(value, (Command, Stage)):
                value = value.value
            row[f.name] = value
        return row

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Job:
        known = {f.name for f in fields(cls)}
        data = {k: row[k] for k in row.keys() if k in known}
        data["spec"] = JobSpec.from_dict(json.loads(data["spec"]))
        for name in _JSON - {"spec"}:
            data[name] = None if data[name] is None else json.loads(data[name])
        data["command"] = Command(data["command"])
        data["stage"] = Stage(data["stage"])
        for name in _BOOLS:
            data[name] = bool(data[name])
        return cls(**data)


_COLUMNS = tuple(f.name for f in fields(Job))
_INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


@dataclass
class _Pending:
    """What the next commit writes."""

    inserts: dict[str, Job] = field(default_factory=dict)
    updates: dict[str, tuple[Job, set[str]]] = field(default_factory=dict)
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.statements)


class StoreUnavailable(Exception):
    """The database cannot be opened or created at `path`; `reason` says why in a few words."""

    def __init__(self, path: Path | str, exc: OSError | sqlite3.Error) -> None:
        self.path = Path(path).absolute() if str(path) != ":memory:" else Path(str(path))
        if isinstance(exc, FileExistsError):  # from mkdir: a file stands where a folder is needed
            self.reason = f"{exc.filename} is a file, not a folder"
        elif isinstance(exc, NotADirectoryError):
            self.reason = f"part of {exc.filename} is a file, not a folder"
        elif isinstance(exc, OSError):
            self.reason = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
        elif self.path.is_dir():
            self.reason = "it is a folder"
        else:
            self.reason = str(exc)  # sqlite's own words: "unable to open database file", "file is not a database"
        super().__init__(f"cannot open the database {self.path}: {self.reason}")


class Store:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._pending = _Pending()
        self._urgent = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # for the benchmark

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating its folder and file if need be) and migrate; StoreUnavailable says why it could not."""
        db: aiosqlite.Connection | None = None
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None)
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a crash of the process
            await db.execute("PRAGMA busy_timeout=5000")
            store = cls(db)
            await store._migrate()
        except BaseException as exc:
            if db is not None:
                await db.close()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise StoreUnavailable(path, exc) from exc
            raise
        store._writer = asyncio.create_task(store._write_loop(), name="store-writer")
        return store

    async def close(self) -> None:
        """Write what is pending, then close (once)."""
        if self._closing:
            return
        self._closing = True
        self._urgent.set()
        if self._writer is not None:
            await self._writer
        await self.db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = row[0] if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    # ---- writes

    async def insert(self, job: Job) -> None:
        self._pending.inserts[job.id] = job
        await self._commit()

    async def save(self, job: Job, *names: str) -> None:
        """Write the named fields of `job` (all of them when none are named) and wait for the commit."""
        self._stage_update(job, names)
        await self._commit()

    def save_soon(self, job: Job, *names: str) -> None:
        """Write the named fields with the next commit, without waiting (progress that may be lost in a crash)."""
        self._stage_update(job, names)

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A write of another table, in the same order as everything else."""
        self._pending.statements.append((sql, params))
        await self._commit()

    def _stage_update(self, job: Job, names: Iterable[str]) -> None:
        if job.id in self._pending.inserts:
            return  # the insert writes every field, as the job is at commit time
        wanted = set(names) or set(_COLUMNS) - {"id"}
        _, current = self._pending.updates.setdefault(job.id, (job, set()))
        current |= wanted
        self._pending.updates[job.id] = (job, current)

    async def _commit(self) -> None:
        if self._writer is None or self._writer.done():
            raise RuntimeError("the store is closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.waiters.append(done)
        self._urgent.set()
        await done

    async def _write_loop(self) -> None:
        while True:
            if not self._pending.waiters and not self._closing:
                try:
                    async with asyncio.timeout(LAZY_DELAY if self._pending else None):
                        await self._urgent.wait()
                except TimeoutError:
                    pass
            self._urgent.clear()
            batch, self._pending = self._pending, _Pending()
            if batch:
                await self._write(batch)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if self._closing and not self._pending:
                return

    async def _write(self, batch: _Pending) -> None:
        try:
            await self.db.execute("BEGIN")
            if batch.inserts:
                await self.db.executemany(_INSERT, [tuple(j.row().values()) for j in batch.inserts.values()])
            by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for job, names in batch.updates.values():
                columns = tuple(sorted(names))
                row = job.row()
                by_columns.setdefault(columns, []).append((*(row[n] for n in columns), job.id))
            for columns, rows in by_columns.items():
                sets = ", ".join(f"{_column(n)} = ?" for n in columns)
                await self.db.executemany(f"UPDATE jobs SET {sets} WHERE id = ?", rows)
            for sql, params in batch.statements:
                await self.db.execute(sql, params)
            await self.db.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            log.exception("the job store could not write %d change(s)", len(batch.inserts) + len(batch.updates))
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            batch.waiters.clear()

    # ---- reads

    async def _jobs(self, sql: str, params: tuple[Any, ...] = ()) -> list[Job]:
        async with self.db.execute(sql, params) as cursor:
            return [Job.from_row(row) for row in await cursor.fetchall()]

    async def get(self, job_id: str) -> Job | None:
        found = await self._jobs("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return found[0] if found else None

    async def undelivered(self) -> list[Job]:
        """Jobs whose outcome has not reached Discord yet, in the order they were admitted."""
        return await self._jobs("SELECT * FROM jobs WHERE delivered_at IS NULL ORDER BY seq")

    async def since(self, created_after: float) -> list[Job]:
        """Jobs created after a moment (to rebuild today's counts at start)."""
        return await self._jobs("SELECT * FROM jobs WHERE created_at >= ? ORDER BY seq", (created_after,))

    async def member_jobs(self, guild_id: int | None, user_id: int, limit: int) -> list[Job]:
        """A member's most recent jobs in one server (or outside servers, with None)."""
        return await self._jobs(
            "SELECT * FROM jobs WHERE guild_id IS ? AND user_id = ? ORDER BY created_at DESC LIMIT ?",
            (guild_id, user_id, limit),
        )

    async def unfinished_in_guild(self, guild_id: int) -> list[Job]:
        return await self._jobs(
            "SELECT * FROM jobs WHERE guild_id = ? AND finished_at IS NULL ORDER BY seq", (guild_id,)
        )

    async def guild_jobs_since(self, guild_id: int, created_after: float) -> list[Job]:
        return await self._jobs(
            "SELECT * FROM jobs WHERE guild_id = ? AND created_at >= ? ORDER BY seq", (guild_id, created_after)
        )

    async def durations(self, endpoint_id: str, limit: int) -> list[float]:
        """How long the latest finished jobs of a model took, newest first."""
        sql = (
            "SELECT finished_at - created_at FROM jobs WHERE stage = ? AND finished_at IS NOT NULL "
            "AND json_extract(spec, '$.model') = ? ORDER BY finished_at DESC LIMIT ?"
        )
        async with self.db.execute(sql, (Stage.DONE.value, endpoint_id, limit)) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def last_seq(self) -> int:
        async with self.db.execute("SELECT MAX(seq) FROM jobs") as cursor:
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

    async def get_meta(self, key: str) -> str | None:
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def guild_configs(self) -> dict[int, str]:
        async with self.db.execute("SELECT guild_id, config FROM guild_config") as cursor:
            return {row[0]: row[1] for row in await cursor.fetchall()}

    async def save_guild_config(self, guild_id: int, config: str) -> None:
        await self.execute(
            "INSERT INTO guild_config (guild_id, config) VALUES (?, ?) "
            "ON CONFLICT(guild_id) DO UPDATE SET config = excluded.config",
            (guild_id, config),
        )


def _column(name: str) -> str:
    if name not in _COLUMNS:
        raise ValueError(f"jobs has no column {name!r}")
    return name
