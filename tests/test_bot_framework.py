"""The bot framework on its own (no network): routers, nested routers, filters, middlewares, discovery,
double loading, two Dispatchers in one process, and the log line for an ignored own command."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bot_support import FakeClient, capture_logs, received, texts
from whatsapp import events
from whatsapp.bot import Context, Cooldown, Dispatcher, EventContext, F, Router, Timing, load_plugins
from whatsapp.bot.filters import describe
from whatsapp.events import Event, MessageReceived

# ---- filters -----------------------------------------------------------------------------------------------

@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()



async def test_magic_filters_combine_and_compare() -> None:
    group_link = received("see https://x.example", "1-2@g.us", group=True)
    private_hi = received("Hi", "3@s.whatsapp.net")
    own = received("hi", from_me=True)
    status = received("story", "status@broadcast")

    async def passes(f: object, event: MessageReceived) -> bool:
        return await f(event)

    link = F.text & F.group & F.regex(r"https?://") & ~F.from_me
    assert await passes(link, group_link) and not await passes(link, private_hi)
    assert await passes(F.private, private_hi) and not await passes(F.private, group_link)
    assert not await passes(F.private, status) and await passes(F.status, status)
    assert await passes(F.group | F.private, private_hi)
    assert await passes(F.text.lower() == "hi", private_hi) and not await passes(F.text == "hi", private_hi)
    assert await passes(F.chat == "3@s.whatsapp.net", private_hi)  # a JID equals its string form
    assert await passes(F.chat.in_(["3@s.whatsapp.net", "4@s.whatsapp.net"]), private_hi)
    assert await passes(F.sender.user == "1", private_hi) and await passes(F.sender.device >= 2, private_hi)
    assert await passes(F.text.startswith("see") & F.text.contains("x.example"), group_link)
    assert await passes(F.from_me, own) and await passes(~F.offline, own)
    # A path through a missing value fails every test instead of raising.
    assert not await passes(F.sender_alt.user == "1", private_hi)
    assert not await passes(F.text.startswith("x"), received(None))
    assert not await passes(F.timestamp > "soon", private_hi)  # int vs str: no match, no error

    async def slow_check(value: str) -> bool:
        await asyncio.sleep(0)
        return value == "Ann"

    assert await passes(F.push_name.func(slow_check), private_hi)
    assert describe(F.text & F.group) == "(F.text & group)"


def test_filters_refuse_and_or_and_non_filters() -> None:
    with pytest.raises(TypeError, match="&"):
        bool(F.text)
    router = Router()
    with pytest.raises(TypeError, match=r"F\.func"):
        router.message(lambda m: True)
    with pytest.raises(ValueError, match="single words"):
        router.command("two words")


# ---- routers -----------------------------------------------------------------------------------------------


async def test_nested_routers_run_in_include_order_with_their_names() -> None:
    client = FakeClient()
    order: list[str] = []
    root, child, grandchild = Router(name="root"), Router(name="child"), Router(name="grandchild")

    @root.message(F.text)
    async def first(ctx: Context) -> None:
        order.append(f"{ctx.router}:first")

    @grandchild.command("deep", aliases=["d"])
    async def deep(ctx: Context) -> None:
        """Runs from two levels down."""
        order.append(f"{ctx.router}:deep:{ctx.args}")
        await ctx.reply("deep")

    @child.message()
    def everything(ctx: Context) -> None:  # a plain function is a handler too
        order.append(f"{ctx.router}:everything")

    child.include_router(grandchild)
    root.include_router(child)
    dispatcher = Dispatcher(client)
    dispatcher.include_router(root)
    await dispatcher.process(received("!D now", message_id="m1"))
    assert order == ["root:first", "child:everything", "grandchild:deep:['now']"]
    assert client.sent == [("1@s.whatsapp.net", "deep", "m1")]
    assert [(r.name, c.name, c.description) for r, c in dispatcher.command_routes()] == [
        ("grandchild", "deep", "Runs from two levels down.")]


def test_router_cycles_are_refused() -> None:
    a, b = Router(name="a"), Router(name="b")
    a.include_router(b)
    with pytest.raises(ValueError, match="cycle"):
        b.include_router(a)
    with pytest.raises(ValueError, match="cycle"):
        a.include_router(a)


async def test_a_router_reached_twice_runs_once_and_registering_twice_adds_nothing() -> None:
    client = FakeClient()
    shared, left, right = Router(name="shared"), Router(name="left"), Router(name="right")

    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    shared.command("ping")(ping)
    shared.command("ping")(ping)  # the same function again: ignored
    left.include_router(shared)
    right.include_router(shared)
    dispatcher = Dispatcher(client)
    dispatcher.include_routers(left, right, left)
    assert dispatcher.sub_routers == (left, right)
    await dispatcher.process(received("!ping"))
    assert texts(client) == ["pong"]


async def test_first_included_command_wins_and_the_other_is_named(log_lines: list[str]) -> None:
    client = FakeClient()
    one, two = Router(name="one"), Router(name="two")

    @one.command("hi")
    async def hi_one(ctx: Context) -> None:
        await ctx.reply("one")

    @two.command("hello", aliases=["hi"])
    async def hi_two(ctx: Context) -> None:
        await ctx.reply("two")

    dispatcher = Dispatcher(client)
    dispatcher.include_routers(one, two)
    await dispatcher.process(received("!hi"))
    await dispatcher.process(received("!hello"))
    await dispatcher.process(received("!hi"))
    assert texts(client) == ["one", "two", "one"]
    hidden = [line for line in log_lines if "hidden by router one" in line]
    assert len(hidden) == 1 and "'hi' of router two" in hidden[0]


async def test_event_handlers_get_an_event_context_with_per_router_state() -> None:
    client = FakeClient()
    router = Router(name="watch")
    seen: list[str | None] = []

    @router.on(events.Connected, F.me_id.startswith("1"))
    def online(ctx: EventContext[events.Connected]) -> None:
        ctx.state["count"] = int(str(ctx.state.get("count", 0))) + 1
        seen.append(ctx.event.me_id)

    @router.on(Event)  # the base class: every event, including messages
    async def anything(ctx: EventContext[Event]) -> None:
        seen.append(type(ctx.event).__name__)

    dispatcher = Dispatcher(client)
    assert dispatcher.include_router(router) is router
    dispatcher.attach()
    dispatcher.attach()  # once only
    assert len(client.handlers) == 1
    client.emit(events.Connected("1:2@s.whatsapp.net", None))
    client.emit(events.Connected("2:2@s.whatsapp.net", None))
    client.emit(received("hello"))
    await dispatcher.idle()
    assert seen == ["1:2@s.whatsapp.net", "Connected", "Connected", "MessageReceived"]
    assert dispatcher.scopes.get(("router", "watch")) == {"count": 1}
    await dispatcher.close()
    assert client.handlers == []  # unsubscribed


# ---- middlewares -------------------------------------------------------------------------------------------


async def test_outer_and_inner_middlewares_wrap_in_aiogram_order() -> None:
    client = FakeClient()
    calls: list[str] = []
    parent, child = Router(name="parent"), Router(name="child")

    def tracer(name: str) -> Callable[..., object]:
        async def middleware(handler: Callable[[Context], object], ctx: Context) -> None:
            calls.append(f"{name}>")
            ctx.data[name] = True
            await handler(ctx)
            calls.append(f"<{name}")

        return middleware

    parent.message.outer_middleware(tracer("outer"))
    parent.message.middleware(tracer("p-inner"))
    child.message.middleware(tracer("c-inner"))

    @parent.message(F.text == "!go")
    async def at_parent(ctx: Context) -> None:
        calls.append(f"parent sees {sorted(ctx.data)}")

    @child.command("go")
    async def at_child(ctx: Context) -> None:
        calls.append(f"child sees {sorted(ctx.data)}")

    @child.message(F.text == "never")
    async def filtered_out(ctx: Context) -> None:
        calls.append("filtered_out")

    parent.include_router(child)
    dispatcher = Dispatcher(client)
    dispatcher.include_router(parent)
    await dispatcher.process(received("!go"))
    assert calls == [
        "outer>",
        "p-inner>", "parent sees ['outer', 'p-inner']", "<p-inner",
        # the parent's inner middleware wraps the child's handlers too; filtered-out handlers see none
        "p-inner>", "c-inner>", "child sees ['c-inner', 'outer', 'p-inner']", "<c-inner", "<p-inner",
        "<outer",
    ]


async def test_a_middleware_may_stop_a_message_and_a_failing_one_is_isolated(log_lines: list[str]) -> None:
    client = FakeClient()
    guarded, other = Router(name="guarded"), Router(name="other")

    @guarded.message.outer_middleware
    async def only_group(handler: Callable[[Context], object], ctx: Context) -> None:
        if ctx.event.is_group:
            await handler(ctx)

    @other.message.middleware
    async def broken(handler: Callable[[Context], object], ctx: Context) -> None:
        raise RuntimeError("middleware bug")

    @guarded.command("a")
    async def a(ctx: Context) -> None:
        await ctx.reply("a")

    @other.command("b")
    async def b(ctx: Context) -> None:
        await ctx.reply("b")

    @other.message()
    async def c(ctx: Context) -> None:
        await ctx.reply("c")

    dispatcher = Dispatcher(client)
    dispatcher.include_routers(guarded, other)
    await dispatcher.process(received("!a"))
    await dispatcher.process(received("!a", "1-2@g.us", group=True))
    await dispatcher.process(received("!b"))
    assert texts(client) == ["a"]
    assert dispatcher.failures == 4  # b and c twice (the !a messages reach `other` too), each isolated
    assert any(line.startswith("ERROR router other: command b failed") for line in log_lines)


async def test_cooldown_and_timing_middlewares(log_lines: list[str]) -> None:
    client = FakeClient()
    router = Router(name="limited")
    now = [100.0]
    cooldown = Cooldown(10, reply="slow down", clock=lambda: now[0])
    router.message.middleware(Timing(slow=0.0))
    router.message.middleware(cooldown)

    @router.command("hi")
    async def hi(ctx: Context) -> None:
        await ctx.reply("hi")

    dispatcher = Dispatcher(client)
    dispatcher.include_router(router)
    for step in (0, 1, 2):
        now[0] = 100.0 + step
        await dispatcher.process(received("!hi", sender="1:2@s.whatsapp.net"))
    await dispatcher.process(received("!hi", sender="7@s.whatsapp.net"))  # another user: not limited
    now[0] = 111.0
    await dispatcher.process(received("!hi", sender="1:3@s.whatsapp.net"))  # the window is over
    assert texts(client) == ["hi", "slow down", "hi", "hi"]  # one polite reply per window
    assert any(line.startswith("WARNING router limited: command hi took") for line in log_lines)

    other = Dispatcher(FakeClient())
    other.include_router(router)
    await other.process(received("!hi", sender="1:2@s.whatsapp.net"))
    assert texts(other.client) == ["hi"]  # the cooldown state is per Dispatcher


# ---- own messages ------------------------------------------------------------------------------------------


async def test_own_command_is_ignored_with_one_info_line(log_lines: list[str]) -> None:
    client = FakeClient()
    router = Router(name="own")

    @router.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    @router.command("note", include_own=True)
    async def note(ctx: Context) -> None:
        await ctx.reply("noted")

    dispatcher = Dispatcher(client)
    dispatcher.include_router(router)
    await dispatcher.process(received("!ping", from_me=True, message_id="own1"))
    await dispatcher.process(received("!ping", from_me=True, message_id="own2"))
    await dispatcher.process(received("just chatting", from_me=True, message_id="own3"))
    await dispatcher.process(received("!note", from_me=True, message_id="own4"))
    assert texts(client) == ["noted"]
    info = [line for line in log_lines if line.startswith("INFO") and "sent from this account" in line]
    assert len(info) == 1 and "own1" in info[0] and "include_own=True" in info[0]
    assert any(line.startswith("DEBUG") and "own2" in line for line in log_lines)
    assert not any("own3" in line or "own4" in line for line in log_lines)


# ---- discovery, double loading, independent dispatchers ----------------------------------------------------


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    name = f"botplugins_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "echo.py").write_text(textwrap.dedent("""
        from whatsapp.bot import Context, Router

        router = Router()
        VERSION = 1

        @router.command("echo")
        async def echo(ctx: Context) -> None:
            await ctx.reply(f"v{VERSION}: " + " ".join(ctx.args))
    """))
    (package / "_helpers.py").write_text("raise RuntimeError('helpers are not plugins')\n")
    (package / "broken.py").write_text("raise RuntimeError('plugin bug at import')\n")
    (package / "norouter.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, package
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


async def test_load_plugins_skips_broken_modules_and_loading_twice_registers_nothing_twice(
    plugin_package: tuple[str, Path], log_lines: list[str]
) -> None:
    name, package = plugin_package
    first = load_plugins(name)
    assert [(p.name, p.module, p.router.name) for p in first] == [("echo", f"{name}.echo", "echo")]
    assert any("plugin broken failed to load" in line for line in log_lines)
    assert any("plugin norouter defines no `router" in line for line in log_lines)

    client = FakeClient()
    dispatcher = Dispatcher(client)
    dispatcher.include_routers(*(p.router for p in first))
    dispatcher.include_routers(*(p.router for p in load_plugins(name)))  # imported again: the same router
    await dispatcher.process(received("!echo a b"))
    assert texts(client) == ["v1: a b"]

    # A reload executes the module again: its new router replaces the old one instead of adding to it.
    (package / "echo.py").write_text((package / "echo.py").read_text().replace("VERSION = 1", "VERSION = 22"))
    importlib.invalidate_caches()
    reloaded = load_plugins(name, reload=True)
    assert reloaded[0].router is not first[0].router
    dispatcher.include_routers(*(p.router for p in reloaded))
    assert len(dispatcher.sub_routers) == 1
    await dispatcher.process(received("!echo c"))
    assert texts(client) == ["v1: a b", "v22: c"]


async def test_two_dispatchers_share_routers_but_no_state() -> None:
    import plugins.uptime

    router = Router(name="count")

    @router.message()
    def count(ctx: Context) -> None:
        ctx.state["n"] = int(str(ctx.state.get("n", 0))) + 1

    one_client, two_client = FakeClient(), FakeClient()
    one, two = Dispatcher(one_client), Dispatcher(two_client)
    for dispatcher in (one, two):
        dispatcher.include_routers(router, *(p.router for p in load_plugins("plugins")))
        dispatcher.attach()
    one_client.emit(events.Connected("1:1@s.whatsapp.net", None))
    for _ in range(3):
        one_client.emit(received("hello"))
    two_client.emit(received("hello"))
    two_client.emit(received("!uptime"))
    one_client.emit(received("!uptime"))
    await asyncio.gather(one.idle(), two.idle())
    assert one.scopes.get(("router", "count")) == {"n": 4}
    assert two.scopes.get(("router", "count")) == {"n": 2}
    assert texts(two_client) == ["not connected"] and texts(one_client) == ["connected for 0s"]
    assert one.dispatched == 4 + 1 + 1 and two.dispatched == 2 + 1
    assert plugins.uptime.router in one.sub_routers and plugins.uptime.router in two.sub_routers


async def test_self_chat_commands_run_when_enabled(log_lines: list[str]) -> None:
    client = FakeClient()
    router = Router(name="own")

    @router.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    dispatcher = Dispatcher(client, self_commands=True)
    dispatcher.include_router(router)
    # "Message yourself": the chat is the account's own user.
    await dispatcher.process(received("!ping", "1@s.whatsapp.net", sender="1:0@s.whatsapp.net", from_me=True))
    # Sent from the account's phone into someone else's chat: still not ours to answer.
    await dispatcher.process(received("!ping", "2@s.whatsapp.net", sender="1:0@s.whatsapp.net", from_me=True,
                                      message_id="other"))
    assert client.sent == [("1@s.whatsapp.net", "pong", "X")]
    info = [line for line in log_lines if line.startswith("INFO") and "sent from this account" in line]
    assert len(info) == 1 and "other" in info[0] and "BOT_SELF_COMMANDS=on" in info[0]
