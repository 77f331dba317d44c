"""The audit trail: for every job, who asked (member, server, channel; a server that installed the bot, a member's
own install, a DM or a group DM), when, the command and model, a SHA-256 of each input (the bytes of each
attachment and of each fetched link, the text of each link, of the text to speak and of the prompt), the fal request
ids, the estimated cost and the outcome.

A record is written with the job's admission (in its transaction: a refused job leaves none), completed as the
inputs are hosted, as fal answers each submit (in the transaction that records the submit) and when the outcome is
decided (in the transaction that records it). It lives in a table of its own and outlives whatever becomes of the job; the sweep, run by one
process of a cluster (the lead "audit"), deletes records older than AUDIT_RETENTION_DAYS.

Only digests, ids and the bot's own words enter it: never an interaction token, the bot token, a fal key, a link
or a file name as given. Its JSON form (`to_json`) is what `python -m bot.cli audit` prints and /audit shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.jobs import voices
from bot.jobs.lifecycle import Status
from bot.jobs.model import Job, StepRecord
from bot.jobs.spec import Command, Source
from bot.store.base import JobStore, Tx, Work

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90
SWEEP_EVERY = 3600.0  # seconds between sweeps (and one at start)
DAY = 86400.0

# Where a job was asked for.
SERVER, DM, GROUP_DM = "server", "dm", "group_dm"
# Who installed the bot there: the server (guild install) or the member (user install).
GUILD_INSTALL, USER_INSTALL = "server", "user"

ATTACHMENT, LINK, TEXT = "attachment", "link", "text"
CONSENT = "consent"  # a voice clone's: the statement the member confirmed (its digest, and the statement as a note)
PROMPT = "prompt"  # an input name: the member's text guiding the video, kept as its digest like the text to speak
PASSTHROUGH_NOTE = "passthrough: fal fetched it; the bot never saw the bytes, only the link is hashed"


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class InputDigest:
    """One input as the audit keeps it: how it was given and SHA-256 digests (never the link or file itself)."""

    name: str  # image | video | audio | text | prompt
    given: str  # ATTACHMENT, LINK or TEXT
    sha256: str | None = None  # of the bytes as the bot downloaded them (None: not seen, or not yet)
    link_sha256: str | None = None  # of the link's text, as the member gave it
    size: int | None = None  # bytes (as downloaded; for text: its characters)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputDigest:
        return cls(
            str(data["name"]),
            str(data["given"]),
            data.get("sha256"),
            data.get("link_sha256"),
            data.get("size"),
            data.get("note"),
        )


def declared(sources: dict[str, Source], text: str | None, prompt: str | None = None) -> list[InputDigest]:
    """What is known of the inputs when the job is asked for: each link's digest, the text's and the prompt's."""
    found = []
    for name, source in sources.items():
        if source.attachment:
            found.append(InputDigest(name, ATTACHMENT))
        else:
            found.append(InputDigest(name, LINK, link_sha256=sha256(source.url.strip())))
    if text:
        found.append(InputDigest(TEXT, TEXT, sha256=sha256(text), size=len(text)))
    if prompt:
        found.append(InputDigest(PROMPT, TEXT, sha256=sha256(prompt), size=len(prompt)))
    return found


def seen(source: Source, path: Path | None, *, fetches: bool) -> InputDigest:
    """An input once hosted: the digest of the bytes the bot downloaded (`path`), or, where the bot does not fetch
    (passthrough), the digest of the link alone, saying so."""
    given = ATTACHMENT if source.attachment else LINK
    link = None if source.attachment and fetches else sha256(source.url.strip())
    if path is None:
        return InputDigest(source.name, given, link_sha256=link, note=None if fetches else PASSTHROUGH_NOTE)
    return InputDigest(source.name, given, sha256_file(path), link, path.stat().st_size)


