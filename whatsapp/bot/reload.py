"""Plugin reload without a restart (SIGHUP in bot.py): the connection and the session stay.

    await reload_plugins(dispatcher, ("plugins",))

Every module of the plugin packages is executed again (edited files), new files are imported, deleted
ones dropped; only if all of them load is the dispatcher's router list swapped, in one assignment, so
a message is handled by the old set or the new one, never half of each. A plugin that fails keeps the
old set running and is reported in one log line: a typo during a live edit must not take the bot down
(nor spill a traceback that buries the cause). Routers that are not plugins (the built-in !help, a
router included by code) keep their place after the plugins, as at start.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loguru import logger

from whatsapp.bot.loader import Plugin
from whatsapp.bot.router import Router

if TYPE_CHECKING:
    from whatsapp.bot.dispatcher import Dispatcher


class PluginError(Exception):
    """One plugin module did not load: its name and the one-line cause."""


def _modules(package: str) -> list[tuple[str, str]]:
    root = importlib.import_module(package)
    path = getattr(root, "__path__", None)
    if path is None:
        raise PluginError(f"{package} is a module, not a package of plugins")
    return [(f"{package}.{info.name}", info.name) for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name)
            if not info.name.startswith("_")]


def _load_strict(packages: Sequence[str]) -> list[Plugin]:
    importlib.invalidate_caches()  # files added since the last import are found
    found: list[Plugin] = []
    for package in packages:
        try:
            modules = _modules(package)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"package {package}: {type(exc).__name__}: {exc}") from exc
        for module_name, name in modules:
            try:
                module = sys.modules.get(module_name)
                module = importlib.reload(module) if module is not None else importlib.import_module(module_name)
            except Exception as exc:  # SyntaxError included: whatever the edited file raises
                raise PluginError(f"plugin {name}: {type(exc).__name__}: {exc}") from exc
            router = getattr(module, "router", None)
            if not isinstance(router, Router):
                raise PluginError(f"plugin {name} defines no `router = Router()`")
            found.append(Plugin(name, module_name, router))
    return found


async def reload_plugins(dispatcher: Dispatcher, packages: Sequence[str] = ("plugins",)) -> list[Plugin] | None:
    """Load the plugins anew and swap them in; None (old set kept, one ERROR line) when one fails."""
    packages = tuple(packages) or ("plugins",)
    try:
        fresh = _load_strict(packages)
    except PluginError as exc:
        logger.error("plugin reload failed, the previous plugins stay active: {}", exc)
        return None
    others = [router for router in dispatcher.sub_routers
              if not any(router.module.startswith(f"{package}.") for package in packages)]
    running = dispatcher.scheduler.running
    if running:  # the old routers' jobs end; the new ones start below, each once
        await dispatcher.scheduler.stop()
    dispatcher.replace_routers([plugin.router for plugin in fresh] + others)
    if running:
        dispatcher.scheduler.start()
    logger.info("plugins reloaded: {}", ", ".join(plugin.name for plugin in fresh) or "none")
    return fresh
