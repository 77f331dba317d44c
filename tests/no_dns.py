"""No test may depend on the network: once `install()` runs, a name other than the machine's own is never looked
up, so a test that lets the bot fetch a link to cdn.example.com fails at once ("does not resolve") instead of
asking a DNS server. Numeric hosts (and AI_NUMERICHOST lookups) still resolve: they never leave the machine."""

from __future__ import annotations

import ipaddress
import socket

_lookup = socket.getaddrinfo


def _local_only(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name != "localhost" and not flags & socket.AI_NUMERICHOST:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"no DNS in the tests: {name}") from None
    return _lookup(host, port, family, type, proto, flags)


def install() -> None:
    socket.getaddrinfo = _local_only
