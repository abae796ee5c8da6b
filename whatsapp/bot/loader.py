"""Plugin discovery: import every module of a package and collect the `router` each one defines.

    plugins = load_plugins("plugins")                 # [Plugin(name="ping", ...), ...]
    dispatcher.include_routers(*(p.router for p in plugins))

Modules whose name starts with "_" are skipped (helpers shared by plugins). A module that fails to
import, or defines no `router = Router()`, is logged and skipped: one broken plugin never keeps the
others (or the bot) from starting. Nothing is registered anywhere by loading: importing a module twice
returns the same router, and a Dispatcher includes the same router once.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass

from loguru import logger

from whatsapp.bot.router import Router


@dataclass(frozen=True, slots=True)
class Plugin:
    name: str  # the module's own name ("ping")
    module: str  # its full name ("plugins.ping")
    router: Router


def load_plugins(*packages: str, reload: bool = False) -> list[Plugin]:
    """Import the plugin modules of each package (default "plugins"), in name order.

    `reload=True` executes modules imported before again (new code, a new router: including it
    replaces the old one, see `Router.include_router`).
    """
    found: list[Plugin] = []
    for package in packages or ("plugins",):
        try:
            root = importlib.import_module(package)
        except Exception:
            logger.exception("plugin package {} failed to import; skipped", package)
            continue
        path = getattr(root, "__path__", None)
        if path is None:
            logger.error("{} is a module, not a package of plugins; skipped", package)
            continue
        for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            plugin = _load(f"{package}.{info.name}", info.name, reload)
            if plugin is not None:
                found.append(plugin)
    return found


def _load(module_name: str, name: str, reload: bool) -> Plugin | None:
    try:
        module = sys.modules.get(module_name)
        if module is not None and reload:
            module = importlib.reload(module)
        elif module is None:
            module = importlib.import_module(module_name)
    except Exception:
        logger.exception("plugin {} failed to load; skipped", name)
        return None
    router = getattr(module, "router", None)
    if not isinstance(router, Router):
        logger.warning("plugin {} defines no `router = Router()`; skipped", name)
        return None
    return Plugin(name, module_name, router)
