"""The Dispatcher's guarantees without a network: prefixes, filters, stale backlog commands, per-chat order,
bounded concurrency, timeouts, isolation, and a graceful drain/close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

import plugins.ping
from tests.bot_support import FakeClient, capture_logs, disconnected, received, texts
from whatsapp import events
from whatsapp.bot import Context, Dispatcher, EventContext, F, Router


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()



async def test_commands_filters_and_prefixes() -> None:
    client = FakeClient()
    seen: list[str] = []
    router = Router(name="t")

    @router.message(F.text & F.group & F.regex(r"https?://") & ~F.from_me)
    async def links(ctx: Context) -> None:
        seen.append(f"link:{ctx.text}")

    @router.command("echo", aliases=["say"], prefixes=("/",))
    async def echo(ctx: Context) -> None:
        await ctx.send(" ".join(ctx.args))

    dispatcher = Dispatcher(client, prefixes=("!", "."))
    dispatcher.include_routers(plugins.ping.router, router)
    await dispatcher.process(received("!ping", message_id="a"))
    await dispatcher.process(received(".PING", message_id="b"))
    await dispatcher.process(received("ping", message_id="c"))  # no prefix
    await dispatcher.process(received("/say hello there"))
    await dispatcher.process(received("!say not with this prefix"))
    await dispatcher.process(received("see https://x.example", "1-2@g.us", group=True))
    await dispatcher.process(received("see https://x.example", "3@s.whatsapp.net"))  # private: filtered out
    await dispatcher.process(received("!ping", from_me=True))  # our own message: ignored
    assert client.sent == [("1@s.whatsapp.net", "pong", "a"), ("1@s.whatsapp.net", "pong", "b"),
                           ("1@s.whatsapp.net", "hello there", None)]
    assert seen == ["link:see https://x.example"]


async def test_stale_backlog_commands_are_skipped_unless_allowed() -> None:
    ran: list[str] = []
    router = Router(name="t")

    @router.command("a")
    async def fresh_only(ctx: Context) -> None:
        ran.append("fresh_only")

    @router.command("b", allow_stale=True)
    async def any_age(ctx: Context) -> None:
        ran.append("any_age")

    @router.message()
    async def every_message(ctx: Context) -> None:
        ran.append(f"message:{ctx.command}")

    dispatcher = Dispatcher(FakeClient(), stale_after=60)
    dispatcher.include_router(router)
    await dispatcher.process(received("!a", age=600))
    await dispatcher.process(received("!b", age=600))
    await dispatcher.process(received("!a", age=5))
    assert ran == ["message:a", "any_age", "message:b", "fresh_only", "message:a"]


async def test_per_chat_order_bounded_concurrency_and_timeouts() -> None:
    order: list[str] = []
    running = 0
    peak = 0
    router = Router(name="t")

    @router.message()
    async def slow(ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.05 if ctx.text != "hang" else 10)
        finally:
            running -= 1
        order.append(f"{ctx.chat.user}:{ctx.text}")

    dispatcher = Dispatcher(FakeClient(), max_concurrency=2, handler_timeout=0.3)
    dispatcher.include_router(router)
    for chat in ("1", "2", "3"):
        for i in range(3):
            dispatcher.feed(received(str(i), f"{chat}@s.whatsapp.net"))
    dispatcher.feed(received("hang", "4@s.whatsapp.net"))
    dispatcher.feed(received("after", "4@s.whatsapp.net"))
    await asyncio.wait_for(dispatcher.idle(), 5)
    for chat in ("1", "2", "3"):
        assert [o for o in order if o.startswith(f"{chat}:")] == [f"{chat}:0", f"{chat}:1", f"{chat}:2"]
    assert peak == 2
    assert "4:after" in order and "4:hang" not in order  # the hung handler was cut off, the chat went on
    assert dispatcher.failures == 1


async def test_a_route_timeout_and_a_handlers_own_timeout_error(log_lines: list[str]) -> None:
    router = Router(name="t")

    @router.command("quick", timeout=0.05)
    async def quick(ctx: Context) -> None:
        await asyncio.sleep(1)

    @router.command("iq")
    async def iq(ctx: Context) -> None:
        raise TimeoutError("no answer to the IQ")  # the handler's own error, not the dispatcher's limit

    dispatcher = Dispatcher(FakeClient(), handler_timeout=5)
    dispatcher.include_router(router)
    started = time.monotonic()
    await dispatcher.process(received("!quick", message_id="q1"))
    assert time.monotonic() - started < 1
    await dispatcher.process(received("!iq"))
    assert dispatcher.failures == 2
    assert any("router t: command quick timed out after 0.05s on message q1" in line for line in log_lines)
    assert any(line.startswith("ERROR router t: command iq failed") for line in log_lines)


async def test_failing_handlers_and_filters_are_isolated_and_logged_once_with_a_traceback(
    log_lines: list[str],
) -> None:
    client = FakeClient()
    router = Router(name="broken")

    @router.command("crash")
    async def crash(ctx: Context) -> None:
        raise RuntimeError("plugin bug")

    async def bad_filter(value: object) -> bool:
        raise ValueError("filter bug")

    @router.message(F.text.func(bad_filter))
    async def never(ctx: Context) -> None:
        raise AssertionError("unreachable")

    dispatcher = Dispatcher(client)
    dispatcher.include_routers(router, plugins.ping.router)
    for _ in range(2):
        await dispatcher.process(received("!crash"))
        await dispatcher.process(received("!ping"))
    assert texts(client) == ["pong", "pong"]
    assert dispatcher.failures == 2
    crash_lines = [line for line in log_lines if "command crash failed" in line]
    assert [line.split()[0] for line in crash_lines] == ["ERROR", "WARNING"]  # traceback once, then one line
    assert any("filter F.text.func(bad_filter) failed" in line for line in log_lines)


# ---- shutdown ---------------------------------------------------------------------------------------------


async def test_drain_lets_running_and_queued_handlers_reply_then_refuses_new_messages(
    log_lines: list[str],
) -> None:
    client = FakeClient()
    router = Router(name="slow")
    started = asyncio.Event()

    @router.command("slow")
    async def slow(ctx: Context) -> None:
        started.set()
        await asyncio.sleep(0.2)
        await ctx.reply("done")

    dispatcher = Dispatcher(client)
    dispatcher.include_router(router)
    dispatcher.attach()
    client.emit(received("!slow", message_id="m1"))
    client.emit(received("!slow", message_id="m2"))  # queued behind m1 in the same chat
    await started.wait()
    drained = asyncio.create_task(dispatcher.drain(grace=5))
    await asyncio.sleep(0)
    client.emit(received("!slow", message_id="m3"))  # after the drain began: refused, and said so
    assert await drained is True
    assert client.sent == [("1@s.whatsapp.net", "done", "m1"), ("1@s.whatsapp.net", "done", "m2")]
    assert any("message m3 arrived while stopping" in line for line in log_lines)


async def test_drain_cancels_what_outlives_the_grace_and_close_stops_events(log_lines: list[str]) -> None:
    client = FakeClient()
    router = Router(name="hang")
    seen: list[str] = []

    @router.command("hang")
    async def hang(ctx: Context) -> None:
        await asyncio.sleep(60)

    @router.on(events.Disconnected)
    def after(ctx: EventContext[events.Disconnected]) -> None:
        seen.append("disconnected")

    dispatcher = Dispatcher(client, handler_timeout=120)
    dispatcher.include_router(router)
    dispatcher.attach()
    client.emit(received("!hang", message_id="h1"))
    client.emit(received("!hang", message_id="h2"))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    assert await dispatcher.drain(grace=0.2) is False
    assert time.monotonic() - started < 1
    assert any("2 message(s) not handled within 0.2s, cancelled: message h1, message h2" in line
               for line in log_lines)
    client.emit(disconnected())  # events still flow between drain and close
    await dispatcher.idle()
    assert seen == ["disconnected"]
    await dispatcher.close()
    await dispatcher.close()  # twice is harmless
    client.emit(disconnected())
    await dispatcher.idle()
    assert seen == ["disconnected"] and client.handlers == []


@pytest.mark.parametrize("grace", [0.0, 0.3])
async def test_close_without_drain_bounds_everything_by_its_grace(grace: float) -> None:
    client = FakeClient()
    router = Router(name="hang")

    @router.on(events.Connected)
    async def stuck(ctx: EventContext[events.Connected]) -> None:
        await asyncio.sleep(60)

    dispatcher = Dispatcher(client)
    dispatcher.include_router(router)
    dispatcher.attach()
    client.emit(events.Connected("1:1@s.whatsapp.net", None))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await dispatcher.close(grace=grace)
    assert time.monotonic() - started < grace + 0.5
    assert not dispatcher._workers
