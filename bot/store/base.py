"""The job store's interface, and its SQL, shared by the SQLite and PostgreSQL implementations.

Every change of a job's status is one guarded statement, `UPDATE jobs SET status = … WHERE id = ? AND status IN
(the statuses the event may start from)`: a job that another writer moved first, or that is in the wrong status,
is not touched and the caller gets IllegalTransition. Other writes to a job are guarded by the status the writer
last saw (StaleJob otherwise). A transition is announced on the JobEvents bus once it is stored.

SQL is written once, with `?` placeholders; an implementation supplies `_write` (statements in one transaction,
returning their row counts), `_read`, and the dialect's few differences.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, ClassVar

from bot.jobs.events import Changed, JobEvents
from bot.jobs.lifecycle import LIVE, OUTCOME, TERMINAL, TRANSITIONS, Event, IllegalTransition, Status
from bot.jobs.model import Address, Job
from bot.store.rows import (
    ADDRESS_COLUMNS,
    JOB_COLUMNS,
    TRANSIENT,
    address_from_row,
    address_row,
    address_value,
    job_from_row,
    job_row,
    job_value,
)

Statement = tuple[str, Sequence[Any]]


class StaleJob(Exception):
    """A write meant for a job in one status found it in another (it moved on meanwhile)."""

    def __init__(self, job_id: str, expected: Status, found: Status | None) -> None:
        super().__init__(f"job {job_id} was expected {expected.value}, found {found.value if found else 'nothing'}")
        self.job_id, self.expected, self.found = job_id, expected, found


class StoreUnavailable(Exception):
    """The database cannot be opened; `where` names it (without a password) and `reason` says why in a few words."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot open the database {where}: {reason}")
        self.where, self.reason = where, reason


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


_LIVE = tuple(sorted(s.value for s in LIVE))
_NOT_TERMINAL = tuple(sorted(s.value for s in set(Status) - TERMINAL))
_INSERT_JOB = f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({_placeholders(len(JOB_COLUMNS))})"
_INSERT_ADDRESS = (
    f"INSERT INTO job_addresses ({', '.join(ADDRESS_COLUMNS)}) VALUES ({_placeholders(len(ADDRESS_COLUMNS))})"
)
_WRITABLE = frozenset(JOB_COLUMNS) - {"id", "command", "status", "outcome", "seq", "created_at"}


