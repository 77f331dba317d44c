"""The job store: SQLite through aiosqlite, with numbered schema migrations.

A job row holds everything needed to finish the job without the process that started it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.spec import Command, JobSpec, Stage

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
)

_JSON = {"spec", "sources", "state", "result"}


def new_job_id() -> str:
    return secrets.token_hex(4)


@dataclass
class Job:
    id: str
    command: Command
    spec: JobSpec
    channel_id: int
    user_id: int
    guild_id: int | None = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # input name -> where it comes from
    stage: Stage = Stage.PENDING
    state: dict[str, Any] = field(default_factory=dict)  # the pipeline's per-step submissions and outputs
    position: int | None = None
    log: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    interaction_id: int | None = None
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

    @property
    def video_url(self) -> str | None:
        video = (self.result or {}).get("video")
        return video.get("url") if isinstance(video, dict) else None

    @property
    def request_id(self) -> str | None:
        for step in ("video", "speech"):
            sub = self.state.get(step, {}).get("submission")
            if sub:
                return sub["request_id"]
        return None

    def _row(self) -> dict[str, Any]:
        row = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "spec":
                value = json.dumps(value.to_dict())
            elif f.name in _JSON:
                value = None if value is None else json.dumps(value)
            elif f.name == "moved_to_channel":
                value = int(value)
            elif isinstance(value, (Command, Stage)):
                value = value.value
            row[f.name] = value
        return row

    @classmethod
    def _from_row(cls, row: aiosqlite.Row) -> Job:
        data = dict(row)
        data["spec"] = JobSpec.from_dict(json.loads(data["spec"]))
        for name in _JSON - {"spec"}:
            data[name] = None if data[name] is None else json.loads(data[name])
        data["command"] = Command(data["command"])
        data["stage"] = Stage(data["stage"])
        data["moved_to_channel"] = bool(data["moved_to_channel"])
        return cls(**data)


class Store:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.lock = asyncio.Lock()  # one transaction at a time on the shared connection

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA busy_timeout=5000")
        store = cls(db)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    async def insert(self, job: Job) -> None:
        row = job._row()
        names = ", ".join(row)
        await self.db.execute(f"INSERT INTO jobs ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    async def save(self, job: Job, *names: str) -> None:
        """Write the named fields of `job` (all of them when none are named)."""
        row = job._row()
        names = names or tuple(n for n in row if n != "id")
        sets = ", ".join(f"{n} = ?" for n in names)
        await self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*(row[n] for n in names), job.id))

    async def get(self, job_id: str) -> Job | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return Job._from_row(row) if row else None

    async def query(self, where: str = "1", params: tuple[Any, ...] = (), *, order: str = "created_at DESC",
                    limit: int | None = None) -> list[Job]:
        sql = f"SELECT * FROM jobs WHERE {where} ORDER BY {order}" + (f" LIMIT {int(limit)}" if limit else "")
        async with self.db.execute(sql, params) as cursor:
            return [Job._from_row(row) for row in await cursor.fetchall()]

    async def undelivered(self) -> list[Job]:
        """Jobs whose outcome has not reached Discord yet: unfinished ones and finished, undelivered ones."""
        return await self.query("delivered_at IS NULL", order="created_at")

    async def get_meta(self, key: str) -> str | None:
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                              (key, value))
