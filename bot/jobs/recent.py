"""A member's recent inputs, offered again ("same face, new line" without a re-upload).

Only inputs that fal can still read are offered: the copies the bot hosted on fal's storage (or https
links the member typed), checked with a HEAD request that is remembered for a while, because an
autocomplete answer must come within Discord's 3 seconds. A member's own link (passthrough hosting) is checked as
the bot fetches members' links (bot/jobs/fetch.py): only at public addresses, and no redirect is followed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from bot import links
from bot.errors import BadInput
from bot.jobs import fetch
from bot.jobs.spec import Source
from bot.store.base import JobStore

CHOICE_LIMIT = 25  # choices Discord shows
VALUE_LIMIT = 100  # characters of a choice's name and of its value
CHECK_TIMEOUT = 1.5
REMEMBER = 600.0  # seconds a check is trusted
LOOK_BACK = 30  # recent jobs looked at


@dataclass(frozen=True)
class Offer:
    label: str
    url: str
    members: bool = False  # the member's own link, not a copy the bot hosted


def _members_link(source: Source | None, url: str) -> bool:
    """Whether `url` is the member's own link (as given or as checked), not a copy the bot hosted."""
    if source is None or source.attachment:
        return False
    try:
        return url in (source.url, links.parse("link", source.url).url)
    except BadInput:
        return url == source.url


class RecentInputs:
    def __init__(self, store: JobStore, session: aiohttp.ClientSession) -> None:
        self.store = store
        self.session = session  # for fal's storage, where the bot's own copies are
        self._checked: dict[str, tuple[bool, float]] = {}

    async def offers(self, guild_id: int | None, user_id: int, name: str, typed: str) -> list[Offer]:
        """The member's recent `name` inputs ("image", "video", "audio") that still resolve, newest first."""
        found: dict[str, Offer] = {}
        needle = typed.strip().lower()
        for job in await self.store.member_jobs(guild_id, user_id, LOOK_BACK):
            url = getattr(job.spec, f"{name}_url", None)
            if not url or not url.startswith("https://") or len(url) > VALUE_LIMIT or url in found:
                continue
            source = job.sources.get(name)
            filename = (source.filename if source else None) or url.rsplit("/", 1)[-1]
            label = f"{filename} · from job {job.id}"[:VALUE_LIMIT]
            if needle and needle not in label.lower() and needle not in url.lower():
                continue
            found[url] = Offer(label, url, members=_members_link(source, url))
        candidates = list(found.values())[:CHOICE_LIMIT]
        async with fetch.guarded_session() as guarded:
            alive = await asyncio.gather(
                *(self._resolves(guarded if o.members else self.session, o.url, o.members) for o in candidates)
            )
        return [offer for offer, ok in zip(candidates, alive, strict=True) if ok]

    async def _resolves(self, session: aiohttp.ClientSession, url: str, members: bool) -> bool:
        known = self._checked.get(url)
        if known is not None and time.monotonic() - known[1] < REMEMBER:
            return known[0]
        try:
            if members:
                url = links.parse("link", url).url
            async with session.head(
                url, allow_redirects=not members, timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT)
            ) as response:
                ok = response.status < 400
        except (BadInput, aiohttp.ClientError, TimeoutError):
            ok = False
        self._checked[url] = (ok, time.monotonic())
        return ok
