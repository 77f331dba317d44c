"""The one link parser (bot/links.py), against hosts spelled in Unicode: whatever it accepts, no client or resolver
reads as a non-public address. The oracle is independent of bot.links: the idna package's encodings, Python's
IDNA 2003 codec and the system resolver's reading of numeric hosts (getaddrinfo with AI_NUMERICHOST), each
judged with ipaddress; and the hosts that yarl (aiohttp) and httpx (fal_client) would connect to."""

from __future__ import annotations

import ipaddress
import socket
import unicodedata

import httpx
import idna
import pytest
import yarl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import links
from bot.errors import BadInput

MANY = settings(max_examples=2500, deadline=None)


# Characters that IDNA / NFKC map to ASCII digits, dots and letters: what an attacker spells a host with.
def _maps_to(c: str, candidates: list[str]) -> list[str]:
    return [v for v in candidates if unicodedata.normalize("NFKC", v).lower() == c]


DIGITS = {
    str(d): _maps_to(
        str(d),
        [str(d), chr(0xFF10 + d), chr(0x1D7CE + d), chr(0x1D7EC + d), chr(0x2080 + d), chr(0x2070 + d), *"¹²³"]
        + ([chr(0x2460 + d - 1)] if d else ["⓪"]),
    )
    for d in range(10)
}
DOTS = [".", "。", "．", "｡"]
LETTERS = {
    c: _maps_to(c, [c, c.upper(), chr(0xFF41 + ord(c) - 97), chr(0x24D0 + ord(c) - 97), chr(0x1D41A + ord(c) - 97)])
    for c in "abcdefghijklmnopqrstuvwxyz"
}
LOOKALIKE_TARGETS = [
    "127.0.0.1",
    "10.0.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "100.64.0.1",
    "localhost",
    "metadata.google.internal",
    "printer.local",
    "x.localhost",
]


def _respell(target: str) -> st.SearchStrategy[str]:
    """`target` with each character replaced by one that maps back to it."""

    def variants(c: str) -> list[str]:
        if c in DIGITS:
            return DIGITS[c]
        if c == ".":
            return DOTS
        if c in LETTERS:
            return LETTERS[c]
        return [c]

    return st.tuples(*(st.sampled_from(variants(c)) for c in target)).map("".join)


def lookalike_hosts() -> st.SearchStrategy[str]:
    trailing = st.sampled_from(["", ".", "。"])
    return st.builds(lambda h, t: h + t, st.sampled_from(LOOKALIKE_TARGETS).flatmap(_respell), trailing)


def any_hosts() -> st.SearchStrategy[str]:
    alphabet = st.sampled_from(
        [*"0123456789abcx.-_", *DOTS, *[v for vs in DIGITS.values() for v in vs], "ß", "ς", "ü", "İ", "ﬁ", "℡", "㍱"]
    )
    return st.text(alphabet, min_size=1, max_size=20)


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_link_local


def oracle_reaches_private(host: str) -> str | None:
    """What non-public place a client or resolver could read `host` as, by means that share no code with bot.links;
    None when there is none."""
    forms: set[str] = set()
    for encode in (
        lambda h: idna.encode(h, uts46=True).decode("ascii"),
        lambda h: h.encode("idna").decode("ascii"),
        lambda h: h if h.isascii() else "",
    ):
        try:
            forms.add(encode(host).lower().rstrip("."))
        except (UnicodeError, idna.IDNAError, ValueError):
            pass
    for form in filter(None, forms):
        try:
            address = ipaddress.ip_address(form)
        except ValueError:
            try:  # the resolver's own reading of a numeric host: 127.1, 0x7f.1, 2130706433 ...
                found = socket.getaddrinfo(form, 443, flags=socket.AI_NUMERICHOST)
                address = ipaddress.ip_address(found[0][4][0])
            except (OSError, UnicodeError, ValueError):
                address = None
        if address is not None and _not_public(address):
            return f"{form} is {address}"
        if form == "localhost" or form.endswith((".localhost", ".local", ".internal")):
            return f"{form} is a local name"
    return None


