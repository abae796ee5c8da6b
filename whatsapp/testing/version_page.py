"""A local stand-in for web.whatsapp.com's page, for tests of the client's version renewal.

    async with VersionPage(1_046_000_000) as page:     # serves `..."client_revision":1046000000,...`
        client = Client(auth, url=server.url, version_url=page.url, ...)
        page.revision = 1_046_000_001                    # what the next request sees

WA Web's HTML carries its build as `"client_revision":N` in an inline script; the client reads it with
browser-like headers (whatsmeow `update.go`), so the page records each request's headers for tests to check.
`status` other than 200 or `revision=None` (a page without the number) model a fetch that fails; `script`
answers the next requests first, one entry each (a revision, or None for a 503: the page was unreachable).
"""

from __future__ import annotations

import socket

from aiohttp import web


class VersionPage:
    def __init__(self, revision: int | None, host: str = "127.0.0.1") -> None:
        self.revision = revision
        self.status = 200
        self.host = host
        self.port = 0
        self.requests: list[dict[str, str]] = []  # the headers of each request, oldest first
        self.script: list[int | None] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def body(self, revision: int | None) -> str:
        config = f'"client_revision":{revision},' if revision is not None else ""
        return (f'<!DOCTYPE html><html><head><script>self.__SERVER_CONFIG = {{"server_revision":1,{config}'
                f'"hsi":"emulated"}};</script></head><body></body></html>')

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.script:
            scripted = self.script.pop(0)
            if scripted is None:
                return web.Response(status=503, text="unavailable")
            return web.Response(text=self.body(scripted), content_type="text/html")
        return web.Response(status=self.status, text=self.body(self.revision), content_type="text/html")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, self.port))  # bound here, so the port (0: a free one) is known before serving
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> VersionPage:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
