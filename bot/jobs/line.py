"""The waiting line, kept in the job store: admission, slots, quotas, budgets and the fair order, the same for
every process that shares the store.

Every admitted job either holds a slot (it runs on fal) or waits in the line. Slots are limited per member, per
server and for the whole bot; quotas and budgets (per server and bot-wide) are counted from the moment of
admission. The counts live beside the jobs (tables line_slots and line_days) and change only inside a
transaction that holds the line's lock (bot/store/), together with the jobs they count: a batch of commands is
admitted in one short transaction, a job that ends frees its slot in the transaction that records its end, and
the jobs that may then start are started in another. So no burst passes a limit, by even one job, whichever
process each command reaches, and whichever process frees a slot starts the right next job.

The line is fair between members (start-time fair queueing): each job gets a turn when it is admitted, one
round after its member's previous live job, but never before the round now being served; a member with no job
in the system gets the next half round. Jobs start in order of (turn, admission), so a member with five waiting
jobs does not hold back the next member's first one, and nobody starves.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.i18n import N_, Money, Number, _
from bot.jobs import audit
from bot.jobs.lifecycle import LIVE, TRANSITIONS, Event, Status
from bot.jobs.limits import (
    BUDGET_SLACK,
    Configs,
    GuildConfig,
    Refusal,
    budget_estimate,
    counts_for_budget,
    counts_for_quota,
    day_start,
    next_day,
)
from bot.jobs.model import Address, Job
from bot.store.base import JobStore, StaleJob, Tx, Unchanged
from bot.store.rows import job_from_row

BOT = "bot"
CANDIDATES = 500  # waiting jobs looked at, in the line's order, each time slots free up
RUNNING = tuple(sorted(s.value for s in LIVE - {Status.WAITING}))


def member_key(guild_id: int | None, user_id: int) -> str:
    return f"m:{'-' if guild_id is None else guild_id}:{user_id}"


def scope_key(guild_id: int | None) -> str:
    return f"s:{'-' if guild_id is None else guild_id}"


def keys_of(job: Job) -> tuple[str, str]:
    return member_key(job.guild_id, job.user_id), scope_key(job.guild_id)


class Wait(StrEnum):
    SLOT = "slot"  # for a free slot on the server or the bot
    OWN = "own"  # for one of the member's own running jobs to finish


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands."""

    ahead: int  # waiting jobs that start before it
    reason: Wait
    running_own: int = 0  # the member's running jobs (with Wait.OWN)


@dataclass
class Slots:
    """A row of line_slots: what runs and waits for a member, a server (or outside servers), or the whole bot."""

    running: int = 0
    waiting: int = 0
    turn: float | None = None  # a member's: the turn of its latest live job; the bot's: the latest turn served
    last_at: float | None = None  # a member's: when its latest job was admitted (cooldowns)
    seq: int = 0  # the bot's: the last place in the order of admission


@dataclass
class Day:
    """A row of line_days: a member's jobs today (quota), or a server's or the bot's committed spend today."""

    jobs: int = 0
    spend: float = 0.0


@dataclass
class _Counts:
    """The rows one transaction read and changes."""

    day: float
    slots: dict[str, Slots] = field(default_factory=dict)
    days: dict[str, Day] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    def slot(self, key: str) -> Slots:
        self.changed.add(key)
        return self.slots.setdefault(key, Slots())

    def today(self, key: str) -> Day:
        self.changed.add(key)
        return self.days.setdefault(key, Day())


