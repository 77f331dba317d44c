"""This process among the others that share the store: it says it is alive, and finds those that are not.

Each process has a row in `processes` and refreshes it every HEARTBEAT seconds. A process is counted out when
it has not been heard of for `takeover` seconds less the time it takes to notice (so its jobs are taken over
within `takeover` seconds of its last heartbeat), or at once when it ran on this machine and its pid is gone
(a restart after a crash takes its own jobs back without waiting). Its jobs are then claimed by whoever looks
first (bot/jobs/runner.py), and its row is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from bot.store.base import JobStore, ProcessRow

log = logging.getLogger(__name__)

WORKER, GATEWAY, GATEWAY_WORKING = "worker", "gateway", "gateway, works jobs"
WORKING = (WORKER, GATEWAY_WORKING)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Presence:
    def __init__(self, store: JobStore, *, role: str, shards: str | None = None, takeover: float = 30.0) -> None:
        self.store, self.role, self.shards = store, role, shards
        self.id = uuid.uuid4().hex[:16]
        self.host = os.environ.get("BOT_HOST") or socket.gethostname()
        self.pid = os.getpid()
        self.heartbeat_every = max(takeover / 6, 0.2)
        self.look_every = max(takeover / 15, 0.1)  # how often the others' silence is checked (bot/jobs/runner.py)
        self.quiet_limit = max(takeover - self.heartbeat_every - self.look_every, 0.5)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.register(self.id, self.role, self.shards, self.host, self.pid)
        self._task = asyncio.create_task(self._beat(), name="presence")

    async def close(self) -> None:
        """Hand back the jobs this process worked (its runner and deliveries have stopped) and leave."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.store.drain()  # a move on its way lands before the jobs are handed back
            released = await self.store.release(self.id)
            if released:
                log.info("handed back %d job(s) for the next process to carry on with", released)
            await self.store.forget([self.id])

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            try:
                if not await self.store.heartbeat(self.id):
                    log.warning("the other processes counted this one out; it registers again")
                    await self.store.register(self.id, self.role, self.shards, self.host, self.pid)
            except Exception as exc:  # the database may be away for a moment; the next beat tries again
                log.warning("heartbeat failed: %r", exc)

    async def others(self) -> list[ProcessRow]:
        return [p for p in await self.store.processes() if p.id != self.id]

    async def look(self, *, everyone_else: bool = False) -> tuple[list[str], int]:
        """(the processes counted out, how many live ones work jobs, this one included). With `everyone_else`,
        every other process is counted out: SQLite's one process, at its start."""
        dead, working = [], 1
        for process in await self.others():
            gone = process.host == self.host and not pid_alive(process.pid)
            if everyone_else or gone or process.quiet > self.quiet_limit:
                dead.append(process.id)
            elif process.role in WORKING:
                working += 1
        return dead, working
