"""The burst benchmark: the real bot process (python -m bot) against the Discord stand-in (many servers,
per-route rate limits) and the fal stand-in (TLS), with N commands fired within one second.

For each N it prints the bot's figures on each job store (SQLite, and PostgreSQL on a private server the
benchmark starts, as the tests do) and, in the same run, the fal figures of a naive baseline written the way
fal's examples do it (fal_client.subscribe with default polling, an edit on every update):

    python -m benchmarks.bench                      # N = 100 and 1,000 over 50 servers, 30 s jobs, both stores
    python -m benchmarks.bench --n 1000 --stores postgres --no-baseline --no-cluster

With PostgreSQL it also runs the cluster (2 gateway processes for 2 shards, taking commands only, and 2 workers)
at the largest N, finds the highest rate of commands each setup holds with an acknowledgement p99 under 100 ms
(--rates), and SIGKILLs one of the cluster's workers with 500 jobs in flight (--takeover) to time how long until
the other one follows them all again.

Figures, not asserts: the README publishes them with the date and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.botproc import BotProcess, bot_env, python_cmd
from tests.helpers import FAL_KEY, STORES, configure, fal_child_env, shown_text
from tests.postgres import PostgresServer
from tests.standins.discord_api import DiscordStandIn, Interaction
from tests.standins.fal_queue import FalStandIn, JobScript

ENDPOINT = "veed/fabric-1.0"
AUDIO = "https://cdn.example.com/a.mp3"
FAL_ROUTES = ("submit", "stream", "status", "result", "cancel")


def bench_env(*args: Any, **extra: str) -> dict[str, str]:
    """The bot's environment; links (cdn.example.com) go to fal as they are, so no run depends on a DNS answer."""
    return bot_env(*args, **{"INPUT_HOSTING": "passthrough", **extra})


def job_script(seconds: float) -> JobScript:
    """A job of `seconds`: 40 % in fal's queue with a falling position, then generating with log lines."""
    positions = [5, 4, 3, 2, 1, 0]
    return JobScript(
        queue_positions=positions,
        queue_step=seconds * 0.4 / len(positions),
        run_time=seconds * 0.6,
        logs=[f"Rendering frames {p} %" for p in (0, 20, 40, 60, 80)],
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Figures:
    label: str
    values: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, value: object) -> None:
        self.values[name] = value if isinstance(value, str) else f"{value}"


