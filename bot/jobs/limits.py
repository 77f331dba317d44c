"""Per-server settings, the limits they set, and how a job is counted against them.

The settings live in the store, and in each process's memory (`Configs`, read again every few seconds) for what
is checked before a command is admitted; admission itself reads them from the store (bot/jobs/line.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta

from bot.i18n import Text
from bot.jobs import cost
from bot.jobs.lifecycle import Status
from bot.jobs.model import Job
from bot.store.base import JobStore

BUDGET_SLACK = 1e-9  # float sums must not refuse a job that fits to the cent


@dataclass
class GuildConfig:
    allowed_channels: list[int] = field(default_factory=list)  # empty: every channel
    allowed_roles: list[int] = field(default_factory=list)  # empty: everyone
    disabled_models: list[str] = field(default_factory=list)
    user_concurrent: int = 2  # jobs one member may have running on fal at once
    user_cooldown: int = 0  # seconds between one member's commands; 0: none
    user_daily: int = 20  # jobs per member per UTC day (failed and cancelled ones do not count)
    guild_concurrent: int = 10  # jobs running on fal at once for the whole server
    user_waiting: int = 5  # jobs one member may have waiting in the line
    guild_waiting: int = 500  # jobs the whole server may have waiting in the line
    daily_budget: float | None = None  # US dollars per UTC day; None: no cap
    moderation_channel: int | None = None  # where reports go; None: the server owner's DMs
    blocked_members: list[int] = field(default_factory=list)  # refused in this server
    banned_words: list[str] = field(default_factory=list)  # text to be spoken may not contain these (moderation.py)
    voice_clone: bool = (
        False  # members may clone voices and speak with their own (/config features; bot/jobs/voices.py)
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> GuildConfig:
        data = json.loads(text) if text else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def offers(self, endpoint_id: str) -> bool:
        return endpoint_id not in self.disabled_models


UNLIMITED = 10**9


def personal_config(
    running: int = 2, waiting: int = 5, daily: int = 20, banned_words: tuple[str, ...] = (), voice_clone: bool = False
) -> GuildConfig:
    """The limits of a member's jobs where no server's settings apply (user installs, DMs): their own slots, line
    and daily quota; nothing shared between members but the bot-wide slots and budget."""
    return GuildConfig(
        user_concurrent=running,
        user_waiting=waiting,
        user_daily=daily,
        guild_concurrent=UNLIMITED,
        guild_waiting=UNLIMITED,
        banned_words=list(banned_words),
        voice_clone=voice_clone,  # VOICE_CLONING
    )


class Configs:
    """Every server's settings, in memory; changes are written through to the store. Server None holds the
    limits that apply outside servers (personal_config)."""

    def __init__(self, store: JobStore, saved: dict[int, GuildConfig], personal: GuildConfig | None = None) -> None:
        self.store = store
        self._saved = saved
        self.personal = personal or personal_config()

    @classmethod
    async def load(cls, store: JobStore, personal: GuildConfig | None = None) -> Configs:
        saved = {guild: GuildConfig.from_json(text) for guild, text in (await store.guild_configs()).items()}
        return cls(store, saved, personal)

    async def reload(self) -> None:
        """Read every server's settings again (another process may have changed them)."""
        self._saved = {guild: GuildConfig.from_json(text) for guild, text in (await self.store.guild_configs()).items()}

    def get(self, guild_id: int | None) -> GuildConfig:
        if guild_id is None:
            return dataclasses.replace(self.personal)
        saved = self._saved.get(guild_id)
        return dataclasses.replace(saved) if saved else GuildConfig()

    async def update(self, guild_id: int, change: Callable[[GuildConfig], None]) -> GuildConfig:
        """Apply `change` (which may raise to refuse, e.g. BadInput) and save the result."""
        config = self.get(guild_id)
        change(config)
        self._saved[guild_id] = config
        await self.store.save_guild_config(guild_id, config.to_json())
        return dataclasses.replace(config)


@dataclass(frozen=True)
class Refusal:
    limit: str
    text: Text  # what blocked the command and when it frees up (bot.i18n: shown in the member's locale)

    @property
    def message(self) -> str:
        """The text in the locale of the moment (the interaction's, where the refusal is shown)."""
        return str(self.text)


def day_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def next_day(now: float) -> float:
    return day_start(now) + timedelta(days=1).total_seconds()


def budget_estimate(job: Job) -> float:
    """What a job is counted at against budgets: its estimate, or its worst case when that is unknown."""
    if job.cost_estimate is not None:
        return job.cost_estimate
    model = job.spec.main_model
    seconds = model.audio_limit(job.spec.resolution) or 60.0
    longest = model.max_video_seconds or 600.0  # a video billed on its length (dubbing): its longest
    upper = cost.estimate(dataclasses.replace(job.spec, audio_seconds=seconds, video_seconds=longest))
    return upper or 0.0


def counts_for_quota(outcome: Status | None) -> bool:
    """Failed and cancelled jobs do not use up a member's daily jobs (`outcome` None: the job is still live)."""
    return outcome not in (Status.FAILED, Status.CANCELLED)


def counts_for_budget(outcome: Status | None, ran_on_fal: bool) -> bool:
    """Waiting, running and finished jobs are committed spend; a failed or cancelled one only if it ran on fal,
    where it may have been billed (a cancel of a running job is only a request)."""
    return counts_for_quota(outcome) or ran_on_fal
