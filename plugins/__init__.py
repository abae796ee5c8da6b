"""Plugins: modules in this package register commands, message handlers and event handlers.

    # plugins/hello.py
    from plugins import F, command, message, on
    from whatsapp import events

    @command("hello", aliases=["hi"])               # "!hello world" -> ctx.args == ["world"]
    async def hello(ctx) -> None:
        await ctx.reply("hello!")                    # quoted reply; ctx.send(text) sends plainly

    @message(F.text & F.group & F.regex(r"https?://"))
    async def links(ctx) -> None: ...

    @on(events.Connected)
    async def greet(event: events.Connected) -> None: ...

`load_plugins()` imports every module of the package (names starting with "_" are skipped); a module
that fails to import is logged and skipped. `attach(client)` subscribes the handlers; each runs
isolated (the client's event bus logs a failing handler and carries on), so one broken plugin never
takes down the others or the connection. Commands and message handlers run in a `Dispatcher`
(plugins/_dispatch.py): per-chat ordering, bounded concurrency, per-handler timeouts, stale
backlog commands skipped, our own messages ignored unless `include_own=True`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from plugins._dispatch import CommandHandler, Context, Dispatcher, MessageHandler
from plugins._filters import F, Filter
from whatsapp.events import Event

__all__ = [
    "CommandHandler",
    "Context",
    "Dispatcher",
    "F",
    "Filter",
    "MessageHandler",
    "PluginHandler",
    "attach",
    "command",
    "load_plugins",
    "message",
    "on",
    "registered",
]


@dataclass(frozen=True, slots=True)
class PluginHandler:
    plugin: str
    event_type: type[Event]
    handler: Callable[[Any], Any]


_handlers: list[PluginHandler] = []
_commands: list[CommandHandler] = []
_message_handlers: list[MessageHandler] = []


def _plugin_name(handler: Callable[..., Any]) -> str:
    return handler.__module__.rsplit(".", 1)[-1]


def on(event_type: type[Event]) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register the decorated function for `event_type` (and its subclasses)."""
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"on() takes an event class, got {event_type!r}")

    def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _handlers.append(PluginHandler(_plugin_name(handler), event_type, handler))
        return handler

    return register


def command(
    name: str,
    aliases: Sequence[str] = (),
    *,
    prefixes: Sequence[str] | None = None,
    filter: Filter | None = None,
    allow_stale: bool = False,
    include_own: bool = False,
) -> Callable[[Callable[[Context], Any]], Callable[[Context], Any]]:
    """Register a command: `@command("ping", aliases=["p"])`; the handler gets a Context."""

    def register(handler: Callable[[Context], Any]) -> Callable[[Context], Any]:
        _commands.append(CommandHandler(
            _plugin_name(handler), name.lower(), tuple(a.lower() for a in aliases), handler,
            tuple(prefixes) if prefixes is not None else None, filter, allow_stale, include_own))
        return handler

    return register


def message(
    filter: Filter | None = None,
    *,
    include_own: bool = False,
) -> Callable[[Callable[[Context], Any]], Callable[[Context], Any]]:
    """Register a handler for every received message matching `filter` (all messages when None)."""

    def register(handler: Callable[[Context], Any]) -> Callable[[Context], Any]:
        _message_handlers.append(MessageHandler(_plugin_name(handler), handler, filter, include_own))
        return handler

    return register


def registered_commands() -> list[CommandHandler]:
    return list(_commands)


def registered_message_handlers() -> list[MessageHandler]:
    return list(_message_handlers)


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


def attach(
    client: Any,
    handlers: list[PluginHandler] | None = None,
    *,
    commands: list[CommandHandler] | None = None,
    message_handlers: list[MessageHandler] | None = None,
    **dispatcher_options: Any,
) -> Dispatcher:
    """Subscribe the event handlers and start a Dispatcher for the commands and message handlers.

    `dispatcher_options` go to `Dispatcher` (prefixes, max_concurrency, handler_timeout, stale_after).
    """
    for item in _handlers if handlers is None else handlers:
        client.add_handler(item.event_type, item.handler)
    dispatcher = Dispatcher(
        client,
        _commands if commands is None else commands,
        _message_handlers if message_handlers is None else message_handlers,
        **dispatcher_options,
    )
    return dispatcher.attach()
