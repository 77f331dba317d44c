"""Admission, slots and the waiting line, decided in memory by the one process that owns the store.

Every admitted job either holds a slot (it runs on fal) or waits in the line. The line decides; the runner
records what it decides as lifecycle transitions (a job admitted as WAITING or STARTING; START when its turn
comes). Slots are limited per
member, per server and for the whole bot; quotas and budgets (per server and bot-wide) are counted
from the moment of admission. All decisions here are synchronous — no await between a check and its
effect — so a burst of commands cannot slip past a limit, and none costs a disk read.

The line is fair between members (start-time fair queueing): each job gets a turn when it is admitted,
one round after its member's previous live job, but never before the round now being served; a member
with no job in the system gets the next half round. Jobs start in order of (turn, admission), so a
member with five waiting jobs does not hold back the next member's first one, and nobody starves.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.jobs.lifecycle import Status
from bot.jobs.limits import (
    BUDGET_SLACK,
    Configs,
    Refusal,
    budget_estimate,
    counts_for_budget,
    counts_for_quota,
    day_start,
    next_day,
)
from bot.jobs.model import Job

Member = tuple[int | None, int]  # (server or None, user)


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
class _Day:
    quota: Counter[Member] = field(default_factory=Counter)
    spend: defaultdict[int | None, float] = field(default_factory=lambda: defaultdict(float))  # per server
    total: float = 0.0  # the whole bot


def member_of(job: Job) -> Member:
    return (job.guild_id, job.user_id)


def _order(job: Job) -> tuple[float, int]:
    return (job.turn or 0.0, job.seq or 0)


class Line:
    def __init__(self, configs: Configs, *, max_running: int, bot_budget: float | None = None) -> None:
        self.configs = configs
        self.max_running = max_running
        self.bot_budget = bot_budget
        self.running: dict[str, Job] = {}
        self._waiting: dict[Member, deque[Job]] = {}
        self.waiting_jobs: dict[str, Job] = {}
        self._order: list[tuple[float, int, str]] = []  # every waiting job's (turn, seq, id), sorted
        self._order_in: dict[int | None, list[tuple[float, int, str]]] = {}  # the same, per server
        self._running_member: Counter[Member] = Counter()
        self._running_scope: Counter[int | None] = Counter()
        self._waiting_member: Counter[Member] = Counter()
        self._waiting_scope: Counter[int | None] = Counter()
        self._days: dict[float, _Day] = {}
        self._priced: dict[str, tuple[float, float]] = {}  # live job -> (its day, the price it is counted at)
        self._last: dict[Member, float] = {}  # when each member's last job was admitted (cooldowns)
        self._last_turn: dict[Member, float] = {}  # the turn of each member's latest live job
        self._served = 0.0  # the turn of the latest job to start
        self.seq = 0
        self.version = 0  # bumped whenever a waiting job's place may have changed

    # ---- rebuilding after a start

    def load(self, jobs: Iterable[Job], last_seq: int) -> list[Job]:
        """Recount from stored jobs (recent and unfinished ones, in admission order); returns the live ones."""
        self.seq = last_seq
        live = []
        for job in jobs:
            member = member_of(job)
            self._last[member] = max(self._last.get(member, 0.0), job.created_at)
            self._count(job)
            if job.status is not Status.WAITING and job.turn is not None:
                self._served = max(self._served, job.turn)
            if job.ended:
                continue
            live.append(job)
            if job.turn is not None:
                self._last_turn[member] = max(self._last_turn.get(member, 0.0), job.turn)
            if job.status is Status.WAITING:
                self._enqueue(job)
            else:
                self._occupy(job)  # on fal, or on its way there: it keeps its slot
        return live

    # ---- admission

    def admit(self, job: Job, now: float | None = None) -> Refusal | None:
        """Check every limit and admit the job into a slot (its first status: STARTING) or the line (WAITING), or
        refuse it."""
        now = time.time() if now is None else now
        refusal = self._refusal(job, now)
        if refusal is not None:
            return refusal
        member = member_of(job)
        self.seq += 1
        job.seq = self.seq
        previous = self._last_turn.get(member)
        job.turn = max(previous + 1.0, self._served + 0.5) if previous is not None else self._served + 0.5
        self._last_turn[member] = job.turn
        self._last[member] = now
        self._count(job)
        if self._can_start(job):
            job.status = Status.STARTING
            self._occupy(job)
        else:
            job.status = Status.WAITING
            self._enqueue(job)
        return None

    def _refusal(self, job: Job, now: float) -> Refusal | None:
        config = self.configs.get(job.guild_id)
        member, scope = member_of(job), job.guild_id
        day = self._day(day_start(now))
        resets = f"<t:{int(next_day(now))}:R>"
        if day.quota[member] >= config.user_daily:
            return Refusal("user_daily", f"you have used today's {config.user_daily} jobs; the quota resets {resets}")
        last = self._last.get(member)
        if config.user_cooldown and last is not None and now - last < config.user_cooldown:
            return Refusal(
                "user_cooldown",
                f"please wait between jobs ({config.user_cooldown} s here); "
                f"you can start the next one <t:{int(last + config.user_cooldown) + 1}:R>",
            )
        price = budget_estimate(job)
        if config.daily_budget is not None and day.spend[scope] + price > config.daily_budget + BUDGET_SLACK:
            return Refusal(
                "daily_budget",
                f"this job (about ${price:.2f}) would take today's spending past the server's "
                f"budget (${day.spend[scope]:.2f} of ${config.daily_budget:.2f} committed); "
                f"it resets {resets}",
            )
        if self.bot_budget is not None and day.total + price > self.bot_budget + BUDGET_SLACK:
            return Refusal(
                "bot_budget",
                f"this job (about ${price:.2f}) would take the bot past the daily budget its "
                f"owner set for all servers; it resets {resets}",
            )
        if not self._can_start(job):
            if self._waiting_member[member] >= config.user_waiting:
                return Refusal(
                    "user_waiting",
                    f"you already have {self._waiting_member[member]} job(s) waiting in line "
                    f"(the limit here is {config.user_waiting}) and {self._running_member[member]} "
                    "running; try again when one of them starts — see /jobs",
                )
            if self._waiting_scope[scope] >= config.guild_waiting:
                return Refusal(
                    "guild_waiting",
                    f"the line on this server is full ({self._waiting_scope[scope]} jobs waiting, "
                    "the limit here); try again in a little while",
                )
        return None

    # ---- slots

    def _can_start(self, job: Job) -> bool:
        config = self.configs.get(job.guild_id)
        return (
            len(self.running) < self.max_running
            and self._running_scope[job.guild_id] < config.guild_concurrent
            and self._running_member[member_of(job)] < config.user_concurrent
        )

    def _occupy(self, job: Job) -> None:
        self._served = max(self._served, job.turn or 0.0)
        self.running[job.id] = job
        self._running_member[member_of(job)] += 1
        self._running_scope[job.guild_id] += 1

    def _enqueue(self, job: Job) -> None:
        member = member_of(job)
        self._waiting.setdefault(member, deque()).append(job)
        self.waiting_jobs[job.id] = job
        key = (*_order(job), job.id)
        bisect.insort(self._order, key)
        bisect.insort(self._order_in.setdefault(job.guild_id, []), key)
        self._waiting_member[member] += 1
        self._waiting_scope[job.guild_id] += 1
        self.version += 1

    def _dequeue(self, job: Job) -> bool:
        member = member_of(job)
        queue = self._waiting.get(member)
        index = next((i for i, waiting in enumerate(queue or ()) if waiting.id == job.id), None)
        if queue is None or index is None:
            return False
        del queue[index]
        self.waiting_jobs.pop(job.id, None)
        key = (*_order(job), job.id)
        for order in (self._order, self._order_in[job.guild_id]):
            del order[bisect.bisect_left(order, key)]
        if not queue:
            del self._waiting[member]
        self._waiting_member[member] -= 1
        self._waiting_scope[job.guild_id] -= 1
        self.version += 1
        return True

    def start_next(self) -> list[Job]:
        """Move waiting jobs into free slots, in the line's order; returns them (the runner records START)."""
        started = []
        while len(self.running) < self.max_running:
            best: tuple[float, int] | None = None
            chosen: Job | None = None
            for queue in self._waiting.values():
                head = queue[0]
                key = _order(head)
                if (best is None or key < best) and self._can_start(head):
                    best, chosen = key, head
            if chosen is None:
                break
            self._dequeue(chosen)
            self._occupy(chosen)
            started.append(chosen)
        return started

    def waiting(self) -> list[Job]:
        """Waiting jobs in the order they would start if every slot were free."""
        return [self.waiting_jobs[job_id] for *_, job_id in self._order]

    def places(self) -> dict[str, Place]:
        """Where each waiting job stands: the waiting jobs of its server ahead of it (and of other servers too,
        while the bot-wide slots are all taken), or that it waits for the member's own jobs."""
        bot_full = len(self.running) >= self.max_running
        before_in: Counter[int | None] = Counter()
        places = {}
        for total, job in enumerate(self.waiting()):
            places[job.id] = self._place(job, before_in[job.guild_id], total, bot_full)
            before_in[job.guild_id] += 1
        return places

    def place_of(self, job: Job) -> Place | None:
        """One waiting job's place (a bisection, not a pass over the line)."""
        if job.id not in self.waiting_jobs:
            return None
        key = (*_order(job), job.id)
        return self._place(
            job,
            bisect.bisect_left(self._order_in[job.guild_id], key),
            bisect.bisect_left(self._order, key),
            len(self.running) >= self.max_running,
        )

    def _place(self, job: Job, ahead_here: int, ahead_anywhere: int, bot_full: bool) -> Place:
        member = member_of(job)
        if self._running_member[member] >= self.configs.get(job.guild_id).user_concurrent:
            return Place(ahead_here, Wait.OWN, self._running_member[member])
        return Place(ahead_anywhere if bot_full else ahead_here, Wait.SLOT)

    # ---- the end of a job, and changes on the way

    def finish(self, job: Job, outcome: Status) -> None:
        """The job ended with `outcome` (or left the line, cancelled): free its slot and correct what it counts at."""
        if job.id not in self._priced:
            return  # already done
        member = member_of(job)
        if self.running.pop(job.id, None) is not None:
            self._running_member[member] -= 1
            self._running_scope[job.guild_id] -= 1
            self.version += 1
        else:
            self._dequeue(job)
        if not self._running_member[member] and not self._waiting_member[member]:
            self._last_turn.pop(member, None)
        if not counts_for_quota(outcome):
            day = self._days.get(self._priced[job.id][0])
            if day is not None:
                day.quota[member_of(job)] -= 1
        self._reprice(job, outcome)
        self._priced.pop(job.id, None)

    def reprice(self, job: Job) -> None:
        """The job's estimate changed (its audio was measured, or it ran on fal): move the difference."""
        self._reprice(job, job.ending)

    def _reprice(self, job: Job, outcome: Status | None) -> None:
        if job.id not in self._priced:
            return
        day_key, counted = self._priced[job.id]
        price = budget_estimate(job) if counts_for_budget(outcome, job.ran_on_fal) else 0.0
        day = self._days.get(day_key)
        if day is not None and price != counted:
            day.spend[job.guild_id] += price - counted
            day.total += price - counted
        self._priced[job.id] = (day_key, price)

    def spent_today(self, guild_id: int | None = None, now: float | None = None) -> tuple[float, float]:
        """(the server's committed spend today, the whole bot's)."""
        day = self._day(day_start(time.time() if now is None else now))
        return round(day.spend[guild_id], 4), round(day.total, 4)

    def is_waiting(self, job_id: str) -> bool:
        return job_id in self.waiting_jobs

    def _count(self, job: Job) -> None:
        key = day_start(job.created_at)
        day = self._day(key)
        if counts_for_quota(job.ending):
            day.quota[member_of(job)] += 1
        price = budget_estimate(job) if counts_for_budget(job.ending, job.ran_on_fal) else 0.0
        day.spend[job.guild_id] += price
        day.total += price
        if not job.ended:
            self._priced[job.id] = (key, price)

    def _day(self, key: float) -> _Day:
        day = self._days.get(key)
        if day is None:
            day = self._days[key] = _Day()
            for old in [k for k in self._days if k < key - 2 * 86400]:
                del self._days[old]
        return day