def _accepted(host: str) -> links.Link | None:
    try:
        return links.parse("image_url", f"https://{host}/face.png")
    except BadInput as exc:
        assert exc.field == "image_url"
        return None


@MANY
@given(host=lookalike_hosts())
@example("１２７．０．０．１")
@example("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ")
@example("①②⑦。⓪。⓪。①")
def test_no_spelling_of_a_private_host_is_accepted(host):
    assert oracle_reaches_private(host) is not None, host  # the strategy makes only such hosts
    assert _accepted(host) is None, f"{host!r} was accepted"


@MANY
@given(host=any_hosts())
def test_whatever_is_accepted_reaches_only_public_places(host):
    link = _accepted(host)
    if link is None:
        return
    assert oracle_reaches_private(host) is None, (host, link)
    assert oracle_reaches_private(link.host) is None, (host, link)
    # The host aiohttp connects to for the link handed on is the one judged, and httpx (fal's client) agrees.
    assert yarl.URL(link.url).raw_host.rstrip(".") == link.host
    assert httpx.URL(link.url).raw_host.decode("ascii").rstrip(".") == link.host


@pytest.mark.parametrize(
    "given_url,handed_on",
    [
        ("https://faß.de/a.png", "https://xn--fa-hia.de/a.png"),
        ("https://ＥＸＡＭＰＬＥ．com/a.png", "https://example.com/a.png"),
        ("https://８.８.８.８/a.mp3", "https://8.8.8.8/a.mp3"),
        ("https://Example.COM.:8443/v/a.mp4?x=1#t=3", "https://example.com:8443/v/a.mp4?x=1"),
        ("https://[2001:4860:4860::8888]/a.png", "https://[2001:4860:4860::8888]/a.png"),
    ],
)
def test_the_link_handed_on_is_the_mapped_one(given_url, handed_on):
    assert links.parse("image_url", given_url).url == handed_on


@pytest.mark.parametrize(
    "url,says",
    [
        ("https://[not-an-ip]/face.png", "invalid host"),
        ("https://[::1/face.png", "invalid host"),
        ("https://[v1.x]/face.png", "invalid host"),
        ("https://a%2eb.com/x", "percent sign"),
        ("https://cdn.example.com\\@127.0.0.1/x", "backslash"),
        ("https://ex／ample.com/x", "invalid host"),
        ("https://exa\u00admple.com/x", "control characters"),
        ("https://xn--/x", "not a local or private one"),
        ("https://a+b.com/x", "not valid"),
        ("https://a..b.com/x", "not valid"),
        ("https://ⓛocalhost/x", "local or private"),
        ("https://１２７。0.0.1/x", "public address"),
    ],
)
def test_hostile_spellings_are_refused_naming_the_option(url, says):
    with pytest.raises(BadInput, match=says) as caught:
        links.parse("audio_url", url)
    assert caught.value.field == "audio_url"


@settings(max_examples=1500, deadline=None)
@given(text=st.text(max_size=60).map(lambda t: "https://" + t))
def test_the_parser_raises_nothing_but_the_refusal(text):
    try:
        links.parse("video_url", text)
    except BadInput as exc:
        assert exc.field == "video_url" and str(exc)


def test_private_hosts_the_operator_names_are_allowed_and_only_those():
    allowed = frozenset({"127.0.0.1", "media.lan"})
    assert links.parse("image_url", "https://127.0.0.1:8443/a.png", private_hosts=allowed).private
    assert links.parse("image_url", "https://MEDIA.lan./a.png", private_hosts=allowed).private
    with pytest.raises(BadInput, match="public"):
        links.parse("image_url", "https://127.0.0.2/a.png", private_hosts=allowed)
    with pytest.raises(BadInput, match="public"):
        links.parse("image_url", "https://other.lan/a.png", private_hosts=allowed)


@pytest.mark.parametrize(
    "written,key",
    [("Media.LAN.", "media.lan"), ("[::1]", "::1"), ("１２７．０．０．１", "127.0.0.1"), ("faß.de", "xn--fa-hia.de")],
)
def test_private_hosts_are_compared_in_the_form_links_are_judged_in(written, key):
    assert links.host_key(written) == key
