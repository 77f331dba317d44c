"""Where a job's media comes from, what is accepted, and hosting it where fal can read it.

Attachments are checked from what Discord declares, and links by their form (bot/links.py), before anything
starts. In `fal` hosting mode (INPUT_HOSTING=fal) each attachment is then streamed to a temporary file (the size
cap enforced while reading) and each link fetched the same way, guarded (bot/jobs/fetch.py); every file is
inspected by bot.media off the event loop, and only when every input passes are they uploaded to fal storage
from those files (so a bad file never costs a fal request). The temporary files are always removed. In
`passthrough` mode links go to fal as they are, once their form passes, and attachments as Discord's links.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot import links, media
from bot.errors import BadInput
from bot.fal.queue import FalQueue
from bot.i18n import Number, _
from bot.jobs import audit, fetch, pipeline
from bot.jobs.spec import JobSpec, Source

MAX_BYTES = media.MAX_BYTES  # one table: bot.media
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Hosting:
    """How inputs reach fal (INPUT_HOSTING) and which private hosts links may name (PRIVATE_LINK_HOSTS, only
    where the bot itself fetches: fal's runners could not reach them)."""

    mode: str = "fal"
    private_hosts: frozenset[str] = frozenset()

    @property
    def fetches(self) -> bool:
        return self.mode == "fal"

    @property
    def allowed_private(self) -> frozenset[str]:
        return self.private_hosts if self.fetches else frozenset()

    def link(self, option: str, url: object) -> links.Link:
        return links.parse(option, url, private_hosts=self.allowed_private)


def accepted(kind: str) -> str:
    return media.accepted_text(kind)


def option_of(source: Source) -> str:
    """The option a member gave this input in: `image` for an attachment, `image_url` for a link."""
    return source.name if source.attachment else f"{source.name}_url"


def check_declared(source: Source, hosting: Hosting) -> None:
    """What Discord says about an attachment (type and size), or the link's form; raises BadInput. Where the bot
    does not look inside files (passthrough), an attachment that declares no type is judged by its name alone."""
    if not source.attachment:
        hosting.link(option_of(source), source.url)
        return
    try:
        media.check_declared(
            source.kind,
            source.content_type,
            source.size,
            name=source.filename or source.name,
            named_only=not hosting.fetches,
        )
    except media.Refused as exc:
        raise BadInput(source.name, exc.message) from None


async def _download(session: aiohttp.ClientSession, source: Source, directory: Path) -> Path:
    """The attachment streamed into a file in `directory`, never more than the cap read (memory: one chunk)."""
    limit = MAX_BYTES[source.kind]
    label = source.filename or source.name
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f"{source.name}-", delete=False) as file:
        path = Path(file.name)
        size = 0
        try:
            async with session.get(source.url, timeout=aiohttp.ClientTimeout(total=120)) as response:
                if response.status != 200:
                    raise BadInput(
                        source.name,
                        _(
                            "Discord no longer serves '{name}' (HTTP {status}); attach it again",
                            name=label,
                            status=response.status,
                        ),
                    )
                async for chunk in response.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise BadInput(
                            source.name,
                            _(
                                "'{name}' is over {megabytes} MB; {needed}",
                                name=label,
                                megabytes=Number(limit // 1024**2),
                                needed=media.needed_message(source.kind),
                            ),
                        )
                    file.write(chunk)
        except aiohttp.ClientError as exc:
            raise BadInput(
                source.name,
                _(
                    "could not download '{name}' from Discord ({error}); try again",
                    name=label,
                    error=exc.__class__.__name__,
                ),
            ) from exc
    return path


async def check_file(source: Source, path: Path, name: str | None = None) -> media.MediaInfo:
    """What the downloaded file really is (bot.media, in a worker thread), or BadInput saying why it is refused."""
    label = name or source.filename or source.name
    try:
        return await asyncio.to_thread(media.inspect, path, source.kind, name=label)
    except media.Refused as exc:
        raise BadInput(option_of(source), exc.message) from None


async def _fetch_link(
    source: Source, directory: Path, hosting: Hosting, digests: list[audit.InputDigest]
) -> tuple[Path, media.MediaInfo, str]:
    option = option_of(source)
    link = hosting.link(option, source.url)
    fetched = await fetch.fetch(option, source.kind, link, directory, private_hosts=hosting.allowed_private)
    digests.append(await asyncio.to_thread(audit.seen, source, fetched.path, fetches=True))
    name = fetched.name or link.host
    return fetched.path, await check_file(source, fetched.path, name), name


async def host(
    spec: JobSpec,
    sources: dict[str, Source],
    *,
    queue: FalQueue,
    session: aiohttp.ClientSession,
    hosting: Hosting,
    digests: list[audit.InputDigest] | None = None,
) -> JobSpec:
    """The spec with every input as a URL fal can read, after checking every input. `digests` receives, for the
    audit, each input's SHA-256 as the bot saw it, as soon as it is downloaded (a refused input's too)."""
    urls: dict[str, str] = {}
    digests = [] if digests is None else digests
    audio_seconds, video_seconds = spec.audio_seconds, spec.video_seconds
    directory = Path(tempfile.mkdtemp(prefix="lipsync-inputs-"))
    try:
        files: dict[str, Path] = {}
        for name, source in sources.items():
            check_declared(source, hosting)
            if hosting.fetches:
                if source.attachment:
                    path = await _download(session, source, directory)
                    digests.append(await asyncio.to_thread(audit.seen, source, path, fetches=True))
                    label = source.filename or name
                    info = await check_file(source, path)
                else:
                    path, info, label = await _fetch_link(source, directory, hosting, digests)
                # Named for what it really is, so fal storage serves it with the right content type.
                (directory / name).mkdir()
                files[name] = path.rename(directory / name / media.upload_name(label, info))
                if source.kind == "audio":  # a voice sample is audio too
                    audio_seconds = info.seconds
                elif source.kind == "video":
                    video_seconds = info.seconds
            else:
                urls[name] = source.url if source.attachment else hosting.link(option_of(source), source.url).url
                digests.append(audit.seen(source, None, fetches=False))
                if source.kind == "audio" and source.duration:
                    audio_seconds = source.duration
                elif source.kind == "video" and source.duration:
                    video_seconds = source.duration
        checked = dataclasses.replace(spec, audio_seconds=audio_seconds, video_seconds=video_seconds)
        pipeline.check_audio_length(checked, audio_seconds)
        pipeline.check_video_length(checked, video_seconds)
        for name, path in files.items():
            urls[name] = await queue.upload_file(path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return checked.at({f"{sources[name].kind}_url": url for name, url in urls.items()})
