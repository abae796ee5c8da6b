"""The shipped plugins and their loading: discovery of plugins/, isolation of a failing plugin on a real Client."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.bot_support import FakeClient, capture_logs, disconnected, received, texts
from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.bot import Dispatcher, EventContext, Router, load_plugins


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()


async def test_failing_plugin_never_takes_down_the_others(log_lines: list[str]) -> None:
    from whatsapp.client import Client

    seen: list[str] = []
    router = Router()  # named after this module

    @router.on(events.Connected)
    def broken(ctx: EventContext[events.Connected]) -> None:
        raise RuntimeError("plugin bug")

    @router.on(events.Connected)
    async def healthy(ctx: EventContext[events.Connected]) -> None:
        seen.append(ctx.event.me_id or "")

    assert router.name == "test_bot_plugins"
    client = Client(MemoryAuthState())
    dispatcher = Dispatcher(client)
    dispatcher.include_router(router)
    dispatcher.attach()  # through the client's public event API
    await client.bus.emit(events.Connected("1:2@s.whatsapp.net", None))
    await dispatcher.idle()
    assert seen == ["1:2@s.whatsapp.net"]
    assert any("router test_bot_plugins: event handler" in line and "broken failed" in line for line in log_lines)
    await dispatcher.close()


def test_load_plugins_imports_the_package_modules() -> None:
    loaded = {plugin.name: plugin for plugin in load_plugins()}
    assert {"ping", "uptime"} <= set(loaded)
    assert loaded["uptime"].router.name == "uptime" and loaded["uptime"].module == "plugins.uptime"
    assert any(route.event_type is events.Connected for route in loaded["uptime"].router.event.handlers)
    # plugins/ holds plugins only: nothing of the framework is left there.
    import plugins

    assert not [n for n, v in vars(plugins).items() if not n.startswith("__") and not isinstance(v, ModuleType)]


async def test_uptime_plugin_answers_and_logs_the_connection_time(log_lines: list[str]) -> None:
    client = FakeClient()
    dispatcher = Dispatcher(client)
    dispatcher.include_routers(*(p.router for p in load_plugins("plugins")))
    dispatcher.attach()
    client.emit(received("!uptime", message_id="u1"))
    await dispatcher.idle()
    client.emit(events.Connected("1:2@s.whatsapp.net", None))
    await dispatcher.idle()
    client.emit(received("!uptime", message_id="u2"))
    client.emit(received("!p", message_id="p1"))
    await dispatcher.idle()
    client.emit(disconnected())
    await dispatcher.idle()
    assert texts(client) == ["not connected", "connected for 0s", "pong"]
    assert any("connection was open for 0s" in line for line in log_lines)


def test_format_duration() -> None:
    from plugins.uptime import format_duration

    assert [format_duration(s) for s in (0, 42, 750, 3 * 3600 + 120, 2 * 86400 + 5 * 3600 + 7 * 60)] == [
        "0s", "42s", "12m 30s", "3h 2m", "2d 5h 7m"]


def test_bot_config_reads_the_plugin_packages_and_the_shutdown_grace() -> None:
    from botconfig import BotConfig, ConfigError

    config = BotConfig.from_env({"BOT_PLUGINS": "plugins my_bot.extra", "BOT_SHUTDOWN_GRACE": "2.5"})
    assert config.plugin_packages == ("plugins", "my_bot.extra") and config.shutdown_grace == 2.5
    default = BotConfig.from_env({})
    assert default.plugin_packages == ("plugins",) and default.shutdown_grace == 8.0
    for bad in ({"BOT_PLUGINS": "plugins/extra"}, {"BOT_SHUTDOWN_GRACE": "60"}, {"BOT_SHUTDOWN_GRACE": "-1"}):
        with pytest.raises(ConfigError) as error:
            BotConfig.from_env(bad)
        assert error.value.variable == next(iter(bad))
