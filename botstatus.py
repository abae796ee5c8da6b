"""The pairing and status page: an HTTP server when `PORT` (Railway, Heroku web) or `STATUS_PORT` is set.

    /         the QR as an image (or the pairing code) while pairing, the connection state after; it
              reloads itself every few seconds (a meta refresh), so a new QR shows without a click
    /qr.png   the current QR as a PNG (404 when not pairing)
    /healthz  JSON {status, connected, session, version, uptime}: 200 while connected or pairing, else 503
              (what the platforms' health checks expect)
    /metrics  Prometheus text: messages in and out, decrypt failures, reconnects, handler errors, handler latency

With `STATUS_TOKEN` set, every path wants it as `?token=` or `Authorization: Bearer`, else 401 (compared
in constant time; never logged). While pairing, the QR is also written as `pairing-qr.png` into the session
folder (0600) and removed once linked: for a platform whose shell can copy a file but not show a page.

`python botstatus.py probe` is the Dockerfile's HEALTHCHECK: 0 when /healthz answers 200, or when no port
is set (nothing to check), else 1.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from loguru import logger

from botmetrics import Histogram, Metric, png_1bit, qr_matrix, render
from whatsapp import events
from whatsapp.bot import Context
from whatsapp.events import Event

if TYPE_CHECKING:
    from whatsapp.bot import Dispatcher
    from whatsapp.client import Client

QR_FILE = "pairing-qr.png"
REFRESH_SECONDS = 3  # a QR lives 20-60 s: the page shows the next one within a few seconds
HEALTHY = ("connected", "pairing")


class StatusBoard:
    """What the page shows, fed by the client's events and the dispatcher's handlers."""

    def __init__(self, session_id: str, session_dir: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session_id = session_id
        self.session_dir = session_dir
        self.status = "starting"  # connecting, pairing, connected, disconnected, stopping
        self.qr: str | None = None
        self.pairing_code: str | None = None
        self.me: str | None = None
        self.messages_in = 0
        self.decrypt_failures = 0
        self.reconnects = 0
        self.latency = Histogram()
        self._connections = 0
        self._clock = clock
        self._started = clock()
        self._client: Client | None = None
        self._dispatcher: Dispatcher | None = None

    def attach(self, client: Client, dispatcher: Dispatcher | None = None) -> None:
        self._client, self._dispatcher = client, dispatcher
        client.add_handler(Event, self.on_event)
        if dispatcher is not None:  # inner middleware of the root: wraps every command and message handler
            dispatcher.message.middleware(self.time_handler)

    @property
    def uptime(self) -> float:
        return self._clock() - self._started

    @property
    def version(self) -> str:
        return ".".join(map(str, self._client.versions.current)) if self._client is not None else ""

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def on_event(self, event: Event) -> None:
        if isinstance(event, events.MessageReceived):
            self.messages_in += 1
        elif isinstance(event, events.DecryptFailed):
            self.decrypt_failures += 1
        elif isinstance(event, events.Connecting):
            self.status = "pairing" if self.qr or self.pairing_code else "connecting"
        elif isinstance(event, events.QR):
            self.status, self.qr = "pairing", event.code
            self._write_qr(event.code)
        elif isinstance(event, events.PairingCode):
            self.status, self.pairing_code = "pairing", event.display
        elif isinstance(event, events.PairSuccess):
            self._paired()
        elif isinstance(event, events.Connected):
            self._paired()
            self.status, self.me = "connected", str(event.me_id)
            self._connections += 1
            if self._connections > 1:
                self.reconnects += 1
        elif isinstance(event, events.Disconnected) and self.status != "stopping":
            self.status = "disconnected"

    async def time_handler(self, handler: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
        started = time.perf_counter()
        try:
            await handler(ctx)
        finally:
            self.latency.observe(time.perf_counter() - started)

    def stopping(self) -> None:
        self.status = "stopping"
        self._remove_qr()

    def _paired(self) -> None:
        if self.qr is not None or self.pairing_code is not None:
            self.qr = self.pairing_code = None
            self._remove_qr()

    def _write_qr(self, code: str) -> None:
        if self.session_dir is None:
            return
        path = self.session_dir / QR_FILE
        try:
            self.session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(png_1bit(qr_matrix(code)))
            os.replace(temporary, path)
        except OSError as exc:  # the page still shows it: a convenience, never a reason to stop pairing
            logger.warning("QR image not written to {}: {}", path, exc)

    def _remove_qr(self) -> None:
        if self.session_dir is not None:
            (self.session_dir / QR_FILE).unlink(missing_ok=True)

    def health(self) -> tuple[int, dict[str, object]]:
        body: dict[str, object] = {"status": self.status, "connected": self.connected, "session": self.session_id,
                                   "version": self.version, "uptime": round(self.uptime, 1)}
        return (200 if self.status in HEALTHY else 503), body

    def metrics(self) -> list[Metric]:
        dispatcher = self._dispatcher
        return [
            Metric("wabot_up", "gauge", "1 while logged in", 1 if self.connected else 0),
            Metric("wabot_uptime_seconds", "gauge", "seconds since the bot started", self.uptime),
            Metric("wabot_messages_received_total", "counter", "messages received and decrypted", self.messages_in),
            Metric("wabot_messages_sent_total", "counter", "messages the server acknowledged",
                   self._client.messages_sent if self._client is not None else 0),
            Metric("wabot_decrypt_failures_total", "counter", "messages that could not be decrypted",
                   self.decrypt_failures),
            Metric("wabot_reconnects_total", "counter", "connections opened after the first", self.reconnects),
            Metric("wabot_handler_calls_total", "counter", "handler calls made",
                   dispatcher.dispatched if dispatcher is not None else 0),
            Metric("wabot_handler_errors_total", "counter", "handler calls that raised or timed out",
                   dispatcher.failures if dispatcher is not None else 0),
            Metric("wabot_handler_seconds", "histogram", "duration of command and message handlers", self.latency),
        ]


def _page(board: StatusBoard) -> str:
    if board.qr is not None:
        image = base64.b64encode(png_1bit(qr_matrix(board.qr))).decode()
        body = (f'<p>Scan with WhatsApp → Linked devices → Link a device</p>'
                f'<img id="qr" alt="pairing QR" width="360" height="360" style="image-rendering:pixelated" '
                f'src="data:image/png;base64,{image}" data-code="{html.escape(board.qr)}">')
    elif board.pairing_code is not None:
        body = (f'<p>WhatsApp → Linked devices → Link with phone number, then enter</p>'
                f'<p id="code" style="font-size:3em;font-family:monospace">{html.escape(board.pairing_code)}</p>')
    else:
        body = f'<p id="state">{html.escape(board.status)}' + (
            f" as {html.escape(board.me)}" if board.me and board.status == "connected" else "") + "</p>"
    return (f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" '
            f'content="{REFRESH_SECONDS}"><title>WhatsApp bot: {html.escape(board.status)}</title></head>'
            f'<body style="font-family:sans-serif;text-align:center"><h1>WhatsApp bot '
            f'{html.escape(board.session_id)}</h1>{body}<p>version {html.escape(board.version)}, up '
            f'{board.uptime:.0f}s</p></body></html>')


def _authorized(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    given = request.query.get("token", "")
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        given = header.removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


class StatusServer:
    """The aiohttp server of a StatusBoard, on 0.0.0.0:`port` (what the platforms route to)."""

    def __init__(self, board: StatusBoard, port: int, token: str | None = None, host: str = "0.0.0.0") -> None:
        self.board, self.port, self.host = board, port, host
        self._token = token
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        @web.middleware
        async def guard(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
            if not _authorized(request, self._token):
                return web.json_response({"error": "STATUS_TOKEN required (?token= or Authorization: Bearer)"},
                                         status=401, headers={"WWW-Authenticate": "Bearer"})
            response = await handler(request)
            response.headers["Cache-Control"] = "no-store"  # a QR or a state, never a cached one
            return response

        async def index(request: web.Request) -> web.Response:
            return web.Response(text=_page(self.board), content_type="text/html")

        async def qr_png(request: web.Request) -> web.Response:
            if self.board.qr is None:
                return web.json_response({"error": "not pairing by QR"}, status=404)
            return web.Response(body=png_1bit(qr_matrix(self.board.qr)), content_type="image/png")

        async def healthz(request: web.Request) -> web.Response:
            status, body = self.board.health()
            return web.json_response(body, status=status)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(text=render(self.board.metrics()), content_type="text/plain",
                                headers={"X-Content-Format": "0.0.4"})

        app = web.Application(middlewares=[guard])
        app.router.add_get("/", index)
        app.router.add_get("/qr.png", qr_png)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)  # health checks every few seconds: no log
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        logger.info("status page on http://{}:{}/ ({})", self.host, self.port,
                    "STATUS_TOKEN required" if self._token else "no token")

    async def stop(self) -> None:
        self.board.stopping()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def probe(env: dict[str, str] | None = None, timeout: float = 4.0) -> int:
    """The container's health: 0 when /healthz says 200 (or no status port is set), 1 otherwise."""
    env = dict(os.environ) if env is None else env
    port = (env.get("STATUS_PORT") or env.get("PORT") or "").strip()
    if not port:
        return 0
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz")
    if token := (env.get("STATUS_TOKEN") or "").strip():
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # our own loopback URL
            return 0 if response.status == 200 and json.load(response).get("status") else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1


if __name__ == "__main__":
    sys.exit(probe() if sys.argv[1:] == ["probe"] else 2)
