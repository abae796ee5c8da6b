"""A minimal plugin mechanism: modules in this package register event handlers with `@on(...)`.

    # plugins/hello.py
    from plugins import on
    from whatsapp import events

    @on(events.Connected)
    async def greet(event: events.Connected) -> None:
        ...

`load_plugins()` imports every module of the package (names starting with "_" are skipped); a module
that fails to import is logged and skipped. `attach(client)` subscribes the handlers; each runs
isolated (the client's event bus logs a failing handler and carries on), so one broken plugin never
takes down the others or the connection. Message handling arrives with decryption (a later issue).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from whatsapp.events import Event


@dataclass(frozen=True, slots=True)
class PluginHandler:
    plugin: str
    event_type: type[Event]
    handler: Callable[[Any], Any]


_handlers: list[PluginHandler] = []


def on(event_type: type[Event]) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register the decorated function for `event_type` (and its subclasses)."""
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"on() takes an event class, got {event_type!r}")

    def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        plugin = handler.__module__.rsplit(".", 1)[-1]
        _handlers.append(PluginHandler(plugin, event_type, handler))
        return handler

    return register


def registered() -> list[PluginHandler]:
    return list(_handlers)


def load_plugins(package: str = __name__) -> list[str]:
    """Import every plugin module of `package`; returns the names that loaded."""
    loaded = []
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{package}.{info.name}")
        except Exception:
            logger.exception("plugin {} failed to load; skipped", info.name)
            continue
        loaded.append(info.name)
    return loaded


def attach(client: Any, handlers: list[PluginHandler] | None = None) -> None:
    for item in _handlers if handlers is None else handlers:
        client.add_handler(item.event_type, item.handler)
