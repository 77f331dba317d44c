"""Hypothesis strategies for what a confused member or an attacker gives the bot: links that are not public
https links in every spelling, text with nothing to speak, option values of the wrong type."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

GOOD = "https://cdn.example.com/media/face.png"

# Networks fal's runners must never be pointed at, in IPv4 and IPv6.
PRIVATE_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
PRIVATE_V6 = ["::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "::/128"]
PRIVATE_NAMES = [
    "localhost",
    "localhost.localdomain",
    "printer.local",
    "db.internal",
    "router.lan",
    "intranet",
    "metadata.google.internal",
    "x.home.arpa",
]


def _address_in(networks: list[str]) -> st.SearchStrategy:
    def pick(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy:
        first, size = int(network.network_address), network.num_addresses
        kind = type(network.network_address)
        return st.integers(0, size - 1).map(lambda offset: kind(first + offset))

    return st.sampled_from([ipaddress.ip_network(n) for n in networks]).flatmap(pick)


def _spellings(address: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """The ways a resolver or URL parser reads as this IPv4 address."""
    octets = [int(o) for o in str(address).split(".")]
    number = int(address)
    return st.sampled_from(
        [
            str(address),
            str(address) + ".",  # trailing dot
            str(number),  # decimal
            hex(number),  # hexadecimal
            ".".join(f"0{o:o}" for o in octets),  # octal
            ".".join(hex(o) for o in octets),  # dotted hex
            f"{octets[0]}.{(octets[1] << 16) + (octets[2] << 8) + octets[3]}",  # a.bcd
            f"{octets[0]}.{octets[1]}.{(octets[2] << 8) + octets[3]}",  # a.b.cd
            f"[::ffff:{address}]",  # IPv4-mapped IPv6
            f"[::ffff:{number >> 16:x}:{number & 0xFFFF:x}]",
            f"[2002:{number >> 16:x}:{number & 0xFFFF:x}::1]",  # 6to4
        ]
    )


def private_hosts() -> st.SearchStrategy[str]:
    v4 = _address_in(PRIVATE_V4).flatmap(_spellings)
    v6 = _address_in(PRIVATE_V6).map(lambda a: f"[{a}]")
    names = st.sampled_from(PRIVATE_NAMES).flatmap(lambda n: st.sampled_from([n, n + ".", n.upper()]))
    return st.one_of(v4, v6, names)


def private_urls() -> st.SearchStrategy[str]:
    port = st.sampled_from(["", ":443", ":8080"])
    path = st.sampled_from(["/face.png", "/", "/a/b.mp3?x=1", ""])
    return st.builds(lambda h, p, q: f"https://{h}{p}{q}", private_hosts(), port, path)


def _insert(url: str, junk: str, at: int) -> str:
    at = 8 + at % (len(url) - 8)
    return url[:at] + junk + url[at:]


def malformed_urls() -> st.SearchStrategy[str]:
    junk = st.sampled_from([" ", "\r\n", "\n", "\t", "\x00", "\x7f", "\u200b", "\u202e", "\x0b"])
    broken = st.builds(_insert, st.just(GOOD), junk, st.integers(0, 100))
    ports = st.one_of(st.integers(65536, 10**6), st.just(0)).map(lambda p: f"https://cdn.example.com:{p}/face.png")
    fixed = st.sampled_from(
        [
            "https://cdn.example.com:abc/face.png",
            "https://[::1/face.png",
            "https://[not-an-ip]/face.png",
            "https://[::1]]/x",
            "https://user:pass@cdn.example.com/face.png",
            "https://127.0.0.1@cdn.example.com/x.png",
            "https://cdn.example.com@127.0.0.1/x.png",
            "https://:pw@cdn.example.com/x",
            "https://",
            "https:///face.png",
            "https://cdn..example.com/x.png",
            "https://.example.com/x.png",
        ]
    )
    schemes = st.sampled_from(["http", "ftp", "file", "javascript", "data", "gopher", "ws", "HTTP"]).map(
        lambda s: f"{s}://cdn.example.com/face.png"
    )
    other = st.sampled_from(
        [
            "cdn.example.com/face.png",
            "face.png",
            "//cdn.example.com/x.png",
            "data:image/png;base64,AAAA",
            "file:///etc/passwd",
            "https:/cdn.example.com/x",
        ]
    )
    return st.one_of(broken, ports, fixed, schemes, other)


def bad_urls() -> st.SearchStrategy[str]:
    return st.one_of(private_urls(), malformed_urls())


def unspeakable_texts() -> st.SearchStrategy[str]:
    """Text with nothing a voice can say, or with mentions a voice would read out as numbers."""
    blank = st.text(st.sampled_from(" \t\n\u00a0\u2003\u3000"), min_size=1, max_size=30)
    invisible = st.text(st.sampled_from("\u200b\u200c\u200d\u2060\ufeff\u00ad"), min_size=1, max_size=30)
    emoji = st.text(st.sampled_from("😀🎉👍🔥❤️🙂🤖✨⭐\ufe0f\u200d"), min_size=1, max_size=20)
    marks = st.text(st.sampled_from("*_~`|>#-.!?,;:()[]{}<>/\\ "), min_size=1, max_size=40)
    custom = st.integers(10**17, 10**18).map(lambda i: f"<:party:{i}> <a:wave:{i}>")
    mention = st.builds(
        lambda words, m: f"{words} {m} {words}",
        st.sampled_from(["hello", "**hey** __you__", "hi"]),
        st.integers(10**17, 10**18).flatmap(lambda i: st.sampled_from([f"<@{i}>", f"<@!{i}>", f"<@&{i}>", f"<#{i}>"])),
    )
    return st.one_of(blank, invisible, emoji, marks, custom, mention)
