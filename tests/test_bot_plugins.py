"""The plugin mechanism: decorator registration, loading, and isolation of a failing plugin."""

from __future__ import annotations

import sys
import types

import plugins
from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.client import Client


async def test_failing_plugin_never_takes_down_the_others(monkeypatch) -> None:
    seen: list[str] = []
    module = types.ModuleType("plugins.fake")
    monkeypatch.setitem(sys.modules, "plugins.fake", module)

    def broken(event: events.Connected) -> None:
        raise RuntimeError("plugin bug")

    async def healthy(event: events.Connected) -> None:
        seen.append(event.me_id or "")

    broken.__module__ = healthy.__module__ = "plugins.fake"
    handlers_before = plugins.registered()
    plugins.on(events.Connected)(broken)
    plugins.on(events.Connected)(healthy)
    new = [h for h in plugins.registered() if h not in handlers_before]
    assert [h.plugin for h in new] == ["fake", "fake"]

    client = Client(MemoryAuthState())
    plugins.attach(client, new)
    await client.bus.emit(events.Connected("1:2@s.whatsapp.net", None))
    assert seen == ["1:2@s.whatsapp.net"]


def test_load_plugins_imports_the_package_modules() -> None:
    assert "uptime" in plugins.load_plugins()
    assert any(h.plugin == "uptime" for h in plugins.registered())
