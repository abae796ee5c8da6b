# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters
"""SESSION_WEBHOOK_URL: JSON POSTs on status changes to a local aiohttp server — also one that is down or slow;
the bot never waits for it and nothing secret is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from loguru import logger

from storage.archive import list_archives
from storage.config import StoreConfig, check_webhook_url
from storage.monitor import SessionMonitor
from storage.webhook import SessionWebhook, WebhookTiming
from tests.fixtures.mongo import free_port
from tests.test_bot_process import (  # noqa: F401 - fixtures
    ONLINE,
    PHONE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    stop_gracefully,
)
from whatsapp import events
from whatsapp.reconnect import Action, Decision, DisconnectKind, DisconnectReason
from whatsapp.testing import EmulatedServer

FAST = WebhookTiming(timeout=0.3, attempts=3, backoff=0.05, max_backoff=0.2)


class Receiver:
    """A local webhook endpoint: records each POST; `behaviour` decides the answer."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.behaviour: Callable[[int], Awaitable[int]] | None = None
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        status = 204
        if self.behaviour is not None:
            status = await self.behaviour(self.attempts)
        if status < 300:
            self.bodies.append(await request.json())
            self.got.set()
        return web.Response(status=status)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async def until() -> None:
            while len(self.bodies) < count:
                self.got.clear()
                await self.got.wait()

        await asyncio.wait_for(until(), timeout)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield rec, f"http://127.0.0.1:{port}/hook?token=s3cret"
    finally:
        await runner.cleanup()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


class FakeClient:
    """Just the event API the monitor uses (`Client.on`), driven by the test."""

    def __init__(self) -> None:
        self.handlers: list[tuple[type[events.Event], Callable[[Any], Any]]] = []

    def on(self, event_type: type[Any]) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.handlers.append((event_type, handler))
            return handler

        return register

    def emit(self, event: events.Event) -> None:
        for kind, handler in self.handlers:
            if isinstance(event, kind):
                handler(event)


def closed(kind: DisconnectKind, code: int | None, text: str) -> events.Disconnected:
    return events.Disconnected(DisconnectReason(kind, code, text), Decision(Action.RECONNECT, 0.0, "INFO", text))


