"""A web server on 127.0.0.1 that members' links point at: real media files, web pages, errors, redirects, slow
and oversized answers, over TLS with a certificate from the CA the bot process trusts (the fal stand-in's).

    /files/<fixture>                  the fixture's bytes, with the content type its name implies
    /files/<fixture>?type=<t>         ... declared as <t> ("" declares none)
    /as/<fixture>/<name>              the fixture's bytes under another name (face-3.png)
    /hops/<n>/<fixture>               n redirects (302), then the file
    /to?url=<url>                     one redirect to <url>
    /page                             an HTML page
    /status/<code>                    that status, no body
    /endless                          a body that never stops (no Content-Length)
    /huge                             declares 10 GB
    /slow                             headers, then nothing for a minute

Its certificate also names *.example.net, for names a test resolver points at 127.0.0.1.

Every connection and request is recorded: a test proves a fetch never connected by the count staying at zero.
"""

from __future__ import annotations

import asyncio
import mimetypes
import ssl
from pathlib import Path

import trustme
from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class LinkHost:
    def __init__(self, ca: trustme.CA) -> None:
        self.ca = ca
        self.connections = 0
        self.requests: list[str] = []
        self.base_url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/as/{name}/{alias}", self._file)
        app.router.add_get("/hops/{n}/{name}", self._hops)
        app.router.add_get("/to", self._to)
        app.router.add_get("/page", self._page)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/slow", self._slow)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        server = self._runner.server
        made = server.connection_made

        def connection_made(handler, transport):  # type: ignore[no-untyped-def]
            self.connections += 1
            made(handler, transport)

        server.connection_made = connection_made  # type: ignore[method-assign]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost", "*.example.net").configure_cert(ctx)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"https://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> LinkHost:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _seen(self, request: web.Request) -> None:
        self.requests.append(request.path_qs)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        name = request.match_info["name"]
        path = FIXTURES / name
        if not path.is_file() or path.parent != FIXTURES:
            raise web.HTTPNotFound()
        shown = request.match_info.get("alias", name)
        declared = request.query.get("type", mimetypes.guess_type(shown)[0] or "application/octet-stream")
        response = web.Response(body=path.read_bytes())
        if declared:
            response.headers["Content-Type"] = declared
        else:
            response.headers.popall("Content-Type", None)
        return response

    async def _hops(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        n, name = int(request.match_info["n"]), request.match_info["name"]
        target = f"/hops/{n - 1}/{name}" if n > 1 else f"/files/{name}"
        raise web.HTTPFound(target)

    async def _to(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        raise web.HTTPFound(request.query["url"])

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        return web.Response(text="<!doctype html><title>My voice</title><audio src=a.mp3>", content_type="text/html")

    async def _status(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        return web.Response(status=int(request.match_info["code"]))

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await response.prepare(request)
        chunk = b"\xff\xfb" + bytes(1024 * 1024 - 2)
        try:
            while True:
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4", "Content-Length": str(10 * 1024**3)})
        await response.prepare(request)
        await response.write(bytes(1024))
        await asyncio.sleep(30)
        return response

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await response.prepare(request)
        await asyncio.sleep(60)
        return response
