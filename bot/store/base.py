"""The job store's interface, and its SQL, shared by the SQLite and PostgreSQL implementations.

Every change of a job's status is one guarded statement, `UPDATE jobs SET status = … WHERE id = ? AND status IN
(the statuses the event may start from) AND owner IS (the process the writer believes works it)`: a job that
another writer moved first, that another process took over, or that is in the wrong status, is not touched and
the caller gets IllegalTransition. Other writes to a job are guarded the same way (StaleJob otherwise). A
transition is announced on the JobEvents bus once it is stored. Changes that touch the waiting line's counts run
in a transaction that holds the line's lock (bot/jobs/line.py), so admissions, starts and ends are serialized
across every process that shares the database.

SQL is written once, with `?` placeholders; an implementation supplies `_transaction` (work in one transaction),
`_read`, and the dialect's few differences.
"""

from __future__ import annotations

import asyncio
import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, TypeVar

from bot.jobs.events import Changed, JobEvents
from bot.jobs.lifecycle import LIVE, OUTCOME, TERMINAL, TRANSITIONS, Event, IllegalTransition, Status
from bot.jobs.model import Address, Job
from bot.jobs.voices import Voice
from bot.jobs.voices import key as voice_key
from bot.jobs.voices import possible as voice_name_possible
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
T = TypeVar("T")


