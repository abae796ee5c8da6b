"""The stanza router: a table from (tag, type / xmlns / child) to the handler of that concern.

Each handler module lists its own routes (`routes()`), the client adds them at construction, and
the reader hands every stanza to `dispatch`. A tag can have a prelude that runs before any of its
routes (the `<ack>` every receipt and call needs, whatever handles it), or an ack that runs after
the handler (a notification's `<ack>`: the server forgets a notification once acked, so what it
carries must be stored first, as whatsmeow's deferred ack in `notification.go`). Routes are
tried in the order they were added; the first whose conditions all hold wins. A tag's default
(`set_default`) takes what none of its routes matched, wherever it was added; a stanza nothing
takes goes to the fallback (the client raises it as `NodeReceived`).

Adding a concern = one module with handlers and its `routes()`; nothing else changes (as
whatsmeow's `handlerQueue`/`nodeHandlers` map, Baileys' `CB:tag,attr,value` events).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from whatsapp.binary import Node
from whatsapp.errors import StorageError

StanzaHandler = Callable[[Node], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    tag: str
    handler: StanzaHandler
    type: str | None = None  # the `type` attribute must equal this
    xmlns: str | None = None  # the `xmlns` attribute must equal this
    child: str | None = None  # a child with this tag must be present

    def matches(self, node: Node) -> bool:
        return (
            (self.type is None or node.attr_str("type") == self.type)
            and (self.xmlns is None or node.attr_str("xmlns") == self.xmlns)
            and (self.child is None or node.child(self.child) is not None)
        )

    def describe(self) -> str:
        conditions = [f"{name}={value}" for name, value in
                      (("type", self.type), ("xmlns", self.xmlns), ("child", self.child)) if value is not None]
        return f"<{self.tag}{' ' if conditions else ''}{' '.join(conditions)}>"


class Concern(Protocol):
    """A handler module: it adds its routes (and preludes, defaults) to the router."""

    def install(self, router: StanzaRouter) -> None: ...


class StanzaRouter:
    def __init__(self, fallback: StanzaHandler) -> None:
        self._routes: dict[str, list[Route]] = {}
        self._preludes: dict[str, list[StanzaHandler]] = {}
        self._acks: dict[str, StanzaHandler] = {}
        self._defaults: dict[str, StanzaHandler] = {}
        self._fallback = fallback

    def add(self, route: Route) -> None:
        self._routes.setdefault(route.tag, []).append(route)

    def add_all(self, routes: Iterable[Route]) -> None:
        for route in routes:
            self.add(route)

    def set_default(self, tag: str, handler: StanzaHandler) -> None:
        """`handler` takes the stanzas with this tag that no route matched."""
        if tag in self._defaults:
            raise ValueError(f"<{tag}> already has a default handler")
        self._defaults[tag] = handler

    def add_prelude(self, tag: str, handler: StanzaHandler) -> None:
        """`handler` runs first for every stanza with this tag, whichever route takes it."""
        self._preludes.setdefault(tag, []).append(handler)

    def add_ack(self, tag: str, handler: StanzaHandler) -> None:
        """`handler` runs after whichever route took the stanza: when it returned, or failed with anything
        but a `StorageError` (a bug must not make the server send the stanza forever; what could not be
        stored stays unacknowledged, and the server delivers it again)."""
        self._acks[tag] = handler

    def route_for(self, node: Node) -> Route | None:
        for route in self._routes.get(node.tag, ()):
            if route.matches(node):
                return route
        return None

    def table(self) -> list[str]:
        """The routes, in matching order, then the defaults (for docs, logs and tests)."""
        return [route.describe() for routes in self._routes.values() for route in routes] + [
            f"<{tag}> (default)" for tag in self._defaults
        ]

    async def dispatch(self, node: Node) -> None:
        for prelude in self._preludes.get(node.tag, ()):
            await prelude(node)
        ack = self._acks.get(node.tag)
        try:
            await self._route(node)
        except StorageError:
            raise
        except Exception:
            if ack is not None:
                await ack(node)
            raise
        if ack is not None:
            await ack(node)

    async def _route(self, node: Node) -> None:
        route = self.route_for(node)
        if route is not None:
            await route.handler(node)
        else:
            await self._defaults.get(node.tag, self._fallback)(node)
