"""Links that members give: the one parser every entry point uses (slash commands, context menus, modals, the CLI).

`parse` raises nothing but BadInput naming the option. A host is judged in the form a client connects to: after
the IDNA / UTS 46 mapping that yarl (aiohttp) applies and the IDNA 2003 mapping that Python's resolver calls
apply, so '１２７．０．０．１' or 'ⓛocalhost' are judged as 127.0.0.1 and localhost, not as the strange names they
look like. The link handed on is the mapped one, so whoever fetches it connects to the host that was judged.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import idna
import yarl

from bot.errors import BadInput
from bot.i18n import Number, _

URL_MAX_LENGTH = 2083  # fal's schemas cap input URLs here
PRIVATE_NAMES = ("localhost", ".localhost", ".localdomain", ".local", ".internal", ".lan", ".home.arpa")
# Special-purpose blocks that Python's is_global still counts as global in some versions (IANA: not reachable
# or not a place media lives): the IETF protocol block, benchmarking, shared address space, documentation.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "198.18.0.0/15", "100.64.0.0/10", "2001:db8::/32", "100::/64", "64:ff9b:1::/48")
)
_NUMERIC = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # what resolvers take (hyphens anywhere, as real hosts have)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Link:
    """A checked link: `url` is what a client should fetch (its host mapped to ASCII), `host` the host judged."""

    url: str
    host: str
    port: int
    address: Address | None  # when the host is written as an address
    private: bool = False  # a host the operator allows on a private network (PRIVATE_LINK_HOSTS)

    @property
    def name(self) -> str:
        return file_name(self.url)


def file_name(url: str) -> str:
    """The file name a link's path ends in ('' when it names none): 'https://x.org/a/my%20voice.mp3' → 'my voice.mp3'."""
    try:
        return unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    except ValueError:
        return ""


def public(address: Address) -> bool:
    """An address on the public internet: not private, loopback, link-local, multicast, reserved or special."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not public(embedded):
            return False
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not address.is_link_local
        and not any(address in network for network in _NOT_PUBLIC if network.version == address.version)
    )


def host_key(host: str) -> str:
    """A host as PRIVATE_LINK_HOSTS and the parser compare it: mapped to ASCII, lower case, no trailing dot."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    spellings = _mapped(host)
    return spellings[0] if spellings else host


def parse(option: str, text: object, *, private_hosts: frozenset[str] = frozenset()) -> Link:
    """A public https link, or BadInput saying why not. Hosts named in `private_hosts` (host_key form) may be
    private: the operator's own media servers."""
    try:
        return _parse(option, text, private_hosts)
    except BadInput:
        raise
    except Exception:  # whatever a library finds wrong in a string no parser was written for
        raise BadInput(option, _("is not a valid link; give an https:// link to the file")) from None


def _parse(option: str, text: object, private_hosts: frozenset[str]) -> Link:
    if not isinstance(text, str):
        raise BadInput(option, _("must be an https:// link to the file (text), not a number or anything else"))
    url = text.strip()
    if len(url) > URL_MAX_LENGTH:
        raise BadInput(
            option,
            _(
                "is {length} characters long; links up to {most} characters are accepted",
                length=Number(len(url)),
                most=Number(URL_MAX_LENGTH),
            ),
        )
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        raise BadInput(option, _("has spaces or control characters in it; give the link exactly as it is, https://…"))
    if "\\" in url:
        raise BadInput(option, _("has a backslash in it; give the link exactly as it is, https://…"))
    try:
        parts = urlsplit(url)
        written = parts.hostname
        port = parts.port
    except ValueError as exc:
        problem = (
            _("has an invalid port (ports go from 1 to 65535); give a public https:// link to the file")
            if "port" in str(exc).lower()
            else _("has an invalid host; give a public https:// link to the file")
        )
        raise BadInput(option, problem) from None
    if parts.scheme.lower() != "https" or not written:
        raise BadInput(option, _("must be an https:// link to the file"))
    if "@" in parts.netloc:
        raise BadInput(option, _("must not carry a user name or password; give a public https:// link"))
    if port == 0:
        raise BadInput(option, _("has an invalid port; give a public https:// link"))
    host, address = _judge(option, written, private_hosts)
    if ("[" in parts.netloc) != (address is not None and address.version == 6):
        raise BadInput(option, _("has an invalid host; only IPv6 addresses go in [brackets]"))
    private = host in private_hosts
    shown = f"[{host}]" if address is not None and address.version == 6 else host
    netloc = shown if port is None else f"{shown}:{port}"
    checked = urlunsplit(("https", netloc, parts.path, parts.query, ""))
    # What aiohttp (yarl) would connect to must be the host just judged.
    seen = yarl.URL(checked).raw_host
    if seen is None or seen.lower().rstrip(".") != host:
        raise BadInput(option, _("has a host that clients read in different ways; give a public https:// link"))
    return Link(checked, host, port or 443, address, private)


def _judge(option: str, written: str, private_hosts: frozenset[str]) -> tuple[str, Address | None]:
    """The host as clients connect to it, after checking it is public (or one the operator allows)."""
    written = written.lower()
    try:
        address: Address | None = ipaddress.ip_address(written)
    except ValueError:
        address = None
    if address is not None:
        host = str(address)
        if host not in private_hosts and not public(address):
            raise BadInput(
                option, _("must point at a public address, not a private, loopback, multicast or reserved one")
            )
        return host, address
    if "%" in written:
        raise BadInput(option, _("has a percent sign in its host; give the link exactly as it is, https://…"))
    spellings = [written] if written.isascii() else _mapped(written)
    if not spellings:
        raise BadInput(option, _("has a host name that is not valid; give a public https:// link to the file"))
    for spelling in spellings:
        _judge_name(option, spelling.rstrip("."), private_hosts)
    host = spellings[0].rstrip(".")
    try:
        return host, ipaddress.ip_address(host)  # '８.８.８.８' is 8.8.8.8 once mapped
    except ValueError:
        return host, None


def _mapped(host: str) -> list[str]:
    """The ASCII forms a non-ASCII host takes: UTS 46 (what yarl sends) first, then IDNA 2003 (what Python's
    resolver calls apply), when each accepts it."""
    forms: list[str] = []
    try:
        forms.append(idna.encode(host, uts46=True).decode("ascii").lower())
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        forms.append(host.encode("idna").decode("ascii").lower())
    except (UnicodeError, ValueError):
        pass
    return list(dict.fromkeys(forms))


def _judge_name(option: str, host: str, private_hosts: frozenset[str]) -> None:
    if host in private_hosts:
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if not public(address):
            raise BadInput(
                option, _("must point at a public address, not a private, loopback, multicast or reserved one")
            )
        return
    if not _NAME.fullmatch(host):
        raise BadInput(option, _("has a host name that is not valid; give a public https:// link to the file"))
    labels = host.split(".")
    if _NUMERIC.fullmatch(labels[-1]):
        # 2130706433, 0177.1, 0x7f.0.0.1: resolvers read these as addresses, and URL parsers read any host that
        # ends in a number as one; only the plain dotted form is taken.
        raise BadInput(option, _("must point at a public host; write addresses in the usual dotted form"))
    if host in PRIVATE_NAMES or host.endswith(PRIVATE_NAMES) or "." not in host:
        raise BadInput(option, _("must point at a public host, not a local or private one"))


def valid_host(host: str) -> bool:
    """A host name or address in host_key form."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_NAME.fullmatch(host))
