"""Load check for the fal stand-in: N submits, then N concurrent status streams (SSE) followed to completion.

The stand-in runs in a process of its own, so its CPU time is measured apart from the client's: plain httpx
clients, one connection per stream, the jobs shared over ``clients`` of them. (One httpx client with a
thousand connections spends its time in httpcore's pool, whose request assignment scans every connection for
every request; with one or a few clients the client, not the stand-in, is the bottleneck.) Run it as

    python -m tests.standins.fal_scale [--jobs 1000] [--run-time 4.5] [--clients 100]

``test_fal_queue_standin.test_a_thousand_jobs_over_a_thousand_streams`` runs the same with assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

KEY = "scale-key"
ENDPOINT = "fal-ai/sync-lipsync/v2"
ARGS = {"video_url": "https://example.com/face.mp4", "audio_url": "https://example.com/voice.mp3"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(conn: Any, script: dict) -> None:
    """The stand-in's process: answers "cpu" and "stats" over ``conn`` until "stop"."""
    from tests.standins.fal_queue import FalStandIn, JobScript

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lags: list[float] = []

        async def watch_loop() -> None:  # how late the stand-in's event loop runs a 10 ms timer
            while True:
                start = loop.time()
                await asyncio.sleep(0.01)
                lags.append(loop.time() - start - 0.01)

        async with FalStandIn(key=KEY) as standin:
            standin.script(ENDPOINT, JobScript(**script))
            conn.send((standin.base_url, standin.ca_path))
            watcher = asyncio.create_task(watch_loop())
            while (ask := await loop.run_in_executor(None, conn.recv)) != "stop":
                if ask == "cpu":
                    lags.clear()
                    conn.send(_cpu())
                elif ask == "stats":
                    conn.send(
                        {
                            "cpu": _cpu(),
                            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            "peak_connections": standin.peak_connections,
                            "open_connections": standin.open_connections,
                            "requests": len(standin.requests),
                            "violations": standin.violations[:5],
                            "run_end": {rid: job.run_end for rid, job in standin.jobs.items()},
                            "loop_lag": _quantiles(lags, 0.99),
                        }
                    )
            watcher.cancel()

    asyncio.run(main())


@dataclass
class Figures:
    jobs: int
    job_seconds: float
    clients: int
    submit_wall: float = 0.0  # seconds for all submits, sent at once
    submit_latency: dict = field(default_factory=dict)  # p50/p95/max seconds per submit
    first_event: dict = field(default_factory=dict)  # stream request -> its first event
    completion_lag: dict = field(default_factory=dict)  # job's scripted end -> client has COMPLETED
    streams_wall: float = 0.0  # first stream opened -> last COMPLETED received
    completed: int = 0
    events: int = 0
    server_cpu_submits: float = 0.0
    server_cpu_streams: float = 0.0
    client_cpu: float = 0.0
    server_loop_lag: dict = field(default_factory=dict)  # how late the stand-in's loop ran a 10 ms timer
    server_maxrss_mib: float = 0.0
    peak_connections: int = 0
    requests: int = 0
    violations: list = field(default_factory=list)

    def report(self) -> str:
        def q(d: dict) -> str:
            return " ".join(f"{k} {v * 1000:.0f} ms" for k, v in d.items())

        total_wall = self.submit_wall + self.streams_wall
        server_cpu = self.server_cpu_submits + self.server_cpu_streams
        return "\n".join(
            [
                f"{self.jobs} jobs of {self.job_seconds:.1f} s from {self.clients} httpx clients; {self.completed} "
                f"followed to COMPLETED over {self.events} SSE events; {self.requests} requests",
                f"submits: all in {self.submit_wall:.2f} s; per submit {q(self.submit_latency)}",
                f"streams: first event {q(self.first_event)}; completion lag {q(self.completion_lag)}",
                f"stand-in CPU: {self.server_cpu_submits:.2f} s during submits, {self.server_cpu_streams:.2f} s during "
                f"streams ({server_cpu / total_wall:.0%} of one core over {total_wall:.1f} s); "
                f"max RSS {self.server_maxrss_mib:.0f} MiB; peak {self.peak_connections} connections; "
                f"event-loop lag {q(self.server_loop_lag)}",
                f"client CPU: {self.client_cpu:.2f} s",
            ]
        )


