"""Where a job's media comes from, what is accepted, and hosting it where fal can read it.

Attachments are checked from what Discord declares before anything starts; in `fal` hosting mode
each is then streamed to a temporary file (the size cap enforced while reading), inspected by
bot.media off the event loop, and only when every input passes are they uploaded to fal storage
from those files (so a bad file never costs a fal request). The temporary files are always
removed. URLs given by users are never fetched by the bot: they must be public https addresses
and go to fal as they are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bot import media
from bot.errors import BadInput
from bot.fal.queue import FalQueue
from bot.jobs import pipeline
from bot.jobs.spec import JobSpec, Source

MAX_BYTES = media.MAX_BYTES  # one table: bot.media
URL_MAX_LENGTH = 2083  # fal's schemas cap input URLs here
CHUNK = 64 * 1024
_PRIVATE_NAMES = ("localhost", ".localhost", ".localdomain", ".local", ".internal", ".lan", ".home.arpa")


def accepted(kind: str) -> str:
    return media.accepted_text(kind)


def check_url(option: str, url: object) -> None:
    """A public https URL, or BadInput saying why not. fal's runners fetch it, so anything that could reach a
    private network, in any spelling a resolver accepts, is refused here rather than sent."""
    if not isinstance(url, str):
        raise BadInput(option, "must be an https:// link to the file (text), not a number or anything else")
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise BadInput(option, f"is {len(url)} characters long; links up to {URL_MAX_LENGTH} characters are accepted")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        raise BadInput(option, "has spaces or control characters in it; give the link exactly as it is, https://…")
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
    except ValueError:
        raise BadInput(option, "is not a valid link; give an https:// link to the file") from None
    try:
        port = parsed.port
    except ValueError:
        raise BadInput(option, "has an invalid port (ports go from 1 to 65535); give a public https:// link") from None
    if parsed.scheme.lower() != "https" or not host:
        raise BadInput(option, "must be an https:// link to the file")
    if "@" in parsed.netloc:
        raise BadInput(option, "must not carry a user name or password; give a public https:// link")
    if port == 0:
        raise BadInput(option, "has an invalid port; give a public https:// link")
    host = host.lower().rstrip(".")
    address = _address(host)
    if address is not None:
        if not _public(address):
            raise BadInput(option, "must point at a public address, not a private, loopback, multicast or reserved one")
        return
    labels = host.split(".")
    if all(_NUMERIC.fullmatch(label) for label in labels if label):
        # 2130706433, 0177.1, 0x7f.0.0.1: resolvers read these as addresses; only the plain dotted form is taken.
        raise BadInput(option, "must point at a public host; write addresses in the usual dotted form")
    if host in _PRIVATE_NAMES or host.endswith(_PRIVATE_NAMES) or "." not in host or not all(labels):
        raise BadInput(option, "must point at a public host, not a local or private one")


_NUMERIC = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# Special-purpose blocks that Python's is_global still counts as global in some versions (IANA: not reachable
# or not a place media lives): the IETF protocol block, benchmarking, shared address space, documentation.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "198.18.0.0/15", "100.64.0.0/10", "2001:db8::/32", "100::/64", "64:ff9b:1::/48")
)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not _public(embedded):
            return False
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not address.is_link_local
        and not any(address in network for network in _NOT_PUBLIC if network.version == address.version)
    )


def check_declared(source: Source) -> None:
    """What Discord says about an attachment (type and size), or the URL's form; raises BadInput."""
    if not source.attachment:
        check_url(f"{source.name}_url", source.url)
        return
    try:
        media.check_declared(source.kind, source.content_type, source.size, name=source.filename or source.name)
    except media.Refused as exc:
        raise BadInput(source.name, str(exc)) from None


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
                        source.name, f"Discord no longer serves '{label}' (HTTP {response.status}); attach it again"
                    )
                async for chunk in response.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise BadInput(
                            source.name, f"'{label}' is over {limit // 1024**2} MB; {media.needed(source.kind)}"
                        )
                    file.write(chunk)
        except aiohttp.ClientError as exc:
            raise BadInput(
                source.name, f"could not download '{label}' from Discord ({exc.__class__.__name__}); try again"
            ) from exc
    return path


async def check_file(source: Source, path: Path) -> media.MediaInfo:
    """What the downloaded file really is (bot.media, in a worker thread), or BadInput saying why it is refused."""
    try:
        return await asyncio.to_thread(media.inspect, path, source.kind, name=source.filename or source.name)
    except media.Refused as exc:
        raise BadInput(source.name, str(exc)) from None


async def host(
    spec: JobSpec, sources: dict[str, Source], *, queue: FalQueue, session: aiohttp.ClientSession, mode: str
) -> JobSpec:
    """The spec with every input as a URL fal can read, after checking every input."""
    urls: dict[str, str] = {}
    audio_seconds = spec.audio_seconds
    directory = Path(tempfile.mkdtemp(prefix="lipsync-inputs-"))
    try:
        files: dict[str, Path] = {}
        for name, source in sources.items():
            check_declared(source)
            if source.attachment and mode == "fal":
                path = await _download(session, source, directory)
                info = await check_file(source, path)
                # Named for what it really is, so fal storage serves it with the right content type.
                (directory / name).mkdir()
                files[name] = path.rename(directory / name / media.upload_name(source.filename or name, info))
                if name == "audio":
                    audio_seconds = info.seconds
            else:
                urls[name] = source.url
                if name == "audio" and source.duration:
                    audio_seconds = source.duration
        checked = dataclasses.replace(spec, audio_seconds=audio_seconds)
        pipeline.check_audio_length(checked, audio_seconds)
        for name, path in files.items():
            urls[name] = await queue.upload_file(path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return checked.at({f"{name}_url": url for name, url in urls.items()})
