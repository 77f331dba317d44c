"""Fetching members' links (bot/jobs/fetch.py, through inputs.host): the real aiohttp against a real web server on
127.0.0.1 (tests/standins/link_host.py). Names that resolve to private addresses are made with a resolver that
answers as a poisoned DNS server would; the proof that nothing was fetched is the server's connection count."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot import links
from bot.errors import BadInput
from bot.jobs import cost, fetch, inputs
from bot.jobs.spec import Command, JobSpec, Source
from tests.helpers import FIXTURES

LOCAL = frozenset({"127.0.0.1"})


class PoisonedDNS(AbstractResolver):
    """Answers every name with 127.0.0.1 (a public-looking name whose DNS points inside), and counts lookups."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        pass


@pytest.fixture
def host_env(fal_env, link_host):
    return link_host


async def _fetch(link_host, url: str, tmp_path: Path, *, kind="audio", private=LOCAL, resolver=None, seconds=20.0):
    link = links.parse("audio_url", url, private_hosts=private)
    return await fetch.fetch(
        "audio_url", kind, link, tmp_path, private_hosts=private, resolver=resolver, seconds=seconds
    )


async def test_a_linked_file_is_fetched_whole(host_env, tmp_path):
    fetched = await _fetch(host_env, host_env.url("files/speech.mp3"), tmp_path)
    assert fetched.path.read_bytes() == (FIXTURES / "speech.mp3").read_bytes()
    assert fetched.name == "speech.mp3" and fetched.content_type == "audio/mpeg"


async def test_a_name_that_resolves_to_a_private_address_is_refused_without_a_connection(host_env, tmp_path):
    dns = PoisonedDNS()
    url = f"https://media.example.net:{host_env.port}/files/speech.mp3"
    with pytest.raises(BadInput, match=r"resolves to a private address \(127.0.0.1\)") as caught:
        await _fetch(host_env, url, tmp_path, resolver=dns)
    assert caught.value.field == "audio_url"
    assert dns.asked == ["media.example.net"] and host_env.connections == 0 and host_env.requests == []


async def test_a_redirect_to_a_private_address_is_refused(host_env, tmp_path):
    # The first hop is a host the operator allows; it sends the bot on to addresses nobody allowed.
    dns = PoisonedDNS()
    allowed = frozenset({"media.example.net"})
    start = f"https://media.example.net:{host_env.port}/to?url="
    for target in (f"https://127.0.0.1:{host_env.port}/files/speech.mp3", "https://10.1.2.3/a.mp3"):
        with pytest.raises(BadInput, match="redirects to a link that is refused: it must point at a public address"):
            await _fetch(host_env, start + target, tmp_path, private=allowed, resolver=dns)
    # ... and to a name whose DNS points inside: refused at resolution, never connected to.
    with pytest.raises(BadInput, match="rebind.example.net, which resolves to a private address"):
        await _fetch(
            host_env,
            start + f"https://rebind.example.net:{host_env.port}/files/speech.mp3",
            tmp_path,
            private=allowed,
            resolver=dns,
        )
    assert len(host_env.requests) == 3 and all(r.startswith("/to?") for r in host_env.requests)


async def test_at_most_three_redirects_are_followed(host_env, tmp_path):
    fetched = await _fetch(host_env, host_env.url("hops/3/speech.mp3"), tmp_path)
    assert fetched.path.read_bytes() == (FIXTURES / "speech.mp3").read_bytes()
    with pytest.raises(BadInput, match="redirects more than 3 times"):
        await _fetch(host_env, host_env.url("hops/4/speech.mp3"), tmp_path)


@pytest.mark.parametrize(
    "path,says",
    [
        ("status/404", "the server answered HTTP 404 Not Found"),
        ("status/403", "the server answered HTTP 403 Forbidden"),
        ("page", r"is a web page \(text/html\), not an audio file; link the file itself"),
        ("huge", r"is 10240.0 MB; an audio file is needed"),
        ("endless", "is over 50 MB; an audio file is needed"),
    ],
)
async def test_a_link_that_cannot_be_fetched_is_refused_naming_the_cause(host_env, tmp_path, path, says):
    with pytest.raises(BadInput, match=says) as caught:
        await _fetch(host_env, host_env.url(path), tmp_path)
    assert caught.value.field == "audio_url"


