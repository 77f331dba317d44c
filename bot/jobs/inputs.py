"""Where a job's media comes from, what is accepted, and hosting it where fal can read it.

Attachments are checked from what Discord declares before anything starts; in `fal` hosting mode
their bytes are then downloaded, sniffed and measured, and only when every input passes are they
uploaded to fal storage (so a bad file never costs a fal request). URLs given by users are never
fetched by the bot: they must be public https addresses and go to fal as they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp

from bot import media
from bot.fal.errors import BadInput
from bot.fal.queue import FalQueue
from bot.jobs import pipeline
from bot.jobs.spec import JobSpec

KINDS = {"image": media.IMAGE, "video": media.VIDEO, "audio": media.AUDIO}
MAX_BYTES = {media.IMAGE: 20 * 1024**2, media.AUDIO: 50 * 1024**2, media.VIDEO: 200 * 1024**2}
URL_MAX_LENGTH = 2083  # fal's schemas cap input URLs here
_PRIVATE_NAMES = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")


@dataclass
class Source:
    """One input: a Discord attachment or a URL the user typed."""

    name: str  # "image" | "video" | "audio"
    url: str
    attachment: bool
    filename: str | None = None
    content_type: str | None = None  # as declared by Discord
    size: int | None = None
    duration: float | None = None  # as declared by Discord (voice messages, some media)

    @property
    def kind(self) -> str:
        return KINDS[self.name]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        return cls(**data)


def accepted(kind: str) -> str:
    return f"{media.EXTENSIONS[kind]} (up to {MAX_BYTES[kind] // 1024**2} MB)"


def check_url(option: str, url: str) -> None:
    """A public https URL, or BadInput saying why not."""
    parsed = urlparse(url.strip())
    if parsed.scheme != "https" or not parsed.hostname:
        raise BadInput(option, "must be an https:// link to the file")
    if len(url) > URL_MAX_LENGTH:
        raise BadInput(option, f"is {len(url)} characters long; links up to {URL_MAX_LENGTH} characters are accepted")
    host = parsed.hostname.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # Resolvers read forms like 10.0.00.1 or 0x7f.1 as addresses too; accept only real names.
        numeric = all(label.isdigit() or label.startswith("0x") for label in host.split("."))
        if numeric or host in _PRIVATE_NAMES or host.endswith(_PRIVATE_NAMES) or "." not in host:
            raise BadInput(option, "must point at a public host, not a local or private one") from None
        return
    if not address.is_global:
        raise BadInput(option, "must point at a public address, not a private, loopback or reserved one")


def check_declared(source: Source) -> None:
    """What Discord says about an attachment: type and size."""
    if not source.attachment:
        check_url(f"{source.name}_url", source.url)
        return
    kind = media.kind_of((source.content_type or "").split(";")[0].strip())
    if source.content_type and kind != source.kind:
        raise BadInput(source.name, f"'{source.filename}' is {source.content_type}; a {source.kind} is needed: {accepted(source.kind)}")
    if source.size is not None and source.size > MAX_BYTES[source.kind]:
        raise BadInput(source.name, f"'{source.filename}' is {source.size / 1024**2:.1f} MB; accepted: {accepted(source.kind)}")


async def _download(session: aiohttp.ClientSession, source: Source) -> bytes:
    limit = MAX_BYTES[source.kind]
    try:
        async with session.get(source.url, timeout=aiohttp.ClientTimeout(total=120)) as response:
            if response.status != 200:
                raise BadInput(source.name, f"Discord no longer serves '{source.filename}' (HTTP {response.status}); attach it again")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > limit:
                    break
    except aiohttp.ClientError as exc:
        raise BadInput(source.name, f"could not download '{source.filename}' from Discord ({exc.__class__.__name__}); try again") from exc
    if len(data) > limit:
        raise BadInput(source.name, f"'{source.filename}' is over {limit // 1024**2} MB; accepted: {accepted(source.kind)}")
    return bytes(data)


def check_bytes(source: Source, data: bytes) -> tuple[str, float | None]:
    """The real content type (from the bytes, not the name) and, for audio and video, the play length."""
    found = media.sniff(data[:64])
    if media.kind_of(found) != source.kind:
        what = f"looks like {found}" if found else "is not a file type we recognise"
        raise BadInput(source.name, f"'{source.filename}' {what}; a {source.kind} is needed: {accepted(source.kind)}")
    seconds = media.duration_seconds(data) if source.kind != media.IMAGE else None
    if source.kind != media.IMAGE and seconds is None:
        raise BadInput(source.name, f"'{source.filename}' is damaged or incomplete (its length cannot be read); accepted: {accepted(source.kind)}")
    return found or "", seconds


async def host(spec: JobSpec, sources: dict[str, Source], *, queue: FalQueue, session: aiohttp.ClientSession,
               mode: str) -> JobSpec:
    """The spec with every input as a URL fal can read, after checking every input."""
    urls: dict[str, str] = {}
    audio_seconds = spec.audio_seconds
    downloads: dict[str, tuple[bytes, str]] = {}
    for name, source in sources.items():
        check_declared(source)
        if source.attachment and mode == "fal":
            data = await _download(session, source)
            content_type, seconds = check_bytes(source, data)
            downloads[name] = (data, content_type)
            if name == "audio":
                audio_seconds = seconds
        else:
            urls[name] = source.url
            if name == "audio" and source.duration:
                audio_seconds = source.duration
    checked = JobSpec.from_dict({**spec.to_dict(), "audio_seconds": audio_seconds})
    pipeline.check_audio_length(checked, audio_seconds)
    for name, (data, content_type) in downloads.items():
        urls[name] = await queue.upload(data, content_type, sources[name].filename or name)
    return JobSpec.from_dict({**checked.to_dict(), **{f"{name}_url": url for name, url in urls.items()}})