@dataclass
class _Admission:
    job: Job
    address: Address | None
    now: float
    audited: Mapping[str, Any] | None = None
    done: asyncio.Future[Refusal | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Line:
    def __init__(
        self,
        store: JobStore,
        configs: Configs,
        *,
        max_running: int,
        bot_budget: float | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.configs = configs
        self.max_running = max_running
        self.bot_budget = bot_budget
        self.owner = owner  # the process that runs the jobs this line starts; None: whichever claims them
        self._pending: list[_Admission] = []
        self._admitting: asyncio.Task[None] | None = None

    # ---- admission

    async def admit(
        self,
        job: Job,
        address: Address | None = None,
        now: float | None = None,
        audited: Mapping[str, Any] | None = None,
    ) -> Refusal | None:
        """Check every limit and record the job in a slot (its first status: STARTING) or in the line (WAITING),
        with where it is shown and its audit row (`audited`); or refuse it (nothing recorded). Commands that arrive
        together are admitted in one transaction."""
        admission = _Admission(job, address, time.time() if now is None else now, audited)
        self._pending.append(admission)
        if self._admitting is None or self._admitting.done():
            self._admitting = asyncio.create_task(self._admit_waiting(), name="line-admit")
        return await admission.done

    async def _admit_waiting(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                refusals = await asyncio.shield(self._admit_batch(batch))
            except BaseException as exc:
                for admission in batch:
                    if not admission.done.done():
                        admission.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for admission, refusal in zip(batch, refusals, strict=True):
                if not admission.done.done():
                    admission.done.set_result(refusal)

    async def _admit_batch(self, batch: list[_Admission]) -> list[Refusal | None]:
        async def work(tx: Tx) -> list[tuple[Job, Refusal | None]]:
            now = batch[0].now
            counts = await self._read(tx, [a.job for a in batch], day_start(now))
            configs = await self._configs(tx, {a.job.guild_id for a in batch})
            decided: list[tuple[Job, Refusal | None]] = []
            for admission in batch:
                job = replace(admission.job)  # decided on a copy: the job is the caller's until this commits
                decided.append((job, self._decide(job, counts, configs, admission.now)))
            admitted = [(job, a.address) for (job, refusal), a in zip(decided, batch, strict=True) if refusal is None]
            await self.store.insert_many(tx, admitted)
            rows = [a.audited for (_, refusal), a in zip(decided, batch, strict=True) if refusal is None and a.audited]
            await self.store.audit_insert_many(tx, rows)
            await self._write(tx, counts)
            return decided

        decided = await self.store.transaction(work, line=True)
        refusals = []
        for admission, (job, refusal) in zip(batch, decided, strict=True):
            if refusal is None:
                admission.job.__dict__.update(
                    {k: getattr(job, k) for k in ("status", "seq", "turn", "counted_day", "counted_price", "owner")}
                )
            refusals.append(refusal)
        return refusals

    def _decide(self, job: Job, counts: _Counts, configs: dict[int | None, GuildConfig], now: float) -> Refusal | None:
        member, scope = keys_of(job)
        config = configs[job.guild_id]
        refusal = self._refusal(job, counts, config, now)
        if refusal is not None:
            return refusal
        bot, mine, here = counts.slot(BOT), counts.slot(member), counts.slot(scope)
        bot.seq += 1
        job.seq = bot.seq
        served = bot.turn or 0.0
        job.turn = max(mine.turn + 1.0, served + 0.5) if mine.turn is not None else served + 0.5
        mine.turn, mine.last_at = job.turn, now
        job.counted_day, job.counted_price = counts.day, budget_estimate(job)
        counts.today(member).jobs += 1
        for key in (scope, BOT):
            counts.today(key).spend += job.counted_price
        if self._can_start(config, mine, here, bot):
            job.status, job.owner = Status.STARTING, self.owner
            _occupy(mine, here, bot, job.turn)
        else:
            job.status, job.owner = Status.WAITING, None
            mine.waiting += 1
            here.waiting += 1
        return None

    def _refusal(self, job: Job, counts: _Counts, config: GuildConfig, now: float) -> Refusal | None:
        member, scope = keys_of(job)
        resets = f"<t:{int(next_day(now))}:R>"
        mine, here, bot = counts.slot(member), counts.slot(scope), counts.slot(BOT)
        if counts.today(member).jobs >= config.user_daily:
            return Refusal(
                "user_daily",
                # Translators: {resets} is a Discord timestamp, shown as "in 5 hours"
                N_(
                    "you have used today's {n} job; the quota resets {resets}",
                    "you have used today's {n} jobs; the quota resets {resets}",
                    config.user_daily,
                    resets=resets,
                ),
            )
        last = mine.last_at
        if config.user_cooldown and last is not None and now - last < config.user_cooldown:
            next_one = f"<t:{int(last + config.user_cooldown) + 1}:R>"
            return Refusal(
                "user_cooldown",
                # Translators: {next} is a Discord timestamp, shown as "in 30 seconds"
                _(
                    "please wait between jobs ({seconds} s here); you can start the next one {next}",
                    seconds=Number(config.user_cooldown),
                    next=next_one,
                ),
            )
        price = budget_estimate(job)
        spent = counts.today(scope).spend
        if config.daily_budget is not None and spent + price > config.daily_budget + BUDGET_SLACK:
            return Refusal(
                "daily_budget",
                _(
                    "this job (about {price}) would take today's spending past the server's budget ({spent} of "
                    "{budget} committed); it resets {resets}",
                    price=Money(price),
                    spent=Money(spent),
                    budget=Money(config.daily_budget),
                    resets=resets,
                ),
            )
        if self.bot_budget is not None and counts.today(BOT).spend + price > self.bot_budget + BUDGET_SLACK:
            return Refusal(
                "bot_budget",
                _(
                    "this job (about {price}) would take the bot past the daily budget its owner set for all "
                    "servers; it resets {resets}",
                    price=Money(price),
                    resets=resets,
                ),
            )
        if not self._can_start(config, mine, here, bot):
            if mine.waiting >= config.user_waiting:
                return Refusal(
                    "user_waiting",
                    N_(
                        "you already have {n} job waiting in line (the limit here is {limit}) and {running} "
                        "running; try again when one of them starts — see /jobs list",
                        "you already have {n} job(s) waiting in line (the limit here is {limit}) and {running} "
                        "running; try again when one of them starts — see /jobs list",
                        mine.waiting,
                        limit=Number(config.user_waiting),
                        running=Number(mine.running),
                    ),
                )
            if here.waiting >= config.guild_waiting:
                return Refusal(
                    "guild_waiting",
                    N_(
                        "the line on this server is full ({n} job waiting, the limit here); try again in a little while",
                        "the line on this server is full ({n} jobs waiting, the limit here); "
                        "try again in a little while",
                        here.waiting,
                    ),
                )
        return None

    def _can_start(self, config: GuildConfig, mine: Slots, here: Slots, bot: Slots) -> bool:
        return (
            bot.running < self.max_running
            and here.running < config.guild_concurrent
            and mine.running < config.user_concurrent
        )

    # ---- starting jobs from the line

    async def start_next(self) -> list[Job]:
        """Start waiting jobs in free slots, in the line's order (each as its START transition, for this line's
        owner); returns them."""

        if not await self.store.any_waiting():
            return []  # nothing to start: no need for the line's lock

        async def work(tx: Tx) -> list[tuple[Job, Job]]:
            bot = await self._slots(tx, [BOT])
            if bot.get(BOT, Slots()).running >= self.max_running:
                return []
            rows = await tx.fetch(
                "SELECT * FROM jobs WHERE status = ? ORDER BY turn, seq LIMIT ?", (Status.WAITING.value, CANDIDATES)
            )
            waiting = [job_from_row(row) for row in rows]
            if not waiting:
                return []
            counts = await self._read(tx, waiting, day_start(time.time()))
            configs = await self._configs(tx, {j.guild_id for j in waiting})
            started = []
            for job in waiting:
                member, scope = keys_of(job)
                mine, here, top = counts.slot(member), counts.slot(scope), counts.slot(BOT)
                if top.running >= self.max_running:
                    break
                if not self._can_start(configs[job.guild_id], mine, here, top):
                    continue
                moved = await self.store.move(tx, job, Event.START, owner=self.owner)
                mine.waiting -= 1
                here.waiting -= 1
                _occupy(mine, here, top, job.turn or 0.0)
                started.append((job, moved))
            await self._write(tx, counts)
            return started

        started = await self.store.transaction(work, line=True)
        for job, moved in started:
            self.store.settle(job, moved, Event.START, ("owner",))
        return [job for job, _ in started]

    # ---- the end of a job, and changes on the way

    async def end(self, job: Job, event: Event, **changes: Any) -> None:
        """Record how the job ends (SUCCEED, FAIL, CANCEL or DROP) and, in the same transaction, free its slot or its
        place in the line and correct what it counts at. Raises IllegalTransition as store.transition does."""
        outcome = TRANSITIONS[event].outcome or Status.FAILED
        member, scope = keys_of(job)
        held = "waiting" if job.status is Status.WAITING else "running"
        ran = job.ran_on_fal or any(getattr(step, "ran", False) for step in (changes.get("steps") or {}).values())
        price = budget_estimate(job) if counts_for_budget(outcome, ran) else 0.0
        counted_day, counted = job.counted_day, job.counted_price
        audited = audit.ending(job, outcome, changes)

        async def then(tx: Tx) -> None:
            await audit.ended_in(self.store, tx, job.id, audited)
            keys = [member, scope] + ([BOT] if held == "running" else [])
            await tx.execute(
                f"UPDATE line_slots SET {held} = {held} - 1 WHERE key IN ({', '.join('?' * len(keys))})", keys
            )
            await tx.execute(
                "UPDATE line_slots SET turn = NULL WHERE key = ? AND running = 0 AND waiting = 0", (member,)
            )
            if counted_day is None:
                return
            if not counts_for_quota(outcome):
                await tx.execute(
                    "UPDATE line_days SET jobs = jobs - 1 WHERE day = ? AND key = ?", (counted_day, member)
                )
            if price != counted:
                await tx.execute(
                    "UPDATE line_days SET spend = spend + ? WHERE day = ? AND key IN (?, ?)",
                    (price - counted, counted_day, scope, BOT),
                )

        await self.store.transition(job, event, then=then, counted_price=price, **changes)

    async def reprice(self, job: Job, estimate: float | None) -> None:
        """The job's estimate changed (its audio was measured, or its speech spoken): it counts at the new one."""
        if estimate == job.cost_estimate:
            return  # nothing changes (a link's length stays unknown, say): no need for the line's lock
        job.cost_estimate = estimate
        price = budget_estimate(job)
        delta, job.counted_price = price - job.counted_price, price
        _member, scope = keys_of(job)
        day = job.counted_day

        async def work(tx: Tx) -> None:
            await self.store.save_in(tx, job, "cost_estimate", "counted_price")
            if delta and day is not None:
                await tx.execute(
                    "UPDATE line_days SET spend = spend + ? WHERE day = ? AND key IN (?, ?)", (delta, day, scope, BOT)
                )

        try:
            await self.store.transaction(work, line=True)
        except Unchanged:
            raise StaleJob(job.id, job.status, None) from None

    async def recount(self, now: float | None = None) -> None:
        """Count the line again from the jobs themselves (at every start: the counts are then exactly what the jobs
        say, whatever happened before). Holds the line's lock, so processes that run meanwhile are not disturbed."""
        now = time.time() if now is None else now
        today = day_start(now)

        async def work(tx: Tx) -> None:
            rows = await tx.fetch(
                f"SELECT * FROM jobs WHERE created_at >= ? OR status IN ({', '.join('?' * len(LIVE))})",
                (now - 86400, *(s.value for s in LIVE)),
            )
            jobs = [job_from_row(row) for row in rows]
            counts = _Counts(today)
            last_seq = (await tx.fetch("SELECT MAX(seq) AS last FROM jobs"))[0]["last"]
            counts.slot(BOT).seq = int(last_seq or 0)
            for job in sorted(jobs, key=lambda j: j.seq or 0):
                member, scope = keys_of(job)
                mine, here, bot = counts.slot(member), counts.slot(scope), counts.slot(BOT)
                mine.last_at = max(mine.last_at or 0.0, job.created_at)
                if job.status is not Status.WAITING and job.turn is not None:
                    bot.turn = max(bot.turn or 0.0, job.turn)
                if job.counted_day is None:  # written before the counts were kept: counted now
                    job.counted_day = day_start(job.created_at)
                    job.counted_price = budget_estimate(job) if counts_for_budget(job.ending, job.ran_on_fal) else 0.0
                    await tx.execute(
                        "UPDATE jobs SET counted_day = ?, counted_price = ? WHERE id = ?",
                        (job.counted_day, job.counted_price, job.id),
                    )
                if job.counted_day == today:
                    if counts_for_quota(job.ending):
                        counts.today(member).jobs += 1
                    for key in (scope, BOT):
                        counts.today(key).spend += job.counted_price
                if job.ended:
                    continue
                if job.turn is not None:
                    mine.turn = max(mine.turn or 0.0, job.turn)
                if job.status is Status.WAITING:
                    mine.waiting += 1
                    here.waiting += 1
                else:
                    _occupy(mine, here, bot, job.turn or 0.0)
            await tx.execute("DELETE FROM line_slots")
            await tx.execute("DELETE FROM line_days WHERE day <= ?", (today,))
            await self._write(tx, counts)

        await self.store.transaction(work, line=True)

    # ---- reading the line

    async def places(self) -> dict[str, Place]:
        """Where every waiting job stands: the waiting jobs of its server ahead of it (and of other servers too, while
        the bot-wide slots are all taken), or that it waits for the member's own jobs."""
        waiting = await self.store.waiting_order()
        if not waiting:
            return {}
        keys = sorted({member_key(guild, user) for _, guild, user in waiting} | {BOT})
        slots = {row["key"]: _slots_of(row) for row in await self.store.line_rows("line_slots", keys)}
        bot_full = slots.get(BOT, Slots()).running >= self.max_running
        before_in: Counter[int | None] = Counter()
        places = {}
        for total, (job_id, guild, user) in enumerate(waiting):
            running_own = slots.get(member_key(guild, user), Slots()).running
            if running_own >= self.configs.get(guild).user_concurrent:
                places[job_id] = Place(before_in[guild], Wait.OWN, running_own)
            else:
                places[job_id] = Place(total if bot_full else before_in[guild], Wait.SLOT)
            before_in[guild] += 1
        return places

    async def place_of(self, job: Job) -> Place | None:
        """One waiting job's place (two counts in the store, not a pass over the line)."""
        if job.status is not Status.WAITING or job.turn is None or job.seq is None:
            return None
        member = member_key(job.guild_id, job.user_id)
        slots = {row["key"]: _slots_of(row) for row in await self.store.line_rows("line_slots", [member, BOT])}
        running_own = slots.get(member, Slots()).running
        here, anywhere = await self.store.waiting_ahead(job)
        if running_own >= self.configs.get(job.guild_id).user_concurrent:
            return Place(here, Wait.OWN, running_own)
        bot_full = slots.get(BOT, Slots()).running >= self.max_running
        return Place(anywhere if bot_full else here, Wait.SLOT)

    async def spent_today(self, guild_id: int | None = None, now: float | None = None) -> tuple[float, float]:
        """(the server's committed spend today, the whole bot's)."""
        day = day_start(time.time() if now is None else now)
        rows = await self.store.line_rows("line_days", [scope_key(guild_id), BOT], day)
        spent = {row["key"]: Day(int(row["jobs"]), float(row["spend"])) for row in rows}
        return round(spent.get(scope_key(guild_id), Day()).spend, 4), round(spent.get(BOT, Day()).spend, 4)

    # ---- the counts, read and written inside a transaction

    async def _read(self, tx: Tx, jobs: Iterable[Job], day: float) -> _Counts:
        members = {member_key(j.guild_id, j.user_id) for j in jobs}
        scopes = {scope_key(j.guild_id) for j in jobs}
        counts = _Counts(day)
        counts.slots = await self._slots(tx, sorted(members | scopes | {BOT}))
        keys = sorted(members | scopes | {BOT})
        rows = await tx.fetch(
            f"SELECT key, jobs, spend FROM line_days WHERE day = ? AND key IN ({', '.join('?' * len(keys))})",
            (day, *keys),
        )
        counts.days = {row["key"]: Day(int(row["jobs"]), float(row["spend"])) for row in rows}
        return counts

    async def _slots(self, tx: Tx, keys: Sequence[str]) -> dict[str, Slots]:
        rows = await tx.fetch(f"SELECT * FROM line_slots WHERE key IN ({', '.join('?' * len(keys))})", tuple(keys))
        return {row["key"]: _slots_of(row) for row in rows}

    async def _configs(self, tx: Tx, guilds: Iterable[int | None]) -> dict[int | None, GuildConfig]:
        """Each server's settings as stored now (another process may have changed them a moment ago)."""
        wanted = sorted({g for g in guilds if g is not None})
        found: dict[int | None, GuildConfig] = {g: self.configs.get(g) for g in guilds}
        if wanted:
            rows = await tx.fetch(
                f"SELECT guild_id, config FROM guild_config WHERE guild_id IN ({', '.join('?' * len(wanted))})",
                wanted,
            )
            found.update({int(row["guild_id"]): GuildConfig.from_json(row["config"]) for row in rows})
        return found

    async def _write(self, tx: Tx, counts: _Counts) -> None:
        slots = [
            (k, s.running, s.waiting, s.turn, s.last_at, s.seq) for k, s in counts.slots.items() if k in counts.changed
        ]
        if slots:
            await tx.executemany(
                "INSERT INTO line_slots (key, running, waiting, turn, last_at, seq) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET running = excluded.running, waiting = excluded.waiting, "
                "turn = excluded.turn, last_at = excluded.last_at, seq = excluded.seq",
                slots,
            )
        days = [(counts.day, k, d.jobs, d.spend) for k, d in counts.days.items() if k in counts.changed]
        if days:
            await tx.executemany(
                "INSERT INTO line_days (day, key, jobs, spend) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, key) DO UPDATE SET jobs = excluded.jobs, spend = excluded.spend",
                days,
            )


def _slots_of(row: Mapping[str, Any]) -> Slots:
    return Slots(int(row["running"]), int(row["waiting"]), row["turn"], row["last_at"], int(row["seq"] or 0))


def _occupy(mine: Slots, here: Slots, bot: Slots, turn: float) -> None:
    mine.running += 1
    here.running += 1
    bot.running += 1
    bot.turn = max(bot.turn or 0.0, turn)