async def test_a_slow_server_runs_into_the_time_limit(host_env, tmp_path):
    with pytest.raises(BadInput, match="could not be fetched within 1 s"):
        await _fetch(host_env, host_env.url("slow"), tmp_path, seconds=1.0)


async def test_unreachable_and_unverifiable_servers_are_refused(host_env, tmp_path, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(BadInput, match="could not be fetched: connect call failed|could not be fetched: connection"):
        await _fetch(host_env, f"https://127.0.0.1:{port}/a.mp3", tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE")  # the link host's certificate is then from an unknown CA
    with pytest.raises(BadInput, match="https certificate is not valid"):
        await _fetch(host_env, host_env.url("files/speech.mp3"), tmp_path)


async def test_linked_audio_is_checked_measured_and_uploaded_like_an_attachment(host_env, fal_env, queue):
    hosting = inputs.Hosting("fal", LOCAL)
    sources = {
        "image": Source("image", host_env.url("files/portrait.png"), False, "portrait.png"),
        "audio": Source("audio", host_env.url("files/speech.mp3?type="), False, "speech.mp3"),  # declares nothing
    }
    spec = JobSpec(Command.TALKINGHEAD, image_url=sources["image"].url, audio_url=sources["audio"].url)
    assert cost.estimate(spec) is None  # the length is unknown until the file is looked at
    async with aiohttp.ClientSession() as session:
        hosted = await inputs.host(spec, sources, queue=queue, session=session, hosting=hosting)
    assert fal_env.uploads[hosted.audio_url] == (FIXTURES / "speech.mp3").read_bytes()
    assert hosted.image_url.endswith("/portrait.png") and hosted.audio_url.endswith("/speech.mp3")
    assert hosted.audio_seconds == pytest.approx(5.3, abs=0.05)
    assert cost.estimate(hosted) == pytest.approx(5.303 * 0.08, abs=0.01)


async def test_a_linked_file_that_is_not_what_it_says_is_refused_naming_the_option(host_env, fal_env, queue):
    hosting = inputs.Hosting("fal", LOCAL)
    sources = {"audio": Source("audio", host_env.url("files/portrait.png?type=audio/mpeg"), False, "portrait.png")}
    spec = JobSpec(Command.LIPSYNC, video_url="https://cdn.example.com/v.mp4", audio_url=sources["audio"].url)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(BadInput, match="'portrait.png' is a PNG image; an audio file is needed") as caught:
            await inputs.host(spec, sources, queue=queue, session=session, hosting=hosting)
    assert caught.value.field == "audio_url" and fal_env.uploads == {}


async def test_passthrough_hands_links_on_unfetched_in_their_checked_form(host_env, queue):
    sources = {"image": Source("image", "https://ＣＤＮ.example.com/face.png", False, "face.png")}
    spec = JobSpec(Command.ANIMATE, image_url=sources["image"].url, video_url="https://cdn.example.com/v.mp4")
    async with aiohttp.ClientSession() as session:
        hosted = await inputs.host(spec, sources, queue=queue, session=session, hosting=inputs.Hosting("passthrough"))
    assert hosted.image_url == "https://cdn.example.com/face.png" and host_env.requests == []
    with pytest.raises(BadInput, match="public"):  # PRIVATE_LINK_HOSTS is for the bot's own fetches only
        inputs.Hosting("passthrough", LOCAL).link("image_url", host_env.url("files/portrait.png"))


async def test_recent_inputs_check_a_members_own_link_as_the_fetch_does(host_env, fal_env):
    from bot.jobs.recent import RecentInputs, _members_link

    typed = Source("image", host_env.url("files/portrait.png"), False, "portrait.png")
    assert _members_link(typed, typed.url) and not _members_link(typed, "https://v3.fal.media/files/x/portrait.png")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context())) as session:
        recent = RecentInputs(store=None, session=session)  # type: ignore[arg-type]
        async with fetch.guarded_session() as guarded:
            assert not await recent._resolves(guarded, typed.url, members=True)  # 127.0.0.1: never asked
        assert host_env.connections == 0
        assert await recent._resolves(session, host_env.url("hops/1/portrait.png"), members=False)  # the bot's copy