@dataclass
class Record:
    job_id: str
    created_at: float
    user_id: int
    guild_id: int | None  # the server the command was used in (None: a DM or a group DM)
    channel_id: int | None
    place: str  # SERVER, DM or GROUP_DM
    install: str  # GUILD_INSTALL or USER_INSTALL
    command: str
    model: str
    inputs: list[InputDigest] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # fal request ids, in the order they were sent
    cost_estimate: float | None = None
    outcome: str | None = None  # done | failed | cancelled; None while the job is live
    detail: str | None = None  # the bot's own words on the outcome
    ended_at: float | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["inputs"] = json.dumps([i.to_json() for i in self.inputs], separators=(",", ":"))
        row["requests"] = json.dumps(self.requests, separators=(",", ":"))
        return row

    @classmethod
    def from_row(cls, row: Any) -> Record:
        return cls(
            job_id=row["job_id"],
            created_at=float(row["created_at"]),
            user_id=int(row["user_id"]),
            guild_id=None if row["guild_id"] is None else int(row["guild_id"]),
            channel_id=None if row["channel_id"] is None else int(row["channel_id"]),
            place=row["place"],
            install=row["install"],
            command=row["command"],
            model=row["model"],
            inputs=[InputDigest.from_json(i) for i in json.loads(row["inputs"] or "[]")],
            requests=list(json.loads(row["requests"] or "[]")),
            cost_estimate=None if row["cost_estimate"] is None else float(row["cost_estimate"]),
            outcome=row["outcome"],
            detail=row["detail"],
            ended_at=None if row["ended_at"] is None else float(row["ended_at"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as one JSON object (ids as strings: Discord's snowflakes do not fit a JavaScript number)."""
        return {
            "job": self.job_id,
            "at": iso(self.created_at),
            "user": str(self.user_id),
            "guild": None if self.guild_id is None else str(self.guild_id),
            "channel": None if self.channel_id is None else str(self.channel_id),
            "place": self.place,
            "install": self.install,
            "command": self.command,
            "model": self.model,
            "inputs": [i.to_json() for i in self.inputs],
            "fal_requests": self.requests,
            "cost_usd": self.cost_estimate,
            "outcome": self.outcome,
            "detail": self.detail,
            "ended_at": None if self.ended_at is None else iso(self.ended_at),
        }


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def asked(job: Job) -> list[InputDigest]:
    """The digests known of a job's inputs as it is asked for; a voice clone's also says that consent was given."""
    found = declared(job.sources, job.spec.text if "audio" not in job.sources else None, job.spec.prompt)
    if job.command is Command.VOICE_CLONE:  # /voice clone refuses without it: a job of it is consent given
        found.append(InputDigest(CONSENT, TEXT, sha256=sha256(voices.CONSENT), note=voices.CONSENT_NOTE))
    return found


def record_for(job: Job, *, guild_id: int | None, channel_id: int | None, place: str, install: str) -> Record:
    """A new job's record, as it is asked for."""
    return Record(
        job.id,
        job.created_at,
        job.user_id,
        guild_id,
        channel_id,
        place,
        install,
        job.command.value,
        job.spec.model,
        inputs=asked(job),
        requests=request_ids(job.steps),
        cost_estimate=job.cost_estimate,
    )


def request_ids(steps: dict[str, StepRecord]) -> list[str]:
    return [step.submission.request_id for step in steps.values() if step.submission is not None]


# ---- writing (the admission, each submit and the outcome write theirs in the transactions that record them)


async def begin(store: JobStore, record: Record) -> None:
    """A record on its own (a job admitted by the line has it written with its admission: Line.admit)."""
    await store.audit_insert(record.to_row())


async def hosted(store: JobStore, job: Job, digests: list[InputDigest]) -> None:
    """The inputs' digests once hosted (or as far as hosting got before an input was refused), over what was known
    when the job was asked for (the links' digests, the text's)."""
    merged = {d.name: d for d in asked(job)}
    merged.update({d.name: d for d in digests})
    await _quietly(store.audit_update(job.id, inputs=_dump([d.to_json() for d in merged.values()])))


def sent_in(store: JobStore, job: Job) -> Work[None]:
    """fal answered a submit: the request ids as they are stored, written by the transaction that records the
    submit."""

    async def work(tx: Tx) -> None:
        await store.audit_update_in(tx, job.id, requests=_dump(request_ids(job.steps)))

    return work


def ending(job: Job, outcome: Status, changes: dict[str, Any]) -> dict[str, Any]:
    """The columns an outcome sets, from the job and the changes its end is recorded with."""
    steps = changes.get("steps") or job.steps
    return {
        "requests": _dump(request_ids(steps)),
        "cost_estimate": changes.get("cost_estimate", job.cost_estimate),
        "outcome": outcome.value,
        "detail": changes.get("error"),
        "ended_at": time.time(),
    }


async def ended_in(store: JobStore, tx: Tx, job_id: str, columns: dict[str, Any]) -> None:
    """The outcome, inside the transaction that records it."""
    await store.audit_update_in(tx, job_id, **columns)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _quietly(write: Any) -> None:
    try:
        await write
    except Exception as exc:  # the job goes on; the log says what the audit missed
        log.warning("the audit could not record a change: %r", exc)


# ---- reading and forgetting


async def records(
    store: JobStore,
    *,
    guild_id: int | None = None,
    user_id: int | None = None,
    since: float | None = None,
    limit: int | None = None,
) -> list[Record]:
    """Records, newest first, filtered by server, member and time."""
    rows = await store.audit_rows(guild_id=guild_id, user_id=user_id, since=since, limit=limit)
    return [Record.from_row(row) for row in rows]


async def sweep(store: JobStore, retention_days: int, now: float | None = None) -> int:
    """Delete the records older than the retention; how many."""
    now = time.time() if now is None else now
    return await store.audit_delete_before(now - retention_days * DAY)


class Keeper:
    """Runs the sweep at start and then every SWEEP_EVERY seconds, in the one process that leads "audit"."""

    def __init__(self, store: JobStore, retention_days: int, every: float = SWEEP_EVERY) -> None:
        self.store, self.retention_days, self.every = store, retention_days, every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="audit-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                if await self.store.lead("audit"):
                    gone = await sweep(self.store, self.retention_days)
                    if gone:
                        log.info("audit: deleted %d record(s) older than %d days", gone, self.retention_days)
            except Exception:
                log.exception("the audit sweep failed; it tries again later")
            await asyncio.sleep(self.every)
