"""Shows a job on Discord: one message kept up to date, then the outcome, delivered once.

While the interaction token lives (15 minutes from the command) the message is edited through the
interaction webhook. Shortly before it expires the job moves to the bot token: the same (public)
message is edited through the channel route, and the outcome is announced in a channel message
that mentions the requester, sent with a nonce derived from the job id so Discord drops a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import discord

from bot import render
from bot.jobs.line import Place
from bot.jobs.runner import DeliveryRefused
from bot.jobs.store import Job, Store

log = logging.getLogger(__name__)

MIN_EDIT_INTERVAL = 2.0  # seconds between edits of one message
EDITS_PER_SECOND = 100.0  # progress edits of all messages together; with many jobs, each is edited less often
TOKEN_MARGIN = 90.0  # stop using the interaction token this long before it expires
EDIT_TIMEOUT = 20.0  # discord.py sleeps through webhook 429s without a cap; bound each edit

ViewFactory = Callable[[Job], discord.ui.View | None]


def token_usable(job: Job, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return bool(job.interaction_token and job.token_expires_at and not job.moved_to_channel
                and now < job.token_expires_at - TOKEN_MARGIN)


def done_nonce(job: Job) -> str:
    return f"job-{job.id}-end"  # ≤ 25 characters, as Discord requires


@dataclass
class _Tracker:
    job: Job
    eta: float | None = None
    place: Place | None = None
    shown: str | None = None
    last_edit: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class DiscordDelivery:
    def __init__(self, client: discord.Client, store: Store, *, views: ViewFactory | None = None,
                 min_interval: float = MIN_EDIT_INTERVAL) -> None:
        self.client = client
        self.store = store
        self.views = views or (lambda job: None)
        self.min_interval = min_interval
        self._trackers: dict[str, _Tracker] = {}

    def interval(self) -> float:
        """Seconds between progress edits of one message: at least min_interval, longer when many jobs run."""
        return max(self.min_interval, len(self._trackers) / EDITS_PER_SECOND)

    # ---- the Delivery protocol

    async def show(self, job: Job, *, eta: float | None = None, place: Place | None = None) -> None:
        tracker = self._trackers.get(job.id)
        if tracker is None:
            tracker = self._trackers[job.id] = _Tracker(job)
            tracker.task = asyncio.create_task(self._edit_loop(tracker), name=f"edits-{job.id}")
        tracker.job = job
        tracker.eta = eta if eta is not None else tracker.eta
        tracker.place = place
        tracker.changed.set()

    async def finish(self, job: Job) -> None:
        """The final state, once. The progress edits stop first: an edit in flight may end (bounded), none waits."""
        tracker = self._trackers.pop(job.id, None)
        if tracker is not None and tracker.task is not None:
            tracker.closing.set()
            tracker.changed.set()
            done, _ = await asyncio.wait({tracker.task}, timeout=EDIT_TIMEOUT)
            if not done:
                tracker.task.cancel()
        await self._edit(job, render.render(job), final=True)
        if job.moved_to_channel or not token_usable(job):
            await self._announce(job)

    # ---- edits

    async def _edit_loop(self, tracker: _Tracker) -> None:
        """Edits the message when its text changed, at most every interval(); stops when the job finishes."""
        while not tracker.closing.is_set():
            await tracker.changed.wait()
            wait = tracker.last_edit + self.interval() - time.monotonic()
            if wait > 0 and not tracker.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await tracker.closing.wait()
            if tracker.closing.is_set():
                return
            tracker.changed.clear()
            text = render.render(tracker.job, eta=tracker.eta, place=tracker.place)
            if text == tracker.shown:
                continue
            try:
                async with asyncio.timeout(EDIT_TIMEOUT):
                    await self._edit(tracker.job, text, final=False)
                tracker.shown = text
            except Exception as exc:  # a progress edit is worth a log line, never the loop
                log.warning("job %s: progress edit skipped: %r", tracker.job.id, exc)
            tracker.last_edit = time.monotonic()

    async def _edit(self, job: Job, text: str, *, final: bool) -> None:
        if job.message_id is None:
            return
        view = self.views(job)
        if token_usable(job):
            try:
                async with asyncio.timeout(EDIT_TIMEOUT):
                    await self._webhook(job).edit_message(job.message_id, content=text, view=view or discord.utils.MISSING)
                return
            except TimeoutError:
                if not final:
                    raise
                log.info("job %s: webhook edit stalled (rate limited); using the bot token", job.id)
            except discord.HTTPException as exc:
                if exc.status not in (401, 404):
                    raise
                log.info("job %s: interaction token refused (code %s); moving to the bot token", job.id, exc.code)
                await self._move_to_channel(job)
        else:
            await self._move_to_channel(job)
        channel = self.client.get_partial_messageable(job.message_channel_id or job.channel_id)
        try:
            await channel.get_partial_message(job.message_id).edit(content=text, view=view)
        except (discord.Forbidden, discord.NotFound) as exc:
            if not final:
                raise
            log.info("job %s: cannot edit the job message with the bot token (%s)", job.id, exc)

    def _webhook(self, job: Job) -> discord.Webhook:
        assert job.application_id and job.interaction_token
        return discord.Webhook.partial(job.application_id, job.interaction_token, client=self.client)

    async def _move_to_channel(self, job: Job) -> None:
        if not job.moved_to_channel:
            job.moved_to_channel = True
            await self.store.save(job, "moved_to_channel")

    async def _announce(self, job: Job) -> None:
        """The outcome of a job that outlived its token, in a message that mentions the requester."""
        text = render.render_ready_ping(job)
        mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)])
        reference = None
        if job.message_id is not None:
            reference = discord.MessageReference(message_id=job.message_id, channel_id=job.message_channel_id or job.channel_id,
                                                 fail_if_not_exists=False)
        channel = self.client.get_partial_messageable(job.channel_id)
        try:
            await channel.send(text, allowed_mentions=mention, nonce=done_nonce(job), reference=reference)
        except (discord.Forbidden, discord.NotFound):
            try:
                user = await self.client.fetch_user(job.user_id)
                await user.send(text, allowed_mentions=mention, nonce=done_nonce(job))
            except (discord.Forbidden, discord.NotFound) as exc:
                raise DeliveryRefused(f"neither the channel nor a DM to the requester could be written: {exc}") from exc

