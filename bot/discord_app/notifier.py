"""Shows jobs on Discord: one message per job kept up to date from the job events, then the outcome, once.

The notifier listens to the events bus: a status change or progress (fal's queue position and log lines, the
estimate, the place in the line) marks the job's message for an edit, which goes out at most every few seconds
and only when its text changed. When a job's outcome is decided, the delivery worker (bot/jobs/deliveries.py)
calls `finish`: the progress edits stop and the outcome is shown.

While the interaction token lives (15 minutes from the command) the message is edited through the interaction
webhook, and a finished job's message becomes a card that carries the video (Components V2: a container with
the text, a media gallery playing the attached video, and the buttons). Shortly before the token expires the
job moves to the bot token: the video then goes out once, in a channel message that mentions the requester (or
a DM when the channel cannot be written), sent with a nonce Discord enforces so a repeat after a crash posts
nothing; the job's message is edited to point to it. Where a job is shown (its Address) is kept in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import discord

from bot import i18n, provenance
from bot.discord_app import render
from bot.i18n import Text, _
from bot.jobs import results
from bot.jobs.deliveries import DeliveryRefused
from bot.jobs.events import Changed, Notice, Progressed
from bot.jobs.lifecycle import Event, Status
from bot.jobs.line import Place
from bot.jobs.model import CHANNEL, DM, Address, Job
from bot.jobs.results import DISCORD_DEFAULT_LIMIT, Video
from bot.jobs.spec import Command
from bot.store.base import JobStore

log = logging.getLogger(__name__)

MIN_EDIT_INTERVAL = 2.0  # seconds between edits of one message
EDITS_PER_SECOND = 100.0  # progress edits of all messages together; with many jobs, each is edited less often
TOKEN_MARGIN = 90.0  # stop using the interaction token this long before it expires
EDIT_TIMEOUT = 20.0  # discord.py sleeps through webhook 429s without a cap; bound each edit
UPLOAD_TIMEOUT = 120.0  # an edit that uploads the video
IDLE = 600.0  # a job's edit loop ends after this long without news (a new notice starts another)

Buttons = Callable[[Job], list[discord.ui.Item]]  # the buttons a job's message carries where it stands


def token_usable(address: Address, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return bool(
        address.interaction_token
        and address.token_expires_at
        and not address.moved_to_channel
        and now < address.token_expires_at - TOKEN_MARGIN
    )


def channel_locale(job: Job, address: Address) -> str | None:
    """Posts everyone in a server's channel sees are in the server's preferred locale; elsewhere, the requester's."""
    return address.guild_locale or job.locale


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