async def test_every_status_change_is_posted_in_order_without_secrets(
    tmp_path: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    config = StoreConfig(auth_dir=tmp_path, session_id="bot1", webhook_url=url, encryption_key="never sent")
    monitor = SessionMonitor(config, webhook_timing=FAST)
    client = FakeClient()
    monitor.attach(client)
    me = "15551234567:3@s.whatsapp.net"
    client.emit(events.QR("2@ref,noise,identity,adv", 0, 6, 60.0))
    client.emit(events.QR("2@ref2,noise,identity,adv", 1, 6, 20.0))  # the same pairing: no second post
    client.emit(events.PairSuccess(me, None, "android", None))
    client.emit(events.Connected(me, None))
    client.emit(closed(DisconnectKind.TRANSIENT, 428, "connection closed"))
    client.emit(closed(DisconnectKind.TRANSIENT, 428, "connection closed"))  # a failed reconnect: no new status
    client.emit(closed(DisconnectKind.LOGGED_OUT, 401, "device removed from the phone"))
    client.emit(events.LoggedOut(DisconnectReason(DisconnectKind.LOGGED_OUT, 401, "device removed from the phone")))
    await rec.wait_for(5)
    await monitor.aclose()
    assert [b["status"] for b in rec.bodies] == ["pairing", "paired", "open", "closed", "logged_out"]
    assert all(b["event"] == "session.status" and b["session"] == "bot1" for b in rec.bodies)
    assert rec.bodies[1]["meId"] == me and rec.bodies[3]["code"] == 428 and rec.bodies[4]["code"] == 401
    text = repr(rec.bodies)
    assert "ref" not in text and "never sent" not in text and "s3cret" not in text  # no QR, key or URL token


async def test_a_slow_endpoint_is_retried_and_notify_never_waits(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver

    async def slow_then_fine(attempt: int) -> int:
        if attempt == 1:
            await asyncio.sleep(1.0)  # past the 0.3 s timeout
        elif attempt == 2:
            return 503
        return 200

    rec.behaviour = slow_then_fine
    hook = SessionWebhook(url, "s", timing=FAST)
    started = time.perf_counter()
    hook.notify("open", me_id="1@s.whatsapp.net")
    assert time.perf_counter() - started < 0.05
    await rec.wait_for(1)
    assert rec.attempts == 3 and hook.delivered == 1
    await hook.aclose()


async def test_a_down_endpoint_gives_up_after_the_retries_and_is_logged_once(warnings: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens
    hook = SessionWebhook(url, "s", timing=FAST)
    started = time.perf_counter()
    for status in ("open", "closed", "open"):
        hook.notify(status)
    assert time.perf_counter() - started < 0.05
    assert await hook.flush(10.0)
    assert hook.failed == 3 and hook.delivered == 0
    assert len([w for w in warnings if "webhook" in w]) == 1
    assert url.rsplit("/", 1)[0] in warnings[0]
    await hook.aclose()


async def test_a_refusing_endpoint_is_not_retried(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver

    async def refuse(attempt: int) -> int:
        return 400

    rec.behaviour = refuse
    hook = SessionWebhook(url, "s", timing=FAST)
    hook.notify("open")
    assert await hook.flush(5.0)
    assert rec.attempts == 1 and hook.failed == 1


async def test_close_is_bounded_when_the_endpoint_hangs(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver

    release = asyncio.Event()

    async def hang(attempt: int) -> int:
        await release.wait()
        return 200

    rec.behaviour = hang
    hook = SessionWebhook(url, "s", timing=WebhookTiming(timeout=20, attempts=1))
    hook.notify("closed")
    started = time.perf_counter()
    await hook.aclose(timeout=0.3)
    assert time.perf_counter() - started < 1.5
    release.set()


@pytest.mark.parametrize("url", ["ftp://host/x", "hooks.example.com/x", "http://", "ws://h/x"])
def test_webhook_url_is_validated(url: str) -> None:
    with pytest.raises(ValueError, match="SESSION_WEBHOOK_URL"):
        check_webhook_url(url)
    with pytest.raises(ValueError, match="SESSION_WEBHOOK_URL"):
        StoreConfig.from_env({"SESSION_WEBHOOK_URL": url})
    assert StoreConfig.from_env({"SESSION_WEBHOOK_URL": " https://h.example/x "}).webhook_url == "https://h.example/x"


async def test_the_bot_posts_its_status_changes_and_archives_the_session_it_is_unlinked_from(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], receiver: tuple[Receiver, str]
) -> None:
    """The real `python bot.py` with SESSION_WEBHOOK_URL: pairing, paired, open; unlinked on the phone: closed,
    logged_out, the session archived (one log line says where) and a new pairing; SIGTERM: closed."""
    rec, url = receiver
    env = {**bot_env, "SESSION_WEBHOOK_URL": url}
    bot = await launch(bots, env)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line(ONLINE)
    await rec.wait_for(3, timeout=15)
    assert [b["status"] for b in rec.bodies] == ["pairing", "paired", "open"]
    me_id = rec.bodies[1]["meId"]
    assert me_id and me_id.startswith(PHONE)

    start = len(bot.lines)
    device = next(d for d in server.account(PHONE).devices.values() if not d.is_primary)
    await server.account(PHONE).phone.unlink(device)
    archived = await bot.wait_line("archived before removal", start=start)
    assert "401" in archived.string and ".archive/test-" in archived.string
    await bot.wait_line(QR_LINE, start=start)  # the daemon pairs anew by itself
    await rec.wait_for(6, timeout=15)
    assert [b["status"] for b in rec.bodies[3:6]] == ["closed", "logged_out", "pairing"]
    assert rec.bodies[4]["code"] == 401
    [entry] = await list_archives(StoreConfig(auth_dir=Path(env["AUTH_DIR"]), session_id="test"))
    assert entry.folder is not None and (entry.folder / "creds.json").exists()
    await stop_gracefully(bot)
    await rec.wait_for(7, timeout=5)
    assert rec.bodies[-1]["status"] == "closed"