class JobStore(ABC):
    """Jobs, their addresses, server settings and a little metadata, in one database."""

    dialect: ClassVar[str]
    null_safe_equals: ClassVar[str]  # `a IS b` in SQLite, `a IS NOT DISTINCT FROM b` in PostgreSQL

    def __init__(self, events: JobEvents | None = None) -> None:
        self.events = events or JobEvents()

    # ---- what an implementation provides

    @abstractmethod
    async def _write(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements in one transaction; their row counts."""

    @abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def where(self) -> str:
        """The database, for people (no password)."""

    # ---- jobs

    async def insert(self, job: Job, address: Address | None = None) -> None:
        """Record an admitted job (WAITING or STARTING) and, from Discord, where it is shown."""
        if job.status not in (Status.WAITING, Status.STARTING):
            raise IllegalTransition(job.id, Event.START, job.status)
        row = job_row(job)
        statements: list[Statement] = [(_INSERT_JOB, tuple(row[c] for c in JOB_COLUMNS))]
        if address is not None:
            values = address_row(address)
            statements.append((_INSERT_ADDRESS, tuple(values[c] for c in ADDRESS_COLUMNS)))
        await self._write(statements)

    async def transition(self, job: Job, event: Event, **changes: Any) -> Status:
        """Move the job by `event`, in memory at once and in the store as one guarded statement, setting `changes`
        (other columns of the job) with it; returns the status it left. Raises IllegalTransition when the lifecycle
        does not allow it, in memory or in the store (the job in memory then shows what the store holds)."""
        before = job.apply(event, **changes)
        move = TRANSITIONS[event]
        columns = set(changes) | {"finished_at", "delivered_at"}
        if move.outcome is not None:
            columns.add("outcome")
        sets = ["status = outcome" if move.target == OUTCOME else "status = ?"]
        params: list[Any] = [] if move.target == OUTCOME else [job.status.value]
        for column in sorted(columns):
            sets.append(f"{column} = ?")
            params.append(job_value(job, column))
        sources = sorted(s.value for s in move.sources)
        sql = f"UPDATE jobs SET {', '.join(sets)} WHERE id = ? AND status IN ({_placeholders(len(sources))})"
        # Shielded: the move is made in memory already, so a caller cancelled now (a clean stop) must not lose it.
        (count,) = await asyncio.shield(self._write([(sql, (*params, job.id, *sources))]))
        if count != 1:
            stored = await self.get(job.id)
            if stored is not None:
                _refresh(job, stored)
            raise IllegalTransition(job.id, event, stored.status if stored else None)
        self.events.publish(Changed(job, event, before))
        return before

    async def save(self, job: Job, *columns: str) -> None:
        """Write other columns of the job, while it is still in the status it has in memory (StaleJob otherwise)."""
        wrong = set(columns) - _WRITABLE
        if wrong or not columns:
            raise ValueError(f"save() cannot write {sorted(wrong) or 'nothing'}; statuses change through transition()")
        names = sorted(set(columns))
        sql = f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in names)} WHERE id = ? AND status = ?"
        (count,) = await self._write([(sql, (*(job_value(job, c) for c in names), job.id, job.status.value))])
        if count != 1:
            stored = await self.get(job.id)
            raise StaleJob(job.id, job.status, stored.status if stored else None)

    async def request_cancel(self, job_id: str) -> bool:
        """Mark a live job as to be cancelled; False when it has already ended."""
        sql = f"UPDATE jobs SET cancel_requested = ? WHERE id = ? AND status IN ({_placeholders(len(_LIVE))})"
        (count,) = await self._write([(sql, (True, job_id, *_LIVE))])
        return count == 1

    # ---- addresses

    async def address(self, job_id: str) -> Address | None:
        rows = await self._read("SELECT * FROM job_addresses WHERE job_id = ?", (job_id,))
        return address_from_row(rows[0]) if rows else None

    async def addresses(self, job_ids: Sequence[str]) -> dict[str, Address]:
        if not job_ids:
            return {}
        rows = await self._read(
            f"SELECT * FROM job_addresses WHERE job_id IN ({_placeholders(len(job_ids))})", tuple(job_ids)
        )
        return {row["job_id"]: address_from_row(row) for row in rows}

    async def save_address(self, address: Address, *columns: str) -> None:
        names = sorted(set(columns) or set(ADDRESS_COLUMNS) - {"job_id"})
        if set(names) - set(ADDRESS_COLUMNS) or "job_id" in names:
            raise ValueError(f"job_addresses has no writable column among {names}")
        sql = f"UPDATE job_addresses SET {', '.join(f'{c} = ?' for c in names)} WHERE job_id = ?"
        await self._write([(sql, (*(address_value(address, c) for c in names), address.job_id))])

    # ---- reads

    async def _jobs(self, where: str, params: Sequence[Any] = (), tail: str = "ORDER BY seq") -> list[Job]:
        rows = await self._read(f"SELECT * FROM jobs WHERE {where} {tail}", params)
        return [job_from_row(row) for row in rows]

    async def get(self, job_id: str) -> Job | None:
        found = await self._jobs("id = ?", (job_id,), "")
        return found[0] if found else None

    async def unfinished(self) -> list[Job]:
        """Jobs not yet in a terminal status (live ones, and those whose outcome is being shown), in admission order."""
        return await self._jobs(f"status IN ({_placeholders(len(_NOT_TERMINAL))})", _NOT_TERMINAL)

    async def since(self, created_after: float) -> list[Job]:
        """Jobs created from a moment on (to rebuild today's counts at start)."""
        return await self._jobs("created_at >= ?", (created_after,))

    async def member_jobs(self, guild_id: int | None, user_id: int, limit: int) -> list[Job]:
        """A member's most recent jobs in one server (or outside servers, with None), newest first."""
        return await self._jobs(
            f"guild_id {self.null_safe_equals} ? AND user_id = ?",
            (guild_id, user_id, limit),
            "ORDER BY created_at DESC LIMIT ?",
        )

    async def unfinished_in_guild(self, guild_id: int) -> list[Job]:
        return await self._jobs(f"guild_id = ? AND status IN ({_placeholders(len(_LIVE))})", (guild_id, *_LIVE))

    async def guild_jobs_since(self, guild_id: int, created_after: float) -> list[Job]:
        return await self._jobs("guild_id = ? AND created_at >= ?", (guild_id, created_after))

    async def durations(self, model: str, limit: int) -> list[float]:
        """How long the latest finished jobs of a model took, newest first."""
        rows = await self._read(
            "SELECT finished_at - created_at AS took FROM jobs WHERE outcome = ? AND model = ? "
            "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            (Status.DONE.value, model, limit),
        )
        return [float(row["took"]) for row in rows]

    async def last_seq(self) -> int:
        rows = await self._read("SELECT MAX(seq) AS last FROM jobs")
        return int(rows[0]["last"] or 0) if rows else 0

    # ---- metadata and server settings

    async def get_meta(self, key: str) -> str | None:
        rows = await self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            [
                (
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            ]
        )

    async def guild_configs(self) -> dict[int, str]:
        rows = await self._read("SELECT guild_id, config FROM guild_config")
        return {int(row["guild_id"]): row["config"] for row in rows}

    async def save_guild_config(self, guild_id: int, config: str) -> None:
        await self._write(
            [
                (
                    "INSERT INTO guild_config (guild_id, config) VALUES (?, ?) "
                    "ON CONFLICT (guild_id) DO UPDATE SET config = excluded.config",
                    (guild_id, config),
                )
            ]
        )


def _refresh(job: Job, stored: Job) -> None:
    """Make the in-memory job what the store holds (after another writer moved it)."""
    for f in fields(Job):
        if f.name not in TRANSIENT:
            setattr(job, f.name, getattr(stored, f.name))


def split_script(script: str) -> list[str]:
    """The statements of a migration file (no semicolons inside literals or comments, as in ours)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migration_files(dialect: str) -> list[tuple[int, str, str]]:
    """(number, name, SQL) of the dialect's migrations, in order."""
    from importlib import resources

    folder = resources.files("bot.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    if [n for n, _, _ in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {dialect} migrations are not numbered 1, 2, 3, …: {[name for _, name, _ in found]}")
    return found