class DiscordNotifier:
    def __init__(
        self,
        client: discord.Client,
        store: JobStore,
        session: aiohttp.ClientSession,
        *,
        buttons: Buttons | None = None,
        min_interval: float = MIN_EDIT_INTERVAL,
        owner: str | None = None,
        share: Callable[[], int] = lambda: 1,
        signer: provenance.Signer | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.session = session
        self.owner = owner  # this process: it shows the jobs it works, and waiting ones
        self.share = share  # how many processes show jobs: the edit budget is the bot's, shared between them
        self.signer = signer  # gives every attached video content credentials
        self.buttons = buttons or (lambda job: [])
        self.min_interval = min_interval
        self._trackers: dict[str, _Tracker] = {}
        self._addresses: dict[str, Address] = {}
        self._next_edit = 0.0  # when the next progress edit of any message may go
        store.events.subscribe(self.notice)

    async def close(self) -> None:
        self.store.events.unsubscribe(self.notice)
        tasks = [t.task for t in self._trackers.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- where jobs are shown

    def remember(self, address: Address) -> None:
        """The address of a job just admitted here (saves reading it back from the store)."""
        self._addresses[address.job_id] = address

    async def address(self, job_id: str) -> Address | None:
        found = self._addresses.get(job_id)
        if found is None:
            found = await self.store.address(job_id)
            if found is not None:
                self._addresses[job_id] = found
        return found

    # ---- listening

    def notice(self, notice: Notice) -> None:
        job = notice.job
        if isinstance(notice, Changed):
            if notice.event is Event.DROP:
                self._forget(job.id)  # dropped before it was acknowledged: there is no message to edit
            elif self.owner is not None and job.owner != self.owner and job.status is not Status.WAITING:
                self._forget(job.id)  # started here for a worker: whichever claims it shows it from now on
            elif not job.status.ended and job.status is not Status.FETCHING:  # the outcome follows in a moment
                self.show(job)
        elif isinstance(notice, Progressed) and not job.status.ended:
            self.show(job, eta=notice.eta, place=notice.place)

    def show(self, job: Job, *, eta: float | None = None, place: Place | None = None) -> None:
        """Progress changed (the edit loop decides when to actually edit)."""
        if self.signer is not None:
            self.signer.warm()  # ready by the time this job's video is delivered
        tracker = self._trackers.get(job.id)
        if tracker is None:
            tracker = self._trackers[job.id] = _Tracker(job)
            tracker.task = asyncio.create_task(self._edit_loop(tracker), name=f"edits-{job.id}")
        tracker.job = job
        tracker.eta = eta if eta is not None else tracker.eta
        tracker.place = place if place is not None or job.status is not Status.WAITING else tracker.place
        tracker.changed.set()

    def _forget(self, job_id: str) -> None:
        tracker = self._trackers.pop(job_id, None)
        if tracker is not None:
            tracker.closing.set()
            tracker.changed.set()
        self._addresses.pop(job_id, None)

    # ---- the outcome (the Presenter of bot.jobs.deliveries)

    async def finish(self, job: Job) -> None:
        """Show the outcome. The progress edits stop first: an edit in flight may end (bounded), none waits."""
        i18n.use(job.locale)
        tracker = self._trackers.pop(job.id, None)
        if tracker is not None and tracker.task is not None:
            tracker.closing.set()
            tracker.changed.set()
            done, _pending = await asyncio.wait({tracker.task}, timeout=EDIT_TIMEOUT)
            if not done:
                tracker.task.cancel()
        address = await self.address(job.id)
        if address is None:
            raise DeliveryRefused("the job has no Discord message to show it on")
        if job.ending is Status.DONE and job.command is not Command.VOICE_CLONE:  # a clone's result is a voice: words
            limit = max(address.attachment_limit or 0, DISCORD_DEFAULT_LIMIT)
            video = await results.fetch(self.session, job, limit, self.signer)
            try:
                await self._deliver_video(job, address, video)
            finally:
                video.cleanup()
        elif (
            job.refused_input
            and not address.private
            and token_usable(address)
            and await self._refuse_privately(job, address)
        ):
            pass
        else:
            await self._edit(job, address, content=render.render(job), final=True)
            if address.moved_to_channel or not token_usable(address):
                with i18n.using(channel_locale(job, address)):
                    content = render.render_ready_ping(job, mention=address.reach == CHANNEL)
                await self._post(job, address, content=content)
        self._addresses.pop(job.id, None)

    async def _refuse_privately(self, job: Job, address: Address) -> bool:
        """An input refused once downloaded (a file that is not what it says) is the member's to fix, like a
        refusal at the command: told privately, and the public job message goes. False: the message says it."""
        webhook = self._webhook(address)
        try:
            async with asyncio.timeout(EDIT_TIMEOUT):
                await webhook.send(render.render_refused(job), ephemeral=True)
        except (discord.HTTPException, TimeoutError) as exc:
            log.info("job %s: could not answer privately (%r); the job message says it", job.id, exc)
            return False
        try:
            async with asyncio.timeout(EDIT_TIMEOUT):
                await webhook.delete_message(address.message_id or 0)
        except (discord.HTTPException, TimeoutError) as exc:
            log.info("job %s: could not remove the job message (%r); it says it too", job.id, exc)
            return False
        return True

    async def _deliver_video(self, job: Job, address: Address, video: Video) -> None:
        """The finished job as a card that carries the video: on the job's own message while its token lives;
        after that in one channel message (or a DM) that mentions the requester, the job's message pointing to it."""
        if token_usable(address) and not address.result_message_id:
            try:
                await self._card_on_job_message(job, address, video, address.attachment_limit or DISCORD_DEFAULT_LIMIT)
                return
            except _TokenGone:
                await self._move_to_channel(address)
        if not address.result_message_id:
            message = await self._post(job, address, video=video)
            address.result_channel_id, address.result_message_id = message.channel.id, message.id
            await self.store.save_address(address, "result_channel_id", "result_message_id")
        await self._edit(job, address, content=render.pointer(job, self._link(job, address)), final=True)

    async def _card_on_job_message(self, job: Job, address: Address, video: Video, limit: int) -> None:
        attach = video.fits(limit)
        note = None if attach else (video.why_not_attached or video.too_large_for(limit))
        assert address.message_id is not None
        for _try in range(2):
            view = self._card(job, video.filename if attach else None, note, signed=video.signed)
            files = [discord.File(video.path, filename=video.filename)] if attach and video.path else []
            try:
                async with asyncio.timeout(UPLOAD_TIMEOUT):
                    await self._webhook(address).edit_message(
                        address.message_id,
                        content=None,
                        view=view,  # type: ignore[call-overload]
                        attachments=files,
                    )  # content=None clears the text a card replaces
                return
            except discord.HTTPException as exc:
                if exc.status in (401, 404):
                    raise _TokenGone() from exc
                if not (attach and _refused_upload(exc)):
                    raise
                log.info("job %s: Discord refused the upload (%s); sending the link", job.id, exc)
                attach, note = False, _("Discord refused the upload here, so the video is linked instead of attached.")

    def _card(
        self,
        job: Job,
        attached: str | None,
        note: str | Text | None,
        *,
        mention: bool = False,
        signed: bool | None = None,
    ) -> discord.ui.LayoutView:
        card = render.result_card(job, attached=attached, note=note, mention=mention, signed=signed)
        container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(
            accent_colour=discord.Colour.green()
        )
        container.add_item(discord.ui.TextDisplay(card.body))
        if card.media:
            container.add_item(discord.ui.MediaGallery(discord.MediaGalleryItem(card.media)))
        container.add_item(discord.ui.TextDisplay(card.footer))
        view = discord.ui.LayoutView(timeout=None)
        view.add_item(container)
        buttons = self.buttons(job)
        if buttons:
            view.add_item(discord.ui.ActionRow(*buttons))
        return view

    async def _post(
        self, job: Job, address: Address, *, content: str | None = None, video: Video | None = None
    ) -> discord.Message:
        """A message of the bot's own in the job's channel (when it may write there), else in a DM to the requester;
        sent with a nonce that Discord enforces, so a repeat after a crash returns the first one instead of posting
        twice."""
        pings = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)])
        refused: list[str] = []
        for where in ("channel", "dm") if address.reach == CHANNEL else ("dm",):
            try:
                target: discord.abc.Messageable = (
                    self.client.get_partial_messageable(address.channel_id)
                    if where == "channel"
                    else await self.client.fetch_user(job.user_id)
                )
                if video is None:
                    return await target.send(content, allowed_mentions=pings, nonce=done_nonce(job))
                attach = video.fits(DISCORD_DEFAULT_LIMIT)
                note = None if attach else (video.why_not_attached or video.too_large_for(DISCORD_DEFAULT_LIMIT))
                with i18n.using(channel_locale(job, address) if where == "channel" else job.locale):
                    view = self._card(
                        job, video.filename if attach else None, note, mention=where == "channel", signed=video.signed
                    )
                files = [discord.File(video.path, filename=video.filename)] if attach and video.path else []
                return await target.send(view=view, files=files, allowed_mentions=pings, nonce=done_nonce(job))
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("job %s: cannot write to the %s (%s)", job.id, where, exc)
                refused.append(f"{where}: {exc.status} {exc.code}")
        raise DeliveryRefused(f"neither the channel nor a DM to the requester could be written ({'; '.join(refused)})")

    def _link(self, job: Job, address: Address) -> str:
        where = job.guild_id if address.result_channel_id == address.channel_id and job.guild_id else "@me"
        return f"https://discord.com/channels/{where}/{address.result_channel_id}/{address.result_message_id}"

    # ---- edits

    def interval(self) -> float:
        """Seconds between progress edits of one message: at least min_interval, longer when many jobs run."""
        return max(self.min_interval, len(self._trackers) * self.share() / EDITS_PER_SECOND)

    async def _edit_turn(self, tracker: _Tracker) -> bool:
        """Wait for this edit's place in the progress-edit budget; False when the job finished meanwhile."""
        now = time.monotonic()
        self._next_edit = max(self._next_edit + self.share() / EDITS_PER_SECOND, now)
        if self._next_edit > now:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_edit - now):
                    await tracker.closing.wait()
        return not tracker.closing.is_set()

    async def _edit_loop(self, tracker: _Tracker) -> None:
        """Edits the message when its text changed, at most every interval(); stops when the job's outcome is decided."""
        i18n.use(tracker.job.locale)
        while not tracker.closing.is_set():
            try:
                async with asyncio.timeout(IDLE):
                    await tracker.changed.wait()
            except TimeoutError:  # nothing new for long: another process shows this job now, or it will tell again
                if self._trackers.get(tracker.job.id) is tracker:
                    del self._trackers[tracker.job.id]
                return
            wait = tracker.last_edit + self.interval() - time.monotonic()
            if wait > 0 and not tracker.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await tracker.closing.wait()
            if tracker.closing.is_set() or not await self._edit_turn(tracker) or tracker.job.status.ended:
                return  # the outcome is finish()'s to show
            tracker.changed.clear()
            try:
                address = await self.address(tracker.job.id)
                if address is None:
                    return
                text = render.render(tracker.job, eta=tracker.eta, place=tracker.place, ends_by_dm=address.reach == DM)
                if text == tracker.shown:
                    continue
                async with asyncio.timeout(EDIT_TIMEOUT):
                    await self._edit(tracker.job, address, content=text, final=False)
                tracker.shown = text
            except Exception as exc:  # a progress edit is worth a log line, never the loop
                log.warning("job %s: progress edit skipped: %r", tracker.job.id, exc)
            tracker.last_edit = time.monotonic()

    async def _edit(self, job: Job, address: Address, *, content: str, final: bool) -> None:
        """Edit the job's message: through the interaction webhook while the token lives, else with the bot token."""
        if address.message_id is None or (address.reach == DM and not token_usable(address)):
            return  # past its token, only the requester's DMs are left to this job
        view = discord.ui.View(timeout=None)
        for item in self.buttons(job):
            view.add_item(item)
        if token_usable(address):
            try:
                async with asyncio.timeout(EDIT_TIMEOUT):
                    await self._webhook(address).edit_message(address.message_id, content=content, view=view)
                return
            except TimeoutError:
                if not final:
                    raise
                log.info("job %s: webhook edit stalled (rate limited); using the bot token", job.id)
            except discord.HTTPException as exc:
                if exc.status not in (401, 404):
                    raise
                log.info("job %s: interaction token refused (code %s); moving to the bot token", job.id, exc.code)
                await self._move_to_channel(address)
        else:
            await self._move_to_channel(address)
        channel = self.client.get_partial_messageable(address.message_channel_id or address.channel_id)
        try:
            await channel.get_partial_message(address.message_id).edit(content=content, view=view)
        except (discord.Forbidden, discord.NotFound) as exc:
            if not final:
                raise
            log.info("job %s: cannot edit the job message with the bot token (%s)", job.id, exc)

    # ---- removal (/jobs delete)

    async def remove(self, job: Job, address: Address) -> tuple[int, int]:
        """Delete every message that carries the job's result: its own message (through the interaction webhook
        while the token lives, else with the bot token where the bot may write), and the channel post or DM copy.
        (deleted or already gone, not reachable by the bot)."""
        deleted = kept = 0
        if address.message_id is not None:
            gone = False
            if token_usable(address):
                try:
                    async with asyncio.timeout(EDIT_TIMEOUT):
                        await self._webhook(address).delete_message(address.message_id)
                    gone = True
                except discord.NotFound:
                    gone = address.private  # a public message is tried with the bot token below
                except (discord.HTTPException, TimeoutError) as exc:
                    log.info("job %s: could not delete the job message through its token (%r)", job.id, exc)
            if not gone and not address.private and address.reach == CHANNEL:
                channel_id = address.message_channel_id or address.channel_id
                gone = await self._delete(job, channel_id, address.message_id)
            deleted, kept = (deleted + 1, kept) if gone else (deleted, kept + 1)
        if address.result_message_id is not None and address.result_channel_id is not None:
            if await self._delete(job, address.result_channel_id, address.result_message_id):
                deleted += 1
            else:
                kept += 1
        self._addresses.pop(job.id, None)
        return deleted, kept

    async def _delete(self, job: Job, channel_id: int, message_id: int) -> bool:
        """Delete one of the bot's own messages with its token; True when it is gone (also: it was already)."""
        try:
            await self.client.get_partial_messageable(channel_id).get_partial_message(message_id).delete()
            return True
        except discord.NotFound:
            return True
        except discord.HTTPException as exc:
            log.info("job %s: could not delete message %s in %s (%s)", job.id, message_id, channel_id, exc)
            return False

    def _webhook(self, address: Address) -> discord.Webhook:
        assert address.application_id and address.interaction_token
        webhook = discord.Webhook.partial(address.application_id, address.interaction_token, client=self.client)
        webhook.type = discord.WebhookType.application  # the interaction's webhook: it may send ephemeral messages
        return webhook

    async def _move_to_channel(self, address: Address) -> None:
        if not address.moved_to_channel:
            address.moved_to_channel = True
            await self.store.save_address(address, "moved_to_channel")


class _TokenGone(Exception):
    """The interaction token was refused: the job moves to the bot's own token."""


def _refused_upload(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == 40005