def _quantiles(values: list[float], high: float = 0.95) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "p50": ordered[len(ordered) // 2],
        f"p{high * 100:.0f}": ordered[min(len(ordered) - 1, int(len(ordered) * high))],
        "max": ordered[-1],
    }


async def measure(jobs: int = 1000, run_time: float = 4.5, queue_step: float = 0.25, clients: int = 100) -> Figures:
    script = {
        "queue_positions": [1, 0],
        "queue_step": queue_step,
        "run_time": run_time,
        "logs": ["Loading model", "Generating"],
    }
    figures = Figures(jobs, 2 * queue_step + run_time, clients)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(theirs, script), daemon=True)
    server.start()
    loop = asyncio.get_running_loop()

    def receive() -> Any:
        if not ours.poll(30):
            raise RuntimeError(f"the stand-in's process did not answer (exit code {server.exitcode})")
        return ours.recv()

    async def ask(what: str) -> Any:
        ours.send(what)
        return await loop.run_in_executor(None, receive)

    try:
        base_url, ca_path = await loop.run_in_executor(None, receive)
        per_client = -(-jobs // clients) + 5
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        verify = ssl.create_default_context(cafile=ca_path)
        async with contextlib.AsyncExitStack() as stack:
            pool = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        verify=verify,
                        limits=limits,
                        timeout=httpx.Timeout(60.0),
                        headers={"Authorization": f"Key {KEY}"},
                    )
                )
                for _ in range(clients)
            ]
            client_cpu = time.process_time()
            cpu0 = await ask("cpu")

            async def submit(http: httpx.AsyncClient) -> tuple[dict, float]:
                t = time.monotonic()
                response = await http.post(f"{base_url}/{ENDPOINT}", json=ARGS)
                response.raise_for_status()
                return response.json(), time.monotonic() - t

            t0 = time.monotonic()
            submitted = await asyncio.gather(*(submit(pool[i % clients]) for i in range(jobs)))
            figures.submit_wall = time.monotonic() - t0
            figures.submit_latency = _quantiles([latency for _, latency in submitted])
            cpu1 = await ask("cpu")

            async def follow(http: httpx.AsyncClient, sub: dict) -> tuple[str, float, float | None, float | None, int]:
                start, first, done, n = time.monotonic(), None, None, 0
                async with aconnect_sse(http, "GET", sub["status_url"] + "/stream", params={"logs": "1"}) as source:
                    async for event in source.aiter_sse():
                        n += 1
                        now = time.monotonic()
                        first = first or now
                        if json.loads(event.data)["status"] == "COMPLETED":
                            done = now
                return sub["request_id"], start, first, done, n

            t1 = time.monotonic()
            followed = await asyncio.gather(*(follow(pool[i % clients], sub) for i, (sub, _) in enumerate(submitted)))
            figures.streams_wall = time.monotonic() - t1
            figures.client_cpu = time.process_time() - client_cpu
        stats = await ask("stats")
        figures.server_cpu_submits = cpu1 - cpu0
        figures.server_cpu_streams = stats["cpu"] - cpu1
        figures.server_maxrss_mib = stats["maxrss_mib"]
        figures.server_loop_lag = stats["loop_lag"]
        figures.peak_connections = stats["peak_connections"]
        figures.requests = stats["requests"]
        figures.violations = stats["violations"]
        figures.completed = sum(1 for *_, done, _n in followed if done is not None)
        figures.events = sum(n for *_, n in followed)
        figures.first_event = _quantiles([first - start for _, start, first, _, _ in followed if first])
        # CLOCK_MONOTONIC is one clock for every process on the machine, so the server's times compare.
        figures.completion_lag = _quantiles(
            [max(0.0, done - stats["run_end"][rid]) for rid, _, _, done, _ in followed if done is not None]
        )
        return figures
    finally:
        ours.send("stop")
        await loop.run_in_executor(None, server.join, 10)
        if server.is_alive():
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--run-time", type=float, default=4.5, help="seconds each job runs after 0.5 s queued")
    parser.add_argument("--clients", type=int, default=100, help="httpx clients the jobs are shared over")
    options = parser.parse_args()
    print(asyncio.run(measure(options.jobs, options.run_time, clients=options.clients)).report())


if __name__ == "__main__":
    main()
