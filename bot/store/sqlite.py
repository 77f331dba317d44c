"""The embedded store: SQLite (WAL) through aiosqlite, for one bot process on one machine.

Writes go through one writer task that commits whatever is waiting in one transaction (group commit): a burst
of commands costs a few commits, not one each, and no write lands inside someone else's transaction. Each
caller's work still forms its own unit: work that changed nothing may give up alone (Unchanged), and if a batch
fails otherwise, its pieces are run again one transaction each, so one bad write fails alone. The writer is the
only one, so the line's lock is held by construction. Reads use a second connection, which sees only committed
data (WAL).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import aiosqlite

from bot.jobs.events import JobEvents
from bot.store.base import JobStore, StoreUnavailable, Unchanged, Work, migration_files, split_script

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


@dataclass
class _Group:
    work: Work[Any]
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Tx:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._db.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, [tuple(r) for r in rows])

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        async with self._db.execute(sql, tuple(params)) as cursor:
            return cast(list[Mapping[str, Any]], list(await cursor.fetchall()))


class SQLiteStore(JobStore):
    dialect = "sqlite"
    null_safe_equals = "IS"
    now_sql = "((julianday('now') - 2440587.5) * 86400.0)"
    skip_locked = ""  # one process: nobody else claims

    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: Path | str, events: JobEvents | None
    ) -> None:
        super().__init__(events)
        self._db, self._reader, self.path = writer, reader, path
        self._pending: list[_Group] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # for the benchmark

    @property
    def where(self) -> str:
        return str(Path(self.path).absolute()) if str(self.path) != ":memory:" else ":memory:"

    @classmethod
    async def open(cls, path: Path | str, events: JobEvents | None = None) -> SQLiteStore:
        """Open (creating its folder and file if need be) and migrate; StoreUnavailable says why it could not."""
        opened: list[aiosqlite.Connection] = []
        if str(path) != ":memory:" and Path(path).is_dir():  # refused before aiosqlite's thread ever starts
            raise StoreUnavailable(_shown(path), "it is a folder")
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            for _ in range(2):
                db = await aiosqlite.connect(path, isolation_level=None)
                opened.append(db)
                db.row_factory = aiosqlite.Row
                await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            writer, reader = opened
            await _wal(writer)
            await writer.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a crash of the process
            await _migrate(writer)
        except BaseException as exc:
            for db in opened:
                await db.close()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise StoreUnavailable(_shown(path), _reason(path, exc)) from exc
            raise
        store = cls(writer, reader, path, events)
        store._task = asyncio.create_task(store._write_loop(), name="store-writer")
        return store

    async def close(self) -> None:
        """Write what is waiting, then close (once)."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._reader.close()
        await self._db.close()

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return cast(list[Mapping[str, Any]], list(await cursor.fetchall()))  # sqlite3.Row reads by column name

    async def _transaction(self, work: Work[T], *, line: bool = False) -> T:
        if self._task is None or self._task.done():
            raise RuntimeError("the store is closed")
        group = _Group(work)
        self._pending.append(group)
        self._wake.set()
        return cast(T, await group.done)

    async def _write_loop(self) -> None:
        while True:
            if not self._pending and not self._closing:
                await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[_Group]) -> None:
        try:
            results = await self._run(batch)
        except Exception as exc:
            if len(batch) > 1:  # find the piece that failed: each alone
                for group in batch:
                    await self._commit([group])
                return
            log.exception("the job store could not write a change")
            if not batch[0].done.done():
                batch[0].done.set_exception(RuntimeError(f"the job store could not write a change: {exc!r}"))
            return
        for group, (ok, result) in zip(batch, results, strict=True):
            if group.done.done():
                continue
            if ok:
                group.done.set_result(result)
            else:
                group.done.set_exception(result)

    async def _run(self, batch: list[_Group]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        tx = _Tx(self._db)
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for group in batch:
                try:
                    results.append((True, await group.work(tx)))
                except Unchanged as exc:  # it changed nothing: the batch goes on without it
                    results.append((False, exc))
            await self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            raise
        self.commits += 1
        return results


async def _wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL. Changing the journal mode needs the file to itself, and SQLite does not wait for that the
    way it waits for a write lock: a process opening the file at the same moment is waited for here."""
    for attempt in range(50):
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            await asyncio.sleep(0.1)


async def _migrate(db: aiosqlite.Connection) -> None:
    """Apply the numbered migrations the database has not seen (PRAGMA user_version counts them). BEGIN IMMEDIATE
    takes the write lock first, so a second process starting at the same moment waits and then finds them done."""
    for number, name, script in migration_files("sqlite"):
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            if row is not None and row[0] >= number:
                await db.execute("COMMIT")
                continue
            log.info("migrating the database: %s", name)
            for statement in split_script(script):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise


class ProcessLock:
    """One bot process per SQLite file: an exclusive lock on a file beside it, held while the process runs."""

    def __init__(self, path: Path | str) -> None:
        self.database = path
        self.path = Path(f"{path}.lock")
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = self.path.open("ab")
        except OSError as exc:
            raise StoreUnavailable(_shown(self.database), _reason(self.database, exc)) from exc
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise StoreUnavailable(
                _shown(self.database),
                "another bot process is using it; only one process can use an SQLite file — to run several, "
                "share a PostgreSQL database: DATABASE_URL=postgresql://user:password@host:5432/dbname",
            ) from None
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _shown(path: Path | str) -> str:
    return str(Path(path).absolute()) if str(path) != ":memory:" else ":memory:"


def _reason(path: Path | str, exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, FileExistsError):  # from mkdir: a file stands where a folder is needed
        return f"{exc.filename} is a file, not a folder"
    if isinstance(exc, NotADirectoryError):
        return f"part of {exc.filename} is a file, not a folder"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
    if str(path) != ":memory:" and Path(path).is_dir():
        return "it is a folder"
    return str(exc)  # sqlite's own words: "unable to open database file", "file is not a database"
