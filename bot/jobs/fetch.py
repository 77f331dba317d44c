"""Fetching a member's link into a file, as carefully as an attachment is downloaded, and more.

The bot connects only to addresses it resolved and checked itself: a resolver that refuses a host name when any
of its addresses is not public, handed to aiohttp, which then connects to exactly the addresses it returned (so
a name that resolves to a private address, or that a DNS server rebinds between a check and a connect, gets
nowhere). Redirects are followed by hand, at most MAX_REDIRECTS, each hop parsed and judged again. The body is
streamed into a file and never read past the input's size cap, within FETCH_SECONDS. Every failure is a BadInput
naming the option and the cause.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot import links, media
from bot.errors import BadInput
from bot.i18n import Number, Text, _

MAX_REDIRECTS = 3
FETCH_SECONDS = 120.0  # the whole fetch, every hop and the body; as long as an attachment may take
CONNECT_SECONDS = 10.0
CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
WEB_PAGES = ("text/html", "application/xhtml+xml")
USER_AGENT = "lipsync-bot (fetching a file a member linked)"


class PrivateAddress(BadInput):
    """A host name that resolves to an address the bot does not fetch from."""


class CheckedResolver(AbstractResolver):
    """Resolves with `inner` (the system's resolver by default) and refuses a name when any address it resolves
    to is not public, unless the operator named the host in PRIVATE_LINK_HOSTS."""

    def __init__(self, option: str, private_hosts: frozenset[str], inner: AbstractResolver | None = None) -> None:
        self.option = option
        self.private_hosts = private_hosts
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if links.host_key(host) in self.private_hosts:
            return found
        for entry in found:
            address = ipaddress.ip_address(entry["host"].split("%", 1)[0])
            if not links.public(address):
                raise PrivateAddress(
                    self.option,
                    _(
                        "leads to {host}, which resolves to a private address ({address}); "
                        "the bot fetches links only from public addresses",
                        host=host,
                        address=str(address),
                    ),
                )
        return found

    async def close(self) -> None:
        await self.inner.close()


def guarded_session(
    option: str = "link", private_hosts: frozenset[str] = frozenset(), resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A session for members' links: it connects only to checked addresses, through no proxy. (Addresses written
    in a link skip any resolver: links.parse judges those.)"""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(option, private_hosts, resolver),
        use_dns_cache=False,
        limit=8,
        ssl=ssl.create_default_context(),  # the trust store as it is now (SSL_CERT_FILE), not at import
    )
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_SECONDS, sock_read=CONNECT_SECONDS * 3)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*, audio/*, video/*, */*;q=0.5"}
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers, trust_env=False)


@dataclass(frozen=True)
class Fetched:
    path: Path
    name: str  # the file name the last hop's path ends in, for messages and the upload's name
    content_type: str | None


async def fetch(
    option: str,
    kind: str,
    link: links.Link,
    directory: Path,
    *,
    private_hosts: frozenset[str] = frozenset(),
    resolver: AbstractResolver | None = None,
    seconds: float = FETCH_SECONDS,
) -> Fetched:
    """The linked file in `directory`, or BadInput naming `option` and why it could not be fetched."""
    async with guarded_session(option, private_hosts, resolver) as session:
        try:
            async with asyncio.timeout(seconds):
                return await _fetch(session, option, kind, link, directory, private_hosts)
        except TimeoutError:
            raise BadInput(
                option,
                _("could not be fetched within {seconds} s; {advice}", seconds=Number(seconds, 0), advice=_give(kind)),
            ) from None
        except PrivateAddress:
            raise
        except aiohttp.ClientConnectorDNSError:
            raise BadInput(
                option, _("could not be fetched: its host name does not resolve; {advice}", advice=_give(kind))
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise BadInput(
                option,
                _("could not be fetched: its server's https certificate is not valid; {advice}", advice=_give(kind)),
            ) from None
        except aiohttp.ClientConnectorError as exc:
            why = exc.os_error.strerror or exc.os_error.__class__.__name__
            # Translators: {why} is the system's reason, in English (e.g. "connection refused")
            problem = _("could not be fetched: {why}; {advice}", why=why.lower(), advice=_give(kind))
            raise BadInput(option, problem) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise BadInput(
                option,
                _(
                    "could not be fetched: the download broke off ({error}); {advice}",
                    error=exc.__class__.__name__,
                    advice=_give(kind),
                ),
            ) from None


def _give(kind: str) -> Text:
    return _("give a link that serves {what}, or attach it", what=media.A_KIND_TEXT[kind])


async def _fetch(
    session: aiohttp.ClientSession,
    option: str,
    kind: str,
    link: links.Link,
    directory: Path,
    private_hosts: frozenset[str],
) -> Fetched:
    limit = media.MAX_BYTES[kind]
    for _hop_number in range(MAX_REDIRECTS + 1):
        async with session.get(link.url, allow_redirects=False) as response:
            if response.status in REDIRECTS:
                target = response.headers.get("Location")
                if not target:
                    raise BadInput(
                        option, _("redirects nowhere (HTTP {status} with no Location)", status=response.status)
                    )
                link = _hop(option, urljoin(link.url, target), private_hosts)
                continue
            if response.status != 200:
                reason = f" {response.reason}" if response.reason else ""
                raise BadInput(
                    option,
                    _(
                        "could not be fetched: the server answered HTTP {status}{reason}",
                        status=response.status,
                        reason=reason,
                    ),
                )
            declared = media.declared_type(response.headers.get("Content-Type"))
            if declared in WEB_PAGES:
                raise BadInput(
                    option,
                    _(
                        "is a web page ({content_type}), not {what}; link the file itself "
                        "(a link that ends in the file, often from the page's download button), {needed}",
                        content_type=declared,
                        what=media.A_KIND_TEXT[kind],
                        needed=media.needed_message(kind),
                    ),
                )
            length = response.content_length
            if length is not None and length > limit:
                raise BadInput(
                    option,
                    _(
                        "is {megabytes} MB; {needed}",
                        megabytes=media.Megabytes(length),
                        needed=media.needed_message(kind),
                    ),
                )
            name = link.name
            path = await _save(response, option, kind, directory, limit)
            return Fetched(path, name, declared)
    raise BadInput(option, _("redirects more than {count} times; link the file itself", count=MAX_REDIRECTS))


def _hop(option: str, url: str, private_hosts: frozenset[str]) -> links.Link:
    try:
        return links.parse(option, url, private_hosts=private_hosts)
    except BadInput as exc:
        raise BadInput(option, _("redirects to a link that is refused: it {reason}", reason=exc.message)) from None


async def _save(response: Any, option: str, kind: str, directory: Path, limit: int) -> Path:
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f"{option}-", delete=False) as file:
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                raise BadInput(
                    option,
                    _(
                        "is over {megabytes} MB; {needed}",
                        megabytes=Number(limit // 1024**2),
                        needed=media.needed_message(kind),
                    ),
                )
            file.write(chunk)
    return Path(file.name)
