"""Per-server settings and the limits they set: who may run what, how much, and at what cost.

Admission (checking every limit and recording the job) happens in one transaction under one lock,
so a burst of commands cannot slip past a limit between the check and the insert.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone

from bot.fal import catalog
from bot.jobs import cost
from bot.jobs.spec import Stage
from bot.jobs.store import Job, Store

UNCOUNTED = (Stage.FAILED.value, Stage.CANCELLED.value)  # cost nothing, count for nothing


@dataclass
class GuildConfig:
    allowed_channels: list[int] = field(default_factory=list)  # empty: every channel
    allowed_roles: list[int] = field(default_factory=list)  # empty: everyone
    disabled_models: list[str] = field(default_factory=list)
    user_concurrent: int = 2
    user_cooldown: int = 30  # seconds between one member's commands
    user_daily: int = 20  # finished jobs per member per UTC day
    guild_concurrent: int = 5
    daily_budget: float | None = None  # US dollars per UTC day; None: no cap

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> GuildConfig:
        data = json.loads(text) if text else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def offers(self, endpoint_id: str) -> bool:
        return endpoint_id not in self.disabled_models


@dataclass(frozen=True)
class Refusal:
    limit: str
    message: str  # what blocked the command and when it frees up


def day_start(now: float) -> float:
    day = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def next_day(now: float) -> float:
    return day_start(now) + timedelta(days=1).total_seconds()


def budget_estimate(job: Job) -> float:
    """What a job is counted at against the budget: its estimate, or its worst case when that is unknown."""
    if job.cost_estimate is not None:
        return job.cost_estimate
    model = job.spec.main_model
    seconds = model.audio_limit(job.spec.resolution) or 60.0
    upper = cost.estimate(type(job.spec).from_dict({**job.spec.to_dict(), "audio_seconds": seconds}))
    return upper or 0.0


async def load_config(store: Store, guild_id: int | None) -> GuildConfig:
    if guild_id is None:
        return GuildConfig()
    async with store.db.execute("SELECT config FROM guild_config WHERE guild_id = ?", (guild_id,)) as cursor:
        row = await cursor.fetchone()
    return GuildConfig.from_json(row[0] if row else None)


async def save_config(store: Store, guild_id: int, config: GuildConfig) -> None:
    await store.db.execute(
        "INSERT INTO guild_config (guild_id, config) VALUES (?, ?) ON CONFLICT(guild_id) DO UPDATE SET config = excluded.config",
        (guild_id, config.to_json()))


async def _scalar(store: Store, sql: str, params: tuple) -> float:
    async with store.db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return row[0] or 0


async def check(store: Store, config: GuildConfig, job: Job, now: float) -> Refusal | None:
    g, u = job.guild_id, job.user_id
    running_mine = await _scalar(store, "SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND user_id = ? AND finished_at IS NULL", (g, u))
    if running_mine >= config.user_concurrent:
        return Refusal("user_concurrent", f"you already have {int(running_mine)} job(s) running (the limit here is "
                                          f"{config.user_concurrent}); try again when one finishes — see /jobs")
    running_here = await _scalar(store, "SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND finished_at IS NULL", (g,))
    if running_here >= config.guild_concurrent:
        return Refusal("guild_concurrent", f"this server already runs {int(running_here)} jobs (the limit is "
                                           f"{config.guild_concurrent}); try again when one finishes")
    last = await _scalar(store, f"SELECT MAX(created_at) FROM jobs WHERE guild_id IS ? AND user_id = ? AND stage NOT IN {UNCOUNTED}", (g, u))
    if last and now - last < config.user_cooldown:
        return Refusal("user_cooldown", f"please wait between jobs ({config.user_cooldown} s here); "
                                        f"you can start the next one <t:{int(last + config.user_cooldown) + 1}:R>")
    today = day_start(now)
    used = await _scalar(store, f"SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND user_id = ? AND created_at >= ? AND stage NOT IN {UNCOUNTED}",
                         (g, u, today))
    if used >= config.user_daily:
        return Refusal("user_daily", f"you have used today's {config.user_daily} jobs; the quota resets <t:{int(next_day(now))}:R>")
    if config.daily_budget is not None:
        spent = await committed_spend(store, g, now)
        price = budget_estimate(job)
        if spent + price > config.daily_budget + 1e-9:
            return Refusal("daily_budget", f"this job (about ${price:.2f}) would take today's spending past the server's "
                                           f"budget (${spent:.2f} of ${config.daily_budget:.2f} committed); "
                                           f"it resets <t:{int(next_day(now))}:R>")
    return None


async def committed_spend(store: Store, guild_id: int | None, now: float) -> float:
    """Today's spend: finished jobs and running ones (at their estimate), not failed or cancelled ones."""
    jobs = await store.query(f"guild_id IS ? AND created_at >= ? AND stage NOT IN {UNCOUNTED}", (guild_id, day_start(now)))
    return round(sum(budget_estimate(j) for j in jobs), 4)


async def admit(store: Store, job: Job, config: GuildConfig | None = None) -> Refusal | None:
    """Check every limit and record the job, atomically."""
    async with store.lock:
        config = config or await load_config(store, job.guild_id)
        await store.db.execute("BEGIN IMMEDIATE")
        try:
            refusal = await check(store, config, job, time.time())
            if refusal is None:
                await store.insert(job)
        except BaseException:
            await store.db.execute("ROLLBACK")
            raise
        await store.db.execute("COMMIT")
        return refusal


async def usage(store: Store, guild_id: int, now: float) -> dict:
    jobs = await store.query("guild_id = ? AND created_at >= ?", (guild_id, day_start(now)))
    per_model: dict[str, dict[str, int]] = {}
    for j in jobs:
        name = catalog.get_model(j.spec.model, j.command.kind).name
        per_model.setdefault(name, {}).setdefault(j.stage.value, 0)
        per_model[name][j.stage.value] += 1
    return {"spent": await committed_spend(store, guild_id, now), "per_model": per_model, "jobs": len(jobs)}