class Proc:
    """CPU and memory of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def memory(self, key: str = "VmHWM") -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")


def carries_video(record, url: str) -> bool:
    return bool(record.files) or (record.json is not None and url in json.dumps(record.json))


STORE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


class Processes:
    """The bot processes of one run: one `python -m bot`, or a cluster (2 gateway processes for the 2 shards, which
    take commands only, and 2 workers)."""

    def __init__(self, bots: list[BotProcess]) -> None:
        self.bots = bots
        self.procs: list[Proc] = []

    @classmethod
    async def start(
        cls, discord: DiscordStandIn, env: dict[str, str], home: Path, *, cluster: bool, **extra: str
    ) -> Processes:
        env = {**env, **extra}
        env.pop("DISCORD_GUILD_ID", None)  # global commands, as a bot in many servers has
        if not cluster:
            bots = [BotProcess(env, home / "bot.log")]
        else:
            shared = {**env, "SHARD_COUNT": "2", "WORK_JOBS": "false"}
            bots = [
                BotProcess({**shared, "SHARD_IDS": str(k)}, home / f"shard-{k}.log", shards=[k]) for k in (0, 1)
            ] + [
                BotProcess({**env, "BOT_HOST": f"worker-{k}"}, home / f"worker-{k}.log", args=("worker",))
                for k in (0, 1)
            ]
        running = cls(bots)
        for bot in bots:
            await bot.start(discord)
            running.procs.append(Proc(bot.proc.pid))  # type: ignore[union-attr]
        return running

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.procs)

    def memory(self, key: str = "VmHWM") -> float:
        return sum(p.memory(key) for p in self.procs)

    async def stop(self) -> None:
        for bot in self.bots:
            await bot.stop()


async def places_for(discord: DiscordStandIn, servers: int, *, cluster: bool) -> list[tuple[int, int]]:
    """The servers of a run (spread over both shards for a cluster)."""
    if not cluster:
        return [(discord.guild_id, discord.channel_id)] + [await discord.add_guild() for _ in range(servers - 1)]
    return [await discord.add_guild(shard=k % 2, num_shards=2) for k in range(servers)]


async def run_bot(
    n: int,
    servers: int,
    job_seconds: float,
    *,
    spread: float = 1.0,
    home: Path,
    database_url: str | None = None,
    cluster: bool = False,
) -> Figures:
    """N commands from N members across `servers` servers within `spread` seconds; every figure of one run."""
    store = "postgres" if database_url and database_url.startswith("postgres") else "sqlite"
    label = "cluster (2 shards + 2 workers)" if cluster else "bot"
    figures = Figures(f"{label} on {STORE_NAMES[store]}, N = {n}")
    async with FalStandIn(key=FAL_KEY, keepalive=15.0) as fal, DiscordStandIn() as discord:
        discord.ack_deadline = 60.0  # measure lateness instead of failing on it
        fal.script(ENDPOINT, job_script(job_seconds))
        places = await places_for(discord, servers, cluster=cluster)
        env = bench_env(
            fal_child_env(fal, home),
            discord,
            home,
            LOG_LEVEL=os.environ.get("BENCH_LOG", "WARNING"),
            MAX_RUNNING_JOBS=str(n),
            **({"DATABASE_URL": database_url} if database_url else {}),
        )
        bots = await Processes.start(discord, env, home, cluster=cluster)
        proc = bots
        try:
            for guild, _ in places:  # each server's admins raise the limits so that all may run
                await configure(discord, guild_id=guild, guild_concurrent=n, user_cooldown=0)
            before_requests = len(discord.requests)
            cpu0, harness0 = proc.cpu(), time.process_time()
            gc.collect()
            gc.disable()  # the stand-ins time what they receive: their own collector must not pause them
            started = time.monotonic()

            fire = firing(discord, places, started, spread / n, "bench", 1_000_000)

            lags: list[float] = []

            async def watch_lag() -> (
                None
            ):  # how late the stand-ins' own loop runs: their lateness inflates every figure
                while True:
                    before = time.monotonic()
                    await asyncio.sleep(0.01)
                    lags.append((time.monotonic() - before - 0.01) * 1000)

            lag_task = asyncio.create_task(watch_lag())
            sent = await asyncio.gather(*(fire(i) for i in range(n)))
            await discord.wait_for(lambda: all(i.callbacks for i in sent), timeout=120)

            def delivered() -> int:
                return sum(
                    1
                    for i in sent
                    if (m := discord.messages.get(i.original_message_id or 0))
                    and shown_text(m).startswith(("✅", "❌"))
                )

            deadline = time.monotonic() + job_seconds * 4 + 60
            while delivered() < n and time.monotonic() < deadline:
                await asyncio.sleep(0.5)  # a light look: the stand-ins must not be kept busy by the counting
            await asyncio.sleep(1.0)
            cpu, harness = proc.cpu() - cpu0, time.process_time() - harness0
            lag_task.cancel()
            rss = proc.memory()
        finally:
            gc.enable()
            await bots.stop()

        acks = [i.callbacks[0][0] * 1000 for i in sent if i.callbacks]
        if os.environ.get("BENCH_TIMELINE"):
            first = min(i.dispatched_at for i in sent)
            by: dict[int, list[float]] = {}
            for i in sent:
                if i.callbacks:
                    by.setdefault(int((i.dispatched_at - first) * 10), []).append(i.callbacks[0][0] * 1000)
            print(
                "  acks by dispatch time: "
                + " ".join(f"{k / 10:.1f}s:{percentile(v, 0.5):.0f}/{max(v):.0f}" for k, v in sorted(by.items()))
            )
        figures.put(
            "commands acknowledged", f"{sum(1 for i in sent if i.callbacks and i.callbacks[0][1]['type'] == 5)} of {n}"
        )
        figures.put("ack p50 / p99 (ms)", f"{percentile(acks, 0.5):.0f} / {percentile(acks, 0.99):.0f}")
        figures.put("jobs delivered", f"{delivered()} of {n}")
        by_face = {job.payload["image_url"]: job for job in fal.jobs.values()}
        latencies = []
        timeline: list[tuple[float, float]] = []
        requests_after = discord.requests[before_requests:]
        per_token: dict[str, list] = {}
        for record in requests_after:
            for part in record.path.split("/"):
                if len(part) > 60:
                    per_token.setdefault(part, []).append(record)
        for i, interaction in enumerate(sent):
            job = by_face.get(f"https://cdn.example.com/bench-{i}.png")
            if job is None or not isinstance(job.output.get("video"), dict):
                continue
            url = job.output["video"]["url"]
            carrier = next((r for r in per_token.get(interaction.token, []) if carries_video(r, url)), None)
            if carrier is not None:
                latencies.append((carrier.time - job.run_end) * 1000)
                result_at = next(
                    (r.time for r in fal.requests if r.route == "result" and r.request_id == job.request_id), None
                )
                if os.environ.get("BENCH_TIMELINE") == "2":
                    print(
                        "FAL",
                        job.request_id[:8],
                        time.time() - (time.monotonic() - job.run_end),
                        time.time() - (time.monotonic() - carrier.time),
                    )
                timeline.append(
                    (
                        job.run_end,
                        (carrier.time - job.run_end) * 1000,
                        ((result_at or job.run_end) - job.run_end) * 1000,
                    )
                )
        figures.put("delivery p50 / p99 (ms)", f"{percentile(latencies, 0.5):.0f} / {percentile(latencies, 0.99):.0f}")
        if os.environ.get("BENCH_TIMELINE") and timeline:
            first = min(t for t, _, _ in timeline)
            buckets: dict[int, list[tuple[float, float]]] = {}
            for t, ms, to_result in timeline:
                buckets.setdefault(int((t - first) * 2), []).append((ms, to_result))
            for b, values in sorted(buckets.items()):
                total = [v[0] for v in values]
                result = [v[1] for v in values]
                print(
                    f"  t+{b / 2:4.1f}s: {len(values):3d} completed, delivery max {max(total):5.0f} ms, "
                    f"p50 {percentile(total, 0.5):4.0f} ms (result asked after p50 {percentile(result, 0.5):4.0f} ms)"
                )
        figures.put("fal requests per job", _fal_requests(fal, n))
        edits = sum(1 for r in requests_after if r.method == "PATCH")
        figures.put("Discord requests / edits per job", f"{len(requests_after) / n:.1f} / {edits / n:.1f}")
        figures.put("429s from Discord", len(discord.rate_limited))
        figures.put("bot peak RSS (MB, all its processes)", f"{rss:.0f}")
        figures.put("bot CPU per job (ms, all its processes)", f"{cpu / n * 1000:.1f}")
        figures.put("peak connections to fal", fal.peak_connections)
        figures.put("stand-ins' CPU per job (ms)", f"{harness / n * 1000:.1f}")
        figures.put("stand-ins' loop lag p99 / max (ms)", f"{percentile(lags, 0.99):.0f} / {max(lags, default=0):.0f}")
        ends = sorted(job.run_end for job in fal.jobs.values())
        submits = sorted(job.submitted_at for job in fal.jobs.values())
        if ends:
            figures.put(
                "fal submits spread over / completions over (s)",
                f"{submits[-1] - submits[0]:.1f} / {ends[-1] - ends[0]:.1f}",
            )
    return figures


def _fal_requests(fal: FalStandIn, n: int, prefix: str = "") -> str:
    counts = {route: 0 for route in FAL_ROUTES}
    for record in fal.requests:
        if record.route in counts and (not prefix or _tagged(fal, record, prefix)):
            counts[record.route] += 1
    total = sum(counts.values())
    parts = " + ".join(f"{counts[r] / n:.1f} {r}" for r in FAL_ROUTES if counts[r])
    return f"{total / n:.1f} ({parts})"


def _tagged(fal: FalStandIn, record, prefix: str) -> bool:
    job = fal.jobs.get(record.request_id or "")
    return job is not None and str(job.payload.get("image_url", "")).startswith(prefix)


async def run_naive(n: int, job_seconds: float, *, home: Path) -> Figures:
    figures = Figures(f"naive, N = {n}")
    async with FalStandIn(key=FAL_KEY, keepalive=15.0) as fal:
        fal.script(ENDPOINT, job_script(job_seconds))
        proc = await asyncio.create_subprocess_exec(
            *python_cmd("benchmarks.naive", "--n", str(n), "--tag", "naive", "--timeout", str(job_seconds * 6 + 60)),
            env=fal_child_env(fal, home),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        watch = Proc(proc.pid)
        cpu = 0.0
        communicate = asyncio.ensure_future(proc.communicate())
        while not communicate.done():  # the last reading before it exits
            with contextlib.suppress(OSError):
                cpu = watch.cpu()
            await asyncio.wait({communicate}, timeout=0.5)
        out, _ = communicate.result()
        report = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
        figures.put("jobs delivered", f"{report.get('completed', 0)} of {n} (in {report.get('wall_seconds')} s)")
        figures.put("fal requests per job", _fal_requests(fal, n, "https://cdn.example.com/naive-"))
        figures.put(
            "Discord requests / edits per job", f"— / {report.get('updates_per_job') or 0:.1f} (one per update)"
        )
        figures.put("peak connections to fal", fal.peak_connections)
        figures.put("CPU per job (ms)", f"{cpu / n * 1000:.1f}")
    return figures


async def run_beyond(n: int, running: int, job_seconds: float, servers: int, *, spread: float, home: Path) -> Figures:
    """N jobs in flight (`running` on fal, the rest in the line): what they cost, and how long a restart
    takes to pick all of them up again (SIGKILL, start, every running job following its request again)."""
    figures = Figures(f"{n:,} in flight ({running:,} running), sent over {spread:.0f} s")
    async with FalStandIn(key=FAL_KEY, keepalive=15.0) as fal, DiscordStandIn() as discord:
        discord.ack_deadline = 60.0
        fal.script(ENDPOINT, job_script(job_seconds))
        places = [(discord.guild_id, discord.channel_id)] + [await discord.add_guild() for _ in range(servers - 1)]
        env = bench_env(fal_child_env(fal, home), discord, home, LOG_LEVEL="WARNING", MAX_RUNNING_JOBS=str(running))
        env.pop("DISCORD_GUILD_ID")
        bot = BotProcess(env, home / "bot.log")
        await bot.start(discord)
        try:
            for guild, _ in places:
                await configure(discord, guild_id=guild, guild_concurrent=n, guild_waiting=n, user_cooldown=0)
            proc = Proc(bot.proc.pid)  # type: ignore[union-attr]
            cpu0 = proc.cpu()
            started = time.monotonic()

            fire = firing(discord, places, started, spread / n, "far", 2_000_000)

            sent = await asyncio.gather(*(fire(i) for i in range(n)))
            await discord.wait_for(lambda: all(i.callbacks for i in sent), timeout=300)
            acks = [i.callbacks[0][0] * 1000 for i in sent]
            if os.environ.get("BENCH_TIMELINE"):
                first = min(i.dispatched_at for i in sent)
                by: dict[int, list[float]] = {}
                for i in sent:
                    by.setdefault(int(i.dispatched_at - first), []).append(i.callbacks[0][0] * 1000)
                print(
                    "  acks by second: "
                    + " ".join(f"{k}s:{percentile(v, 0.5):.0f}/{max(v):.0f}" for k, v in sorted(by.items()))
                )
            await fal.wait_for_submissions(running, timeout=300)
            await discord.wait_for(lambda: fal.open_connections >= running, timeout=300)
            await asyncio.sleep(3.0)
            figures.put("ack p50 / p99 (ms)", f"{percentile(acks, 0.5):.0f} / {percentile(acks, 0.99):.0f}")
            figures.put("bot RSS (MB)", f"{proc.memory('VmRSS'):.0f}")
            figures.put("bot CPU to admit and start them (s)", f"{proc.cpu() - cpu0:.1f}")
            figures.put("connections to fal", fal.open_connections)
            idle0, wall0 = proc.cpu(), time.monotonic()
            await asyncio.sleep(10.0)
            figures.put(
                "bot CPU while they run (% of a core)", f"{(proc.cpu() - idle0) / (time.monotonic() - wall0):.0%}"
            )

            await bot.kill()
            streams_before = fal.count("stream")
            restart = time.monotonic()
            await bot.start(discord)
            await discord.wait_for(lambda: fal.count("stream") - streams_before >= running, timeout=300)
            figures.put("restart to every running job followed again (s)", f"{time.monotonic() - restart:.1f}")
            figures.put("bot RSS after the restart (MB)", f"{Proc(bot.proc.pid).memory('VmRSS'):.0f}")  # type: ignore[union-attr]
            figures.put("submits (none twice)", f"{fal.count('submit')} for {running} running")
        finally:
            await bot.stop()
    return figures


async def run_sustained(
    *, cluster: bool, database_url: str | None, home: Path, servers: int, rates: list[int], step: float, limit_ms: float
) -> Figures:
    """Commands at a steady rate, step after step of rising rates, until the acknowledgement p99 passes
    `limit_ms`: the highest rate held."""
    label = "cluster (2 shards + 2 workers)" if cluster else "bot"
    store = "PostgreSQL" if database_url else "SQLite"
    figures = Figures(f"{label} on {store}, sustained")
    async with FalStandIn(key=FAL_KEY, keepalive=15.0) as fal, DiscordStandIn() as discord:
        discord.ack_deadline = 60.0
        fal.script(ENDPOINT, job_script(5.0))
        places = await places_for(discord, servers, cluster=cluster)
        env = bench_env(
            fal_child_env(fal, home),
            discord,
            home,
            LOG_LEVEL="WARNING",
            MAX_RUNNING_JOBS="100000",
            **({"DATABASE_URL": database_url} if database_url else {}),
        )
        bots = await Processes.start(discord, env, home, cluster=cluster)
        try:
            for guild, _ in places:
                await configure(discord, guild_id=guild, guild_concurrent=10000, guild_waiting=100000, user_cooldown=0)
            held, seen = 0, []
            for number, rate in enumerate(rates):
                n = int(rate * step)
                fire = firing(discord, places, time.monotonic(), 1 / rate, f"rate{rate}", 3_000_000 + number * 100_000)
                sent = await asyncio.gather(*(fire(i) for i in range(n)))
                await discord.wait_for(lambda s=sent: all(i.callbacks for i in s), timeout=120)
                p99 = percentile([i.callbacks[0][0] * 1000 for i in sent], 0.99)
                seen.append(f"{rate}/s: {p99:.0f}")
                if p99 > limit_ms:
                    break
                held = rate
                await asyncio.sleep(2.0)
            figures.put(f"commands per second held with ack p99 ≤ {limit_ms:.0f} ms", f"{held}")
            figures.put("ack p99 at each rate (ms)", ", ".join(seen))
        finally:
            await bots.stop()
    return figures


async def run_takeover(in_flight: int, *, database_url: str, home: Path, servers: int) -> Figures:
    """A cluster with `in_flight` long jobs followed by its two workers; one worker is SIGKILLed as if its machine
    were gone (the workers say they run on machines of their own, so only its silence tells): how long until the
    other one follows every job of the dead one again."""
    figures = Figures(f"cluster on PostgreSQL, {in_flight} jobs in flight, a worker SIGKILLed")
    import asyncpg

    async with FalStandIn(key=FAL_KEY, keepalive=15.0) as fal, DiscordStandIn() as discord:
        discord.ack_deadline = 60.0
        fal.script(ENDPOINT, job_script(600.0))
        places = await places_for(discord, servers, cluster=True)
        env = bench_env(
            fal_child_env(fal, home),
            discord,
            home,
            LOG_LEVEL="WARNING",
            MAX_RUNNING_JOBS=str(in_flight),
            DATABASE_URL=database_url,
        )
        bots = await Processes.start(discord, env, home, cluster=True)
        try:
            for guild, _ in places:
                await configure(discord, guild_id=guild, guild_concurrent=in_flight, user_cooldown=0)
            fire = firing(discord, places, time.monotonic(), 5.0 / in_flight, "flight", 4_000_000)
            sent = await asyncio.gather(*(fire(i) for i in range(in_flight)))
            await discord.wait_for(lambda: all(i.callbacks for i in sent), timeout=120)
            await fal.wait_for_submissions(in_flight, timeout=300)
            await discord.wait_for(
                lambda: len({r.request_id for r in fal.requests if r.route == "stream"}) >= in_flight, timeout=300
            )
            connection = await asyncpg.connect(database_url)
            try:
                owners = await connection.fetch(
                    "SELECT owner, COUNT(*) AS n FROM jobs WHERE owner IS NOT NULL GROUP BY owner"
                )
                dead_worker = bots.bots[2]
                dead_id = await connection.fetchval(
                    "SELECT id FROM processes WHERE pid = $1",
                    dead_worker.proc.pid,  # type: ignore[union-attr]
                )
                theirs = {r["id"] for r in await connection.fetch("SELECT id FROM jobs WHERE owner = $1", dead_id)}
                requests = {
                    r["id"]: r["rid"]
                    for r in await connection.fetch(
                        "SELECT id, steps::json->'video'->'submission'->>'request_id' AS rid FROM jobs WHERE owner = $1",
                        dead_id,
                    )
                }
            finally:
                await connection.close()
            streams_before = len(fal.requests)
            await dead_worker.kill()
            killed = time.monotonic()
            wanted = set(requests.values())
            await discord.wait_for(
                lambda: (
                    wanted <= {r.request_id for r in fal.requests[streams_before:] if r.route in ("stream", "status")}
                ),
                timeout=180,
            )
            figures.put("jobs per worker before", " / ".join(str(r["n"]) for r in owners))
            figures.put("jobs the dead worker had", len(theirs))
            figures.put("SIGKILL to all of them followed by the other worker (s)", f"{time.monotonic() - killed:.1f}")
            figures.put("submits (none twice)", f"{fal.count('submit')} for {in_flight} jobs")
        finally:
            await bots.stop()
    return figures


def firing(
    discord: DiscordStandIn, places: list[tuple[int, int]], started: float, gap: float, tag: str, first_user: int
) -> Callable[[int], Awaitable[Interaction]]:
    """The i-th /talkinghead of a burst: sent `gap` seconds after the one before, by its own member, in the
    servers in turn."""

    async def fire(i: int) -> Interaction:
        await asyncio.sleep(max(0.0, started + gap * i - time.monotonic()))
        guild, channel = places[i % len(places)]
        return await discord.send_command(
            "talkinghead",
            {"image_url": f"https://cdn.example.com/{tag}-{i}.png", "audio_url": AUDIO},
            user_id=first_user + i,
            guild_id=guild,
            channel_id=channel,
        )

    return fire


def table(columns: list[Figures]) -> str:
    rows: list[str] = []
    for column in columns:
        rows += [name for name in column.values if name not in rows]
    header = ["figure", *(c.label for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in rows:
        lines.append("| " + " | ".join([name, *(c.values.get(name, "—") for c in columns)]) + " |")
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], help="commands per run (default: 100 1000)")
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--job-seconds", type=float, default=30.0)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which the N commands arrive")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES), help="job stores to run on")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument(
        "--no-cluster", dest="cluster", action="store_false", help="leave out the cluster (2 shards + 2 workers) runs"
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[25, 50, 100, 200, 400], help="sustained rates (/s)")
    parser.add_argument("--takeover", type=int, default=500, help="jobs in flight when a worker is SIGKILLed")
    parser.add_argument(
        "--bursts-only", dest="extra", action="store_false", help="leave out the sustained rates and the takeover"
    )
    parser.add_argument("--beyond", type=int, metavar="N", help="instead: N jobs in flight, what they cost, a restart")
    parser.add_argument("--running", type=int, default=1000, help="with --beyond: jobs running on fal at once")
    args = parser.parse_args()
    if args.beyond:
        with tempfile.TemporaryDirectory() as tmp:
            figures = await run_beyond(
                args.beyond, args.running, 600.0, args.servers, spread=args.spread, home=Path(tmp)
            )
        print(
            f"{time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"
        )
        print(table([figures]))
        return 0
    columns: list[Figures] = []
    extra: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = os.environ.get("BENCH_HOME", tmp)
        postgres = PostgresServer.start(Path(tmp) / "postgres") if "postgres" in args.stores else None
        try:
            for n in args.n:
                for store in args.stores:
                    home = Path(tmp) / f"bot-{store}-{n}"
                    home.mkdir()
                    url = await postgres.create_database(f"bench_{n}") if store == "postgres" and postgres else None
                    figures = await run_bot(
                        n, args.servers, args.job_seconds, spread=args.spread, home=home, database_url=url
                    )
                    columns.append(figures)
                    print(table(columns), "\n", flush=True)
                if args.cluster and postgres is not None and n == max(args.n):
                    home = Path(tmp) / f"cluster-{n}"
                    home.mkdir()
                    url = await postgres.create_database(f"bench_cluster_{n}")
                    columns.append(
                        await run_bot(
                            n,
                            args.servers,
                            args.job_seconds,
                            spread=args.spread,
                            home=home,
                            database_url=url,
                            cluster=True,
                        )
                    )
                    print(table(columns), "\n", flush=True)
                if args.baseline:
                    columns.append(await run_naive(n, args.job_seconds, home=Path(tmp) / f"bot-{args.stores[0]}-{n}"))
            if args.cluster and args.extra and postgres is not None:
                for cluster in (False, True):
                    home = Path(tmp) / f"sustained-{cluster}"
                    home.mkdir()
                    url = await postgres.create_database(f"bench_sustained_{int(cluster)}")
                    extra.append(
                        await run_sustained(
                            cluster=cluster,
                            database_url=url,
                            home=home,
                            servers=args.servers,
                            rates=args.rates,
                            step=3.0,
                            limit_ms=100.0,
                        )
                    )
                    print(table(extra), "\n", flush=True)
                home = Path(tmp) / "takeover"
                home.mkdir()
                url = await postgres.create_database("bench_takeover")
                extra.append(await run_takeover(args.takeover, database_url=url, home=home, servers=args.servers))
        finally:
            if postgres is not None:
                postgres.stop()
    print(
        f"{time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"{args.servers} servers · {args.job_seconds:.0f} s jobs · commands within {args.spread:.1f} s"
    )
    print(table(columns))
    if extra:
        print()
        print(table(extra))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