class Tx(Protocol):
    """One open transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...


Work = Callable[[Tx], Awaitable[T]]


class Unchanged(Exception):
    """Raised by transaction work that changed nothing (a guard matched no row): only that work is given up."""


class _Unmatched(Unchanged):
    pass


class _Stale(Unchanged):
    pass


@dataclass(frozen=True)
class ProcessRow:
    """A bot process as the others see it: what it does, where it runs, and how long since it was last heard."""

    id: str
    role: str
    shards: str | None
    host: str
    pid: int
    started_at: float
    quiet: float  # seconds since its last heartbeat, by the database's clock


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
_WRITABLE = frozenset(JOB_COLUMNS) - {"id", "command", "status", "outcome", "seq", "created_at", "owner"}
_CLAIMABLE = tuple(sorted(s.value for s in set(Status) - TERMINAL - {Status.WAITING}))


class JobStore(ABC):
    """Jobs, their addresses, server settings and a little metadata, in one database."""

    dialect: ClassVar[str]
    null_safe_equals: ClassVar[str]  # `a IS b` in SQLite, `a IS NOT DISTINCT FROM b` in PostgreSQL

    def __init__(self, events: JobEvents | None = None) -> None:
        self.events = events or JobEvents()
        self._writes: set[asyncio.Future[Any]] = set()  # transitions on their way, whoever waits for them

    async def drain(self) -> None:
        """Wait for the transitions on their way to land (their callers may have been cancelled)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # ---- what an implementation provides

    now_sql: ClassVar[str]  # the database's clock, in seconds since the epoch
    skip_locked: ClassVar[str]  # "FOR UPDATE SKIP LOCKED" where rows can be claimed by several processes

    @abstractmethod
    async def _transaction(self, work: Work[T], *, line: bool = False) -> T:
        """Run `work` in one transaction, holding the line's lock when `line`; its result. When it raises, what it
        did is rolled back (and only that)."""

    @abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...

    async def _write(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements in one transaction; their row counts."""

        async def work(tx: Tx) -> list[int]:
            return [await tx.execute(sql, params) for sql, params in statements]

        return await self._transaction(work)

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def where(self) -> str:
        """The database, for people (no password)."""

    # ---- jobs

    async def transaction(self, work: Work[T], *, line: bool = False) -> T:
        """Run `work` in one transaction (holding the line's lock when `line`); its result."""
        return await self._transaction(work, line=line)

    async def insert(self, job: Job, address: Address | None = None) -> None:
        """Record an admitted job (WAITING or STARTING) and, from Discord, where it is shown."""

        async def work(tx: Tx) -> None:
            await self.insert_in(tx, job, address)

        await self._transaction(work)

    async def insert_in(self, tx: Tx, job: Job, address: Address | None = None) -> None:
        await self.insert_many(tx, [(job, address)])

    async def insert_many(self, tx: Tx, admitted: Sequence[tuple[Job, Address | None]]) -> None:
        """Admitted jobs and their addresses, inside `tx`, each kind in one round trip."""
        for job, _ in admitted:
            if job.status not in (Status.WAITING, Status.STARTING):
                raise ValueError(f"job {job.id} is admitted as waiting or starting, not {job.status.value}")
        jobs = [tuple(row[c] for c in JOB_COLUMNS) for row in (job_row(job) for job, _ in admitted)]
        if jobs:
            await tx.executemany(_INSERT_JOB, jobs)
        places = [tuple(v[c] for c in ADDRESS_COLUMNS) for v in (address_row(a) for _, a in admitted if a)]
        if places:
            await tx.executemany(_INSERT_ADDRESS, places)

    async def transition(
        self, job: Job, event: Event, *, then: Work[None] | None = None, line: bool | None = None, **changes: Any
    ) -> Status:
        """Move the job by `event`, setting `changes` (other columns of the job) with it, as one guarded statement;
        returns the status it left. `then` runs in the same transaction once the move is made (it must not raise
        Unchanged), holding the line's lock unless `line` is False: the line's counts change with the move. Raises IllegalTransition when
        the lifecycle does not allow it, in memory or in the store; the job in memory then shows what the store
        holds."""

        if not TRANSITIONS[event].allows(job.status):
            raise IllegalTransition(job.id, event, job.status)  # the job in memory already says no: nothing is sent

        async def work(tx: Tx) -> Job:
            moved = await self.move(tx, job, event, **changes)
            if then is not None:
                await then(tx)
            return moved

        # Shielded: once sent, the move lands even if the caller is cancelled now (a clean stop waits for it: drain).
        write = asyncio.ensure_future(self._transaction(work, line=then is not None if line is None else line))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        write.add_done_callback(_retrieved)
        try:
            moved = await asyncio.shield(write)
        except _Unmatched:
            stored = await self.get(job.id)
            if stored is not None:
                _refresh(job, stored)
            raise IllegalTransition(job.id, event, stored.status if stored else None) from None
        return self.settle(job, moved, event, changes)

    async def move(self, tx: Tx, job: Job, event: Event, **changes: Any) -> Job:
        """The guarded statement for `event`, inside `tx`: the job as moved (a copy; settle() it into the job once the
        transaction is committed). Raises _Unmatched, having changed nothing, when the job may not move so: in memory
        already, or in the store (another writer moved it first, or another process owns it)."""
        move = TRANSITIONS[event]
        if not move.allows(job.status):
            raise _Unmatched()
        moved = copy.copy(job)
        moved.apply(event, **changes)
        columns = set(changes) | {"finished_at", "delivered_at"}
        if move.outcome is not None:
            columns.add("outcome")
        sets = ["status = outcome" if move.target == OUTCOME else "status = ?"]
        params: list[Any] = [] if move.target == OUTCOME else [moved.status.value]
        for column in sorted(columns):
            sets.append(f"{column} = ?")
            params.append(job_value(moved, column))
        sources = sorted(s.value for s in move.sources)
        guard = f"id = ? AND status IN ({_placeholders(len(sources))}) AND owner {self.null_safe_equals} ?"
        params += [job.id, *sources, job.owner]
        if event is Event.SEND:  # nothing more goes to fal once a cancel was asked for, from whichever process
            guard += " AND cancel_requested = ?"
            params.append(False)
        if await tx.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {guard}", params) != 1:
            raise _Unmatched()
        return moved

    def settle(self, job: Job, moved: Job, event: Event, changes: Iterable[str] = ()) -> Status:
        """A move committed: the job in memory takes what it changed (its status, outcome, times and `changes`; other
        fields may have changed in memory meanwhile), and the move is announced."""
        before = job.status
        for name in ("status", "outcome", "finished_at", "delivered_at", *changes):
            setattr(job, name, getattr(moved, name))
        self.events.publish(Changed(job, event, before))
        return before

    async def save(self, job: Job, *columns: str) -> None:
        """Write other columns of the job, while it is still in the status and with the owner it has in memory
        (StaleJob otherwise)."""
        statement = self._save_statement(job, columns)

        async def work(tx: Tx) -> None:
            if await tx.execute(*statement) != 1:
                raise _Stale()

        try:
            await self._transaction(work)
        except _Stale:
            stored = await self.get(job.id)
            raise StaleJob(job.id, job.status, stored.status if stored else None) from None

    async def save_in(self, tx: Tx, job: Job, *columns: str) -> None:
        """save(), inside `tx`; raises Unchanged (a StaleJob for save's callers) when the guard matches nothing."""
        if await tx.execute(*self._save_statement(job, columns)) != 1:
            raise _Stale()

    def _save_statement(self, job: Job, columns: Sequence[str]) -> Statement:
        wrong = set(columns) - _WRITABLE
        if wrong or not columns:
            raise ValueError(f"save() cannot write {sorted(wrong) or 'nothing'}; statuses change through transition()")
        names = sorted(set(columns))
        sql = (
            f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in names)} "
            f"WHERE id = ? AND status = ? AND owner {self.null_safe_equals} ?"
        )
        return sql, (*(job_value(job, c) for c in names), job.id, job.status.value, job.owner)

    async def request_cancel(self, job_id: str) -> bool:
        """Mark a live job as to be cancelled; False when it has already ended."""
        sql = f"UPDATE jobs SET cancel_requested = ? WHERE id = ? AND status IN ({_placeholders(len(_LIVE))})"
        (count,) = await self._write([(sql, (True, job_id, *_LIVE))])
        return count == 1

    # ---- who works which job

    async def claim(self, owner: str, *, dead: Sequence[str] = (), limit: int = 100) -> list[Job]:
        """Take, for `owner`, live jobs that no live process works: unclaimed ones, and those of the `dead` processes
        (waiting jobs are not claimed: they start from the line). In admission order; each job goes to one claimer."""
        whose = "owner IS NULL" + (f" OR owner IN ({_placeholders(len(dead))})" if dead else "")
        pick = (
            f"SELECT id FROM jobs WHERE status IN ({_placeholders(len(_CLAIMABLE))}) AND ({whose}) "
            f"ORDER BY seq LIMIT ? {self.skip_locked}"
        )

        async def work(tx: Tx) -> list[Job]:
            ids = [row["id"] for row in await tx.fetch(pick, (*_CLAIMABLE, *dead, limit))]
            if not ids:
                return []
            marks = _placeholders(len(ids))
            await tx.execute(f"UPDATE jobs SET owner = ? WHERE id IN ({marks})", (owner, *ids))
            rows = await tx.fetch(f"SELECT * FROM jobs WHERE id IN ({marks}) ORDER BY seq", ids)
            return [job_from_row(row) for row in rows]

        return await self._transaction(work)

    async def release(self, owner: str) -> int:
        """Hand back the jobs a process works (a clean stop): the next claimer carries on with them at once."""
        (count,) = await self._write(
            [
                (
                    f"UPDATE jobs SET owner = NULL WHERE owner = ? AND status IN ({_placeholders(len(_CLAIMABLE))})",
                    (owner, *_CLAIMABLE),
                )
            ]
        )
        return count

    async def owned(self, owner: str) -> list[Job]:
        """The jobs a process works (to resume them, or to count them)."""
        return await self._jobs(f"owner = ? AND status IN ({_placeholders(len(_CLAIMABLE))})", (owner, *_CLAIMABLE))

    async def register(self, process_id: str, role: str, shards: str | None, host: str, pid: int) -> None:
        await self._write(
            [
                (
                    "INSERT INTO processes (id, role, shards, host, pid, started_at, seen_at) "
                    f"VALUES (?, ?, ?, ?, ?, {self.now_sql}, {self.now_sql})",
                    (process_id, role, shards, host, pid),
                )
            ]
        )

    async def heartbeat(self, process_id: str) -> bool:
        """Say this process is alive; False when the others already counted it out (its row is gone)."""
        (count,) = await self._write([(f"UPDATE processes SET seen_at = {self.now_sql} WHERE id = ?", (process_id,))])
        return count == 1

    async def processes(self) -> list[ProcessRow]:
        rows = await self._read(f"SELECT *, {self.now_sql} - seen_at AS quiet FROM processes ORDER BY started_at")
        return [
            ProcessRow(
                r["id"], r["role"], r["shards"], r["host"], int(r["pid"]), float(r["started_at"]), float(r["quiet"])
            )
            for r in rows
        ]

    async def forget(self, process_ids: Sequence[str]) -> None:
        if process_ids:
            await self._write(
                [(f"DELETE FROM processes WHERE id IN ({_placeholders(len(process_ids))})", tuple(process_ids))]
            )

    async def lead(self, name: str) -> bool:
        """Whether this process holds the lead for `name` (one process at a time, until it stops); SQLite's one
        process always does."""
        return True

    async def notify(self, channel: str) -> None:
        """Wake the processes that listen on `channel` (SQLite has no others to wake)."""
        return None

    async def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` when a process notifies `channel` (SQLite: never; its one process needs no wake-up)."""
        return None

    async def reachable(self) -> bool:
        try:
            await self._read("SELECT 1 AS one")
        except Exception:
            return False
        return True

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

    async def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each status that is not final, across every process."""
        rows = await self._read(
            f"SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ({_placeholders(len(_NOT_TERMINAL))}) "
            "GROUP BY status",
            _NOT_TERMINAL,
        )
        counts = dict.fromkeys(_NOT_TERMINAL, 0)
        counts.update({row["status"]: int(row["n"]) for row in rows})
        return counts

    async def any_waiting(self) -> bool:
        rows = await self._read("SELECT 1 AS one FROM jobs WHERE status = ? LIMIT 1", (Status.WAITING.value,))
        return bool(rows)

    async def waiting_ahead(self, job: Job) -> tuple[int, int]:
        """(waiting jobs ahead of this one in its server, in the whole line)."""
        rows = await self._read(
            f"SELECT COUNT(*) AS anywhere, COALESCE(SUM(CASE WHEN guild_id {self.null_safe_equals} ? THEN 1 ELSE 0 END), 0) "
            "AS here FROM jobs WHERE status = ? AND (turn < ? OR (turn = ? AND seq < ?))",
            (job.guild_id, Status.WAITING.value, job.turn, job.turn, job.seq),
        )
        return int(rows[0]["here"]), int(rows[0]["anywhere"])

    async def waiting(self) -> list[Job]:
        """The waiting line, in its order."""
        return await self._jobs("status = ?", (Status.WAITING.value,), "ORDER BY turn, seq")

    async def waiting_order(self) -> list[tuple[str, int | None, int]]:
        """The waiting line, in its order, as (job id, server, member): what places are counted from."""
        rows = await self._read(
            "SELECT id, guild_id, user_id FROM jobs WHERE status = ? ORDER BY turn, seq", (Status.WAITING.value,)
        )
        return [(row["id"], row["guild_id"], int(row["user_id"])) for row in rows]

    async def jobs(self, job_ids: Sequence[str]) -> list[Job]:
        if not job_ids:
            return []
        return await self._jobs(f"id IN ({_placeholders(len(job_ids))})", tuple(job_ids), "")

    async def line_rows(self, table: str, keys: Sequence[str], day: float | None = None) -> list[Mapping[str, Any]]:
        """Rows of the line's counts (line_slots, or line_days of one day) by key, as bot/jobs/line.py reads them."""
        if table not in ("line_slots", "line_days"):
            raise ValueError(table)
        sql = f"SELECT * FROM {table} WHERE key IN ({_placeholders(len(keys))})"
        if table == "line_days":
            return await self._read(sql + " AND day = ?", (*keys, day))
        return await self._read(sql, tuple(keys))

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

    # ---- the audit trail (bot/jobs/audit.py shapes its records; rows here are plain columns)

    async def audit_insert(self, row: Mapping[str, Any]) -> None:
        async def work(tx: Tx) -> None:
            await self.audit_insert_many(tx, [row])

        await self._transaction(work)

    async def audit_insert_many(self, tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows of one shape (audit.Record.to_row), inside `tx`, in one round trip."""
        if not rows:
            return
        names = list(rows[0])
        sql = f"INSERT INTO audit ({', '.join(names)}) VALUES ({_placeholders(len(names))})"
        await tx.executemany(sql, [tuple(row[n] for n in names) for row in rows])

    async def audit_update(self, job_id: str, **columns: Any) -> None:
        async def work(tx: Tx) -> None:
            await self.audit_update_in(tx, job_id, **columns)

        await self._transaction(work)

    async def audit_update_in(self, tx: Tx, job_id: str, **columns: Any) -> None:
        if not columns or set(columns) & {"job_id", "created_at"}:
            raise ValueError(f"the audit's {sorted(columns)} cannot be changed")
        names = sorted(columns)
        await tx.execute(
            f"UPDATE audit SET {', '.join(f'{n} = ?' for n in names)} WHERE job_id = ?",
            (*(columns[n] for n in names), job_id),
        )

    async def audit_rows(
        self,
        *,
        guild_id: int | None = None,
        user_id: int | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Mapping[str, Any]]:
        """Audit rows, newest first."""
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("guild_id = ?", guild_id), ("user_id = ?", user_id), ("created_at >= ?", since)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = "SELECT * FROM audit" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return await self._read(sql, params)

    async def audit_delete_before(self, created_before: float) -> int:
        """Forget the audit rows written before a moment; how many."""
        (count,) = await self._write([("DELETE FROM audit WHERE created_at < ?", (created_before,))])
        return count

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

    # ---- the bot's own content-credentials signer (bot/provenance.py); the key is a secret, never logged

    async def get_credentials(self, name: str) -> tuple[str, str] | None:
        """(certificate chain, private key), PEM, stored under `name`; None when there are none yet."""
        rows = await self._read("SELECT chain, key FROM credentials WHERE name = ?", (name,))
        return (rows[0]["chain"], rows[0]["key"]) if rows else None

    async def keep_credentials(self, name: str, chain: str, key: str) -> tuple[str, str]:
        """Store these credentials under `name` unless some are there already; what is stored (the first writer
        wins, so processes starting at once all end up with the same)."""

        async def work(tx: Tx) -> tuple[str, str]:
            await tx.execute(
                f"INSERT INTO credentials (name, chain, key, created_at) VALUES (?, ?, ?, {self.now_sql}) "
                "ON CONFLICT (name) DO NOTHING",
                (name, chain, key),
            )
            rows = await tx.fetch("SELECT chain, key FROM credentials WHERE name = ?", (name,))
            return rows[0]["chain"], rows[0]["key"]

        return await self._transaction(work)

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

    # ---- moderation (blocked members and banned words are server settings, above)

    async def job_of_message(self, message_id: int) -> str | None:
        """The job whose result a message carries: its own message, or the channel post or DM copy of its video."""
        rows = await self._read(
            "SELECT job_id FROM job_addresses WHERE message_id = ? OR result_message_id = ?", (message_id, message_id)
        )
        return rows[0]["job_id"] if rows else None

    async def add_report(
        self, job_id: str, guild_id: int | None, reporter_id: int, channel_id: int | None, message_id: int | None
    ) -> int:
        """Record a report of a job's result; how many reports the job has now."""
        await self._write(
            [
                (
                    "INSERT INTO reports (job_id, guild_id, reporter_id, channel_id, message_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (job_id, guild_id, reporter_id, channel_id, message_id, time.time()),
                )
            ]
        )
        rows = await self._read("SELECT COUNT(*) AS n FROM reports WHERE job_id = ?", (job_id,))
        return int(rows[0]["n"])

    async def mark_removed(self, job_id: str, by: int) -> None:
        """The job's result was removed (its messages deleted); the job keeps its status and outcome."""
        await self._write([("UPDATE jobs SET removed_at = ?, removed_by = ? WHERE id = ?", (time.time(), by, job_id))])

    async def removed_at(self, job_id: str) -> float | None:
        rows = await self._read("SELECT removed_at FROM jobs WHERE id = ?", (job_id,))
        return float(rows[0]["removed_at"]) if rows and rows[0]["removed_at"] is not None else None

    # ---- members' own voices (bot/jobs/voices.py): each belongs to the member who cloned it

    async def save_voice(self, voice: Voice) -> None:
        """Keep a cloned voice under its member and name; one of the same name (ignoring case) is replaced by it. The
        same clone job saving it again (after a restart) changes nothing."""
        await self._write(
            [
                (
                    "INSERT INTO voices (user_id, name_key, name, custom_voice_id, job_id, created_at, last_used_at, "
                    "expired_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (user_id, name_key) DO UPDATE SET "
                    "name = excluded.name, custom_voice_id = excluded.custom_voice_id, job_id = excluded.job_id, "
                    "created_at = excluded.created_at, last_used_at = NULL, expired_at = NULL "
                    "WHERE voices.job_id <> excluded.job_id",
                    (
                        voice.user_id,
                        voice_key(voice.name),
                        voice.name,
                        voice.custom_voice_id,
                        voice.job_id,
                        voice.created_at,
                    ),
                )
            ]
        )

    async def voices(self, user_id: int) -> list[Voice]:
        """The member's voices, by name."""
        rows = await self._read("SELECT * FROM voices WHERE user_id = ? ORDER BY name_key", (user_id,))
        return [_voice(row) for row in rows]

    async def voice(self, user_id: int, name: str) -> Voice | None:
        """The member's voice of this name (ignoring case), or None: another member's voices are never found."""
        if not voice_name_possible(name):
            return None
        rows = await self._read("SELECT * FROM voices WHERE user_id = ? AND name_key = ?", (user_id, voice_key(name)))
        return _voice(rows[0]) if rows else None

    async def delete_voice(self, user_id: int, name: str) -> bool:
        if not voice_name_possible(name):
            return False
        (count,) = await self._write(
            [("DELETE FROM voices WHERE user_id = ? AND name_key = ?", (user_id, voice_key(name)))]
        )
        return count > 0

    async def voice_used(self, user_id: int, custom_voice_id: str, at: float) -> None:
        """A TTS spoke with the voice (MiniMax keeps a clone used within 7 days)."""
        await self._write(
            [
                (
                    "UPDATE voices SET last_used_at = ? WHERE user_id = ? AND custom_voice_id = ? "
                    "AND (last_used_at IS NULL OR last_used_at < ?)",
                    (at, user_id, custom_voice_id, at),
                )
            ]
        )

    async def voice_gone(self, user_id: int, custom_voice_id: str, at: float) -> None:
        """MiniMax no longer has the voice (fal's TTS said so)."""
        await self._write(
            [
                (
                    "UPDATE voices SET expired_at = ? WHERE user_id = ? AND custom_voice_id = ? AND expired_at IS NULL",
                    (at, user_id, custom_voice_id),
                )
            ]
        )


def _voice(row: Mapping[str, Any]) -> Voice:
    return Voice(
        user_id=int(row["user_id"]),
        name=row["name"],
        custom_voice_id=row["custom_voice_id"],
        job_id=row["job_id"],
        created_at=float(row["created_at"]),
        last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
        expired_at=None if row["expired_at"] is None else float(row["expired_at"]),
    )


def _retrieved(write: asyncio.Future[Any]) -> None:
    """A transition's write is done: its outcome was given to its caller, or nobody waits for it any more."""
    if not write.cancelled():
        write.exception()


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
