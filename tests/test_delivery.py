"""The Discord notifier's edit loop: finishing a job never waits unboundedly on its progress edits.

These are narrow unit tests of one race; the end-to-end tests drive delivery through the real
discord.py against the Discord stand-in."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from bot.discord_app.notifier import EDIT_TIMEOUT, DiscordNotifier
from bot.jobs.events import JobEvents
from bot.jobs.lifecycle import Status
from bot.jobs.model import Address, Job
from bot.jobs.spec import Command, JobSpec


class Addresses:
    """Only what the notifier reads from a store here: the events bus and each job's address."""

    def __init__(self) -> None:
        self.events = JobEvents()

    async def address(self, job_id: str) -> Address:
        return Address(job_id, 1, 9, "token", time.time() + 900, message_id=3)


class GatedNotifier(DiscordNotifier):
    """Progress edits wait on a gate the test opens; the final edit is recorded."""

    def __init__(self) -> None:
        super().__init__(client=None, store=Addresses(), session=None, min_interval=0.0)  # type: ignore[arg-type]
        self.gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.edits: list[tuple[str, bool]] = []

    async def _edit(self, job: Job, address: Address, *, content: str, final: bool) -> None:
        if not final:
            await asyncio.shield(self.gate)
        self.edits.append((content, final))


def job() -> Job:
    spec = JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="i", audio_url="a")
    return Job("0123abcd", spec, user_id=2, status=Status.QUEUED)


def fail(j: Job) -> None:
    j.status, j.outcome = Status.DELIVERING, Status.FAILED


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 fixed wait_for; the hazard is 3.11's")
async def test_wait_for_swallows_a_cancel_that_lands_as_the_awaited_work_completes():
    """The hazard: a task cancelled in the same tick as the work it awaits through wait_for completes keeps running."""
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    kept_running = asyncio.Event()

    async def loop_body() -> None:
        await asyncio.wait_for(inner, 5)
        kept_running.set()  # reached although the task was cancelled

    task = asyncio.create_task(loop_body())
    await asyncio.sleep(0)
    inner.set_result(None)
    task.cancel()
    await asyncio.sleep(0.05)
    assert kept_running.is_set() and not task.cancelled()


async def test_finish_returns_when_the_cancel_would_land_as_an_edit_completes():
    delivery = GatedNotifier()
    j = job()
    delivery.show(j)
    await asyncio.sleep(0.05)  # the loop's edit is now in flight, waiting on the gate
    delivery.gate.set_result(None)  # the edit completes in the same tick as finish() begins
    fail(j)
    async with asyncio.timeout(2):
        await delivery.finish(j)
    assert delivery.edits[-1][1] is True  # the final edit went out, after the progress edit
    assert not delivery._trackers


async def test_finish_is_bounded_even_when_a_progress_edit_hangs(monkeypatch):
    monkeypatch.setattr("bot.discord_app.notifier.EDIT_TIMEOUT", 0.2)
    delivery = GatedNotifier()  # the gate never opens: the edit hangs as a rate-limited webhook call can
    j = job()
    delivery.show(j)
    await asyncio.sleep(0.05)
    fail(j)
    async with asyncio.timeout(2):
        await delivery.finish(j)
    assert delivery.edits == [(delivery.edits[0][0], True)]
    assert EDIT_TIMEOUT > 0.2  # the real bound is larger; the test shortened it


async def test_a_hundred_jobs_finishing_mid_edit_are_all_delivered():
    delivery = GatedNotifier()
    jobs = [job() for _ in range(100)]
    for i, j in enumerate(jobs):
        j.id = f"{i:08x}"
        delivery.show(j)
    await asyncio.sleep(0.05)
    delivery.gate.set_result(None)
    for j in jobs:
        fail(j)
    async with asyncio.timeout(5):
        await asyncio.gather(*(delivery.finish(j) for j in jobs))
    assert sum(final for _, final in delivery.edits) == 100
