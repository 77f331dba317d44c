"""/healthz and /metrics for one process, on HEALTH_PORT (off by default).

/healthz answers 200 when the process is well — its shards connected (a worker has none), the store reachable —
and 503 otherwise, with the details as JSON. /metrics is the prometheus-client registry in Prometheus' text
format, with the jobs by status read from the store at each scrape.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.engine import Engine
from bot.jobs.events import Changed, Notice

log = logging.getLogger(__name__)


def count_rate_limits() -> aiohttp.TraceConfig:
    """An aiohttp trace for discord.py's HTTP client that counts Discord's 429 answers."""

    async def on_request_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429:
            metrics.DISCORD_429.inc()

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


def count_outcomes(notice: Notice) -> None:
    """A listener: each outcome this process decides."""
    if isinstance(notice, Changed) and notice.job.ending is not None and notice.before is not notice.job.status:
        if notice.job.status.ended and not notice.before.ended:
            metrics.JOBS_ENDED.labels(notice.job.ending.value).inc()


class Health:
    def __init__(self, engine: Engine, client: discord.Client, *, port: int, role: str) -> None:
        self.engine, self.client, self.port, self.role = engine, client, port, role
        self._runner: web.AppRunner | None = None
        engine.events.subscribe(count_outcomes)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()
        log.info("health and metrics on port %d (/healthz, /metrics)", self.port)

    async def close(self) -> None:
        self.engine.events.unsubscribe(count_outcomes)
        if self._runner is not None:
            await self._runner.cleanup()

    def shards(self) -> dict[str, bool]:
        """Each shard this process connects, and whether it is connected now."""
        if isinstance(self.client, discord.AutoShardedClient):
            return {str(i): not shard.is_closed() for i, shard in self.client.shards.items()}
        return {}

    async def _healthz(self, request: web.Request) -> web.Response:
        shards = self.shards()
        store = await self.engine.store.reachable()
        body = {
            "role": self.role,
            "process": self.engine.presence.id,
            "shards": shards,
            "shards_expected": list(getattr(self.client, "shard_ids", None) or []),
            "store": "reachable" if store else "unreachable",
            "jobs_claimed": len(self.engine.runner.jobs),
        }
        ok = store and (self.role == "worker" or (bool(shards) and all(shards.values())))
        return web.json_response({"ok": ok, **body}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            for status, count in (await self.engine.store.count_by_status()).items():
                metrics.JOBS.labels(status).set(count)
        except Exception as exc:  # the store's figures are missing from this scrape; the rest still counts
            log.warning("metrics: could not count jobs by status: %r", exc)
        metrics.JOBS_CLAIMED.set(len(self.engine.runner.jobs))
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
